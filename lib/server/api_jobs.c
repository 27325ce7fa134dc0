/*
 * api_jobs.c - jobs over HTTP (docs/api.md "Jobs"): submit, list, show,
 * cancel, and follow one as Server-Sent Events.
 *
 * A submitted job is checked whole before anything is recorded (a bad
 * field or inventory changes nothing in the store), then recorded durably
 * (ap_run_plan) before the 202 goes out, then run by a runner of the
 * server (server.c).  The objects returned are the CLI's (jobjson.h).
 *
 * The event stream reads the store, never a runner's memory, so it follows
 * a job whoever runs it, and resumes after a Last-Event-ID.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentpush/inventory.h"
#include "agentpush/jobjson.h"
#include "agentpush/run.h"
#include "agentpush/target.h"
#include "agentpush/vault.h"
#include "server_int.h"

#define MAX_TARGETS 100000
#define MAX_IDS 64
#define STREAM_POLL_MS 250
#define STREAM_KEEPALIVE_S 10

/* Maps a store failure to its HTTP answer. */
static void
store_error(struct ap_srv *srv, struct ap_srv_resp *resp, int rc,
            const struct ap_ctx *ctx, const char *what)
{
	if (rc == AP_ENOTFOUND) {
		ap_srv_resp_error(resp, 404, "not_found", NULL, "%s", ap_ctx_errmsg(ctx));
		return;
	}
	if (rc == AP_ECONFLICT) {
		ap_srv_resp_error(resp, 409, "conflict", NULL, "%s", ap_ctx_errmsg(ctx));
		return;
	}
	ap_srv_log(srv, "error", "%s: %s", what, ap_ctx_errmsg(ctx));
	ap_srv_resp_error(resp, 500, "internal", NULL, "%s failed; the server's log says why", what);
}

