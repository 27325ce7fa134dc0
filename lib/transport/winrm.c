/*
 * winrm.c - the WinRM transport: a WS-Management remote shell (MS-WSMV)
 * over HTTPS through libcurl (see transport.h, docs/winrm.md).
 *
 * Design.  One ap_conn is one libcurl handle (so one kept-alive TCP/TLS
 * connection, which NTLM needs: it authenticates the connection) and one
 * remote shell, created by open() and deleted by close():
 *
 *   open   POST Create            -> ShellId         (checks TCP, TLS, auth)
 *   exec   POST Command           -> CommandId
 *          POST Send (stdin, End) -> 32 KB a message, when there is stdin
 *          POST Receive ...       -> streams, until CommandState Done
 *          POST Signal terminate     (best effort)
 *   close  POST Delete               (best effort), then free
 *
 * Errors of open(), each with evidence on ctx:
 *   name not resolved                          -> NAME_UNRESOLVED
 *   no route / network down                    -> per transport_util.c
 *   refused, or silence, on the WinRM port     -> WINDOWS_WMI_BLOCKED (95103)
 *   TLS certificate not verified               -> WINDOWS_WMI_BLOCKED, with
 *                                                 curl's reason (no new id)
 *   HTTP 401 after authenticating              -> WINDOWS_BAD_CREDENTIALS
 *   HTTP 401, no scheme in common with the host -> WINDOWS_WMI_BLOCKED (no
 *                                                 password was judged, so
 *                                                 the credential gate must
 *                                                 not count it)
 *   SOAP fault AccessDenied on Create          -> WINDOWS_BAD_CREDENTIALS
 *   any other fault or HTTP status             -> WINDOWS_WMI_BLOCKED
 * The TCP errno comes from libcurl (CURLINFO_OS_ERRNO), so the same
 * transport_util.c helpers as ssh.c classify it and write the evidence.
 *
 * TLS: peer and host name are always verified (CURLOPT_SSL_VERIFYPEER/HOST);
 * ca_file replaces the system store.  Plain HTTP only with winrm_allow_http,
 * and then Basic is not offered unless asked for by name.  Redirects are not
 * followed and only the one scheme is allowed.
 *
 * Authentication: Basic and NTLM, both with the password; never libcurl's
 * Negotiate (CURLAUTH_NEGOTIATE).  On Linux libcurl's Negotiate is GSS-API
 * SPNEGO with the process's default credential (a Kerberos ticket, or
 * gss-ntlmssp's NTLM_USER_FILE); it never uses CURLOPT_PASSWORD, and when it
 * fails libcurl does not fall back to the NTLM or Basic the host also
 * offers: it stops at the 401 (seen with libcurl 7.88.1 against
 * tests/winrm/server.py, both in --auth ntlm and in Basic mode).  Offering
 * it would break every password logon to a host that lists Negotiate first,
 * as Windows does.  NTLM is verified against gss-ntlmssp (docs/winrm.md).
 *
 * Secrets: the password goes to libcurl (CURLOPT_PASSWORD keeps its own
 * copy, freed by curl_easy_cleanup(); we cannot wipe it) and nowhere else.
 * Evidence names the user, never the password.
 *
 * Threads: curl_global_init() runs once (pthread_once); a handle belongs to
 * one thread at a time; CURLOPT_NOSIGNAL keeps timeouts off SIGALRM.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "agentpush/ctx.h"
#include "agentpush/errors.h"
#include "agentpush/transport.h"
#include "transport_util.h"
#include "winrm_xml.h"

#define WINRM_HTTPS_PORT 5986
#define WINRM_HTTP_PORT 5985
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_IO_TIMEOUT_MS 120000
#define RECEIVE_TIMEOUT_S 20     /* server-side long poll of one Receive */
#define SEND_CHUNK (32 * 1024)   /* base64 keeps it under MaxEnvelopeSize */
#define CLOSE_TIMEOUT_MS 10000

