/*
 * api_agents.c - agents over HTTP (docs/api.md "Agents"): registration with
 * the passphrase, heartbeats with the agent's own secret, and the admin's
 * list, show and forget; and the registration fields an install job hands
 * to its agents (ap_run_agent_opts).
 *
 * Registration order matters: the rate limit counts the try before the
 * body is even read, so a source cannot try more than
 * AP_SRV_REGISTER_PER_MIN passphrases a minute however it words them; the
 * Argon2id check is serialised (each takes 64 MiB).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agentpush/server.h"
#include "engine/enroll.h"
#include "server_int.h"
#include "server_priv.h"

#define STALE_AFTER_BEATS 3

/* Seconds since the epoch of "2026-12-05T01:02:03.456Z"; 0 if unparsable. */
static time_t
iso_time(const char *s)
{
	struct tm tm;
	const char *end = NULL;

	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	return timegm(&tm);
}

/* "ok", or "stale" once STALE_AFTER_BEATS beats were missed. */
static const char *
agent_state(const struct ap_agent *a, time_t now)
{
	time_t last = iso_time(a->last_heartbeat != NULL ? a->last_heartbeat : a->registered);
	int every = a->heartbeat_s > 0 ? a->heartbeat_s : 60;

	return last != 0 && now - last > (time_t)STALE_AFTER_BEATS * every ? "stale" : "ok";
}

static cJSON *
agent_json(const struct ap_agent *a, time_t now)
{
	cJSON *o = cJSON_CreateObject();

#define S(k, v) cJSON_AddStringToObject(o, k, (v) != NULL ? (v) : "") == NULL
	if (o == NULL || S("id", a->uid) || S("machine_id", a->machine_id) ||
	    S("hostname", a->hostname) || S("os", a->os) || S("kernel", a->kernel) ||
	    S("version", a->version) || S("health", a->health) || S("address", a->address) ||
	    S("registered", a->registered) ||
	    (a->last_heartbeat != NULL ? S("last_heartbeat", a->last_heartbeat)
	                               : cJSON_AddNullToObject(o, "last_heartbeat") == NULL) ||
	    cJSON_AddNumberToObject(o, "heartbeat_interval", a->heartbeat_s) == NULL ||
	    S("state", agent_state(a, now))) {
		cJSON_Delete(o);
		return NULL;
	}
#undef S
	return o;
}