/* The show object of job_id, with ids as the ?id= filter (may be 0). */
static void
job_answer(struct ap_srv *srv, int64_t job_id, const int *ids, size_t n_ids,
           int status, const char *location, struct ap_srv_resp *resp)
{
	struct ap_store *st = ap_srv_store(srv);
	struct ap_report *report = NULL;
	struct ap_job_info job;
	struct ap_ctx *ctx = ap_ctx_new();
	cJSON *root = NULL;
	size_t total;
	int r;

	memset(&job, 0, sizeof(job));
	if (ctx == NULL || (report = ap_report_new()) == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if ((r = ap_store_job_get(st, job_id, &job, ctx)) != AP_OK ||
	    (r = ap_store_job_report(st, job_id, report, ctx)) != AP_OK) {
		store_error(srv, resp, r, ctx, "reading a job");
		goto out;
	}
	total = ap_report_count(report);
	if (n_ids > 0)
		ap_report_keep_ids(report, ids, n_ids);
	if ((root = ap_job_show_json(report, &job, NULL, 0, NULL, 0, ids, n_ids, total)) == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	ap_srv_resp_json(resp, status, root);
	if (location != NULL)
		resp->location = strdup(location);
out:
	ap_job_info_clear(&job);
	ap_report_free(report);
	ap_ctx_free(ctx);
}

/* ---- POST /api/v1/jobs --------------------------------------------------- */

static const char *const job_fields[] = {
	"kind", "targets", "inventory", "user", "password", "identity",
	"known_hosts", "host_key_policy", "os", "parallel", "timeout",
	"package", "server", "register_timeout", "account", NULL
};

/* A path on the server the job will read: it must be readable now. */
static int
readable_path(const cJSON *body, const char *name, const char **out,
              struct ap_srv_resp *resp)
{
	if (ap_srv_field_string(body, name, 0, 4096, out, resp) != 0)
		return -1;
	if (*out != NULL && (**out != '/' || access(*out, R_OK) != 0)) {
		ap_srv_resp_error(resp, 400, "bad_field", name,
		                  "%s: %s is not a readable absolute path on the server", name, *out);
		return -1;
	}
	return 0;
}

/* The targets of the body into *t / *n (exactly one of targets, inventory). */
static int
body_targets(const cJSON *body, struct ap_target **t, size_t *n,
             struct ap_srv_resp *resp)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "targets");
	const char *inv = NULL;
	struct ap_ctx *ctx = ap_ctx_new();
	const cJSON *it = NULL;
	size_t i = 0, cnt;
	int r = -1;

	*t = NULL;
	*n = 0;
	if (ctx == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		return -1;
	}
	if (ap_srv_field_string(body, "inventory", 0, AP_SRV_MAX_BODY, &inv, resp) != 0)
		goto out;
	if ((arr != NULL) == (inv != NULL)) {
		ap_srv_resp_error(resp, 400, "bad_field", "targets", "give exactly one of targets and inventory");
		goto out;
	}
	if (inv != NULL) {
		if (ap_inventory_parse("inventory", inv, strlen(inv), t, n, ctx) != AP_OK) {
			ap_srv_resp_error(resp, 400, "bad_inventory", "inventory", "%s", ap_ctx_errmsg(ctx));
			goto out;
		}
		if (*n == 0) {
			ap_srv_resp_error(resp, 400, "bad_inventory", "inventory", "the inventory names no host");
			goto out;
		}
		r = 0;
		goto out;
	}
	if (!cJSON_IsArray(arr) || (cnt = (size_t)cJSON_GetArraySize(arr)) == 0 || cnt > MAX_TARGETS) {
		ap_srv_resp_error(resp, 400, "bad_field", "targets", "targets: expected an array of 1 to %d strings",
		                  MAX_TARGETS);
		goto out;
	}
	if ((*t = calloc(cnt, sizeof(**t))) == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || it->valuestring == NULL) {
			ap_srv_resp_error(resp, 400, "bad_field", "targets", "targets[%zu]: expected a string", i);
			goto out;
		}
		ap_ctx_clear(ctx);
		if (ap_target_parse(it->valuestring, &(*t)[i], ctx) != AP_OK) {
			ap_srv_resp_error(resp, 400, "bad_field", "targets", "targets[%zu]: %s", i, ap_ctx_errmsg(ctx));
			goto out;
		}
		i++;
		*n = i;
	}
	r = 0;
out:
	if (r != 0) {
		ap_targets_free(*t, *n);
		*t = NULL;
		*n = 0;
	}
	ap_ctx_free(ctx);
	return r;
}

/*
 * The job's "account": a name the vault holds, and no user or password
 * beside it.  0, or -1 with a 400 in resp.  (Accounts that inventory
 * targets name with agentpush_account are checked when the job starts.)
 */
static int
account_check(struct ap_srv *srv, const char *name, int with_password,
              struct ap_srv_resp *resp)
{
	struct ap_account a;
	struct ap_ctx *ctx = NULL;
	int r;

	if (!ap_vault_name_valid(name)) {
		ap_srv_resp_error(resp, 400, "bad_field", "account", "account: not an account name");
		return -1;
	}
	if (with_password) {
		ap_srv_resp_error(resp, 400, "bad_field", "account",
		                  "account: the account gives the user and the password; leave out user and password");
		return -1;
	}
	if ((ctx = ap_ctx_new()) == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		return -1;
	}
	r = ap_store_account_get(ap_srv_store(srv), name, &a, ctx);
	if (r == AP_ENOTFOUND)
		ap_srv_resp_error(resp, 400, "bad_field", "account", "account: %s", ap_ctx_errmsg(ctx));
	else if (r != AP_OK)
		store_error(srv, resp, r, ctx, "reading an account");
	ap_account_clear(&a);
	ap_ctx_free(ctx);
	return r == AP_OK ? 0 : -1;
}

