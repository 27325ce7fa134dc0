/*
 * http.c - the configuration server's HTTP layer over libmicrohttpd: TLS,
 * body limits, routing, authentication, and turning a handler's
 * struct ap_srv_resp into an HTTP response (server_int.h has the contract).
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION): an event
 * stream then simply blocks in its own thread, and a slow client holds
 * only itself.  poll(), not select(), so more than FD_SETSIZE connections
 * work.  Agents open a connection per heartbeat, so the thread count
 * follows the beats in flight, not the fleet.
 *
 * What is never logged: request bodies, query strings, Authorization
 * headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <gnutls/gnutls.h>
#include <sodium.h>

#include "server_priv.h"

#define CONNECTION_LIMIT 4096
#define CONNECTION_TIMEOUT_S 30
#define DISCARD_LIMIT (16 * 1024 * 1024)

static const struct ap_srv_route *const route_tables[] = {
	ap_srv_job_routes, ap_srv_error_routes, ap_srv_agent_routes,
	ap_srv_static_routes,
};

/* Per request: the body as it arrives. */
struct conn_req {
	char *body;
	size_t len, cap;
	size_t discarded;          /* bytes thrown away past the limit */
	int too_large;
	int answered;              /* a response was queued early */
};

/* ---- response helpers (for handlers) ------------------------------------- */

void
ap_srv_resp_json(struct ap_srv_resp *resp, int status, cJSON *j)
{
	char *s = j != NULL ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	if (s == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		return;
	}
	resp->status = status;
	resp->body = s;
	resp->body_len = strlen(s);
}

void
ap_srv_resp_error(struct ap_srv_resp *resp, int status, const char *code,
                  const char *field, const char *fmt, ...)
{
	char msg[512];
	cJSON *root = NULL, *e = NULL;
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->status = status;
	if ((root = cJSON_CreateObject()) != NULL &&
	    (e = cJSON_AddObjectToObject(root, "error")) != NULL &&
	    cJSON_AddNumberToObject(e, "status", status) != NULL &&
	    cJSON_AddStringToObject(e, "code", code) != NULL &&
	    (field == NULL || cJSON_AddStringToObject(e, "field", field) != NULL) &&
	    cJSON_AddStringToObject(e, "message", msg) != NULL)
		s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (s == NULL)  /* out of memory: a fixed body */
		s = strdup("{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"out of memory\"}}");
	resp->body = s;
	resp->body_len = s != NULL ? strlen(s) : 0;
}

/* ---- routing ------------------------------------------------------------- */

/*
 * Whether path matches pattern; "{}" takes one non-empty segment, copied
 * into param (size bytes; longer segments do not match).
 */
static int
route_match(const char *pattern, const char *path, char *param, size_t size)
{
	const char *brace = strstr(pattern, "{}");
	size_t pre, seg;
	const char *rest;

	param[0] = '\0';
	if (brace == NULL)
		return strcmp(pattern, path) == 0;
	pre = (size_t)(brace - pattern);
	if (strncmp(pattern, path, pre) != 0)
		return 0;
	seg = strcspn(path + pre, "/");
	if (seg == 0 || seg >= size)
		return 0;
	rest = path + pre + seg;
	if (strcmp(brace + 2, rest) != 0)
		return 0;
	memcpy(param, path + pre, seg);
	param[seg] = '\0';
	return 1;
}

/* The route for method and path; *path_known set when only the method
 * differs (405). */
static const struct ap_srv_route *
route_find(const char *method, const char *path, char *param, size_t size,
           int *path_known)
{
	const struct ap_srv_route *rt = NULL;
	size_t t;

	*path_known = 0;
	for (t = 0; t < sizeof(route_tables) / sizeof(route_tables[0]); t++) {
		for (rt = route_tables[t]; rt->method != NULL; rt++) {
			if (!route_match(rt->pattern, path, param, size))
				continue;
			if (strcmp(rt->method, method) == 0)
				return rt;
			*path_known = 1;
		}
	}
	param[0] = '\0';
	return NULL;
}

/* ---- the request ---------------------------------------------------------- */

static const char *
query_lookup(const struct ap_srv_req *req, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)req->query_ud,
	                                   MHD_GET_ARGUMENT_KIND, name);
}

static void
client_addr(struct MHD_Connection *c, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	socklen_t len = 0;

	snprintf(buf, size, "?");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		len = sizeof(struct sockaddr_in);
	else if (sa->sa_family == AF_INET6)
		len = sizeof(struct sockaddr_in6);
	else
		return;
	if (getnameinfo(sa, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, size, "?");
	/* ::ffff:198.18.0.2 -> 198.18.0.2 */
	if (strncmp(buf, "::ffff:", 7) == 0 && strchr(buf + 7, ':') == NULL)
		memmove(buf, buf + 7, strlen(buf + 7) + 1);
}

/* The Bearer value of the Authorization header, or NULL. */
static const char *
bearer_of(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                            MHD_HTTP_HEADER_AUTHORIZATION);

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h != '\0' ? h : NULL;
}

/* ---- the response --------------------------------------------------------- */

