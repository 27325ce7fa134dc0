/*
 * linux_host.c - the per-host pipeline for a Linux target (check_int.h).
 *
 * One SSH connection carries everything:
 *
 *   gate -> open -> probe (sh -s) -> [sudo -S test] -> sftp probe -> rules
 *        check stops here; install goes on only when no error was found:
 *   -> installed version? -> upload to a staging name -> sha256 on the target
 *   and rename into place (one command) -> [register.conf for the agent]
 *   -> install command -> exit code through the manifest -> installer log on
 *   failure -> verify command and cleanup (one command) -> [wait for the
 *   agent's registration in the store; on timeout, its run/register.status
 *   as evidence] (lib/engine/enroll.h)
 *
 * Commands are folded only where no state is recorded between them: COPIED
 * is recorded after the rename and before the install command, INSTALLED
 * after it and before the verify, so the install command always has an
 * exec of its own (engine.c: write-ahead).
 *
 * Privilege: root runs commands as they are; an account with passwordless
 * sudo runs them through `sudo -n`; an account whose sudo asks for a
 * password runs them through `sudo -S -p ''` with the password as the first
 * line of stdin.  The password therefore only ever travels inside SSH
 * authentication or on sudo's stdin: never on a command line.
 *
 * Cleanup: whatever happens after the upload began, the staging file, the
 * partial upload and the unpack folder are removed before the connection
 * closes, so a failed install leaves no half-copied payload behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentpush/catalog.h"
#include "agentpush/linux.h"
#include "agentpush/package.h"
#include "agentpush/transport.h"
#include "../engine/enroll.h"
#include "../engine/hostjob.h"
#include "pipeline.h"
#include "transport/transport_util.h"

#define LOG_TAIL_BYTES 65536
/* Exit codes of copy_payload's hash-and-rename command. */
#define SHA_EXIT_FAILED 90
#define SHA_EXIT_MISMATCH 91
#define SHA_EXIT_RENAME 92

/* How a command is raised to root on this host. */
enum priv {
	PRIV_ROOT = 0,    /* already root */
	PRIV_SUDO_N,      /* sudo without a password */
	PRIV_SUDO_S,      /* sudo with the password on stdin */
	PRIV_NONE         /* cannot become root */
};

struct host {
	struct ap_hostjob *hj;
	const struct ap_run *run;
	const struct ap_target *t;
	struct ap_result *res;
	struct ap_ctx *ctx;
	const struct ap_transport_ops *ops;
	struct ap_conn *conn;
	struct ap_linux_facts *facts;
	enum priv priv;
	const char *user;
	const char *staging_dir;  /* effective: target variable, package, default */
	const char *install_dir;
	char *payload, *part, *workdir; /* install: paths on the host */
	int fatal_rc;             /* a failure of the run itself (store) */
	char fatal_msg[512];      /* its message: the cleanup that follows
	                           * clears the context */
	char label[300];  /* user@host:port for messages */
	/* registration with the configuration server (enroll.h) */
	char nonce[AP_ENROLL_NONCE_HEX + 1];
	char reg_url[600];
	int enroll_written;       /* etc/register.conf is on the host */
	int enrolled;             /* the agent registered */
};

/* Adds a finding; only out-of-memory is a failure of the pipeline. */
static int
add(struct host *h, int id, const char *message, const char *evidence)
{
	int r = ap_result_add(h->res, id, message, evidence);

	if (r == AP_ENOMEM)
		return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
	return AP_OK;
}

static int
add_sev(struct host *h, int id, enum ap_severity sev, const char *message,
        const char *evidence)
{
	int r = ap_result_add_sev(h->res, id, sev, message, evidence);

	if (r == AP_ENOMEM)
		return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
	return AP_OK;
}

/*
 * Keeps r, a failure of the run itself (the store) with its message on
 * h->ctx, aside: linux_host_run() returns it after its cleanup, which
 * clears the context.  Returns r.
 */
static int
run_failure(struct host *h, int r)
{
	h->fatal_rc = r;
	snprintf(h->fatal_msg, sizeof(h->fatal_msg), "%s", ap_ctx_errmsg(h->ctx));
	return r;
}

/*
 * Records a new state through the engine.  A failure here is not the
 * target's: the run cannot go on without its record (run_failure()).
 */
static int
advance(struct host *h, enum ap_host_state state)
{
	int r = ap_hostjob_advance(h->hj, state, NULL, h->ctx);

	return r != AP_OK ? run_failure(h, r) : AP_OK;
}
/*
 * Wraps cmd so it runs as root according to h->priv, in a malloc'd string.
 * Returns NULL when out of memory.
 */
static char *
as_root(const struct host *h, const char *cmd)
{
	char *q = NULL, *out = NULL;
	size_t n;

	if (h->priv == PRIV_ROOT)
		return strdup(cmd);
	if ((q = ap_transport_shell_quote(cmd)) == NULL)
		return NULL;
	n = strlen(q) + 64;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "%s sh -c %s",
		         h->priv == PRIV_SUDO_S ? "sudo -S -p ''" : "sudo -n", q);
	free(q);
	return out;
}

/*
 * Runs cmd (raised to root when root is set) and fills res, with data
 * (may be NULL) on its stdin.  With sudo -S the password goes first on
 * stdin, before data.  Returns the transport's code.
 */
static int
run_cmd_in(struct host *h, const char *cmd, int root, const char *data,
           size_t data_len, struct ap_exec_result *res)
{
	char *full = NULL, *in = NULL;
	size_t in_len = 0, pw_len = 0;
	int r;

	memset(res, 0, sizeof(*res));
	full = root ? as_root(h, cmd) : strdup(cmd);
	if (full == NULL)
		return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
	if (root && h->priv == PRIV_SUDO_S && ap_hostjob_password(h->hj) != NULL)
		pw_len = strlen(ap_hostjob_password(h->hj)) + 1;
	in_len = pw_len + (data != NULL ? data_len : 0);
	if (in_len > 0) {
		if ((in = malloc(in_len)) == NULL) {
			free(full);
			return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
		}
		if (pw_len > 0) {
			memcpy(in, ap_hostjob_password(h->hj), pw_len - 1);
			in[pw_len - 1] = '\n';
		}
		if (data != NULL)
			memcpy(in + pw_len, data, data_len);
	}
	r = h->ops->exec(h->conn, full, in, in_len, res, h->ctx);
	if (in != NULL) {
		explicit_bzero(in, in_len);
		free(in);
	}
	free(full);
	return r;
}