struct ap_conn {
	CURL *curl;
	struct curl_slist *hdrs;
	char url[320];
	char host[256];
	char user[128];
	int port;
	int connect_timeout_ms;
	int io_timeout_ms;
	char shell_id[AP_WINRM_ID_MAX];
	struct ap_capbuf body;          /* the last reply */
	char offered[128];              /* WWW-Authenticate schemes seen */
	long authmask;                  /* CURLOPT_HTTPAUTH */
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc;

static void
init_curl(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	ap_winrm_xml_init();
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct ap_conn *c = ud;

	if (ap_capbuf_append(&c->body, p, sz * n) != 0 || c->body.truncated)
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	return sz * n;
}

/* Records the scheme of each WWW-Authenticate header, for 401 evidence. */
static size_t
on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct ap_conn *c = ud;
	size_t len = sz * n, k = 0, used;
	const char *key = "www-authenticate:";
	char scheme[32];

	if (len <= strlen(key) || strncasecmp(p, key, strlen(key)) != 0)
		return len;
	p += strlen(key);
	len -= strlen(key);
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (k < len && k + 1 < sizeof(scheme) && p[k] > ' ' && p[k] < 0x7f &&
	       p[k] != ',') {
		scheme[k] = p[k];
		k++;
	}
	scheme[k] = '\0';
	if (k == 0 || strstr(c->offered, scheme) != NULL)
		return sz * n;
	used = strlen(c->offered);
	snprintf(c->offered + used, sizeof(c->offered) - used, "%s%s",
	         used > 0 ? ", " : "", scheme);
	return sz * n;
}

static const char *
auth_name(long mask)
{
	if (mask == CURLAUTH_BASIC)
		return "Basic";
	if ((mask & CURLAUTH_BASIC) != 0)
		return "NTLM or Basic";
	return "NTLM";
}

/*
 * Posts one envelope and reads the reply into c->body.  Returns AP_OK with
 * the HTTP status in *status (200, or 500 carrying a SOAP fault), else an
 * AP_E* code with the ErrorID and evidence on ctx.
 */
static int
post(struct ap_conn *c, const char *xml, int timeout_ms, long *status,
     struct ap_ctx *ctx)
{
	CURLcode cc;
	long code = 0, oserr = 0, avail = 0;
	curl_off_t connected = 0;
	char ev[512], secs[32];
	int rc = AP_EREMOTE, id;

	*status = 0;
	ap_capbuf_clear(&c->body);
	c->offered[0] = '\0';
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, xml);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(xml));
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	cc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connected);
	switch (cc) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_NAME_UNRESOLVED,
		                   "cannot resolve host name %s: %s", c->host,
		                   c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		if (cc == CURLE_OPERATION_TIMEDOUT && connected > 0) {
			ap_transport_secs_str(secs, sizeof(secs), timeout_ms);
			return ap_ctx_fail(ctx, AP_ETIMEOUT, AP_ERR_WINDOWS_WMI_BLOCKED,
			                   "no WS-Management reply from %s within %s",
			                   c->url, secs);
		}
		if (cc == CURLE_OPERATION_TIMEDOUT || oserr == 0)
			oserr = ETIMEDOUT;
		id = ap_transport_connect_error_id((int)oserr, &rc);
		/* The host answered (SMB got through) or stayed silent on the
		 * WinRM port: WinRM is off or firewalled, which 95103 covers. */
		if (oserr == ECONNREFUSED || oserr == ETIMEDOUT)
			id = AP_ERR_WINDOWS_WMI_BLOCKED;
		ap_transport_connect_evidence(ev, sizeof(ev), c->host, c->port,
		                              (int)oserr, c->connect_timeout_ms);
		return ap_ctx_fail(ctx, rc, id, "%s (WinRM %s listener)", ev,
		                   c->port == WINRM_HTTP_PORT ? "HTTP" : "HTTPS");
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "TLS with %s failed, the WinRM certificate was not verified: %s",
		                   c->url, c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	case CURLE_SSL_CACERT_BADFILE:
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "cannot use the CA file for WinRM: %s",
		                   c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	case CURLE_WRITE_ERROR:
		if (c->body.truncated)
			return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
			                   "WS-Management reply from %s over %u bytes",
			                   c->url, AP_WINRM_MAX_REPLY);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	default:
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "WS-Management request to %s failed: %s", c->url,
		                   c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	}
	if (code == 401) {
		/* The host offers none of our schemes: nothing judged the
		 * password (libcurl sent none, or one the host does not take),
		 * so this is the listener's configuration, not a bad logon. */
		curl_easy_getinfo(c->curl, CURLINFO_HTTPAUTH_AVAIL, &avail);
		if ((avail & c->authmask) == 0)
			return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_WMI_BLOCKED,
			                   "HTTP 401 from %s: no authentication scheme in common "
			                   "(agentpush: %s; host offers: %s)", c->url,
			                   auth_name(c->authmask),
			                   c->offered[0] != '\0' ? c->offered : "no scheme");
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_BAD_CREDENTIALS,
		                   "HTTP 401 from %s: the logon of %s was refused (host offers: %s)",
		                   c->url, c->user,
		                   c->offered[0] != '\0' ? c->offered : "no scheme");
	}
	if (code != 200 && code != 500) {
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "HTTP %ld from %s: not a WS-Management reply", code,
		                   c->url);
	}
	*status = code;
	return AP_OK;
}