static void
job_submit(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct ap_run_opts o;
	struct ap_srv_job sj;
	struct ap_target *targets = NULL;
	struct ap_ctx *ctx = NULL;
	const char *kind = NULL, *policy = NULL, *os = NULL;
	char *opts_json = NULL, loc[64], agent_url[600];
	cJSON *body = NULL;
	size_t n = 0;
	int install, r;

	memset(&o, 0, sizeof(o));
	memset(&sj, 0, sizeof(sj));
	sj.parallel = AP_DEFAULT_PARALLEL;
	sj.timeout_s = AP_DEFAULT_TIMEOUT_S;
	sj.register_timeout_s = 120;
	if (ap_srv_body_object(req, resp, &body) != 0 ||
	    ap_srv_fields_known(body, job_fields, resp) != 0 ||
	    ap_srv_field_string(body, "kind", 1, 16, &kind, resp) != 0)
		goto out;
	if (strcmp(kind, "check") != 0 && strcmp(kind, "install") != 0) {
		ap_srv_resp_error(resp, 400, "bad_field", "kind", "kind: expected \"check\" or \"install\"");
		goto out;
	}
	install = strcmp(kind, "install") == 0;
	if (ap_srv_field_string(body, "user", 0, 256, &sj.user, resp) != 0 ||
	    ap_srv_field_string(body, "password", 0, 1024, &sj.password, resp) != 0 ||
	    readable_path(body, "identity", &sj.identity, resp) != 0 ||
	    readable_path(body, "known_hosts", &sj.known_hosts, resp) != 0 ||
	    ap_srv_field_string(body, "host_key_policy", 0, 16, &policy, resp) != 0 ||
	    ap_srv_field_string(body, "os", 0, 16, &os, resp) != 0 ||
	    ap_srv_field_int(body, "parallel", 1, 1024, &sj.parallel, resp) != 0 ||
	    ap_srv_field_int(body, "timeout", 1, 86400, &sj.timeout_s, resp) != 0 ||
	    readable_path(body, "package", &o.package_path, resp) != 0 ||
	    ap_srv_field_string(body, "server", 0, 512, &sj.agent_server, resp) != 0 ||
	    ap_srv_field_int(body, "register_timeout", 1, 3600, &sj.register_timeout_s, resp) != 0 ||
	    ap_srv_field_string(body, "account", 0, 64, &sj.account, resp) != 0)
		goto out;
	if (sj.account != NULL && account_check(srv, sj.account, sj.user != NULL || sj.password != NULL,
	                                        resp) != 0)
		goto out;
	if (sj.user != NULL && !ap_target_user_valid(sj.user)) {
		ap_srv_resp_error(resp, 400, "bad_field", "user", "user: not an acceptable user name");
		goto out;
	}
	sj.hostkey_policy = AP_HOSTKEY_STRICT;
	if (policy != NULL) {
		if (strcmp(policy, "accept-new") == 0)
			sj.hostkey_policy = AP_HOSTKEY_ACCEPT_NEW;
		else if (strcmp(policy, "strict") != 0) {
			ap_srv_resp_error(resp, 400, "bad_field", "host_key_policy",
			                  "host_key_policy: expected \"strict\" or \"accept-new\"");
			goto out;
		}
	}
	if (os != NULL) {
		enum ap_os v;

		if (ap_os_parse(os, &v) != AP_OK) {
			ap_srv_resp_error(resp, 400, "bad_field", "os", "os: expected \"auto\", \"linux\" or \"windows\"");
			goto out;
		}
		sj.os = (int)v;
	}
	if (install && o.package_path == NULL) {
		ap_srv_resp_error(resp, 400, "bad_field", "package", "package: an install needs a package (a path on the server)");
		goto out;
	}
	if (!install && (o.package_path != NULL || sj.agent_server != NULL ||
	                 cJSON_GetObjectItemCaseSensitive(body, "register_timeout") != NULL)) {
		ap_srv_resp_error(resp, 400, "bad_field", o.package_path != NULL ? "package" :
		                  sj.agent_server != NULL ? "server" : "register_timeout",
		                  "this field is for install jobs only");
		goto out;
	}
	if (sj.agent_server != NULL && strncmp(sj.agent_server, "https://", 8) != 0 &&
	    strncmp(sj.agent_server, "http://", 7) != 0) {
		ap_srv_resp_error(resp, 400, "bad_field", "server", "server: expected an https:// URL");
		goto out;
	}
	if (body_targets(body, &targets, &n, resp) != 0)
		goto out;

	/* A password lives in this request only: workers would never see it. */
	if (ap_srv_workers(srv) && sj.password != NULL) {
		ap_srv_resp_error(resp, 400, "bad_field", "password",
		                  "password: this server's jobs are run by agentpush worker processes, which a password sent here cannot reach; name an account of the vault (account) or give the workers their own --password-file");
		goto out;
	}
	/* Everything checked: record the job, then run it. */
	o.store = ap_srv_store(srv);
	o.user = sj.user;
	o.password = sj.password;
	o.identity = sj.identity;
	o.known_hosts = sj.known_hosts;
	o.hostkey_policy = (enum ap_hostkey_policy)sj.hostkey_policy;
	o.os = (enum ap_os)sj.os;
	o.parallel = sj.parallel;
	o.timeout_s = sj.timeout_s;
	o.account = sj.account;
	if (install) {
		/* recorded with the job, so a resume registers its agents too */
		ap_srv_agent_url(srv, sj.agent_server, agent_url, sizeof(agent_url));
		o.agent_server = agent_url;
		o.register_timeout_s = sj.register_timeout_s;
	}
	if ((ctx = ap_ctx_new()) == NULL || (opts_json = ap_run_options_json(&o)) == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	o.options_json = opts_json;
	if ((r = ap_run_plan(&o, install, targets, n, ctx)) != AP_OK) {
		if (r == AP_EINVAL || r == AP_EIO || r == AP_EPROTO)  /* a bad package */
			ap_srv_resp_error(resp, 400, "bad_field", "package", "%s", ap_ctx_errmsg(ctx));
		else
			store_error(srv, resp, r, ctx, "recording a job");
		goto out;
	}
	sj.job_id = o.job_id;
	if (ap_srv_workers(srv)) {
		/* recorded: the workers claim its hosts (worker.h) */
		ap_srv_log(srv, "info", "job %" PRId64 ": %s of %zu target(s) queued for the workers, from %s",
		           o.job_id, kind, n, req->client_addr);
		snprintf(loc, sizeof(loc), "/api/v1/jobs/%" PRId64, o.job_id);
		job_answer(srv, o.job_id, NULL, 0, 202, loc, resp);
		goto out;
	}
	if (ap_srv_job_start(srv, &sj, ctx) != AP_OK) {
		/* Recorded but not started: say so; `resume` can run it. */
		ap_srv_log(srv, "error", "job %" PRId64 ": recorded, not started: %s", o.job_id, ap_ctx_errmsg(ctx));
		ap_srv_resp_error(resp, 503, "internal", NULL, "job %" PRId64 " was recorded but cannot start now (%s); run agentpush resume %" PRId64,
		                  o.job_id, ap_ctx_errmsg(ctx), o.job_id);
		goto out;
	}
	ap_srv_log(srv, "info", "job %" PRId64 ": %s of %zu target(s) submitted from %s", o.job_id, kind, n,
	           req->client_addr);
	snprintf(loc, sizeof(loc), "/api/v1/jobs/%" PRId64, o.job_id);
	job_answer(srv, o.job_id, NULL, 0, 202, loc, resp);
out:
	free(opts_json);
	ap_targets_free(targets, n);
	ap_ctx_free(ctx);
	/* the parsed body held the password */
	if (body != NULL) {
		cJSON *pw = cJSON_GetObjectItemCaseSensitive(body, "password");

		if (cJSON_IsString(pw) && pw->valuestring != NULL)
			explicit_bzero(pw->valuestring, strlen(pw->valuestring));
	}
	cJSON_Delete(body);
}

/* ---- GET /api/v1/jobs ---------------------------------------------------- */

static void
jobs_list(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct ap_job_info *jobs = NULL;
	struct ap_ctx *ctx = ap_ctx_new();
	const char *lim = req->query(req, "limit");
	cJSON *root = NULL, *arr = NULL, *obj = NULL;
	size_t n = 0, i, limit = 100;
	int r;

	if (lim != NULL) {
		char *end = NULL;
		long v = strtol(lim, &end, 10);

		if (end == lim || *end != '\0' || v < 0 || v > 100000) {
			ap_srv_resp_error(resp, 400, "bad_field", "limit", "limit: expected a whole number from 0 (all) to 100000");
			goto out;
		}
		limit = (size_t)v;
	}
	if (ctx == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if ((r = ap_store_jobs_list(ap_srv_store(srv), limit, &jobs, &n, ctx)) != AP_OK) {
		store_error(srv, resp, r, ctx, "listing jobs");
		goto out;
	}
	if ((root = cJSON_CreateObject()) == NULL || (arr = cJSON_AddArrayToObject(root, "jobs")) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		if ((obj = cJSON_CreateObject()) == NULL)
			goto oom;
		cJSON_AddItemToArray(arr, obj);
		if (ap_job_info_to_json(&jobs[i], obj) != 0)
			goto oom;
	}
	ap_srv_resp_json(resp, 200, root);
	root = NULL;
	goto out;
oom:
	ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
out:
	cJSON_Delete(root);
	ap_store_jobs_free(jobs, n);
	ap_ctx_free(ctx);
}

/* ---- GET /api/v1/jobs/{id} ----------------------------------------------- */

/* "95108,800106" into ids; -1 on anything else. */
static int
parse_ids(const char *s, int *ids, size_t max, size_t *n)
{
	const char *p = s;

	*n = 0;
	while (*p != '\0') {
		char *end = NULL;
		long v;

		if (*n == max || *p < '0' || *p > '9')
			return -1;
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno != 0 || v <= 0 || v > 99999999)
			return -1;
		ids[(*n)++] = (int)v;
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return -1;
		p = end;
	}
	return *n > 0 ? 0 : -1;
}

static void
job_show(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	const char *idq = req->query(req, "id");
	int ids[MAX_IDS];
	size_t n_ids = 0;
	int64_t id;

	if (ap_srv_param_id(req->param, &id) != 0) {
		ap_srv_resp_error(resp, 404, "not_found", NULL, "no such job (job ids are positive numbers)");
		return;
	}
	if (idq != NULL && parse_ids(idq, ids, MAX_IDS, &n_ids) != 0) {
		ap_srv_resp_error(resp, 400, "bad_field", "id", "id: expected ErrorIDs separated by commas (at most %d)",
		                  MAX_IDS);
		return;
	}
	job_answer(srv, id, ids, n_ids, 200, NULL, resp);
}

/* ---- POST /api/v1/jobs/{id}/cancel --------------------------------------- */

static void
job_cancel(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct ap_ctx *ctx = ap_ctx_new();
	int64_t id;
	int r;

	if (ctx == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		return;
	}
	if (ap_srv_param_id(req->param, &id) != 0) {
		ap_srv_resp_error(resp, 404, "not_found", NULL, "no such job (job ids are positive numbers)");
	} else if ((r = ap_store_job_cancel(ap_srv_store(srv), id, ctx)) != AP_OK) {
		store_error(srv, resp, r, ctx, "cancelling a job");
	} else {
		ap_srv_log(srv, "info", "job %" PRId64 ": cancel requested from %s", id, req->client_addr);
		job_answer(srv, id, NULL, 0, 202, NULL, resp);
	}
	ap_ctx_free(ctx);
}

/* ---- GET /api/v1/jobs/{id}/events ---------------------------------------- */

struct sse {
	struct ap_srv *srv;
	struct ap_ctx *ctx;
	int64_t job_id;
	int64_t last_id;
	struct ap_job_target *t;
	size_t n_t;
	char *buf;                  /* formatted, not yet sent */
	size_t len, off, cap;
	int ended;                  /* "end" is queued: stop after it */
	time_t last_sent;
};

static int
sse_append(struct sse *s, const char *text)
{
	size_t n = strlen(text);

	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap != 0 ? s->cap : 4096;
		char *nb = NULL;

		while (cap < s->len + n + 1)
			cap *= 2;
		if ((nb = realloc(s->buf, cap)) == NULL)
			return -1;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, text, n + 1);
	s->len += n;
	return 0;
}

