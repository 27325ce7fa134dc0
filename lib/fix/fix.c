/*
 * fix.c - plan, apply and undo the remedies of `agentpush fix` (fix.h).
 *
 * Planning is pure (the per-OS tables of fix_int.h over a check result).
 * Applying opens one SSH connection per Linux host and runs each remedy's
 * script as root through `sh -s`, the script on stdin (after the password,
 * for `sudo -S`), so no secret is ever on a command line; on a Windows host
 * one WinRM connection per account the remedies run as (the check's, and
 * the admin account's), each script as `powershell -EncodedCommand`, the
 * password only in the WinRM logon.  Each remedy tried is recorded before
 * the next one starts, as an event "fix" of the check job's target: one
 * line of JSON
 *
 *   {"remedy":"sftp-subsystem","id":800106,"privilege":false,"shell":"sh",
 *    "commands":"...","undo":"...","ok":true,"exit":0,
 *    "stdout":"...","stderr":"...","setting":{"agentpush_staging_dir":"..."}}
 *
 * (Windows: "shell":"powershell","via":"winrm", and "account":NAME when it
 * ran as the admin account NAME)
 *
 * and `fix --undo` reads those back (events "undo" name the fix event they
 * undid: {"fix_event":12,"remedy":...,"ok":true,...}).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "agentpush/catalog.h"
#include "agentpush/store.h"
#include "agentpush/transport.h"
#include "agentpush/windows.h"
#include "fix_int.h"
#include "transport/transport_util.h"

/* What the store keeps of a script's output, per stream. */
#define OUTPUT_KEEP 8192

char *
ap_fix_strf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

const char *
ap_fix_var(const struct ap_target *t, const char *key)
{
	size_t i;

	for (i = 0; t != NULL && i < t->n_vars; i++)
		if (t->vars[i].key != NULL && strcmp(t->vars[i].key, key) == 0)
			return t->vars[i].value;
	return NULL;
}

const struct ap_fix_entry *
ap_fix_table(enum ap_os os, size_t *n)
{
	switch (os) {
	case AP_OS_LINUX:
		*n = ap_fix_linux_table_n;
		return ap_fix_linux_table;
	case AP_OS_WINDOWS:
		*n = ap_fix_windows_table_n;
		return ap_fix_windows_table;
	default:
		*n = 0;
		return NULL;
	}
}

static void
remedy_clear(struct ap_fix_remedy *r)
{
	free(r->name);
	free(r->evidence);
	free(r->shell);
	free(r->commands);
	free(r->undo);
	free(r->advice);
	free(r->setting);
	memset(r, 0, sizeof(*r));
}

void
ap_fix_host_clear(struct ap_fix_host *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		remedy_clear(&h->remedies[i]);
	free(h->remedies);
	memset(h, 0, sizeof(*h));
}

int
ap_fix_word_ok(const char *s, size_t max, int upper, const char *extra)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > max)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (upper && s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i]) != NULL))
			return 0;
	return 1;
}

static int
wanted(int id, const int *only, size_t n_only)
{
	size_t i;

	if (n_only == 0)
		return 1;
	for (i = 0; i < n_only; i++)
		if (ap_catalog_id_matches(id, only[i]))
			return 1;
	return 0;
}

static const char *login_user(const struct ap_run_opts *opts, const struct ap_target *t);