/*
 * Sends req and parses the reply into *rep, streams into out/err.  A SOAP
 * fault is returned as AP_OK with rep->kind AP_WINRM_R_FAULT, for the caller
 * to judge.  Otherwise AP_OK or an AP_E* code with ctx set.
 */
static int
call(struct ap_conn *c, struct ap_winrm_req *req, int timeout_ms,
     struct ap_winrm_reply *rep, struct ap_capbuf *out, struct ap_capbuf *err,
     struct ap_ctx *ctx)
{
	char *xml = NULL, why[256];
	long status = 0;
	int r;

	req->url = c->url;
	if (c->shell_id[0] != '\0')
		req->shell_id = c->shell_id;
	r = ap_winrm_build(req, &xml, why, sizeof(why));
	if (r == -1)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (r != 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "%s", why);
	r = post(c, xml, timeout_ms, &status, ctx);
	free(xml);
	if (r != AP_OK)
		return r;
	r = ap_winrm_parse(c->body.p != NULL ? c->body.p : "", c->body.len, rep,
	                   out, err, why, sizeof(why));
	if (r == -1)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (r != 0)
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "%s (HTTP %ld from %s)", why, status, c->url);
	if (status == 500 && rep->kind != AP_WINRM_R_FAULT)
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "HTTP 500 from %s without a SOAP fault", c->url);
	return AP_OK;
}

static int
fault_fail(struct ap_conn *c, const struct ap_winrm_reply *rep,
           const char *step, struct ap_ctx *ctx)
{
	int id = AP_ERR_WINDOWS_WMI_BLOCKED;

	if (strstr(rep->fault_subcode, "AccessDenied") != NULL ||
	    rep->wsman_code == 5)
		id = AP_ERR_WINDOWS_BAD_CREDENTIALS;
	return ap_ctx_fail(ctx, AP_EREMOTE, id,
	                   "WS-Management fault on %s at %s: %s%s%s (0x%08lx): %s",
	                   step, c->url, rep->fault_code,
	                   rep->fault_subcode[0] != '\0' ? " " : "",
	                   rep->fault_subcode, rep->wsman_code,
	                   rep->fault_reason[0] != '\0' ? rep->fault_reason : "no reason given");
}

static int
expect(struct ap_conn *c, const struct ap_winrm_reply *rep,
       enum ap_winrm_kind kind, const char *step, struct ap_ctx *ctx)
{
	if (rep->kind == AP_WINRM_R_FAULT)
		return fault_fail(c, rep, step, ctx);
	if (rep->kind != kind)
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "unexpected WS-Management reply to %s from %s",
		                   step, c->url);
	return AP_OK;
}

static void
winrm_close(struct ap_conn *c)
{
	struct ap_winrm_req req;
	struct ap_winrm_reply rep;
	struct ap_ctx *tmp = NULL;

	if (c == NULL)
		return;
	if (c->shell_id[0] != '\0' && (tmp = ap_ctx_new()) != NULL) {
		memset(&req, 0, sizeof(req));
		req.action = AP_WINRM_DELETE;
		(void)call(c, &req, CLOSE_TIMEOUT_MS, &rep, NULL, NULL, tmp);
		ap_ctx_free(tmp);
	}
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->hdrs);
	ap_capbuf_clear(&c->body);
	free(c);
}