/* The target of a store id, or NULL. */
static const struct ap_job_target *
sse_target(const struct sse *s, int64_t id)
{
	size_t i;

	for (i = 0; i < s->n_t; i++)
		if (s->t[i].id == id)
			return &s->t[i];
	return NULL;
}

/* One stored event as an SSE event; other kinds than below are skipped. */
static int
sse_format(struct sse *s, const struct ap_job_event *ev)
{
	const struct ap_job_target *t = sse_target(s, ev->target_id);
	cJSON *d = cJSON_CreateObject();
	char *data = NULL, head[64], from[32] = "", to[32] = "";
	const char *kind = NULL;
	int r = -1;

	if (d == NULL)
		return -1;
	if (strcmp(ev->what, "state") == 0 && t != NULL) {
		/* detail: "planned -> connected[: note]" */
		if (sscanf(ev->detail, "%31[a-z] -> %31[a-z]", from, to) != 2)
			goto skip;
		kind = "state";
		if (cJSON_AddNumberToObject(d, "job", (double)s->job_id) == NULL ||
		    cJSON_AddNumberToObject(d, "target", (double)t->index) == NULL ||
		    cJSON_AddStringToObject(d, "host", t->target.spec) == NULL ||
		    cJSON_AddStringToObject(d, "from", from) == NULL ||
		    cJSON_AddStringToObject(d, "to", to) == NULL ||
		    cJSON_AddStringToObject(d, "at", ev->at) == NULL)
			goto out;
	} else if (strcmp(ev->what, "cancel") == 0 || strcmp(ev->what, "resume") == 0 ||
	           strcmp(ev->what, "retry") == 0) {
		kind = ev->what;
		if (cJSON_AddNumberToObject(d, "job", (double)s->job_id) == NULL ||
		    (t != NULL && cJSON_AddStringToObject(d, "host", t->target.spec) == NULL) ||
		    cJSON_AddStringToObject(d, "detail", ev->detail) == NULL ||
		    cJSON_AddStringToObject(d, "at", ev->at) == NULL)
			goto out;
	} else {
		goto skip;
	}
	if ((data = cJSON_PrintUnformatted(d)) == NULL)
		goto out;
	snprintf(head, sizeof(head), "id: %" PRId64 "\nevent: %s\ndata: ", ev->id, kind);
	if (sse_append(s, head) != 0 || sse_append(s, data) != 0 || sse_append(s, "\n\n") != 0)
		goto out;
skip:
	r = 0;
out:
	free(data);
	cJSON_Delete(d);
	return r;
}