static int
run_cmd(struct host *h, const char *cmd, int root, struct ap_exec_result *res)
{
	return run_cmd_in(h, cmd, root, NULL, 0, res);
}

/* The last line of s (without its newline) copied into buf, for evidence. */
static void
last_line(const char *s, char *buf, size_t size)
{
	const char *end = NULL, *start = NULL;
	size_t n;

	buf[0] = '\0';
	if (s == NULL)
		return;
	end = s + strlen(s);
	while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	n = (size_t)(end - start);
	if (n >= size)
		n = size - 1;
	memcpy(buf, start, n);
	buf[n] = '\0';
}

/* The key under which the credential gate knows this login: no secret. */
static void
cred_key(const struct host *h, char *buf, size_t size)
{
	char method[300];

	snprintf(method, sizeof(method), "%s\n%s",
	         ap_hostjob_password(h->hj) != NULL ? "password" : "",
	         h->run->opts->identity != NULL ? h->run->opts->identity : "");
	ap_hostjob_cred_key(h->hj, "ssh", h->user != NULL ? h->user : "(default)", method, buf, size);
}

static int
step_connect(struct host *h)
{
	const struct ap_run_opts *o = h->run->opts;
	struct ap_conn_opts co;
	char key[512], ev[600];
	int timeout_ms = (o->timeout_s > 0 ? o->timeout_s : AP_DEFAULT_TIMEOUT_S) * 1000;
	int r, id;

	cred_key(h, key, sizeof(key));
	if ((r = ap_hostjob_cred_acquire(h->hj, key, h->user != NULL ? h->user : "root",
	                                 ev, sizeof(ev), h->ctx)) != 0) {
		if (r < 0)
			return run_failure(h, r);
		r = add(h, AP_ERR_CREDENTIAL_BLOCKED, NULL, ev);
		return r != AP_OK ? r : AP_EREMOTE;
	}
	memset(&co, 0, sizeof(co));
	co.host = h->t->host;
	co.port = h->t->port;
	co.user = h->user;
	co.password = ap_hostjob_password(h->hj);
	co.identity = o->identity;
	co.identity_key = h->run->ssh_key;
	co.known_hosts = o->known_hosts;
	co.hostkey_policy = o->hostkey_policy;
	co.use_agent = 1;
	co.use_ssh_config = 1;
	co.connect_timeout_ms = timeout_ms;
	co.io_timeout_ms = timeout_ms;
	ap_hostjob_handshake_begin(h->hj);
	r = h->ops->open(&co, &h->conn, h->ctx);
	ap_hostjob_handshake_end(h->hj);
	if (r == AP_OK) {
		ap_hostjob_cred_release(h->hj, key, AP_CREDGATE_ACCEPTED);
		return advance(h, AP_HOST_CONNECTED);
	}
	id = ap_ctx_error_id(h->ctx);
	ap_hostjob_cred_release(h->hj, key, id == AP_ERR_LINUX_BAD_CREDENTIALS ? AP_CREDGATE_REJECTED
	                                                                      : AP_CREDGATE_UNKNOWN);
	if (r == AP_ENOMEM)
		return r;
	if (id == 0)
		id = AP_ERR_HOST_UNREACHABLE;
	snprintf(ev, sizeof(ev), "%s", ap_ctx_errmsg(h->ctx));
	ap_ctx_clear(h->ctx);
	r = add(h, id, NULL, ev);
	return r != AP_OK ? r : AP_EREMOTE;
}