struct stream_box {
	struct ap_srv_stream s;
};

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_box *b = cls;
	long n;

	(void)pos;
	n = b->s.next(b->s.ud, buf, max);
	if (n <= 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return (ssize_t)n;
}

static void
stream_free(void *cls)
{
	struct stream_box *b = cls;

	if (b->s.free_fn != NULL)
		b->s.free_fn(b->s.ud);
	free(b);
}

/* What the dashboard's pages get on top (static.c): the browser runs only
 * the server's own files, and checks back before using a cached copy. */
#define PAGE_CSP "default-src 'self'; base-uri 'none'; form-action 'self'; " \
                 "frame-ancestors 'none'; object-src 'none'"

/* page: a static.c route's answer (the CSP above, and cacheable with
 * revalidation); API answers are never stored. */
static enum MHD_Result
send_resp(struct MHD_Connection *c, struct ap_srv_resp *resp, int page)
{
	struct MHD_Response *r = NULL;
	struct stream_box *box = NULL;
	enum MHD_Result ret;
	char num[16];

	if (resp->stream.next != NULL) {
		if ((box = malloc(sizeof(*box))) == NULL)
			return MHD_NO;
		box->s = resp->stream;
		memset(&resp->stream, 0, sizeof(resp->stream));
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read,
		                                      box, stream_free);
		if (r == NULL) {
			stream_free(box);
			return MHD_NO;
		}
	} else {
		r = MHD_create_response_from_buffer(resp->body_len, resp->body != NULL ? resp->body : (void *)"",
		                                    resp->body != NULL ? MHD_RESPMEM_MUST_FREE
		                                                       : MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		resp->body = NULL; /* MHD frees it */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        resp->content_type != NULL ? resp->content_type
	                                                   : "application/json");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, page ? "no-cache" : "no-store");
	if (page) {
		MHD_add_response_header(r, "Content-Security-Policy", PAGE_CSP);
		MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	}
	if (resp->location != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
	if (resp->retry_after_s > 0) {
		snprintf(num, sizeof(num), "%d", resp->retry_after_s);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (resp->status == 401)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Bearer realm=\"agentpush\"");
	ret = MHD_queue_response(c, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static void
resp_clear(struct ap_srv_resp *resp)
{
	free(resp->body);
	free(resp->content_type);
	free(resp->location);
	if (resp->stream.free_fn != NULL)
		resp->stream.free_fn(resp->stream.ud);
	memset(resp, 0, sizeof(*resp));
}

static enum MHD_Result
send_error(struct MHD_Connection *c, int status, const char *code,
           const char *msg)
{
	struct ap_srv_resp resp;
	enum MHD_Result ret;

	memset(&resp, 0, sizeof(resp));
	ap_srv_resp_error(&resp, status, code, NULL, "%s", msg);
	ret = send_resp(c, &resp, 0);
	resp_clear(&resp);
	return ret;
}

/* 1 when rt is one of static.c's routes. */
static int
route_is_page(const struct ap_srv_route *rt)
{
	const struct ap_srv_route *p = NULL;

	for (p = ap_srv_static_routes; p->method != NULL; p++)
		if (p == rt)
			return 1;
	return 0;
}

/* ---- the access handler --------------------------------------------------- */

static enum MHD_Result
dispatch(struct ap_srv *srv, struct MHD_Connection *c, const char *url,
         const char *method, struct conn_req *cr)
{
	const struct ap_srv_route *rt = NULL;
	struct ap_srv_req req;
	struct ap_srv_resp resp;
	char param[256], addr[64];
	const char *bearer = bearer_of(c);
	enum MHD_Result ret;
	int path_known = 0;

	memset(&resp, 0, sizeof(resp));
	client_addr(c, addr, sizeof(addr));
	rt = route_find(method, url, param, sizeof(param), &path_known);
	/* Nothing about the API is revealed without a token: an unknown
	 * /api/ path answers 401 too. */
	if (rt == NULL) {
		if (strncmp(url, "/api/", 5) == 0 && !ap_srv_admin_ok(srv, bearer))
			return send_error(c, 401, "unauthorized",
			                  "this needs a valid API token (Authorization: Bearer ...)");
		if (path_known)
			return send_error(c, 405, "method_not_allowed", "this route does not take that method");
		return send_error(c, 404, "not_found", "no such route");
	}
	if (rt->auth == AP_SRV_AUTH_ADMIN) {
		/* The header only, never a query string: a token in a URL ends
		 * up in histories and proxy logs.  The dashboard reads the event
		 * stream with fetch(), which sends the header. */
		if (!ap_srv_admin_ok(srv, bearer))
			return send_error(c, 401, "unauthorized",
			                  "this needs a valid API token (Authorization: Bearer ...)");
	} else if (rt->auth == AP_SRV_AUTH_AGENT && bearer == NULL) {
		return send_error(c, 401, "unauthorized", "this needs the agent's secret (Authorization: Bearer ...)");
	}
	if (cr->too_large)
		return send_error(c, 413, "too_large", "the request body is larger than 1 MiB");
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.param = param[0] != '\0' ? param : NULL;
	req.body = cr->body != NULL ? cr->body : "";
	req.body_len = cr->len;
	req.client_addr = addr;
	req.bearer = bearer;
	req.accept_language = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                                  MHD_HTTP_HEADER_ACCEPT_LANGUAGE);
	req.last_event_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	req.query = query_lookup;
	req.query_ud = c;
	resp.status = 500;
	rt->fn(srv, &req, &resp);
	if (resp.status >= 500)
		ap_srv_log(srv, "error", "%s %s from %s: %d", method, url, addr, resp.status);
	ret = send_resp(c, &resp, route_is_page(rt));
	resp_clear(&resp);
	return ret;
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *c, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
	struct ap_srv *srv = cls;
	struct conn_req *cr = *con_cls;

	(void)version;
	if (cr == NULL) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);

		if ((cr = calloc(1, sizeof(*cr))) == NULL)
			return MHD_NO;
		*con_cls = cr;
		/* Known to be too big: say so before reading it. */
		if (cl != NULL && strtoull(cl, NULL, 10) > AP_SRV_MAX_BODY) {
			cr->answered = 1;
			return send_error(c, 413, "too_large", "the request body is larger than 1 MiB");
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (cr->answered)
			return MHD_YES;
		if (cr->too_large || cr->len + n > AP_SRV_MAX_BODY) {
			cr->too_large = 1;
			cr->discarded += n;
			return cr->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
		}
		if (cr->len + n + 1 > cr->cap) {
			size_t cap = cr->cap != 0 ? cr->cap : 4096;
			char *nb = NULL;

			while (cap < cr->len + n + 1)
				cap *= 2;
			if ((nb = realloc(cr->body, cap)) == NULL)
				return MHD_NO;
			cr->body = nb;
			cr->cap = cap;
		}
		memcpy(cr->body + cr->len, upload_data, n);
		cr->len += n;
		cr->body[cr->len] = '\0';
		return MHD_YES;
	}
	if (cr->answered)
		return MHD_YES;
	cr->answered = 1;
	return dispatch(srv, c, url, method, cr);
}