int
ap_fix_plan(const struct ap_run_opts *opts, const struct ap_run_account *admin,
            const struct ap_target *t, enum ap_os os, const struct ap_result *res,
            const char *tag, const int *only, size_t n_only, struct ap_fix_host *out,
            struct ap_ctx *ctx)
{
	const struct ap_fix_entry *table = NULL, *e = NULL;
	struct ap_fix_input in;
	struct ap_fix_remedy *r = NULL;
	size_t i, k, n_table = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->target = t;
	out->os = os;
	if (t == NULL || res == NULL || !ap_fix_word_ok(tag, 64, 1, "._-"))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "fix: no target, no result or a bad tag");
	table = ap_fix_table(os, &n_table);
	if (res->n_findings > 0 &&
	    (out->remedies = calloc(res->n_findings, sizeof(*out->remedies))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	for (i = 0; i < res->n_findings; i++) {
		const struct ap_finding *f = &res->findings[i];

		if (f->severity != AP_SEV_ERROR || !wanted(f->id, only, n_only))
			continue;
		for (k = 0, e = NULL; k < n_table && e == NULL; k++)
			if (table[k].id == f->id)
				e = &table[k];
		/* one remedy per name: 95108 and 95525 on one host are one sudo change */
		for (k = 0; e != NULL && k < out->n; k++)
			if (strcmp(out->remedies[k].name, e->name) == 0)
				break;
		if (e != NULL && k < out->n)
			continue;
		r = &out->remedies[out->n++];
		r->id = f->id;
		r->privilege = e != NULL ? e->privilege : 0;
		r->name = strdup(e != NULL ? e->name : "advice");
		r->evidence = strdup(f->evidence != NULL ? f->evidence : "");
		if (r->name == NULL || r->evidence == NULL) {
			rc = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto fail;
		}
		if (e == NULL || e->build == NULL) {
			r->advice = strdup(e != NULL ? e->never
			                             : N_("no remedy agentpush applies: see 'agentpush explain' for this ErrorID"));
			if (r->advice == NULL) {
				rc = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto fail;
			}
			continue;
		}
		in.t = t;
		in.f = f;
		in.user = opts != NULL ? login_user(opts, t) : t->user;
		in.tag = tag;
		in.admin = admin;
		if ((rc = e->build(&in, r, ctx)) != AP_OK)
			goto fail;
	}
	return AP_OK;
fail:
	ap_fix_host_clear(out);
	return rc;
}

int
ap_fix_remedy_runs(const struct ap_fix_remedy *r, int allow_privilege)
{
	return r->remote && r->commands != NULL && (!r->privilege || allow_privilege);
}

void
ap_fix_outcome_clear(struct ap_fix_outcome *o)
{
	if (o == NULL)
		return;
	free(o->output);
	free(o->error);
	free(o->setting_value);
	memset(o, 0, sizeof(*o));
}

void
ap_fix_undo_free(struct ap_fix_undo *u, size_t n)
{
	size_t i;

	for (i = 0; u != NULL && i < n; i++) {
		free(u[i].name);
		free(u[i].undo);
		free(u[i].shell);
		free(u[i].account);
	}
	free(u);
}

/* ---- one connection to one host ---- */

struct session {
	const struct ap_transport_ops *ops;
	struct ap_conn *conn;
	const char *password;    /* for sudo -S; borrowed */
	int root;                /* 1: the login is uid 0 */
	int windows;             /* 1: WinRM; scripts run as -EncodedCommand */
	const char *account;     /* Windows: the admin account's name (borrowed);
	                          * NULL: the check's account */
	const char *user;        /* the login name, for messages (borrowed) */
};

/* The login name t is reached with under opts (NULL: the default, root). */
static const char *
login_user(const struct ap_run_opts *opts, const struct ap_target *t)
{
	const struct ap_run_account *a = ap_run_account_for(opts, t);

	if (a != NULL)
		return a->user;
	return t->user != NULL ? t->user : opts->user;
}

static int
timeout_ms(const struct ap_run_opts *opts)
{
	return (opts->timeout_s > 0 ? opts->timeout_s : AP_DEFAULT_TIMEOUT_S) * 1000;
}

/*
 * Opens the WinRM connection to t as the check's account (as NULL) or as
 * the admin account as, with the settings a check's WinRM step takes from
 * opts and t's inventory variables (port, CA, authentication, domain).
 * Kerberos (--kerberos, ansible_winrm_transport=kerberos) is for the
 * check's account only: the admin account logs on with its password.
 */
static int
winrm_open(const struct ap_run_opts *opts, const struct ap_target *t,
           const struct ap_run_account *as, struct session *s, struct ap_ctx *ctx)
{
	const struct ap_run_account *a = as != NULL ? as : ap_run_account_for(opts, t);
	const char *transport = ap_fix_var(t, "ansible_winrm_transport");
	const char *ca = ap_fix_var(t, "ansible_winrm_ca_trust_path");
	struct ap_conn_opts co;
	int ms = timeout_ms(opts), kerberos;

	s->ops = &ap_transport_winrm;
	s->windows = 1;
	s->account = as != NULL ? as->name : NULL;
	memset(&co, 0, sizeof(co));
	co.host = t->host;
	co.port = t->port != 0 ? t->port : opts->winrm_insecure_http ? 5985 : 5986;
	co.user = a != NULL ? a->user : t->user != NULL ? t->user
	        : opts->user != NULL ? opts->user : "Administrator";
	co.password = a != NULL ? a->password : opts->password;
	/* a --fix-account account names its own domain, or none (local) */
	co.domain = as != NULL ? as->domain
	          : a != NULL && a->domain != NULL ? a->domain : ap_fix_var(t, "agentpush_domain");
	co.ca_file = ca != NULL ? ca : opts->ca_file;
	co.winrm_allow_http = opts->winrm_insecure_http;
	/* a --fix-account account logs on with its password, never a ticket */
	kerberos = as == NULL &&
	           (opts->kerberos || (transport != NULL && strcmp(transport, "kerberos") == 0));
	co.winrm_auth = ap_transport_winrm_auth(opts->winrm_auth, transport, kerberos);
	if (kerberos)
		co.password = NULL; /* the ticket logs on */
	co.connect_timeout_ms = ms;
	co.io_timeout_ms = ms < 60000 ? 60000 : ms;
	s->user = co.user;
	return s->ops->open(&co, &s->conn, ctx);
}

/*
 * Opens the connection remedies of t run over: WinRM for Windows (as the
 * check's account, or as admin when it is set), else SSH, learning
 * whether the login is root.
 */
static int
session_open(const struct ap_run_opts *opts, const struct ap_target *t, int windows,
             const struct ap_run_account *admin, struct session *s, struct ap_ctx *ctx)
{
	const struct ap_run_account *a = ap_run_account_for(opts, t);
	struct ap_conn_opts co;
	struct ap_exec_result res;
	int ms = timeout_ms(opts);
	int r;

	memset(s, 0, sizeof(*s));
	memset(&res, 0, sizeof(res));
	if (windows)
		return winrm_open(opts, t, admin, s, ctx);
	s->ops = &ap_transport_ssh;
	s->password = a != NULL ? a->password : opts->password;
	memset(&co, 0, sizeof(co));
	co.host = t->host;
	co.port = t->port;
	co.user = login_user(opts, t);
	co.password = s->password;
	co.identity = opts->identity;
	co.known_hosts = opts->known_hosts;
	co.hostkey_policy = opts->hostkey_policy;
	co.use_agent = 1;
	co.use_ssh_config = 1;
	co.connect_timeout_ms = ms;
	/* the sshd reload waits up to 17 s for the listener to come back */
	co.io_timeout_ms = ms < 60000 ? 60000 : ms;
	s->user = co.user != NULL ? co.user : "root";
	if ((r = s->ops->open(&co, &s->conn, ctx)) != AP_OK)
		return r;
	if ((r = s->ops->exec(s->conn, "id -u", NULL, 0, &res, ctx)) != AP_OK)
		goto out;
	s->root = res.exit_status == 0 && res.out != NULL && strcmp(res.out, "0\n") == 0;
out:
	ap_exec_result_clear(&res);
	if (r != AP_OK) {
		s->ops->close(s->conn);
		s->conn = NULL;
	}
	return r;
}

static void
session_close(struct session *s)
{
	if (s->conn != NULL)
		s->ops->close(s->conn);
	s->conn = NULL;
}

/*
 * Runs script: Windows, as `powershell -EncodedCommand` (no stdin); else
 * as root through sh -s.  The transport's code.
 */
static int
session_run(struct session *s, const char *script, struct ap_exec_result *res,
            struct ap_ctx *ctx)
{
	const char *cmd = "sh -s";
	char *in = NULL, *ps = NULL;
	size_t len = strlen(script), pw = 0;
	int r;

	if (s->windows) {
		if ((r = ap_windows_powershell_command(script, &ps, ctx)) != AP_OK)
			return r;
		r = s->ops->exec(s->conn, ps, NULL, 0, res, ctx);
		free(ps);
		return r;
	}
	if (!s->root) {
		cmd = s->password != NULL ? "sudo -S -p '' sh -s" : "sudo -n sh -s";
		pw = s->password != NULL ? strlen(s->password) + 1 : 0;
	}
	if ((in = malloc(pw + len + 1)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (pw > 0) {
		memcpy(in, s->password, pw - 1);
		in[pw - 1] = '\n';
	}
	memcpy(in + pw, script, len);
	r = s->ops->exec(s->conn, cmd, in, pw + len, res, ctx);
	explicit_bzero(in, pw + len);
	free(in);
	return r;
}

/* The last line of text (its newline dropped) that starts with prefix,
 * malloc'd; NULL when none. */
static char *
line_after(const char *text, const char *prefix)
{
	const char *p = text, *found = NULL;
	size_t n = strlen(prefix), len;
	char *v = NULL;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n') != NULL ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, n) == 0)
			found = p + n;
	if (found == NULL)
		return NULL;
	len = strcspn(found, "\r\n");
	if ((v = malloc(len + 1)) != NULL) {
		memcpy(v, found, len);
		v[len] = '\0';
	}
	return v;
}

/* s with every AP_FIX_SETTING_MARK replaced by the shell-quoted value. */
static char *
with_setting(const char *s, const char *value)
{
	char *q = NULL, *out = NULL;
	const char *p = NULL, *m = NULL;
	size_t nq, nm = strlen(AP_FIX_SETTING_MARK), cap, len = 0;

	if (value == NULL || strstr(s, AP_FIX_SETTING_MARK) == NULL)
		return strdup(s);
	if ((q = ap_transport_shell_quote(value)) == NULL)
		return NULL;
	nq = strlen(q);
	cap = strlen(s) + 1;
	for (p = s; (m = strstr(p, AP_FIX_SETTING_MARK)) != NULL; p = m + nm)
		cap += nq;
	if ((out = malloc(cap)) != NULL) {
		for (p = s; (m = strstr(p, AP_FIX_SETTING_MARK)) != NULL; p = m + nm) {
			memcpy(out + len, p, (size_t)(m - p));
			len += (size_t)(m - p);
			memcpy(out + len, q, nq);
			len += nq;
		}
		memcpy(out + len, p, strlen(p) + 1);
	}
	free(q);
	return out;
}

/* The first max bytes of s (cut on a UTF-8 boundary is not needed: cJSON
 * escapes whatever bytes it gets into valid JSON only when they are valid;
 * so bytes >= 0x80 at the cut are dropped). */
static char *
keep(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;
	char *v = NULL;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if ((v = malloc(n + 1)) != NULL) {
		if (n > 0)
			memcpy(v, s, n);
		v[n] = '\0';
	}
	return v;
}

/* Fills o from res (the script ran) and the remedy's setting. */
static int
outcome_from(const struct ap_fix_remedy *rm, const struct ap_exec_result *res,
             struct ap_fix_outcome *o, struct ap_ctx *ctx)
{
	const char *out = res->out != NULL ? res->out : "", *err = res->err != NULL ? res->err : "";
	char last[300];
	size_t n;

	o->tried = 1;
	o->exit_status = res->exit_status;
	o->ok = res->exit_status == 0;
	if ((o->output = ap_fix_strf("%s%s", out, err)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (rm != NULL && rm->setting != NULL && o->ok &&
	    (o->setting_value = line_after(out, AP_FIX_SETTING_PREFIX)) == NULL) {
		o->ok = 0;
		o->error = strdup("the script reported no value for its setting");
		return o->error != NULL ? AP_OK : ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	if (!o->ok) {
		/* the last line of stderr says why */
		n = strlen(err);
		while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r'))
			n--;
		snprintf(last, sizeof(last), "%.*s", (int)(n > 299 ? 299 : n),
		         n > 299 ? err + n - 299 : err);
		if (strrchr(last, '\n') != NULL)
			memmove(last, strrchr(last, '\n') + 1, strlen(strrchr(last, '\n') + 1) + 1);
		o->error = ap_fix_strf("exit status %d%s%s", res->exit_status, last[0] ? ": " : "", last);
		if (o->error == NULL)
			return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	return AP_OK;
}

/*
 * Runs script (of remedy rm, NULL for an undo) and fills o.  A connection
 * that failed under the script is an outcome (what ran is unknown: exit -1),
 * not an error; only AP_ENOMEM is returned.
 */
static int
run_one(struct session *s, const char *script, const struct ap_fix_remedy *rm,
        struct ap_exec_result *res, struct ap_fix_outcome *o, struct ap_ctx *ctx)
{
	int r = session_run(s, script, res, ctx);

	if (r == AP_ENOMEM)
		return r;
	if (r == AP_OK)
		return outcome_from(rm, res, o, ctx);
	o->tried = 1;
	o->exit_status = -1;
	if ((o->error = ap_fix_strf("the command did not finish: %s", ap_ctx_errmsg(ctx))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	ap_ctx_clear(ctx);
	return AP_OK;
}

/* Records one event: what "fix" or "undo", fields of obj plus the result. */
static int
record(struct ap_store *st, int64_t job_id, int64_t target_id, const char *what,
       cJSON *obj, const struct ap_exec_result *res, const struct ap_fix_outcome *o,
       struct ap_ctx *ctx)
{
	char *line = NULL, *so = NULL, *se = NULL;
	int r = AP_OK;

	if (st == NULL) {
		cJSON_Delete(obj);
		return AP_OK;
	}
	so = keep(res != NULL ? res->out : NULL, OUTPUT_KEEP);
	se = keep(res != NULL ? res->err : NULL, OUTPUT_KEEP);
	if (obj == NULL || so == NULL || se == NULL ||
	    cJSON_AddBoolToObject(obj, "ok", o->ok) == NULL ||
	    cJSON_AddNumberToObject(obj, "exit", o->exit_status) == NULL ||
	    cJSON_AddStringToObject(obj, "stdout", so) == NULL ||
	    cJSON_AddStringToObject(obj, "stderr", se) == NULL ||
	    (o->error != NULL && cJSON_AddStringToObject(obj, "error", o->error) == NULL) ||
	    (line = cJSON_PrintUnformatted(obj)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	r = ap_store_event(st, job_id, target_id, what, line, ctx);
out:
	cJSON_Delete(obj);
	free(line);
	free(so);
	free(se);
	return r;
}

/* Adds "via" and "account" (Windows) of session s to obj; 0, -1 on ENOMEM. */
static int
add_channel(cJSON *obj, const struct session *s)
{
	if (obj == NULL || !s->windows)
		return 0;
	if (cJSON_AddStringToObject(obj, "via", "winrm") == NULL ||
	    (s->account != NULL && cJSON_AddStringToObject(obj, "account", s->account) == NULL))
		return -1;
	return 0;
}

static cJSON *
fix_json(const struct ap_fix_remedy *rm, const char *undo, const struct ap_fix_outcome *o,
         const struct session *s)
{
	cJSON *obj = cJSON_CreateObject(), *set = NULL;

	if (obj == NULL ||
	    cJSON_AddStringToObject(obj, "remedy", rm->name) == NULL ||
	    cJSON_AddNumberToObject(obj, "id", rm->id) == NULL ||
	    cJSON_AddBoolToObject(obj, "privilege", rm->privilege) == NULL ||
	    cJSON_AddStringToObject(obj, "shell", rm->shell != NULL ? rm->shell : "sh") == NULL ||
	    add_channel(obj, s) != 0 ||
	    cJSON_AddStringToObject(obj, "commands", rm->commands) == NULL ||
	    (undo != NULL && cJSON_AddStringToObject(obj, "undo", undo) == NULL))
		goto fail;
	if (rm->setting != NULL && o->setting_value != NULL &&
	    ((set = cJSON_AddObjectToObject(obj, "setting")) == NULL ||
	     cJSON_AddStringToObject(set, rm->setting, o->setting_value) == NULL))
		goto fail;
	return obj;
fail:
	cJSON_Delete(obj);
	return NULL;
}

/* Marks o as not run: tried (so it is reported), exit -1, why. */
static int
not_run(struct ap_fix_outcome *o, const char *why, struct ap_ctx *ctx)
{
	o->tried = 1;
	o->exit_status = -1;
	if ((o->error = ap_fix_strf("not run: %s", why)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	return AP_OK;
}

/*
 * The session of one host for one account (Windows: the check's or the
 * admin's), opened on first use.  A logon that fails is kept as the reason
 * every remedy needing it is not run.
 */
struct lazy {
	struct session s;
	int state;               /* 0 not tried, 1 open, -1 failed */
	char *why;               /* state -1: why, malloc'd */
};

static int
lazy_get(struct lazy *l, const struct ap_run_opts *opts, const struct ap_target *t,
         const struct ap_run_account *as, struct ap_ctx *ctx)
{
	int r;

	if (l->state != 0)
		return AP_OK;
	r = session_open(opts, t, 1, as, &l->s, ctx);
	if (r == AP_ENOMEM)
		return r;
	l->state = r == AP_OK ? 1 : -1;
	if (r != AP_OK) {
		l->why = ap_fix_strf("no WinRM logon to %s as %s: %s; run the script on the host",
		                     t->host, l->s.user != NULL ? l->s.user : "?", ap_ctx_errmsg(ctx));
		ap_ctx_clear(ctx);
		if (l->why == NULL)
			return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	return AP_OK;
}

static void
lazy_close(struct lazy *l)
{
	session_close(&l->s);
	free(l->why);
	memset(l, 0, sizeof(*l));
}

int
ap_fix_apply(const struct ap_run_opts *opts, const struct ap_run_account *admin,
             struct ap_fix_host *h, int allow_privilege, struct ap_store *st, int64_t job_id,
             struct ap_fix_outcome *out, struct ap_ctx *ctx)
{
	struct lazy l[2];        /* the check's account, the admin account */
	struct ap_exec_result res;
	char *undo = NULL;
	size_t i, todo = 0;
	int r, k;

	memset(&res, 0, sizeof(res));
	memset(l, 0, sizeof(l));
	for (i = 0; i < h->n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		todo += ap_fix_remedy_runs(&h->remedies[i], allow_privilege);
	}
	if (todo == 0)
		return AP_OK;
	if (h->os != AP_OS_WINDOWS) {
		if ((r = session_open(opts, h->target, 0, NULL, &l[0].s, ctx)) != AP_OK)
			return r == AP_ENOMEM ? r : AP_EREMOTE;
		l[0].state = 1;
	}
	for (i = 0; i < h->n; i++) {
		struct ap_fix_remedy *rm = &h->remedies[i];

		if (!ap_fix_remedy_runs(rm, allow_privilege))
			continue;
		k = rm->as_admin && h->os == AP_OS_WINDOWS;
		if (k && admin == NULL) {
			if ((r = not_run(&out[i], "it needs the admin account, and none was given", ctx)) != AP_OK)
				goto out;
			continue;
		}
		if ((r = lazy_get(&l[k], opts, h->target, k ? admin : NULL, ctx)) != AP_OK)
			goto out;
		if (l[k].state < 0) {
			if ((r = not_run(&out[i], l[k].why, ctx)) != AP_OK)
				goto out;
			continue;
		}
		if ((r = run_one(&l[k].s, rm->commands, rm, &res, &out[i], ctx)) != AP_OK)
			goto out;
		if ((undo = with_setting(rm->undo != NULL ? rm->undo : "", out[i].setting_value)) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
		r = record(st, job_id, h->target_id, "fix",
		           fix_json(rm, rm->undo != NULL ? undo : NULL, &out[i], &l[k].s), &res, &out[i], ctx);
		free(undo);
		undo = NULL;
		ap_exec_result_clear(&res);
		if (r != AP_OK)
			goto out;
		if (out[i].exit_status == -1 && !out[i].ok)
			break; /* the connection is gone */
	}
	r = AP_OK;
out:
	ap_exec_result_clear(&res);
	lazy_close(&l[0]);
	lazy_close(&l[1]);
	return r;
}

/* ---- undo ---- */

int
ap_fix_undo_list(struct ap_store *st, int64_t job_id, struct ap_fix_undo **out,
                 size_t *n, struct ap_ctx *ctx)
{
	struct ap_job_event *ev = NULL;
	struct ap_fix_undo *u = NULL;
	size_t n_ev = 0, i, k, m = 0;
	int64_t *undone = NULL;
	size_t n_undone = 0;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = ap_store_job_events(st, job_id, 0, &ev, &n_ev, ctx)) != AP_OK)
		return r;
	if (n_ev > 0 && ((u = calloc(n_ev, sizeof(*u))) == NULL ||
	                 (undone = calloc(n_ev, sizeof(*undone))) == NULL)) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < n_ev; i++) {
		cJSON *o = NULL, *v = NULL;

		if (ev[i].what == NULL || strcmp(ev[i].what, "undo") != 0 || ev[i].detail == NULL)
			continue;
		if ((o = cJSON_Parse(ev[i].detail)) != NULL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) &&
		    cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, "fix_event")))
			undone[n_undone++] = (int64_t)v->valuedouble;
		cJSON_Delete(o);
	}
	/* newest first: undone in the reverse order they were made */
	for (i = n_ev; i-- > 0;) {
		cJSON *o = NULL, *nm = NULL, *ud = NULL, *id = NULL, *sh = NULL, *ac = NULL;

		if (ev[i].what == NULL || strcmp(ev[i].what, "fix") != 0 || ev[i].detail == NULL)
			continue;
		for (k = 0; k < n_undone && undone[k] != ev[i].id; k++)
			;
		if (k < n_undone)
			continue;
		o = cJSON_Parse(ev[i].detail);
		if (o != NULL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) &&
		    cJSON_IsString(nm = cJSON_GetObjectItemCaseSensitive(o, "remedy")) &&
		    cJSON_IsString(ud = cJSON_GetObjectItemCaseSensitive(o, "undo")) &&
		    cJSON_IsNumber(id = cJSON_GetObjectItemCaseSensitive(o, "id"))) {
			u[m].event_id = ev[i].id;
			u[m].target_id = ev[i].target_id;
			u[m].id = (int)id->valuedouble;
			sh = cJSON_GetObjectItemCaseSensitive(o, "shell");
			ac = cJSON_GetObjectItemCaseSensitive(o, "account");
			u[m].name = strdup(nm->valuestring);
			u[m].undo = strdup(ud->valuestring);
			u[m].shell = strdup(cJSON_IsString(sh) ? sh->valuestring : "sh");
			u[m].account = cJSON_IsString(ac) ? strdup(ac->valuestring) : NULL;
			m++;
			if (u[m - 1].name == NULL || u[m - 1].undo == NULL || u[m - 1].shell == NULL ||
			    (cJSON_IsString(ac) && u[m - 1].account == NULL)) {
				cJSON_Delete(o);
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto out;
			}
		}
		cJSON_Delete(o);
	}
	*out = u;
	*n = m;
	u = NULL;
	r = AP_OK;
out:
	ap_fix_undo_free(u, m);
	free(undone);
	ap_store_events_free(ev, n_ev);
	return r;
}

int
ap_fix_undo_run(const struct ap_run_opts *opts, const struct ap_run_account *admin,
                const struct ap_target *t, const struct ap_fix_undo *u, size_t n,
                struct ap_store *st, int64_t job_id, struct ap_fix_outcome *out,
                struct ap_ctx *ctx)
{
	struct lazy l[2];        /* the check's account, the admin account */
	struct ap_exec_result res;
	char *why = NULL;
	size_t i;
	int r, k, windows;

	memset(&res, 0, sizeof(res));
	memset(l, 0, sizeof(l));
	for (i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	if (n == 0)
		return AP_OK;
	/* the fixes of one host ran over one kind of channel */
	windows = u[0].shell != NULL && strcmp(u[0].shell, "powershell") == 0;
	if (!windows) {
		if ((r = session_open(opts, t, 0, NULL, &l[0].s, ctx)) != AP_OK)
			return r == AP_ENOMEM ? r : AP_EREMOTE;
		l[0].state = 1;
	}
	for (i = 0; i < n; i++) {
		cJSON *obj = NULL;

		k = windows && u[i].account != NULL;
		if (k && (admin == NULL || strcmp(admin->name, u[i].account) != 0)) {
			free(why);
			if ((why = ap_fix_strf("the fix ran as the account %s: give --fix-account %s",
			                       u[i].account, u[i].account)) == NULL ||
			    not_run(&out[i], why, ctx) != AP_OK) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto out;
			}
			continue;
		}
		if ((r = lazy_get(&l[k], opts, t, k ? admin : NULL, ctx)) != AP_OK)
			goto out;
		if (l[k].state < 0) {
			if ((r = not_run(&out[i], l[k].why, ctx)) != AP_OK)
				goto out;
			continue;
		}
		if ((r = run_one(&l[k].s, u[i].undo, NULL, &res, &out[i], ctx)) != AP_OK)
			goto out;
		if ((obj = cJSON_CreateObject()) != NULL &&
		    (cJSON_AddNumberToObject(obj, "fix_event", (double)u[i].event_id) == NULL ||
		     cJSON_AddStringToObject(obj, "remedy", u[i].name) == NULL ||
		     cJSON_AddNumberToObject(obj, "id", u[i].id) == NULL ||
		     add_channel(obj, &l[k].s) != 0 ||
		     cJSON_AddStringToObject(obj, "commands", u[i].undo) == NULL)) {
			cJSON_Delete(obj);
			obj = NULL;
		}
		r = record(st, job_id, u[i].target_id, "undo", obj, &res, &out[i], ctx);
		ap_exec_result_clear(&res);
		if (r != AP_OK)
			goto out;
		if (out[i].exit_status == -1 && !out[i].ok)
			break;
	}
	r = AP_OK;
out:
	free(why);
	ap_exec_result_clear(&res);
	lazy_close(&l[0]);
	lazy_close(&l[1]);
	return r;
}

/* ---- the target a new check runs with ---- */

static int
dup_or_null(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	return (*out = strdup(s)) == NULL ? -1 : 0;
}

int
ap_fix_target_with(const struct ap_target *t, const char *key, const char *value,
                   struct ap_target *out, struct ap_ctx *ctx)
{
	size_t i, n = 0;
	int bad = 0, have = 0;

	memset(out, 0, sizeof(*out));
	out->port = t->port;
	out->os = t->os;
	bad |= dup_or_null(t->spec, &out->spec) | dup_or_null(t->user, &out->user) |
	       dup_or_null(t->host, &out->host) | dup_or_null(t->group, &out->group);
	if (!bad && (out->vars = calloc(t->n_vars + 1, sizeof(*out->vars))) == NULL)
		bad = 1;
	for (i = 0; !bad && i < t->n_vars; i++, n++) {
		int mine = key != NULL && t->vars[i].key != NULL && strcmp(t->vars[i].key, key) == 0;

		have |= mine;
		out->n_vars = n + 1;
		bad |= dup_or_null(t->vars[i].key, &out->vars[n].key) |
		       dup_or_null(mine ? value : t->vars[i].value, &out->vars[n].value);
	}
	if (!bad && key != NULL && !have) {
		out->n_vars = n + 1;
		bad |= dup_or_null(key, &out->vars[n].key) | dup_or_null(value, &out->vars[n].value);
	}
	if (bad) {
		ap_target_clear(out);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	return AP_OK;
}

/* ---- settings recorded by fix, for later runs ---- */

/* Whether the stored target s is the same host and port as t. */
static int
same_host(const struct ap_target *s, const struct ap_target *t)
{
	int ps = s->port != 0 ? s->port : 22, pt = t->port != 0 ? t->port : 22;

	return s->host != NULL && t->host != NULL && strcmp(s->host, t->host) == 0 && ps == pt;
}

/* Adds key=value to t's variables. */
static int
add_var(struct ap_target *t, const char *key, const char *value, struct ap_ctx *ctx)
{
	struct ap_var *v = reallocarray(t->vars, t->n_vars + 1, sizeof(*v));

	if (v == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	t->vars = v;
	v[t->n_vars].key = strdup(key);
	v[t->n_vars].value = strdup(value);
	if (v[t->n_vars].key == NULL || v[t->n_vars].value == NULL) {
		free(v[t->n_vars].key);
		free(v[t->n_vars].value);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	t->n_vars++;
	return AP_OK;
}

/*
 * The settings of one check job's fix events, newest first, given to the
 * targets still without one (done[i] 0).  Undone fixes are skipped
 * (ap_fix_undo_list() knows which are still in force: a fix with an undo
 * that was not undone).
 */
static int
settings_of_job(struct ap_store *st, int64_t job_id, struct ap_target *targets, size_t n,
                int *done, size_t *left, struct ap_fix_setting *found, size_t *n_found,
                struct ap_ctx *ctx)
{
	struct ap_job_event *ev = NULL;
	struct ap_job_target *jt = NULL;
	struct ap_fix_undo *live = NULL;
	size_t n_ev = 0, n_jt = 0, n_live = 0, i, k, j;
	int r, any = 0;

	if ((r = ap_store_job_events(st, job_id, 0, &ev, &n_ev, ctx)) != AP_OK)
		return r;
	for (i = 0; i < n_ev && !any; i++)
		any = ev[i].what != NULL && strcmp(ev[i].what, "fix") == 0 && ev[i].detail != NULL &&
		      strstr(ev[i].detail, "\"setting\"") != NULL;
	if (!any)
		goto out;
	if ((r = ap_store_job_targets(st, job_id, &jt, &n_jt, ctx)) != AP_OK ||
	    (r = ap_fix_undo_list(st, job_id, &live, &n_live, ctx)) != AP_OK)
		goto out;
	for (i = n_ev; i-- > 0 && *left > 0;) {
		cJSON *o = NULL, *set = NULL, *kv = NULL;
		const struct ap_target *src = NULL;

		if (ev[i].what == NULL || strcmp(ev[i].what, "fix") != 0 || ev[i].detail == NULL)
			continue;
		for (k = 0; k < n_live && live[k].event_id != ev[i].id; k++)
			;
		for (j = 0; j < n_jt && jt[j].id != ev[i].target_id; j++)
			;
		if (k == n_live || j == n_jt)
			continue;  /* undone, failed, or no such target */
		src = &jt[j].target;
		if ((o = cJSON_Parse(ev[i].detail)) == NULL ||
		    !cJSON_IsObject(set = cJSON_GetObjectItemCaseSensitive(o, "setting")) ||
		    (kv = set->child) == NULL || !cJSON_IsString(kv) || kv->string == NULL ||
		    strcmp(kv->string, "agentpush_staging_dir") != 0) {
			cJSON_Delete(o);
			continue;
		}
		for (k = 0; k < n; k++) {
			if (done[k] || !same_host(src, &targets[k]))
				continue;
			if ((r = add_var(&targets[k], kv->string, kv->valuestring, ctx)) != AP_OK) {
				cJSON_Delete(o);
				goto out;
			}
			done[k] = 1;
			(*left)--;
			found[*n_found].index = k;
			found[*n_found].job_id = job_id;
			found[*n_found].key = targets[k].vars[targets[k].n_vars - 1].key;
			found[*n_found].value = targets[k].vars[targets[k].n_vars - 1].value;
			(*n_found)++;
		}
		cJSON_Delete(o);
	}
	r = AP_OK;
out:
	ap_fix_undo_free(live, n_live);
	ap_store_targets_free(jt, n_jt);
	ap_store_events_free(ev, n_ev);
	return r;
}

int
ap_fix_settings_apply(struct ap_store *st, struct ap_target *targets, size_t n,
                      struct ap_fix_setting **found, size_t *n_found, struct ap_ctx *ctx)
{
	struct ap_job_info *jobs = NULL;
	struct ap_fix_setting *f = NULL;
	size_t n_jobs = 0, i, left = 0;
	int *done = NULL, r;

	*found = NULL;
	*n_found = 0;
	if (n == 0)
		return AP_OK;
	if ((done = calloc(n, sizeof(*done))) == NULL || (f = calloc(n, sizeof(*f))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		/* a variable the target sets itself wins; Windows has no staging folder here */
		done[i] = ap_fix_var(&targets[i], "agentpush_staging_dir") != NULL ||
		          targets[i].os == AP_OS_WINDOWS;
		left += !done[i];
	}
	if (left == 0) {
		r = AP_OK;
		goto out;
	}
	if ((r = ap_store_jobs_list(st, 0, &jobs, &n_jobs, ctx)) != AP_OK)
		goto out;
	/* newest job first: the latest fix of a host wins */
	for (i = 0; i < n_jobs && left > 0; i++) {
		if (jobs[i].kind != AP_JOB_CHECK)
			continue;
		if ((r = settings_of_job(st, jobs[i].id, targets, n, done, &left, f, n_found, ctx)) != AP_OK)
			goto out;
	}
	r = AP_OK;
out:
	ap_store_jobs_free(jobs, n_jobs);
	free(done);
	if (r == AP_OK && *n_found > 0) {
		*found = f;
		f = NULL;
	} else if (r != AP_OK) {
		*n_found = 0;
	}
	free(f);
	return r;
}