/* Reads what the store has after last_id; queues "end" once the job is done
 * and everything before it was sent.  -1 on a store error. */
static int
sse_poll(struct sse *s)
{
	struct ap_store *st = ap_srv_store(s->srv);
	struct ap_job_event *ev = NULL;
	struct ap_job_info job;
	size_t n = 0, i;
	int r = -1;

	memset(&job, 0, sizeof(job));
	ap_ctx_clear(s->ctx);
	/* The status first: a job done before this read has all its events
	 * in the store already. */
	if (ap_store_job_get(st, s->job_id, &job, s->ctx) != AP_OK ||
	    ap_store_job_events_after(st, s->job_id, s->last_id, 500, &ev, &n, s->ctx) != AP_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (sse_format(s, &ev[i]) != 0)
			goto out;
		s->last_id = ev[i].id;
	}
	if (n < 500 && job.status == AP_JOB_DONE) {
		char end[128];

		snprintf(end, sizeof(end), "event: end\ndata: {\"job\":%" PRId64 ",\"status\":\"done\"}\n\n",
		         s->job_id);
		if (sse_append(s, end) != 0)
			goto out;
		s->ended = 1;
	}
	r = 0;
out:
	ap_store_events_free(ev, n);
	ap_job_info_clear(&job);
	return r;
}