/* Runs the probe and parses its facts into h->facts. */
static int
step_probe(struct host *h, const struct ap_linux_requirements *req)
{
	struct ap_exec_result res;
	char *qs = NULL, *qi = NULL, cmd[1024], ev[800], line[400];
	const char *script = ap_linux_probe_script();
	int r;

	memset(&res, 0, sizeof(res));
	qs = ap_transport_shell_quote(req->staging_dir);
	qi = ap_transport_shell_quote(req->install_dir);
	if (qs == NULL || qi == NULL) {
		r = ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	/*
	 * The probe's output is gathered on the host and sent in one piece:
	 * line by line, each line is an SSH packet that wakes the controller
	 * (measured: a third of check's controller CPU, bench/).
	 */
	snprintf(cmd, sizeof(cmd),
	         "sh -c 'o=$(sh -s -- \"$1\" \"$2\"); rc=$?; printf \"%%s\\n\" \"$o\"; exit $rc' sh %s %s",
	         qs, qi);
	r = h->ops->exec(h->conn, cmd, script, strlen(script), &res, h->ctx);
	if (r == AP_ENOMEM)
		goto out;
	if (r != AP_OK) {
		snprintf(ev, sizeof(ev), "the probe did not run: %s", ap_ctx_errmsg(h->ctx));
		ap_ctx_clear(h->ctx);
		r = add(h, AP_ERR_PROBE_FAILED, NULL, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	r = ap_linux_facts_parse(res.out != NULL ? res.out : "", res.out_len,
	                         &h->facts, h->ctx);
	if (r == AP_ENOMEM)
		goto out;
	if (r != AP_OK) {
		last_line(res.err, line, sizeof(line));
		snprintf(ev, sizeof(ev), "probe exit status %d; %s%s%s", res.exit_status,
		         ap_ctx_errmsg(h->ctx), line[0] ? "; stderr: " : "", line);
		ap_ctx_clear(h->ctx);
		r = add(h, AP_ERR_PROBE_FAILED, NULL, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	r = AP_OK;
out:
	ap_exec_result_clear(&res);
	free(qs);
	free(qi);
	return r;
}

/*
 * Decides how commands become root.  When sudo wants a password and one is
 * at hand, tries it once with `sudo -S` (changes nothing on the target).
 */
static int
step_privilege(struct host *h)
{
	const struct ap_linux_facts *f = h->facts;
	struct ap_exec_result res;
	char ev[600], line[300];
	int r;

	if (f->is_root == 1) {
		h->priv = PRIV_ROOT;
		return AP_OK;
	}
	if (f->sudo_nopasswd == 1) {
		h->priv = PRIV_SUDO_N;
		return AP_OK;
	}
	h->priv = PRIV_NONE;
	if (f->sudo_present != 1 || ap_hostjob_password(h->hj) == NULL)
		return AP_OK; /* the rules already reported 95108 */
	h->priv = PRIV_SUDO_S;
	r = run_cmd(h, "true", 1, &res);
	if (r == AP_ENOMEM)
		return r;
	if (r == AP_OK && res.exit_status == 0) {
		ap_exec_result_clear(&res);
		return AP_OK;
	}
	h->priv = PRIV_NONE;
	last_line(res.err, line, sizeof(line));
	snprintf(ev, sizeof(ev),
	         "account %s is not root; sudo -S with the given password failed (exit %d%s%s)",
	         h->user != NULL ? h->user : "root", res.exit_status, line[0] ? ": " : "", line);
	ap_exec_result_clear(&res);
	ap_ctx_clear(h->ctx);
	return add(h, AP_ERR_LINUX_BAD_CREDENTIALS,
	           "the account cannot become root", ev);
}

static int
step_transfer_probe(struct host *h)
{
	char ev[600];
	int r, id;

	if (h->ops->probe_transfer == NULL)
		return AP_OK;
	r = h->ops->probe_transfer(h->conn, h->ctx);
	if (r == AP_OK || r == AP_ENOMEM)
		return r;
	id = ap_ctx_error_id(h->ctx);
	snprintf(ev, sizeof(ev), "%s", ap_ctx_errmsg(h->ctx));
	ap_ctx_clear(h->ctx);
	return add(h, id != 0 ? id : AP_ERR_LINUX_SFTP_MISSING, NULL, ev);
}

/* Requirements from the package (install) or the defaults (check). */
static void
requirements(struct host *h, struct ap_linux_requirements *req)
{
	const struct ap_package *pkg = h->run->pkg;
	struct ap_pkg_caps caps;

	ap_linux_requirements_init(req);
	req->password_available = ap_hostjob_password(h->hj) != NULL;
	req->matrix = h->run->matrix;
	if (pkg != NULL && ap_package_has_os(pkg, AP_OS_LINUX)) {
		req->staging_dir = ap_package_staging_dir(pkg, AP_OS_LINUX);
		req->install_dir = ap_package_install_dir(pkg, AP_OS_LINUX);
	}
	/* Inventory variables may move both folders for one host. */
	if (ap_hostjob_var(h->hj, "agentpush_staging_dir") != NULL)
		req->staging_dir = ap_hostjob_var(h->hj, "agentpush_staging_dir");
	if (ap_hostjob_var(h->hj, "agentpush_install_dir") != NULL)
		req->install_dir = ap_hostjob_var(h->hj, "agentpush_install_dir");
	h->staging_dir = req->staging_dir;
	h->install_dir = req->install_dir;
	if (pkg == NULL || !ap_package_has_os(pkg, AP_OS_LINUX))
		return;
	/* The 100 MB floor (95524) stands; a package may only ask for more. */
	if ((long long)ap_package_space_staging_kb(pkg, AP_OS_LINUX) > req->min_free_kb_staging)
		req->min_free_kb_staging = (long long)ap_package_space_staging_kb(pkg, AP_OS_LINUX);
	if ((long long)ap_package_space_install_kb(pkg, AP_OS_LINUX) > req->min_free_kb_install)
		req->min_free_kb_install = (long long)ap_package_space_install_kb(pkg, AP_OS_LINUX);
	caps = ap_package_caps(pkg);
	req->caps = (caps.boot_on_separate_disk ? AP_LINUX_CAP_BOOT_SEPARATE_DISK : 0u) |
	            (caps.root_multi_disk ? AP_LINUX_CAP_ROOT_MULTI_DISK : 0u) |
	            (caps.lvm_root ? AP_LINUX_CAP_LVM_ROOT : 0u) |
	            (caps.kernel_driver ? 0u : AP_LINUX_CAP_NO_KERNEL_DRIVER);
}

/*
 * Runs the package's command `which` as root; fills res.  With then (may be
 * NULL), the same invocation runs then after it, whatever it did, and
 * still exits with the command's own code: the command runs in a subshell,
 * so its own `exit` or `exec` cannot skip then.
 */
static int
run_pkg_cmd(struct host *h, enum ap_pkg_cmd which, const char *then,
            struct ap_exec_result *res)
{
	struct ap_pkg_vars vars;
	char *cmd = NULL, *full = NULL;
	size_t n;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&vars, 0, sizeof(vars));
	vars.staging = h->staging_dir;
	vars.install_dir = h->install_dir;
	vars.payload = h->payload;
	vars.workdir = h->workdir;
	r = ap_package_command_vars(h->run->pkg, AP_OS_LINUX, which, &vars, &cmd, h->ctx);
	if (r != AP_OK)
		return r;
	if (then != NULL) {
		n = strlen(cmd) + strlen(then) + 48;
		if ((full = malloc(n)) == NULL) {
			free(cmd);
			return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
		}
		/* newlines: a trailing comment in cmd cannot eat the ")";
		 * then's own complaints are not the command's evidence */
		snprintf(full, n, "(\n%s\n); rc=$?; { %s; } 2>/dev/null; exit $rc", cmd, then);
		free(cmd);
		/* under sh -c: the login shell need not be a POSIX shell */
		cmd = ap_transport_shell_quote(full);
		free(full);
		full = NULL;
		if (cmd == NULL)
			return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
		n = strlen(cmd) + 8;
		if ((full = malloc(n)) == NULL) {
			free(cmd);
			return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
		}
		snprintf(full, n, "sh -c %s", cmd);
	}
	r = run_cmd(h, full != NULL ? full : cmd, 1, res);
	free(full);
	free(cmd);
	return r;
}

/*
 * The install command, run under a lock on the host and only if the host
 * does not already hold this version with a passing verify.  Two
 * controllers -- a worker whose lease expired while it was paused, and the
 * worker that took the host over -- can each decide to install; the lock
 * (flock(1) on the staging folder itself, so nothing is left behind; a host
 * without flock runs unlocked, as before) makes the second wait for the
 * first's installer, and the check under it makes the second see the first
 * one's work and not install again.  Never two installs on one host.
 * Malloc'd into *out.
 */
static int
install_cmd_locked(struct host *h, char **out)
{
	struct ap_pkg_vars vars;
	char *inst = NULL, *verify = NULL, *qs = NULL, *qv = NULL, *qi = NULL;
	char *script = NULL, *qscript = NULL;
	int r, secs = ap_hostjob_install_timeout_ms(h->hj, AP_OS_LINUX) / 1000;
	size_t n;

	*out = NULL;
	memset(&vars, 0, sizeof(vars));
	vars.staging = h->staging_dir;
	vars.install_dir = h->install_dir;
	vars.payload = h->payload;
	vars.workdir = h->workdir;
	if ((r = ap_package_command_vars(h->run->pkg, AP_OS_LINUX, AP_PKG_CMD_INSTALL,
	                                 &vars, &inst, h->ctx)) != AP_OK ||
	    (r = ap_package_command_vars(h->run->pkg, AP_OS_LINUX, AP_PKG_CMD_VERIFY,
	                                 &vars, &verify, h->ctx)) != AP_OK)
		goto out;
	qs = ap_transport_shell_quote(h->staging_dir);
	qv = ap_transport_shell_quote(ap_package_version(h->run->pkg));
	qi = ap_transport_shell_quote(h->install_dir != NULL ? h->install_dir : "");
	if (qs == NULL || qv == NULL || qi == NULL)
		goto oom;
	n = strlen(inst) + strlen(verify) + strlen(qs) + strlen(qv) + strlen(qi) + 600;
	if ((script = malloc(n)) == NULL)
		goto oom;
	/* newlines around the package's commands: a trailing comment in
	 * them cannot eat what follows.  The installer does not inherit the
	 * lock's descriptor: an agent daemon it starts would hold the lock
	 * for as long as it runs, and the next install would wait for it. */
	snprintf(script, n,
	         "if command -v flock >/dev/null 2>&1 && exec 9<%s; then\n"
	         "flock -w %d 9 || { echo 'agentpush: another install on this host still holds its lock' >&2; exit 75; }\n"
	         "fi\n"
	         "if [ \"$(head -n 1 %s/VERSION 2>/dev/null)\" = %s ] && (\n%s\n) 9<&- >/dev/null 2>&1; then\n"
	         "echo 'agentpush: this version was installed meanwhile by another run; not installing it again'; exit 0\n"
	         "fi\n"
	         "(\n%s\n) 9<&-",
	         qs, secs > 0 ? secs : 1, qi, qv, verify, inst);
	if ((qscript = ap_transport_shell_quote(script)) == NULL)
		goto oom;
	n = strlen(qscript) + 8;
	if ((*out = malloc(n)) == NULL)
		goto oom;
	snprintf(*out, n, "sh -c %s", qscript);
	r = AP_OK;
	goto out;
oom:
	r = ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
out:
	free(inst);
	free(verify);
	free(qs);
	free(qv);
	free(qi);
	free(script);
	free(qscript);
	return r;
}

/*
 * Verify passes: exit 0.  Evidence of a failure goes into ev.  With then
 * (may be NULL) the same invocation runs it afterwards (run_pkg_cmd);
 * *ran_then (may be NULL) says whether that invocation ran to its end.
 */
static int
verify_ok(struct host *h, const char *then, int *ran_then, char *ev, size_t size)
{
	struct ap_exec_result res;
	char out[300], err[300];
	int r, ok = 0;

	r = run_pkg_cmd(h, AP_PKG_CMD_VERIFY, then, &res);
	if (ran_then != NULL)
		*ran_then = r == AP_OK && res.exit_status >= 0;
	if (r == AP_OK && res.exit_status == 0) {
		ok = 1;
	} else {
		last_line(res.out, out, sizeof(out));
		last_line(res.err, err, sizeof(err));
		if (r != AP_OK)
			snprintf(ev, size, "verify command did not run: %s", ap_ctx_errmsg(h->ctx));
		else
			snprintf(ev, size, "verify command exited %d%s%s%s%s", res.exit_status,
			         out[0] ? "; stdout: " : "", out, err[0] ? "; stderr: " : "", err);
		ap_ctx_clear(h->ctx);
	}
	ap_exec_result_clear(&res);
	return ok;
}

/* Quoted "a/b" path join in a malloc'd string. */
static char *
path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	return p;
}

/* Evidence for a failed installer: its exit code, meaning and log excerpt. */
static void
installer_evidence(struct host *h, int code, const struct ap_pkg_exit *ex,
                   const struct ap_exec_result *res, char *ev, size_t size)
{
	const char *log = ap_package_log_path(h->run->pkg, AP_OS_LINUX);
	struct ap_exec_result lr;
	char *q = NULL, cmd[1200], *excerpt = NULL, line[300];

	memset(&lr, 0, sizeof(lr));
	if (log != NULL && (q = ap_transport_shell_quote(log)) != NULL) {
		snprintf(cmd, sizeof(cmd), "tail -c %d -- %s", LOG_TAIL_BYTES, q);
		if (run_cmd(h, cmd, 1, &lr) == AP_OK && lr.exit_status == 0 && lr.out != NULL)
			ap_package_log_excerpt(lr.out, lr.out_len, &excerpt);
		ap_ctx_clear(h->ctx);
	}
	if (excerpt == NULL || excerpt[0] == '\0') {
		free(excerpt);
		excerpt = NULL;
		ap_package_log_excerpt(res->err != NULL ? res->err : "", res->err_len, &excerpt);
	}
	last_line(excerpt, line, sizeof(line));
	snprintf(ev, size, "installer exited %d (%s)%s%s%s%s", code,
	         ex->meaning != NULL ? ex->meaning : "not in the package's exit-code table",
	         log != NULL ? "; log " : "", log != NULL ? log : "",
	         line[0] ? ": " : "", line);
	free(excerpt);
	free(q);
	ap_exec_result_clear(&lr);
}

/*
 * The command that removes what the upload and the installer left in the
 * staging folder; with glob (a path prefix, may be NULL) also every file
 * whose name starts with it.  Into buf; 0 when it does not fit or out of
 * memory.
 */
static int
cleanup_cmd(const char *part, const char *payload, const char *workdir,
            const char *glob, char *buf, size_t size)
{
	char *qp = NULL, *qf = NULL, *qw = NULL, *qg = NULL;
	int n = -1;

	qp = ap_transport_shell_quote(part);
	qf = ap_transport_shell_quote(payload);
	qw = ap_transport_shell_quote(workdir);
	qg = ap_transport_shell_quote(glob != NULL ? glob : "");
	if (qp != NULL && qf != NULL && qw != NULL && qg != NULL)
		/* the quoted prefix, then an unquoted * */
		n = snprintf(buf, size, "rm -rf -- %s %s %s%s%s%s", qp, qf, qw,
		             glob != NULL ? " " : "", glob != NULL ? qg : "",
		             glob != NULL ? "*" : "");
	free(qp);
	free(qf);
	free(qw);
	free(qg);
	return n > 0 && (size_t)n < size;
}

/* Runs cleanup_cmd()'s command as root; best effort. */
static void
cleanup_staging(struct host *h, const char *part, const char *payload,
                const char *workdir, const char *glob)
{
	struct ap_exec_result res;
	char cmd[4096];

	if (cleanup_cmd(part, payload, workdir, glob, cmd, sizeof(cmd))) {
		if (run_cmd(h, cmd, 1, &res) == AP_OK)
			ap_exec_result_clear(&res);
		ap_ctx_clear(h->ctx);
	}
}

/*
 * On resume: removes what a killed run may have left in the staging folder,
 * its payload and unpack folder and any partial upload of this package
 * version (".part.PID" of a controller that no longer runs).
 */
static void
cleanup_killed_run(struct host *h)
{
	const struct ap_package *pkg = h->run->pkg;
	char *prefix = NULL, name[512];

	snprintf(name, sizeof(name), ".agentpush-%s-%s.part.", ap_package_name(pkg),
	         ap_package_version(pkg));
	if ((prefix = path_join(h->staging_dir, name)) != NULL)
		cleanup_staging(h, h->part, h->payload, h->workdir, prefix);
	free(prefix);
}

/*
 * On a first run: removes what an earlier run of this package version left
 * in the staging folder because its connection died before its own cleanup
 * (a link cut, sshd killed): its partial upload, payload and unpack folder.
 * Only entries nobody touched for longer than a stage's limit, and only
 * while no installer holds the staging folder's lock: a live run's upload
 * writes its .part all along and fails itself after a stage's limit without
 * a write, and its installer runs under that lock (install_cmd_locked), so
 * what is removed here has no owner left.  Best effort.
 */
static void
cleanup_abandoned(struct host *h)
{
	const struct ap_package *pkg = h->run->pkg;
	char part[512], work[512], cmd[4096], *qs = NULL, *qp = NULL, *qf = NULL, *qw = NULL;
	struct ap_exec_result res;
	int n, secs = ap_hostjob_stage_timeout_ms(h->hj) / 1000;

	snprintf(part, sizeof(part), ".agentpush-%s-%s.part.", ap_package_name(pkg),
	         ap_package_version(pkg));
	snprintf(work, sizeof(work), "%s-%s.d", ap_package_name(pkg), ap_package_version(pkg));
	qs = ap_transport_shell_quote(h->staging_dir);
	qp = ap_transport_shell_quote(part);
	qf = ap_transport_shell_quote(ap_package_payload_name(pkg, AP_OS_LINUX));
	qw = ap_transport_shell_quote(work);
	if (qs == NULL || qp == NULL || qf == NULL || qw == NULL)
		goto out;
	/* stat -c and date +%s: GNU coreutils and busybox alike */
	n = snprintf(cmd, sizeof(cmd),
	             "sh -c 'cd \"$1\" 2>/dev/null || exit 0; "
	             "if command -v flock >/dev/null 2>&1; then exec 9<.; flock -n 9 || exit 0; fi; "
	             "now=$(date +%%s); for f in \"$2\"* \"$3\" \"$4\"; do "
	             "[ -e \"$f\" ] || continue; m=$(stat -c %%Y -- \"$f\") || continue; "
	             "[ $((now - m)) -gt \"$5\" ] && rm -rf -- \"$f\"; done; exit 0' sh %s %s %s %s %d",
	             qs, qp, qf, qw, secs > 0 ? secs : 1);
	if (n > 0 && (size_t)n < sizeof(cmd) && run_cmd(h, cmd, 1, &res) == AP_OK)
		ap_exec_result_clear(&res);
	ap_ctx_clear(h->ctx);
out:
	free(qs);
	free(qp);
	free(qf);
	free(qw);
}

/*
 * Upload to a staging name, then one command on the host checks its sha256
 * and renames it into place (mv -f: rename(2), atomic, replaces an old one).
 */
static int
copy_payload(struct host *h, const char *part, const char *payload)
{
	const struct ap_package *pkg = h->run->pkg;
	const char *sha = ap_package_payload_sha256(pkg, AP_OS_LINUX);
	struct ap_exec_result res;
	char *q = NULL, *qf = NULL, *qs = NULL, cmd[4096], ev[800], got[300];
	int r, id, n;

	memset(&res, 0, sizeof(res));
	r = h->ops->put(h->conn, ap_package_payload_path(pkg, AP_OS_LINUX), part,
	                0600, h->ctx);
	if (r != AP_OK) {
		if (r == AP_ENOMEM)
			goto out;
		id = ap_ctx_error_id(h->ctx);
		snprintf(ev, sizeof(ev), "upload to %s failed: %s", part, ap_ctx_errmsg(h->ctx));
		ap_ctx_clear(h->ctx);
		/* the transport's own diagnosis stands: sftp missing, the
		 * disk that filled up during the upload (95524), or the
		 * controller that could not open the payload for lack of
		 * descriptors (not the host's fault) */
		r = add(h, id == AP_ERR_LINUX_SFTP_MISSING || id == AP_ERR_INSUFFICIENT_SPACE ||
		        id == AP_ERR_CONTROLLER_OUT_OF_RESOURCES
		        ? id : AP_ERR_COPY_FAILED, NULL, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	/* The hash check and the rename in one command (one channel and
	 * one shell on the host): the rename happens only when the hash
	 * matches, and the exit code says which step stopped.  The file goes
	 * on stdin so sha256sum prints no (escaped) name. */
	if ((q = ap_transport_shell_quote(part)) == NULL ||
	    (qf = ap_transport_shell_quote(payload)) == NULL ||
	    (qs = ap_transport_shell_quote(sha)) == NULL) {
		r = ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	/* under sh -c: the login shell need not be a POSIX shell */
	n = snprintf(cmd, sizeof(cmd),
	             "sh -c 'h=$(sha256sum <\"$1\") || exit %d; h=${h%%%% *}; "
	             "printf \"%%s\\n\" \"$h\"; [ \"$h\" = \"$2\" ] || exit %d; "
	             "mv -f -- \"$1\" \"$3\" || exit %d' sh %s %s %s",
	             SHA_EXIT_FAILED, SHA_EXIT_MISMATCH, SHA_EXIT_RENAME, q, qs, qf);
	if (n < 0 || (size_t)n >= sizeof(cmd)) {
		r = ap_ctx_fail(h->ctx, AP_EINVAL, 0, "staging path too long: %s", part);
		goto out;
	}
	r = h->ops->exec(h->conn, cmd, NULL, 0, &res, h->ctx);
	if (r == AP_ENOMEM)
		goto out;
	if (r == AP_OK && res.exit_status == SHA_EXIT_RENAME) {
		last_line(res.err, got, sizeof(got));
		snprintf(ev, sizeof(ev), "rename %s to %s failed: %s", part, payload,
		         got[0] ? got : "mv failed");
		r = add(h, AP_ERR_COPY_FAILED, NULL, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	if (r != AP_OK) {
		/* The command did not finish (connection cut or timed out):
		 * nothing says the file differs, the copy failed. */
		snprintf(ev, sizeof(ev), "the sha256 check and rename of %s did not finish: %s",
		         part, ap_ctx_errmsg(h->ctx));
		ap_ctx_clear(h->ctx);
		r = add(h, AP_ERR_COPY_FAILED, NULL, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	if (res.exit_status != 0) {
		got[0] = '\0';
		if (res.exit_status == SHA_EXIT_MISMATCH && res.out != NULL)
			snprintf(got, sizeof(got), "%.64s", res.out);
		snprintf(ev, sizeof(ev), "%s on the target has sha256 %s, the package says %s",
		         part, got[0] ? got : "(sha256sum failed)", sha);
		ap_ctx_clear(h->ctx);
		r = add(h, AP_ERR_COPY_CHECKSUM_MISMATCH, NULL, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	r = AP_OK;
out:
	ap_exec_result_clear(&res);
	free(q);
	free(qf);
	free(qs);
	return r;
}

/* ---- registration with the configuration server (enroll.h) ------------- */

/*
 * The first line register.conf's text starts with: the host keeps only what
 * follows it, so a sudo that did not read the password from stdin (it had
 * no need to) cannot leave the password in the file.
 */
#define ENROLL_MARK "# agentpush register.conf"

/* cmd's "%s" (one) replaced by the quoted install dir, into buf. */
static int
dir_cmd(struct host *h, const char *fmt, char *buf, size_t size)
{
	char *q = ap_transport_shell_quote(h->install_dir);
	int n;

	if (q == NULL)
		return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
	n = snprintf(buf, size, fmt, q, q, q, q, q);
	free(q);
	if (n < 0 || (size_t)n >= size)
		return ap_ctx_fail(h->ctx, AP_EINVAL, 0, "the install folder's path is too long");
	return AP_OK;
}

/*
 * Hands the agent what it registers with: etc/register.conf, 0600, under
 * the install dir, through stdin (never a command line).  A failure is
 * the host's finding (800501).
 */
static int
enroll_write(struct host *h)
{
	struct ap_exec_result res;
	char local[128] = "", cmd[4096], ev[600], *text = NULL, *marked = NULL;
	size_t len = 0, n = 0;
	int r;

	memset(&res, 0, sizeof(res));
	if (strstr(h->run->opts->agent_server, AP_ENROLL_CONTROLLER) != NULL &&
	    (h->ops->local_addr == NULL || h->ops->local_addr(h->conn, local, sizeof(local), h->ctx) != AP_OK)) {
		snprintf(ev, sizeof(ev), "cannot tell the agent where the server is: %s", ap_ctx_errmsg(h->ctx));
		ap_ctx_clear(h->ctx);
		return add(h, AP_ERR_REGISTRATION_FAILED, NULL, ev);
	}
	if ((r = ap_enroll_server_url(h->run->opts, local[0] ? local : NULL, h->reg_url,
	                              sizeof(h->reg_url), h->ctx)) != AP_OK) {
		snprintf(ev, sizeof(ev), "%s", ap_ctx_errmsg(h->ctx));
		ap_ctx_clear(h->ctx);
		return add(h, AP_ERR_REGISTRATION_FAILED, NULL, ev);
	}
	if ((r = ap_enroll_nonce(h->nonce, h->ctx)) != AP_OK)
		return r;
	if ((r = ap_enroll_conf_text(h->run->opts, h->reg_url, h->nonce, &text, &len, h->ctx)) != AP_OK)
		return r;
	n = sizeof(ENROLL_MARK) + len;
	if ((marked = malloc(n)) == NULL) {
		r = ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	memcpy(marked, ENROLL_MARK "\n", sizeof(ENROLL_MARK));
	memcpy(marked + sizeof(ENROLL_MARK), text, len);
	if ((r = dir_cmd(h, "umask 077 && mkdir -p %s/etc && rm -f %s/run/register.status && "
	                 "sed -n '/^" ENROLL_MARK "$/,$p' > %s/etc/register.conf.tmp && "
	                 "mv -f %s/etc/register.conf.tmp %s/etc/register.conf",
	                 cmd, sizeof(cmd))) != AP_OK)
		goto out;
	h->enroll_written = 1;
	r = run_cmd_in(h, cmd, 1, marked, n, &res);
	if (r == AP_ENOMEM)
		goto out;
	if (r != AP_OK || res.exit_status != 0) {
		snprintf(ev, sizeof(ev), "cannot write the agent's register.conf under %s: %s",
		         h->install_dir, r != AP_OK ? ap_ctx_errmsg(h->ctx)
		         : (res.err != NULL && res.err[0] ? res.err : "the command failed"));
		ap_ctx_clear(h->ctx);
		r = add(h, AP_ERR_REGISTRATION_FAILED, NULL, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
	}
out:
	if (marked != NULL) {
		explicit_bzero(marked, n);
		free(marked);
	}
	ap_enroll_text_free(text, len);
	ap_exec_result_clear(&res);
	return r;
}

/* Removes register.conf (the passphrase) when the agent did not. */
static void
enroll_remove(struct host *h)
{
	struct ap_exec_result res;
	char cmd[2048];

	if (!h->enroll_written || h->enrolled)
		return;
	if (dir_cmd(h, "rm -f %s/etc/register.conf %s/etc/register.conf.tmp", cmd, sizeof(cmd)) == AP_OK &&
	    run_cmd(h, cmd, 1, &res) == AP_OK)
		h->enroll_written = 0;
	ap_ctx_clear(h->ctx);
	ap_exec_result_clear(&res);
}

/*
 * Waits for the agent's registration.  Registered: a note.  Not: the
 * finding from what the agent reported (enroll.h), and register.conf is
 * removed so the passphrase does not stay on the host.
 */
static int
enroll_wait(struct host *h, char *note, size_t note_size)
{
	struct ap_exec_result res;
	char uid[64], cmd[2048], ev[1200];
	int timeout_s = h->run->opts->register_timeout_s > 0 ? h->run->opts->register_timeout_s
	                : AP_DEFAULT_REGISTER_TIMEOUT_S;
	int r, id;
	size_t n;

	memset(&res, 0, sizeof(res));
	r = ap_enroll_wait(h->run->opts, h->nonce, uid, sizeof(uid), h->ctx);
	if (r == AP_OK) {
		h->enrolled = 1;
		n = strlen(note);
		snprintf(note + n, note_size - n, "%sregistered as %s", n > 0 ? "; " : "", uid);
		return AP_OK;
	}
	if (r == AP_ENOMEM)
		return r;
	if (r != AP_ETIMEOUT) {
		snprintf(ev, sizeof(ev), "stopped waiting for the agent's registration with %s: %s",
		         h->reg_url, ap_ctx_errmsg(h->ctx));
		ap_ctx_clear(h->ctx);
		enroll_remove(h);
		return add(h, AP_ERR_REGISTRATION_FAILED, NULL, ev);
	}
	ap_ctx_clear(h->ctx);
	if (dir_cmd(h, "cat %s/run/register.status 2>/dev/null", cmd, sizeof(cmd)) == AP_OK &&
	    run_cmd(h, cmd, 1, &res) != AP_OK)
		ap_ctx_clear(h->ctx);
	id = ap_enroll_finding(res.exit_status == 0 ? res.out : NULL, h->reg_url, timeout_s, ev, sizeof(ev));
	ap_exec_result_clear(&res);
	enroll_remove(h);
	return add(h, id, NULL, ev);
}

/* Decides from the installed version whether to install; 1: go on. */
static int
need_install(struct host *h, int *r)
{
	const char *have = h->facts->installed_version;
	const char *want = ap_package_version(h->run->pkg);
	char ev[800], note[200];
	int cmp;

	*r = AP_OK;
	if (have == NULL)
		return 1;
	cmp = ap_version_cmp(have, want);
	if (cmp < 0)
		return 1; /* upgrade */
	if (cmp == 0) {
		if (!verify_ok(h, NULL, NULL, ev, sizeof(ev)))
			return 1; /* installed but broken: install again */
		snprintf(ev, sizeof(ev), "%s/VERSION says %s and the verify command passed",
		         h->facts->install_dir != NULL ? h->facts->install_dir : "", have);
		snprintf(note, sizeof(note), "already installed %s", have);
		*r = add(h, AP_ERR_ALREADY_INSTALLED, NULL, ev);
		/* The running agent looks for a new register.conf by itself. */
		if (*r == AP_OK && ap_enroll_wanted(h->run->opts) &&
		    (*r = enroll_write(h)) == AP_OK && ap_result_first_error(h->res) == 0)
			*r = enroll_wait(h, note, sizeof(note));
		if (*r == AP_OK)
			*r = ap_result_set_note(h->res, note) == AP_OK ? AP_OK
			     : ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
		if (*r == AP_EREMOTE)
			*r = AP_OK;
		return 0;
	}
	snprintf(ev, sizeof(ev), "%s is installed; the package holds the older %s",
	         have, want);
	snprintf(note, sizeof(note), "newer version %s installed; not downgraded", have);
	if ((*r = add_sev(h, AP_ERR_ALREADY_INSTALLED, AP_SEV_WARNING, NULL, ev)) == AP_OK)
		*r = ap_result_set_note(h->res, note) == AP_OK ? AP_OK
		     : ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
	return 0;
}

static int
step_install(struct host *h)
{
	const struct ap_package *pkg = h->run->pkg;
	const char *staging = h->staging_dir;
	struct ap_exec_result res;
	struct ap_pkg_exit ex;
	char name[512], ev[1200], note[200], cleanup[4096], *cmd = NULL;
	int r, go, copied = 0, ok, ran_cleanup;

	memset(&res, 0, sizeof(res));
	memset(&ex, 0, sizeof(ex));
	if (!ap_package_has_os(pkg, AP_OS_LINUX)) {
		return add(h, AP_ERR_PACKAGE_NO_PAYLOAD, NULL,
		           "the package manifest has no linux section");
	}
	if (h->facts->machine != NULL &&
	    !ap_package_supports_arch(pkg, AP_OS_LINUX, h->facts->machine)) {
		snprintf(ev, sizeof(ev), "uname -m says %s; the package's linux payload does not list it",
		         h->facts->machine);
		return add(h, AP_ERR_PACKAGE_NO_PAYLOAD, NULL, ev);
	}
	h->payload = path_join(staging, ap_package_payload_name(pkg, AP_OS_LINUX));
	snprintf(name, sizeof(name), ".agentpush-%s-%s.part.%ld",
	         ap_package_name(pkg), ap_package_version(pkg), (long)getpid());
	h->part = path_join(staging, name);
	snprintf(name, sizeof(name), "%s-%s.d", ap_package_name(pkg), ap_package_version(pkg));
	h->workdir = path_join(staging, name);
	if (h->payload == NULL || h->part == NULL || h->workdir == NULL)
		return ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
	/* A killed run never cleaned up: remove its payload, unpack folder and
	 * partial upload (named after the dead controller's pid). */
	if (h->hj->resumed)
		cleanup_killed_run(h);
	else
		cleanup_abandoned(h);
	go = need_install(h, &r);
	if (!go || r != AP_OK)
		return r;
	copied = 1;
	if ((r = copy_payload(h, h->part, h->payload)) != AP_OK)
		goto out;
	if ((r = advance(h, AP_HOST_COPIED)) != AP_OK)
		goto out;
	/* Before the installer, so the agent it starts registers at once. */
	if (ap_enroll_wanted(h->run->opts) && (r = enroll_write(h)) != AP_OK)
		goto out;

	/* The installer's own limit (the manifest's install_timeout), never
	 * shorter than a stage's; the verify has the stage's again. */
	if (h->ops->set_timeout != NULL)
		h->ops->set_timeout(h->conn, ap_hostjob_install_timeout_ms(h->hj, AP_OS_LINUX));
	if ((r = install_cmd_locked(h, &cmd)) == AP_OK)
		r = run_cmd(h, cmd, 1, &res);
	free(cmd);
	cmd = NULL;
	if (h->ops->set_timeout != NULL)
		h->ops->set_timeout(h->conn, ap_hostjob_stage_timeout_ms(h->hj));
	if (r != AP_OK) {
		if (r == AP_ENOMEM)
			goto out;
		snprintf(ev, sizeof(ev), "the install command did not finish: %s",
		         ap_ctx_errmsg(h->ctx));
		ap_ctx_clear(h->ctx);
		r = add(h, r == AP_ETIMEOUT ? AP_ERR_INSTALL_TIMEOUT : AP_ERR_INSTALL_FAILED,
		        NULL, ev);
		goto out;
	}
	ap_package_map_exit(pkg, AP_OS_LINUX, res.exit_status, &ex);
	if (ex.outcome == AP_PKG_FAILED) {
		installer_evidence(h, res.exit_status, &ex, &res, ev, sizeof(ev));
		r = add(h, ex.error_id != 0 ? ex.error_id : AP_ERR_INSTALL_FAILED, NULL, ev);
		goto out;
	}
	if ((r = advance(h, AP_HOST_INSTALLED)) != AP_OK)
		goto out;
	if (ex.outcome == AP_PKG_WARNING || ex.reboot) {
		snprintf(ev, sizeof(ev), "installer exited %d (%s)", res.exit_status,
		         ex.meaning != NULL ? ex.meaning : "");
		r = add_sev(h, ex.reboot ? AP_ERR_INSTALLED_RESTART_NEEDED
		            : (ex.error_id != 0 ? ex.error_id : AP_ERR_INSTALL_FAILED),
		            AP_SEV_WARNING, NULL, ev);
		if (r != AP_OK)
			goto out;
	}
	/* The cleanup runs in the verify command's invocation (one channel
	 * and one shell less); only when that did not run to its end is it
	 * tried again on its own below. */
	ran_cleanup = 0;
	if (cleanup_cmd(h->part, h->payload, h->workdir, NULL, cleanup, sizeof(cleanup)))
		ok = verify_ok(h, cleanup, &ran_cleanup, ev, sizeof(ev));
	else
		ok = verify_ok(h, NULL, NULL, ev, sizeof(ev));
	if (ran_cleanup)
		copied = 0;
	if (!ok) {
		r = add(h, AP_ERR_VERIFY_FAILED, NULL, ev);
		goto out;
	}
	snprintf(note, sizeof(note), "installed %s %s", ap_package_name(pkg),
	         ap_package_version(pkg));
	if (ap_enroll_wanted(h->run->opts) && (r = enroll_wait(h, note, sizeof(note))) != AP_OK)
		goto out;
	if (ap_result_set_note(h->res, note) != AP_OK)
		r = ap_ctx_fail(h->ctx, AP_ENOMEM, 0, "out of memory");
out:
	/* A host whose lease passed to another worker is that worker's now:
	 * what is in the staging folder and register.conf may be its own. */
	if (!ap_hostjob_lost(h->hj)) {
		enroll_remove(h);
		if (copied)
			cleanup_staging(h, h->part, h->payload, h->workdir, NULL);
	}
	ap_exec_result_clear(&res);
	return r;
}

static int
linux_host_run(struct ap_hostjob *hj, struct ap_ctx *ctx)
{
	const struct ap_run *run = hj->run;
	const struct ap_target *t = hj->t;
	struct ap_result *res = hj->res;
	struct ap_linux_requirements req;
	struct host h;
	int r;

	memset(&h, 0, sizeof(h));
	h.hj = hj;
	h.run = run;
	h.t = t;
	h.res = res;
	h.ctx = ctx;
	h.ops = &ap_transport_ssh;
	/* NULL: the transport's default, root unless ~/.ssh/config names one. */
	h.user = ap_hostjob_user(hj, NULL);
	res->os = AP_OS_LINUX;
	requirements(&h, &req);

	if ((r = step_connect(&h)) != AP_OK)
		goto out;
	if ((r = step_probe(&h, &req)) != AP_OK)
		goto out;
	if ((r = step_privilege(&h)) != AP_OK)
		goto out;
	if ((r = step_transfer_probe(&h)) != AP_OK)
		goto out;
	if ((r = ap_linux_rules_apply(h.facts, &req, res, ctx)) != AP_OK)
		goto out;
	if (ap_result_first_error(res) != 0)
		goto out;
	if ((r = advance(&h, AP_HOST_CHECKED)) != AP_OK || !run->install)
		goto out;
	r = step_install(&h);
out:
	if (h.ops != NULL && h.conn != NULL)
		h.ops->close(h.conn);
	ap_linux_facts_free(h.facts);
	free(h.payload);
	free(h.part);
	free(h.workdir);
	if (h.fatal_rc != 0)
		return ap_ctx_fail(ctx, h.fatal_rc, 0, "%s", h.fatal_msg);
	/* A target's own failure is a finding, not a failure of the run. */
	return r == AP_ENOMEM || r == AP_EINTERNAL ? r : AP_OK;
}

const struct ap_pipeline_ops ap_pipeline_linux = {
	.os = AP_OS_LINUX,
	.name = "linux",
	.run = linux_host_run,
};