static void
completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct conn_req *cr = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cr == NULL)
		return;
	if (cr->body != NULL) {
		/* it may have held a passphrase or a password */
		sodium_memzero(cr->body, cr->cap);
		free(cr->body);
	}
	free(cr);
	*con_cls = NULL;
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct ap_srv *srv = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	ap_srv_log(srv, "warning", "http: %s", line);
}

/* Reads a whole PEM file into a malloc'd string. */
static int
load_pem(const char *path, char **out, struct ap_ctx *ctx)
{
	gnutls_datum_t d = { NULL, 0 };
	int e;

	*out = NULL;
	if ((e = gnutls_load_file(path, &d)) < 0)
		return ap_ctx_fail(ctx, AP_EIO, 0, "cannot read %s: %s", path, gnutls_strerror(e));
	if ((*out = malloc(d.size + 1)) == NULL) {
		gnutls_free(d.data);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	memcpy(*out, d.data, d.size);
	(*out)[d.size] = '\0';
	sodium_memzero(d.data, d.size);
	gnutls_free(d.data);
	return AP_OK;
}

int
ap_srv_http_start(struct ap_srv *srv, struct ap_ctx *ctx)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di = NULL;
	int r;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, srv->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)srv->port);
	} else if (inet_pton(AF_INET6, srv->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)srv->port);
		flags |= MHD_USE_IPv6;
	} else {
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "--listen: %s is not a numeric IPv4 or IPv6 address", srv->host);
	}
	if (!srv->insecure_http) {
		if ((r = load_pem(srv->key_path, &srv->tls_key_pem, ctx)) != AP_OK ||
		    (r = load_pem(srv->cert_path, &srv->tls_cert_pem, ctx)) != AP_OK)
			return r;
		flags |= MHD_USE_TLS;
		srv->mhd = MHD_start_daemon(flags, (uint16_t)srv->port, NULL, NULL, access_cb, srv,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
			MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
			MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key_pem,
			MHD_OPTION_HTTPS_MEM_CERT, srv->tls_cert_pem,
			MHD_OPTION_END);
	} else {
		srv->mhd = MHD_start_daemon(flags, (uint16_t)srv->port, NULL, NULL, access_cb, srv,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
			MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
			MHD_OPTION_END);
	}
	if (srv->mhd == NULL)
		return ap_ctx_fail(ctx, AP_EIO, 0, "cannot listen on %s port %d (in use, or not an address of this machine?)",
		                   srv->host, srv->port);
	if ((di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT)) != NULL && di->port != 0)
		srv->port = di->port;
	return AP_OK;
}

void
ap_srv_http_stop(struct ap_srv *srv)
{
	if (srv->mhd != NULL) {
		MHD_stop_daemon(srv->mhd);
		srv->mhd = NULL;
	}
	if (srv->tls_key_pem != NULL) {
		sodium_memzero(srv->tls_key_pem, strlen(srv->tls_key_pem));
		free(srv->tls_key_pem);
		srv->tls_key_pem = NULL;
	}
	free(srv->tls_cert_pem);
	srv->tls_cert_pem = NULL;
}