static long
sse_next(void *ud, char *buf, size_t size)
{
	struct sse *s = ud;
	struct timespec nap = { 0, STREAM_POLL_MS * 1000000L };
	size_t n;

	while (s->off == s->len) {
		s->off = s->len = 0;
		if (s->ended || ap_srv_stopping(s->srv))
			return -1;
		if (sse_poll(s) != 0)
			return -1;
		if (s->len > 0)
			break;
		if (time(NULL) - s->last_sent >= STREAM_KEEPALIVE_S) {
			if (sse_append(s, ": keep-alive\n\n") != 0)
				return -1;
			break;
		}
		nanosleep(&nap, NULL);
	}
	n = s->len - s->off;
	if (n > size)
		n = size;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	s->last_sent = time(NULL);
	return (long)n;
}

static void
sse_free(void *ud)
{
	struct sse *s = ud;

	if (s == NULL)
		return;
	ap_store_targets_free(s->t, s->n_t);
	ap_ctx_free(s->ctx);
	free(s->buf);
	free(s);
}

static void
job_events(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	struct sse *s = NULL;
	int64_t id, after = 0;

	if (ap_srv_param_id(req->param, &id) != 0) {
		ap_srv_resp_error(resp, 404, "not_found", NULL, "no such job (job ids are positive numbers)");
		return;
	}
	if (req->last_event_id != NULL && ap_srv_param_id(req->last_event_id, &after) != 0) {
		ap_srv_resp_error(resp, 400, "bad_field", "Last-Event-ID", "Last-Event-ID: expected an event id");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->ctx = ap_ctx_new()) == NULL) {
		sse_free(s);
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		return;
	}
	s->srv = srv;
	s->job_id = id;
	s->last_id = after;
	s->last_sent = time(NULL);
	/* A job that does not exist is a 404 before the stream starts. */
	if (ap_store_job_targets(ap_srv_store(srv), id, &s->t, &s->n_t, s->ctx) != AP_OK ||
	    sse_poll(s) != 0) {
		store_error(srv, resp, ap_ctx_rc(s->ctx), s->ctx, "reading a job's events");
		sse_free(s);
		return;
	}
	resp->status = 200;
	resp->content_type = strdup("text/event-stream");
	resp->stream.next = sse_next;
	resp->stream.free_fn = sse_free;
	resp->stream.ud = s;
}

const struct ap_srv_route ap_srv_job_routes[] = {
	{ "POST", "/api/v1/jobs", AP_SRV_AUTH_ADMIN, job_submit },
	{ "GET", "/api/v1/jobs", AP_SRV_AUTH_ADMIN, jobs_list },
	{ "GET", "/api/v1/jobs/{}", AP_SRV_AUTH_ADMIN, job_show },
	{ "POST", "/api/v1/jobs/{}/cancel", AP_SRV_AUTH_ADMIN, job_cancel },
	{ "GET", "/api/v1/jobs/{}/events", AP_SRV_AUTH_ADMIN, job_events },
	{ NULL, NULL, 0, NULL }
};
