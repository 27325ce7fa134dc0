/*
 * windows_host.c - the per-host pipeline for a Windows target (hostjob.h).
 *
 * Two connections, in the order the product's push meets the conditions:
 *
 *   gate -> SMB (445: File and Printer Sharing, the logon, ADMIN$)
 *        -> WinRM (5986: remote management; one PowerShell for the facts)
 *        -> rules                                  check stops here
 *   install goes on only when no error was found:
 *        -> version command (WinRM): installed already?
 *        -> SMB upload to a staging name -> Get-FileHash (WinRM) = manifest?
 *        -> SMB rename into place                          COPIED
 *        -> install command (WinRM) -> exit code through the manifest's
 *           table, else the catalog's Windows reading of exit code + log
 *           (ap_windows_installer_result: the VSS entries)  INSTALLED
 *        -> verify command (WinRM)                         DONE
 *        -> cleanup of the staging files (WinRM), whatever happened
 *
 * The SMB logon is the one that tells the account's state (wrong password,
 * disabled, locked out, no logon server, broken trust: libsmbclient reports
 * the NTSTATUS), so it goes first and alone through the credential gate.
 * WinRM then logs on with a credential a server has just accepted.
 *
 * Where files go.  SMB reaches the staging folder through ADMIN$, which is
 * %SystemRoot% (smb.c: remote paths are relative to it), so the package's
 * Windows staging_dir must lie under the SystemRoot the facts report
 * (default C:\Windows\Temp); one that does not is a COPY_FAILED finding
 * before anything is written.  The upload goes to
 * ".agentpush-NAME-VERSION.part.PID" beside the payload's final name, is
 * hashed on the host, and only then renamed: the installer never sees a
 * partial or corrupted payload.
 *
 * Resume: a killed controller leaves no process behind, but may leave its
 * upload; a resumed host removes every ".part." of this package version
 * and the payload before it starts, and the version command finds an
 * install that completed before the kill (invariant 4 of engine.c).
 *
 * Port: a Windows target's port (host:port, ansible_port) is the WinRM
 * port, as in Ansible inventories; SMB is always 445.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agentpush/catalog.h"
#include "agentpush/package.h"
#include "agentpush/transport.h"
#include "agentpush/windows.h"
#include "../engine/enroll.h"
#include "../engine/hostjob.h"
#include "pipeline.h"
#include "transport/transport_util.h"

#define WINRM_HTTPS_PORT 5986
#define WINRM_HTTP_PORT 5985

struct whost {
	struct ap_hostjob *hj;
	struct ap_ctx *ctx;
	const char *user;
	struct ap_conn *smb;
	struct ap_conn *winrm;
	struct ap_windows_facts *facts;
	int fatal_rc;
	char fatal_msg[512];  /* its message: the cleanup that follows clears the context */
	/* install: Windows paths, and the same relative to ADMIN$ for SMB */
	char *payload, *part, *share_payload, *share_part, *part_prefix;
};

static int
add(struct whost *w, int id, const char *evidence)
{
	if (ap_result_add(w->hj->res, id, NULL, evidence) == AP_ENOMEM)
		return ap_ctx_fail(w->ctx, AP_ENOMEM, 0, "out of memory");
	return AP_OK;
}

/* Turns the transport's failure on ctx into a finding; returns AP_EREMOTE. */
static int
add_from_ctx(struct whost *w, int fallback_id)
{
	char ev[700];
	int id = ap_ctx_error_id(w->ctx), r;

	snprintf(ev, sizeof(ev), "%s", ap_ctx_errmsg(w->ctx));
	ap_ctx_clear(w->ctx);
	r = add(w, id != 0 ? id : fallback_id, ev);
	return r != AP_OK ? r : AP_EREMOTE;
}

/*
 * How this host logs on: --kerberos, or the inventory's
 * ansible_winrm_transport (basic, ntlm or kerberos; the inventory parser
 * refuses other values).  Kerberos is Kerberos only, for SMB and WinRM
 * alike: a refused ticket is never followed by an NTLM try.
 */