/* Letters, digits, '-', '_', '.' only: ids and versions. */
static int
word_ok(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static int
single_line(const cJSON *body, const char *name, int required, size_t max,
            int word, const char **out, struct ap_srv_resp *resp)
{
	if (ap_srv_field_string(body, name, required, max, out, resp) != 0)
		return -1;
	if (*out != NULL && (strpbrk(*out, "\r\n\t") != NULL || (word && !word_ok(*out)))) {
		ap_srv_resp_error(resp, 400, "bad_field", name,
		                  word ? "%s: letters, digits, '-', '_' and '.' only" : "%s: one line", name);
		return -1;
	}
	return 0;
}

/* ---- POST /api/v1/agents/register ---------------------------------------- */

static const char *const register_fields[] = {
	"passphrase", "machine_id", "hostname", "os", "kernel", "agent_version",
	"enrollment", NULL
};

static void
agent_register(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct ap_agent a;
	struct ap_ctx *ctx = NULL;
	const char *pass = NULL, *host = NULL;
	char uid[3 + 16 + 1], secret[64 + 1], hash[AP_SRV_HASH_HEX], safe[80];
	cJSON *body = NULL, *out = NULL;
	int retry = 0, ok, r;

	memset(&a, 0, sizeof(a));
	if (!ap_srv_rate_allow(srv, req->client_addr, &retry)) {
		ap_srv_log(srv, "warning", "registration from %s refused: more than %d tries in a minute",
		           req->client_addr, AP_SRV_REGISTER_PER_MIN);
		ap_srv_resp_error(resp, 429, "rate_limited", NULL,
		                  "more than %d registration tries from %s in a minute; try again in %d s",
		                  AP_SRV_REGISTER_PER_MIN, req->client_addr, retry);
		resp->retry_after_s = retry;
		goto out;
	}
	if (ap_srv_body_object(req, resp, &body) != 0 ||
	    ap_srv_fields_known(body, register_fields, resp) != 0 ||
	    ap_srv_field_string(body, "passphrase", 1, 256, &pass, resp) != 0 ||
	    single_line(body, "machine_id", 1, 128, 1, (const char **)&a.machine_id, resp) != 0 ||
	    single_line(body, "hostname", 1, 255, 0, &host, resp) != 0 ||
	    single_line(body, "os", 0, 255, 0, (const char **)&a.os, resp) != 0 ||
	    single_line(body, "kernel", 0, 255, 0, (const char **)&a.kernel, resp) != 0 ||
	    single_line(body, "agent_version", 0, 64, 1, (const char **)&a.version, resp) != 0 ||
	    single_line(body, "enrollment", 0, 128, 1, (const char **)&a.enrollment, resp) != 0)
		goto out;
	a.hostname = (char *)host;
	if ((ctx = ap_ctx_new()) == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	ok = ap_srv_passphrase_check(srv, pass, ctx);
	ap_srv_safe_copy(host, safe, sizeof(safe));
	if (ok < 0) {
		ap_srv_log(srv, "error", "registration from %s: %s", req->client_addr, ap_ctx_errmsg(ctx));
		ap_srv_resp_error(resp, 500, "internal", NULL, "the server cannot check passphrases now; its log says why");
		goto out;
	}
	if (ok == 0) {
		ap_srv_log(srv, "warning", "registration from %s (host %s) refused: wrong passphrase",
		           req->client_addr, safe);
		ap_srv_resp_error(resp, 403, "bad_passphrase", "passphrase",
		                  "wrong registration passphrase (agentpush passphrase show, on the server)");
		goto out;
	}
	memcpy(uid, "ag-", 3);
	ap_srv_random_hex(uid + 3, 8);
	ap_srv_random_hex(secret, 32);
	ap_srv_hash_hex(secret, hash);
	a.uid = uid;
	a.secret_hash = hash;
	a.address = (char *)req->client_addr;
	a.health = (char *)"ok";
	a.heartbeat_s = ap_srv_heartbeat_s(srv);
	if ((r = ap_store_agent_register(ap_srv_store(srv), &a, NULL, ctx)) != AP_OK) {
		ap_srv_log(srv, "error", "registration from %s: %s", req->client_addr, ap_ctx_errmsg(ctx));
		ap_srv_resp_error(resp, 500, "internal", NULL, "the registration could not be recorded; the server's log says why");
		goto out;
	}
	ap_srv_log(srv, "info", "agent %s registered from %s (host %s)", uid, req->client_addr, safe);
	if ((out = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(out, "agent_id", uid) == NULL ||
	    cJSON_AddStringToObject(out, "secret", secret) == NULL ||
	    cJSON_AddNumberToObject(out, "heartbeat_interval", a.heartbeat_s) == NULL) {
		cJSON_Delete(out);
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	ap_srv_resp_json(resp, 201, out);
out:
	sodium_memzero(secret, sizeof(secret));
	if (pass != NULL)
		sodium_memzero((char *)pass, strlen(pass));
	cJSON_Delete(body);
	ap_ctx_free(ctx);
}

/* ---- POST /api/v1/agents/{id}/heartbeat ---------------------------------- */

static const char *const beat_fields[] = { "agent_version", "health", "uptime_s", NULL };

static void
agent_heartbeat(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct ap_agent a;
	struct ap_agent_beat b;
	struct ap_ctx *ctx = ap_ctx_new();
	const char *version = NULL, *health = NULL;
	char at[32];
	cJSON *body = NULL, *out = NULL;
	int uptime = 0, r;

	memset(&a, 0, sizeof(a));
	if (ctx == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if ((r = ap_store_agent_get(ap_srv_store(srv), req->param, &a, ctx)) != AP_OK) {
		if (r == AP_ENOTFOUND)
			ap_srv_resp_error(resp, 404, "not_found", NULL, "this agent is not registered (forgotten?): register again");
		else
			ap_srv_resp_error(resp, 500, "internal", NULL, "the store cannot be read now");
		goto out;
	}
	if (!ap_srv_hash_matches(req->bearer, a.secret_hash)) {
		ap_srv_resp_error(resp, 401, "unauthorized", NULL, "this is not the secret of agent %s", a.uid);
		goto out;
	}
	if (req->body_len > 0 &&
	    (ap_srv_body_object(req, resp, &body) != 0 ||
	     ap_srv_fields_known(body, beat_fields, resp) != 0 ||
	     single_line(body, "agent_version", 0, 64, 1, &version, resp) != 0 ||
	     single_line(body, "health", 0, 32, 1, &health, resp) != 0 ||
	     ap_srv_field_int(body, "uptime_s", 0, 2147483647, &uptime, resp) != 0))
		goto out;
	ap_srv_now_iso(at, sizeof(at));
	memset(&b, 0, sizeof(b));
	b.uid = a.uid;
	b.at = at;
	b.version = version;
	b.health = health;
	b.address = req->client_addr;
	if (ap_srv_beat_queue(srv, &b) != AP_OK) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if ((out = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(out, "heartbeat_interval", ap_srv_heartbeat_s(srv)) == NULL) {
		cJSON_Delete(out);
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	ap_srv_resp_json(resp, 200, out);
out:
	ap_agent_clear(&a);
	cJSON_Delete(body);
	ap_ctx_free(ctx);
}

/* ---- admin: list, show, forget ------------------------------------------- */

static void
agents_list(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct ap_agent *a = NULL;
	struct ap_ctx *ctx = ap_ctx_new();
	cJSON *root = NULL, *arr = NULL, *o = NULL;
	time_t now = time(NULL);
	size_t n = 0, i;

	(void)req;
	if (ctx == NULL || ap_store_agents_list(ap_srv_store(srv), &a, &n, ctx) != AP_OK) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "cannot list the agents now");
		goto out;
	}
	if ((root = cJSON_CreateObject()) == NULL || (arr = cJSON_AddArrayToObject(root, "agents")) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		if ((o = agent_json(&a[i], now)) == NULL)
			goto oom;
		cJSON_AddItemToArray(arr, o);
	}
	ap_srv_resp_json(resp, 200, root);
	root = NULL;
	goto out;
oom:
	ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
out:
	cJSON_Delete(root);
	ap_store_agents_free(a, n);
	ap_ctx_free(ctx);
}

static void
agent_show(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct ap_agent a;
	struct ap_ctx *ctx = ap_ctx_new();
	int r;

	memset(&a, 0, sizeof(a));
	if (ctx == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		return;
	}
	if ((r = ap_store_agent_get(ap_srv_store(srv), req->param, &a, ctx)) == AP_OK)
		ap_srv_resp_json(resp, 200, agent_json(&a, time(NULL)));
	else if (r == AP_ENOTFOUND)
		ap_srv_resp_error(resp, 404, "not_found", NULL, "no such agent");
	else
		ap_srv_resp_error(resp, 500, "internal", NULL, "cannot read the agent now");
	ap_agent_clear(&a);
	ap_ctx_free(ctx);
}

static void
agent_forget(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct ap_ctx *ctx = ap_ctx_new();
	int r;

	if (ctx == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		return;
	}
	if ((r = ap_store_agent_forget(ap_srv_store(srv), req->param, ctx)) == AP_OK) {
		ap_srv_log(srv, "info", "agent %s forgotten (by %s)", req->param, req->client_addr);
		resp->status = 204;
	} else if (r == AP_ENOTFOUND) {
		ap_srv_resp_error(resp, 404, "not_found", NULL, "no such agent");
	} else {
		ap_srv_resp_error(resp, 500, "internal", NULL, "cannot forget the agent now");
	}
	ap_ctx_free(ctx);
}

const struct ap_srv_route ap_srv_agent_routes[] = {
	{ "POST", "/api/v1/agents/register", AP_SRV_AUTH_NONE, agent_register },
	{ "POST", "/api/v1/agents/{}/heartbeat", AP_SRV_AUTH_AGENT, agent_heartbeat },
	{ "GET", "/api/v1/agents", AP_SRV_AUTH_ADMIN, agents_list },
	{ "GET", "/api/v1/agents/{}", AP_SRV_AUTH_ADMIN, agent_show },
	{ "DELETE", "/api/v1/agents/{}", AP_SRV_AUTH_ADMIN, agent_forget },
	{ NULL, NULL, 0, NULL }
};

/* ---- what an install job hands its agents -------------------------------- */

/* Handed out when the real settings could not be made: a registration
 * nobody can make, so no host ends done without one.  Never freed. */
static const char no_server[] = "http://" AP_ENROLL_CONTROLLER ":0";

/* 1 when an agent elsewhere cannot use host to reach us: a wildcard or
 * loopback listen address. */
static int
host_is_local_only(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
	       strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
}

void
ap_srv_agent_url(const struct ap_srv *srv, const char *agent_server, char *buf, size_t size)
{
	int v6 = strchr(srv->host, ':') != NULL;

	if (agent_server != NULL)
		snprintf(buf, size, "%s", agent_server);
	else if (host_is_local_only(srv->host))
		/* This server, at the address each host reached us from when we
		 * listen everywhere or on loopback only (enroll.h). */
		snprintf(buf, size, "%s://" AP_ENROLL_CONTROLLER ":%d", ap_srv_scheme(srv), srv->port);
	else
		snprintf(buf, size, "%s://%s%s%s:%d", ap_srv_scheme(srv), v6 ? "[" : "",
		         srv->host, v6 ? "]" : "", srv->port);
}

void
ap_run_agent_opts(struct ap_srv *srv, const char *agent_server,
                  int register_timeout_s, struct ap_run_opts *o)
{
	struct ap_ctx *ctx = ap_ctx_new();
	const char *pin = ap_srv_pin(srv);
	char *pass = NULL, url[600];

	o->agent_server = NULL;
	o->agent_pin = NULL;
	o->agent_passphrase = NULL;
	o->register_timeout_s = register_timeout_s;
	if (ctx == NULL)
		goto fail;
	ap_srv_agent_url(srv, agent_server, url, sizeof(url));
	if ((pass = sodium_malloc(AP_SERVER_PASSPHRASE_LEN + 1)) == NULL)
		goto fail;
	if (ap_server_passphrase_read(srv->store, srv->state_dir, pass, AP_SERVER_PASSPHRASE_LEN + 1, ctx) != AP_OK) {
		ap_srv_log(srv, "error", "install agents cannot register: %s", ap_ctx_errmsg(ctx));
		/* registration will be refused: hosts end 800501, never done
		 * without a registration */
		pass[0] = '\0';
	}
	if ((o->agent_server = strdup(url)) == NULL ||
	    (pin[0] != '\0' && (o->agent_pin = strdup(pin)) == NULL))
		goto fail;
	o->agent_passphrase = pass;
	ap_ctx_free(ctx);
	return;
fail:
	ap_srv_log(srv, "error", "out of memory preparing the agents' registration");
	sodium_free(pass);
	free((char *)o->agent_server);
	free((char *)o->agent_pin);
	o->agent_server = no_server;
	o->agent_pin = NULL;
	o->agent_passphrase = NULL;
	ap_ctx_free(ctx);
}

void
ap_run_agent_opts_clear(struct ap_run_opts *o)
{
	if (o->agent_passphrase != NULL)
		sodium_free((char *)o->agent_passphrase);   /* wipes it */
	if (o->agent_server != no_server)
		free((char *)o->agent_server);
	free((char *)o->agent_pin);
	o->agent_server = NULL;
	o->agent_pin = NULL;
	o->agent_passphrase = NULL;
}