static int
winrm_open(const struct ap_conn_opts *o, struct ap_conn **out,
           struct ap_ctx *ctx)
{
	struct ap_conn *c = NULL;
	struct ap_winrm_req req;
	struct ap_winrm_reply rep;
	long mask;
	int r = AP_ENOMEM, https = !o->winrm_allow_http;

	*out = NULL;
	pthread_once(&init_once, init_curl);
	if (init_rc != CURLE_OK)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "cannot initialise libcurl: %s",
		                   curl_easy_strerror(init_rc));
	if (o->host == NULL || o->host[0] == '\0' || strlen(o->host) >= 250 ||
	    strpbrk(o->host, "/@?#[] \t\r\n") != NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "winrm: bad host name \"%s\"",
		                   o->host != NULL ? o->host : "");
	if (o->winrm_auth == AP_WINRM_AUTH_KERBEROS)
		return ap_ctx_fail(ctx, AP_EUNSUPP, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "winrm: Kerberos logons are not supported by this build's WinRM client");
	if (o->user == NULL || o->user[0] == '\0' || strlen(o->user) >= 128 ||
	    o->password == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0,
		                   "winrm: a user name (under 128 bytes) and a password are needed");
	if (o->port < 0 || o->port > 65535)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "winrm: bad port %d", o->port);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	c->body.cap = AP_WINRM_MAX_REPLY;
	c->port = o->port != 0 ? o->port : https ? WINRM_HTTPS_PORT : WINRM_HTTP_PORT;
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms :
	                        DEFAULT_CONNECT_TIMEOUT_MS;
	c->io_timeout_ms = o->io_timeout_ms > 0 ? o->io_timeout_ms : DEFAULT_IO_TIMEOUT_MS;
	snprintf(c->host, sizeof(c->host), "%s", o->host);
	snprintf(c->user, sizeof(c->user), "%s", o->user);
	/* An IPv6 literal needs brackets in a URL. */
	snprintf(c->url, sizeof(c->url), strchr(o->host, ':') != NULL ?
	         "%s://[%s]:%d/wsman" : "%s://%s:%d/wsman",
	         https ? "https" : "http", o->host, c->port);
	if ((c->curl = curl_easy_init()) == NULL)
		goto fail;
	if ((c->hdrs = curl_slist_append(NULL,
	        "Content-Type: application/soap+xml;charset=UTF-8")) == NULL)
		goto fail;
	switch (o->winrm_auth) {
	case AP_WINRM_AUTH_BASIC:
		mask = CURLAUTH_BASIC;
		break;
	case AP_WINRM_AUTH_NEGOTIATE:
		/* NTLM, the password half of Windows' Negotiate; libcurl's
		 * own Negotiate cannot use a password (see the top). */
		mask = CURLAUTH_NTLM;
		break;
	default:
		/* Basic sends the password as is: only inside TLS. */
		mask = CURLAUTH_NTLM | (https ? CURLAUTH_BASIC : 0);
		break;
	}
	c->authmask = mask;
	if (curl_easy_setopt(c->curl, CURLOPT_URL, c->url) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, https ? "https" : "http") != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->hdrs) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_USERNAME, o->user) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_PASSWORD, o->password) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, mask) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
	                     (long)c->connect_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "agentpush") != CURLE_OK) {
		r = ap_ctx_fail(ctx, AP_EUNSUPP, 0,
		                "winrm: this libcurl lacks an option agentpush needs (%s auth, TLS)",
		                auth_name(mask));
		goto out;
	}
	if (o->ca_file != NULL &&
	    curl_easy_setopt(c->curl, CURLOPT_CAINFO, o->ca_file) != CURLE_OK) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.action = AP_WINRM_CREATE;
	if ((r = call(c, &req, c->io_timeout_ms, &rep, NULL, NULL, ctx)) != AP_OK)
		goto out;
	if ((r = expect(c, &rep, AP_WINRM_R_CREATED, "Create shell", ctx)) != AP_OK)
		goto out;
	snprintf(c->shell_id, sizeof(c->shell_id), "%s", rep.shell_id);
	*out = c;
	c = NULL; /* transferred */
	r = AP_OK;
	goto out;