static int
host_kerberos(const struct whost *w)
{
	const char *t = ap_hostjob_var(w->hj, "ansible_winrm_transport");

	return w->hj->run->opts->kerberos || (t != NULL && strcmp(t, "kerberos") == 0);
}

static void
conn_opts(const struct whost *w, struct ap_conn_opts *co)
{
	const struct ap_run_opts *o = w->hj->run->opts;
	const char *transport = ap_hostjob_var(w->hj, "ansible_winrm_transport");
	const char *ca = ap_hostjob_var(w->hj, "ansible_winrm_ca_trust_path");
	int timeout_ms = ap_hostjob_stage_timeout_ms(w->hj);

	memset(co, 0, sizeof(*co));
	co->host = w->hj->t->host;
	co->user = w->user;
	co->password = ap_hostjob_password(w->hj);
	co->connect_timeout_ms = timeout_ms;
	co->io_timeout_ms = timeout_ms;
	co->domain = w->hj->account != NULL && w->hj->account->domain != NULL
	             ? w->hj->account->domain : ap_hostjob_var(w->hj, "agentpush_domain");
	co->ca_file = ca != NULL ? ca : o->ca_file;
	co->winrm_allow_http = o->winrm_insecure_http;
	co->winrm_auth = ap_transport_winrm_auth(o->winrm_auth, transport, host_kerberos(w));
	if (host_kerberos(w)) {
		co->smb_kerberos = 1;
		co->password = NULL; /* the ticket logs on; never a password */
	}
}

/* Whether an SMB logon failure says the credential itself was refused. */
static int
credential_refused(int id)
{
	return id == AP_ERR_WINDOWS_BAD_CREDENTIALS ||
	       id == AP_ERR_WINDOWS_ACCOUNT_DISABLED ||
	       id == AP_ERR_WINDOWS_ACCOUNT_LOCKED;
}

/*
 * Keeps r, a failure of the run itself (the store), with the message on
 * w->ctx, for windows_host_run() to return after its cleanup, which
 * clears the context.  Returns r.
 */
static int
run_failure(struct whost *w, int r)
{
	w->fatal_rc = r;
	snprintf(w->fatal_msg, sizeof(w->fatal_msg), "%s", ap_ctx_errmsg(w->ctx));
	return r;
}

static int
step_smb(struct whost *w)
{
	struct ap_hostjob *hj = w->hj;
	struct ap_conn_opts co;
	char key[512], ev[600];
	int r, id;

	ap_hostjob_cred_key(hj, "windows", w->user,
	                    host_kerberos(w) ? "kerberos"
	                    : ap_hostjob_password(hj) != NULL ? "password" : "", key, sizeof(key));
	if ((r = ap_hostjob_cred_acquire(hj, key, w->user, ev, sizeof(ev), w->ctx)) != 0) {
		if (r < 0)
			return run_failure(w, r);
		r = add(w, AP_ERR_CREDENTIAL_BLOCKED, ev);
		return r != AP_OK ? r : AP_EREMOTE;
	}
	conn_opts(w, &co);
	co.port = 445;
	ap_hostjob_handshake_begin(hj);
	r = ap_transport_smb.open(&co, &w->smb, w->ctx);
	ap_hostjob_handshake_end(hj);
	id = r == AP_OK ? 0 : ap_ctx_error_id(w->ctx);
	/* 95517 (share refused) and the network failures leave the logon
	 * itself either accepted or never tried. */
	ap_hostjob_cred_release(hj, key,
	                        r == AP_OK || id == AP_ERR_WINDOWS_NO_ADMIN_RIGHTS ||
	                        id == AP_ERR_WINDOWS_SHARE_MISSING
	                            ? AP_CREDGATE_ACCEPTED
	                            : credential_refused(id) ? AP_CREDGATE_REJECTED
	                                                     : AP_CREDGATE_UNKNOWN);
	if (r == AP_ENOMEM)
		return r;
	if (r != AP_OK)
		return add_from_ctx(w, AP_ERR_WINDOWS_SHARING_BLOCKED);
	if ((r = ap_hostjob_advance(hj, AP_HOST_CONNECTED, NULL, w->ctx)) != AP_OK)
		return run_failure(w, r);
	if (ap_transport_smb.probe_transfer != NULL &&
	    (r = ap_transport_smb.probe_transfer(w->smb, w->ctx)) != AP_OK)
		return r == AP_ENOMEM ? r : add_from_ctx(w, AP_ERR_WINDOWS_NO_ADMIN_RIGHTS);
	return AP_OK;
}