fail:
	r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
out:
	winrm_close(c);
	return r;
}

static int
winrm_exec(struct ap_conn *c, const char *cmd, const void *in, size_t in_len,
           struct ap_exec_result *res, struct ap_ctx *ctx)
{
	struct ap_capbuf bufs[2];
	struct ap_winrm_req req;
	struct ap_winrm_reply rep;
	char cid[AP_WINRM_ID_MAX];
	long long deadline = now_ms() + c->io_timeout_ms, left;
	size_t off = 0, n;
	int r;

	memset(res, 0, sizeof(*res));
	res->exit_status = -1;
	memset(bufs, 0, sizeof(bufs));
	bufs[0].cap = bufs[1].cap = AP_TRANSPORT_OUTPUT_CAP;
	cid[0] = '\0';

	memset(&req, 0, sizeof(req));
	req.action = AP_WINRM_COMMAND;
	req.command = cmd;
	if ((r = call(c, &req, c->io_timeout_ms, &rep, NULL, NULL, ctx)) != AP_OK)
		goto out;
	if ((r = expect(c, &rep, AP_WINRM_R_COMMAND, "Command", ctx)) != AP_OK)
		goto out;
	snprintf(cid, sizeof(cid), "%s", rep.command_id);

	while (in_len > 0 && off < in_len) {
		n = in_len - off < SEND_CHUNK ? in_len - off : SEND_CHUNK;
		memset(&req, 0, sizeof(req));
		req.action = AP_WINRM_SEND;
		req.command_id = cid;
		req.data = (const char *)in + off;
		req.data_len = n;
		req.end = off + n == in_len;
		if ((r = call(c, &req, c->io_timeout_ms, &rep, NULL, NULL, ctx)) != AP_OK)
			goto out;
		if ((r = expect(c, &rep, AP_WINRM_R_EMPTY, "Send", ctx)) != AP_OK)
			goto out;
		off += n;
	}

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			r = ap_ctx_fail(ctx, AP_ETIMEOUT, AP_ERR_WINDOWS_WMI_BLOCKED,
			                "the command on %s did not finish within %d s",
			                c->url, c->io_timeout_ms / 1000);
			goto out;
		}
		memset(&req, 0, sizeof(req));
		req.action = AP_WINRM_RECEIVE;
		req.command_id = cid;
		req.timeout_s = RECEIVE_TIMEOUT_S;
		if ((r = call(c, &req, (int)(left < (RECEIVE_TIMEOUT_S + 10) * 1000 ?
		                              left : (RECEIVE_TIMEOUT_S + 10) * 1000),
		              &rep, &bufs[0], &bufs[1], ctx)) != AP_OK)
			goto out;
		/* w:TimedOut is the long poll ending with nothing new: ask again. */
		if (rep.kind == AP_WINRM_R_FAULT &&
		    strstr(rep.fault_subcode, "TimedOut") != NULL)
			continue;
		if ((r = expect(c, &rep, AP_WINRM_R_RECEIVE, "Receive", ctx)) != AP_OK)
			goto out;
		if (rep.done)
			break;
	}
	res->exit_status = rep.has_exit_code ? (int)rep.exit_code : -1;
	if (ap_capbuf_to_exec_result(bufs, res) < 0) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	r = AP_OK;
out:
	if (cid[0] != '\0') {
		/* Terminate and release the command, even after an error; a
		 * failure here changes nothing for the caller. */
		struct ap_ctx *tmp = ap_ctx_new();

		if (tmp != NULL) {
			memset(&req, 0, sizeof(req));
			req.action = AP_WINRM_SIGNAL;
			req.command_id = cid;
			(void)call(c, &req, CLOSE_TIMEOUT_MS, &rep, NULL, NULL, tmp);
			ap_ctx_free(tmp);
		}
	}
	ap_capbuf_clear(&bufs[0]);
	ap_capbuf_clear(&bufs[1]);
	return r;
}

const struct ap_transport_ops ap_transport_winrm = {
	.name = "winrm",
	.open = winrm_open,
	.exec = winrm_exec,
	.put = NULL,
	.close = winrm_close,
	.rename = NULL,
	.probe_transfer = NULL,
	.free_space = NULL,
};