/*
 * The defaults, raised by what the package says it needs: staging and
 * install folders both sit on the system drive (staging under SystemRoot,
 * see plan_paths), so the two add up there.  The 500 MB floor (95524)
 * stands; a package may only ask for more.
 */
static void
requirements(const struct whost *w, struct ap_windows_requirements *req)
{
	const struct ap_package *pkg = w->hj->run->pkg;
	long long need;

	ap_windows_requirements_init(req);
	if (pkg == NULL || !ap_package_has_os(pkg, AP_OS_WINDOWS))
		return;
	need = (long long)(ap_package_space_staging_kb(pkg, AP_OS_WINDOWS) +
	                   ap_package_space_install_kb(pkg, AP_OS_WINDOWS)) * 1024;
	if (need > req->min_free_bytes)
		req->min_free_bytes = need;
}

static int
step_winrm_facts(struct whost *w)
{
	const struct ap_run_opts *o = w->hj->run->opts;
	struct ap_windows_requirements req;
	struct ap_exec_result res;
	struct ap_conn_opts co;
	char *cmd = NULL, ev[800];
	int r;

	memset(&res, 0, sizeof(res));
	conn_opts(w, &co);
	co.port = w->hj->t->port != 0 ? w->hj->t->port
	        : o->winrm_insecure_http ? WINRM_HTTP_PORT : WINRM_HTTPS_PORT;
	if ((r = ap_transport_winrm.open(&co, &w->winrm, w->ctx)) != AP_OK) {
		if (r != AP_ENOMEM)
			r = add_from_ctx(w, AP_ERR_WINDOWS_WMI_BLOCKED);
		goto out;
	}
	if ((r = ap_windows_facts_command(&cmd, w->ctx)) != AP_OK)
		goto out;
	r = ap_transport_winrm.exec(w->winrm, cmd, NULL, 0, &res, w->ctx);
	if (r == AP_ENOMEM)
		goto out;
	if (r != AP_OK) {
		snprintf(ev, sizeof(ev), "the facts script did not run: %s", ap_ctx_errmsg(w->ctx));
		ap_ctx_clear(w->ctx);
		r = add(w, AP_ERR_PROBE_FAILED, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	r = ap_windows_facts_parse(res.out != NULL ? res.out : "", res.out_len, &w->facts, w->ctx);
	if (r == AP_ENOMEM)
		goto out;
	if (r != AP_OK) {
		snprintf(ev, sizeof(ev), "facts script exit status %d; %s", res.exit_status,
		         ap_ctx_errmsg(w->ctx));
		ap_ctx_clear(w->ctx);
		r = add(w, AP_ERR_PROBE_FAILED, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	requirements(w, &req);
	r = ap_windows_rules_apply(w->facts, &req, w->hj->res, w->ctx);
out:
	ap_exec_result_clear(&res);
	free(cmd);
	return r;
}

/* ---- install ------------------------------------------------------------ */

static int
add_sev(struct whost *w, int id, enum ap_severity sev, const char *evidence)
{
	if (ap_result_add_sev(w->hj->res, id, sev, NULL, evidence) == AP_ENOMEM)
		return ap_ctx_fail(w->ctx, AP_ENOMEM, 0, "out of memory");
	return AP_OK;
}

static int
set_note(struct whost *w, const char *note)
{
	if (ap_result_set_note(w->hj->res, note) != AP_OK)
		return ap_ctx_fail(w->ctx, AP_ENOMEM, 0, "out of memory");
	return AP_OK;
}

/* Records a state; a store failure stops the run (hostjob.h). */
static int
advance(struct whost *w, enum ap_host_state state)
{
	int r = ap_hostjob_advance(w->hj, state, NULL, w->ctx);

	return r != AP_OK ? run_failure(w, r) : AP_OK;
}

/* The first line of s, trimmed, into buf. */
static void
first_line(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	if (s == NULL)
		return;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	while (s[n] != '\0' && s[n] != '\r' && s[n] != '\n')
		n++;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* Runs cmd over WinRM into res (cleared first). */
static int
winrm_run(struct whost *w, const char *cmd, struct ap_exec_result *res)
{
	memset(res, 0, sizeof(*res));
	return ap_transport_winrm.exec(w->winrm, cmd, NULL, 0, res, w->ctx);
}

/* Runs the package's command `which` with this host's paths; fills res. */
static int
run_pkg_cmd(struct whost *w, enum ap_pkg_cmd which, struct ap_exec_result *res)
{
	struct ap_pkg_vars vars;
	char *cmd = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&vars, 0, sizeof(vars));
	vars.payload = w->payload;
	r = ap_package_command_vars(w->hj->run->pkg, AP_OS_WINDOWS, which, &vars,
	                            &cmd, w->ctx);
	if (r != AP_OK)
		return r;
	r = winrm_run(w, cmd, res);
	free(cmd);
	return r;
}

/* Verify passes: exit 0.  The evidence of a failure goes into ev. */
static int
verify_ok(struct whost *w, char *ev, size_t size)
{
	struct ap_exec_result res;
	char out[300], err[300];
	int r, ok = 0;

	r = run_pkg_cmd(w, AP_PKG_CMD_VERIFY, &res);
	if (r == AP_OK && res.exit_status == 0) {
		ok = 1;
	} else if (r != AP_OK) {
		snprintf(ev, size, "verify command did not run: %s", ap_ctx_errmsg(w->ctx));
	} else {
		first_line(res.out, out, sizeof(out));
		first_line(res.err, err, sizeof(err));
		snprintf(ev, size, "verify command exited %d%s%s%s%s", res.exit_status,
		         out[0] ? "; stdout: " : "", out, err[0] ? "; stderr: " : "", err);
	}
	ap_ctx_clear(w->ctx);
	ap_exec_result_clear(&res);
	return ok;
}

/*
 * path relative to the ADMIN$ share when winpath lies under root
 * (case-insensitive, as Windows compares paths), in a malloc'd string;
 * NULL with *outside set when it does not, or when out of memory.
 */
static char *
share_relative(const char *root, const char *winpath, int *outside)
{
	size_t n = strlen(root);

	*outside = 0;
	while (n > 0 && root[n - 1] == '\\')
		n--;
	if (strncasecmp(winpath, root, n) != 0 ||
	    (winpath[n] != '\\' && winpath[n] != '\0')) {
		*outside = 1;
		return NULL;
	}
	winpath += n;
	while (*winpath == '\\')
		winpath++;
	return strdup(winpath);
}

/* dir\name in a malloc'd string (one backslash between). */
static char *
win_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s%s%s", dir,
		         dir[0] != '\0' && dir[strlen(dir) - 1] != '\\' ? "\\" : "", name);
	return p;
}

/*
 * Sets the install paths: payload and part in the staging folder, and the
 * same relative to ADMIN$.  AP_EREMOTE with a finding when the staging
 * folder is outside SystemRoot.
 */
static int
plan_paths(struct whost *w)
{
	const struct ap_package *pkg = w->hj->run->pkg;
	const char *staging = ap_package_staging_dir(pkg, AP_OS_WINDOWS);
	char root[300], name[400], ev[900];
	char *share_staging = NULL;
	int outside = 0, r = AP_OK;

	if (w->facts->system_root != NULL)
		snprintf(root, sizeof(root), "%s", w->facts->system_root);
	else
		snprintf(root, sizeof(root), "%s\\Windows", w->facts->system_drive);
	share_staging = share_relative(root, staging, &outside);
	if (outside) {
		snprintf(ev, sizeof(ev),
		         "the package's staging folder %s is not under %s, the folder the ADMIN$ share reaches",
		         staging, root);
		r = add(w, AP_ERR_COPY_FAILED, ev);
		return r != AP_OK ? r : AP_EREMOTE;
	}
	snprintf(name, sizeof(name), ".agentpush-%s-%s.part.", ap_package_name(pkg),
	         ap_package_version(pkg));
	w->part_prefix = win_join(staging, name);
	snprintf(name + strlen(name), sizeof(name) - strlen(name), "%ld", (long)getpid());
	w->part = win_join(staging, name);
	w->payload = win_join(staging, ap_package_payload_name(pkg, AP_OS_WINDOWS));
	if (share_staging != NULL) {
		w->share_part = win_join(share_staging, name);
		w->share_payload = win_join(share_staging, ap_package_payload_name(pkg, AP_OS_WINDOWS));
	}
	if (share_staging == NULL || w->part_prefix == NULL || w->part == NULL ||
	    w->payload == NULL || w->share_part == NULL || w->share_payload == NULL)
		r = ap_ctx_fail(w->ctx, AP_ENOMEM, 0, "out of memory");
	free(share_staging);
	return r;
}

/*
 * Removes the staging files: the part and the payload, and with all every
 * ".part." of this package version (what a killed run left).  Best effort:
 * a failure here changes no verdict.
 */
static void
cleanup_staging(struct whost *w, int all)
{
	const char *paths[2] = { w->part, w->payload };
	struct ap_exec_result res;
	char *cmd = NULL;

	if (ap_windows_remove_command(paths, 2, all ? w->part_prefix : NULL, &cmd,
	                              w->ctx) == AP_OK &&
	    winrm_run(w, cmd, &res) == AP_OK)
		ap_exec_result_clear(&res);
	ap_ctx_clear(w->ctx);
	free(cmd);
}

/* Decides from the version command whether to install; 1: go on. */
static int
need_install(struct whost *w, int *r)
{
	const char *want = ap_package_version(w->hj->run->pkg);
	struct ap_exec_result res;
	char have[128], ev[900], note[200];
	int cmp;

	*r = run_pkg_cmd(w, AP_PKG_CMD_VERSION, &res);
	if (*r == AP_ENOMEM)
		return 0;
	have[0] = '\0';
	if (*r == AP_OK && res.exit_status == 0)
		first_line(res.out, have, sizeof(have));
	ap_exec_result_clear(&res);
	ap_ctx_clear(w->ctx);
	*r = AP_OK;
	if (have[0] == '\0')
		return 1; /* not installed (or the command failed: install) */
	cmp = ap_version_cmp(have, want);
	if (cmp < 0)
		return 1; /* upgrade */
	if (cmp == 0) {
		if (!verify_ok(w, ev, sizeof(ev)))
			return 1; /* installed but broken: install again */
		snprintf(ev, sizeof(ev), "the version command says %s and the verify command passed",
		         have);
		snprintf(note, sizeof(note), "already installed %s", have);
		if ((*r = add(w, AP_ERR_ALREADY_INSTALLED, ev)) == AP_OK)
			*r = set_note(w, note);
		return 0;
	}
	snprintf(ev, sizeof(ev), "%s is installed; the package holds the older %s", have, want);
	snprintf(note, sizeof(note), "newer version %s installed; not downgraded", have);
	if ((*r = add_sev(w, AP_ERR_ALREADY_INSTALLED, AP_SEV_WARNING, ev)) == AP_OK)
		*r = set_note(w, note);
	return 0;
}

/*
 * The ErrorID of a failed SMB step of the copy, from the transport's own
 * (smb.c file_error): kept when it names the cause, a disk that filled up
 * (95524), access refused on the share, or the controller out of
 * descriptors (800107, not the host's fault); else COPY_FAILED.
 */
static int
copy_failure_id(int transport_id)
{
	return transport_id == AP_ERR_INSUFFICIENT_SPACE ||
	       transport_id == AP_ERR_WINDOWS_NO_ADMIN_RIGHTS ||
	       transport_id == AP_ERR_CONTROLLER_OUT_OF_RESOURCES
	       ? transport_id : AP_ERR_COPY_FAILED;
}

/* Upload to the part name, hash it on the host, rename it into place. */
static int
copy_payload(struct whost *w)
{
	const struct ap_package *pkg = w->hj->run->pkg;
	const char *sha = ap_package_payload_sha256(pkg, AP_OS_WINDOWS);
	struct ap_exec_result res;
	char *cmd = NULL, ev[900], got[65], line[200];
	int r, id;

	memset(&res, 0, sizeof(res));
	r = ap_transport_smb.put(w->smb, ap_package_payload_path(pkg, AP_OS_WINDOWS),
	                         w->share_part, 0600, w->ctx);
	if (r != AP_OK) {
		if (r == AP_ENOMEM)
			goto out;
		id = ap_ctx_error_id(w->ctx);
		snprintf(ev, sizeof(ev), "upload to %s failed: %s", w->part, ap_ctx_errmsg(w->ctx));
		ap_ctx_clear(w->ctx);
		r = add(w, copy_failure_id(id), ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	if ((r = ap_windows_hash_command(w->part, &cmd, w->ctx)) != AP_OK)
		goto out;
	r = winrm_run(w, cmd, &res);
	if (r == AP_ENOMEM)
		goto out;
	if (r != AP_OK || res.exit_status != 0 ||
	    ap_windows_parse_hash(res.out, res.out_len, got) != 0) {
		if (r != AP_OK)
			snprintf(line, sizeof(line), "%s", ap_ctx_errmsg(w->ctx));
		else
			first_line(res.err != NULL && res.err[0] != '\0' ? res.err : res.out,
			           line, sizeof(line));
		snprintf(ev, sizeof(ev), "could not hash %s on the target (%s): %s", w->part,
		         r != AP_OK ? "the command did not run" : "unexpected output",
		         line[0] ? line : "no output");
		ap_ctx_clear(w->ctx);
		r = add(w, AP_ERR_COPY_CHECKSUM_MISMATCH, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	if (strcmp(got, sha) != 0) {
		snprintf(ev, sizeof(ev), "%s on the target has sha256 %s, the package says %s",
		         w->part, got, sha);
		r = add(w, AP_ERR_COPY_CHECKSUM_MISMATCH, ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	r = ap_transport_smb.rename(w->smb, w->share_part, w->share_payload, w->ctx);
	if (r != AP_OK) {
		if (r == AP_ENOMEM)
			goto out;
		id = ap_ctx_error_id(w->ctx);
		snprintf(ev, sizeof(ev), "rename %s to %s failed: %s", w->part, w->payload,
		         ap_ctx_errmsg(w->ctx));
		ap_ctx_clear(w->ctx);
		r = add(w, copy_failure_id(id), ev);
		r = r != AP_OK ? r : AP_EREMOTE;
		goto out;
	}
	r = AP_OK;
out:
	ap_exec_result_clear(&res);
	free(cmd);
	return r;
}

/* The installer log's last bytes, read over WinRM; NULL when unreadable. */
static char *
read_log(struct whost *w, const char *log, size_t *len)
{
	struct ap_exec_result res;
	char *cmd = NULL, *bin = NULL;

	*len = 0;
	memset(&res, 0, sizeof(res));
	if (log == NULL || ap_windows_tail_command(log, &cmd, w->ctx) != AP_OK)
		goto out;
	if (winrm_run(w, cmd, &res) != AP_OK || res.exit_status != 0)
		goto out;
	if (ap_windows_parse_b64(res.out, res.out_len, &bin, len, w->ctx) != AP_OK)
		bin = NULL;
out:
	ap_ctx_clear(w->ctx);
	ap_exec_result_clear(&res);
	free(cmd);
	return bin;
}

/*
 * Judges the installer's exit code.  The manifest's table speaks first for
 * the codes it knows; a failure it cannot name better than INSTALL_FAILED,
 * and every code it does not know, goes to the catalog's Windows reading of
 * exit code and log (VSS errors, restarts).  Adds the finding; *failed is
 * set when the install did not happen.
 */
static int
judge_installer(struct whost *w, const struct ap_exec_result *res, int *failed)
{
	const struct ap_package *pkg = w->hj->run->pkg;
	const char *log_path = ap_package_log_path(pkg, AP_OS_WINDOWS);
	int code = res->exit_status;
	struct ap_pkg_exit ex;
	char *log = NULL, *excerpt = NULL, ev[1200], line[300];
	size_t log_len = 0;
	long vss = 0;
	int r = AP_OK, id = 0;

	*failed = 0;
	ap_package_map_exit(pkg, AP_OS_WINDOWS, code, &ex);
	if (ex.known && ex.outcome != AP_PKG_FAILED) {
		if (ex.outcome == AP_PKG_WARNING || ex.reboot) {
			snprintf(ev, sizeof(ev), "installer exited %d (%s)", code,
			         ex.meaning != NULL ? ex.meaning : "");
			/* The row's own entry first: 3010 is "recommended". */
			r = add_sev(w, ex.error_id != 0 ? ex.error_id
			            : ex.reboot ? AP_ERR_INSTALLED_RESTART_NEEDED : AP_ERR_INSTALL_FAILED,
			            AP_SEV_WARNING, ev);
		}
		goto out;
	}
	log = read_log(w, log_path, &log_len);
	if (ex.known && ex.error_id != 0 && ex.error_id != AP_ERR_INSTALL_FAILED &&
	    !(log != NULL && ap_windows_find_vss_error(log, log_len, &vss))) {
		/* The package names this failure; the log is the evidence. */
		if (log != NULL && ap_package_log_excerpt(log, log_len, &excerpt) != 0) {
			r = ap_ctx_fail(w->ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
		first_line(excerpt, line, sizeof(line));
		snprintf(ev, sizeof(ev), "installer exited %d (%s); log %s%s%s", code,
		         ex.meaning != NULL ? ex.meaning : "", log_path != NULL ? log_path : "(none)",
		         line[0] ? ": " : "", line);
		*failed = 1;
		r = add(w, ex.error_id, ev);
		goto out;
	}
	if ((r = ap_windows_installer_result(code, log, log_len, log_path, w->hj->res,
	                                     &id, w->ctx)) != AP_OK)
		goto out;
	*failed = ap_result_first_error(w->hj->res) != 0;
out:
	free(excerpt);
	free(log);
	return r;
}

static int
step_install(struct whost *w)
{
	const struct ap_package *pkg = w->hj->run->pkg;
	struct ap_exec_result res;
	const char *arch = NULL;
	char ev[900], note[200];
	int r, go, failed = 0, staged = 0;

	memset(&res, 0, sizeof(res));
	if (!ap_package_has_os(pkg, AP_OS_WINDOWS))
		return add(w, AP_ERR_PACKAGE_NO_PAYLOAD, "the package manifest has no windows section");
	/* PROCESSOR_ARCHITECTURE when the facts have it; else the OS's width. */
	arch = w->facts->cpu != NULL ? w->facts->cpu : w->facts->is_64bit ? "x64" : "x86";
	if (!ap_package_supports_arch(pkg, AP_OS_WINDOWS, arch)) {
		snprintf(ev, sizeof(ev), "the target is %s; the package's windows payload does not list it",
		         arch);
		return add(w, AP_ERR_PACKAGE_NO_PAYLOAD, ev);
	}
	if ((r = plan_paths(w)) != AP_OK)
		return r;
	/* A killed run never cleaned up: its payload and partial uploads
	 * (named after the dead controller's pid) go first. */
	if (w->hj->resumed)
		cleanup_staging(w, 1);
	go = need_install(w, &r);
	if (!go || r != AP_OK)
		goto out;
	staged = 1;
	if ((r = copy_payload(w)) != AP_OK)
		goto out;
	if ((r = advance(w, AP_HOST_COPIED)) != AP_OK)
		goto out;
	/* The installer's own limit (the manifest's install_timeout), never
	 * shorter than a stage's; every later command has the stage's again. */
	ap_transport_winrm.set_timeout(w->winrm, ap_hostjob_install_timeout_ms(w->hj, AP_OS_WINDOWS));
	r = run_pkg_cmd(w, AP_PKG_CMD_INSTALL, &res);
	ap_transport_winrm.set_timeout(w->winrm, ap_hostjob_stage_timeout_ms(w->hj));
	if (r != AP_OK) {
		if (r == AP_ENOMEM)
			goto out;
		snprintf(ev, sizeof(ev), "the install command did not finish: %s",
		         ap_ctx_errmsg(w->ctx));
		ap_ctx_clear(w->ctx);
		r = add(w, r == AP_ETIMEOUT ? AP_ERR_INSTALL_TIMEOUT : AP_ERR_INSTALL_FAILED, ev);
		goto out;
	}
	if ((r = judge_installer(w, &res, &failed)) != AP_OK || failed)
		goto out;
	if ((r = advance(w, AP_HOST_INSTALLED)) != AP_OK)
		goto out;
	if (!verify_ok(w, ev, sizeof(ev))) {
		r = add(w, AP_ERR_VERIFY_FAILED, ev);
		goto out;
	}
	snprintf(note, sizeof(note), "installed %s %s", ap_package_name(pkg),
	         ap_package_version(pkg));
	/* Our agent registers from Linux only (agent/register.c): say so rather
	 * than let a Windows host pass for registered. */
	if (ap_enroll_wanted(w->hj->run->opts) &&
	    (r = add_sev(w, AP_ERR_REGISTRATION_FAILED, AP_SEV_WARNING,
	                 "installed and verified, but the Windows agent cannot register with the "
	                 "configuration server yet (registration exists for Linux agents only)")) != AP_OK)
		goto out;
	r = set_note(w, note);
out:
	/* lost to another worker: the staging files may be its own now */
	if (staged && !ap_hostjob_lost(w->hj))
		cleanup_staging(w, 0);
	ap_exec_result_clear(&res);
	return r;
}

static int
windows_host_run(struct ap_hostjob *hj, struct ap_ctx *ctx)
{
	struct whost w;
	int r;

	memset(&w, 0, sizeof(w));
	w.hj = hj;
	w.ctx = ctx;
	w.user = ap_hostjob_user(hj, "Administrator");
	hj->res->os = AP_OS_WINDOWS;

	if ((r = step_smb(&w)) != AP_OK)
		goto out;
	if ((r = step_winrm_facts(&w)) != AP_OK)
		goto out;
	if (ap_result_first_error(hj->res) != 0)
		goto out;
	if ((r = advance(&w, AP_HOST_CHECKED)) != AP_OK || !hj->run->install)
		goto out;
	r = step_install(&w);
out:
	if (w.winrm != NULL)
		ap_transport_winrm.close(w.winrm);
	if (w.smb != NULL)
		ap_transport_smb.close(w.smb);
	ap_windows_facts_free(w.facts);
	free(w.payload);
	free(w.part);
	free(w.share_payload);
	free(w.share_part);
	free(w.part_prefix);
	if (w.fatal_rc != 0)
		return ap_ctx_fail(ctx, w.fatal_rc, 0, "%s", w.fatal_msg);
	return r == AP_ENOMEM || r == AP_EINTERNAL ? r : AP_OK;
}

const struct ap_pipeline_ops ap_pipeline_windows = {
	.os = AP_OS_WINDOWS,
	.name = "windows",
	.run = windows_host_run,
};
