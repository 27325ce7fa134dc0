/*
 * windows_host.c - the per-host pipeline for a Windows target (hostjob.h).
 *
 * Two connections, in the order the product's push meets the conditions:
 *
 *   gate -> SMB (445: File and Printer Sharing, the logon, ADMIN$)
 *        -> WinRM (5986: remote management; one PowerShell for the facts)
 *        -> rules                                  check stops here
 *
 * The SMB logon is the one that tells the account's state (wrong password,
 * disabled, locked out, no logon server, broken trust: libsmbclient reports
 * the NTSTATUS), so it goes first and alone through the credential gate.
 * WinRM then logs on with a credential a server has just accepted.
 *
 * Installing on Windows (copy over SMB, run over WinRM, map the exit code
 * and the log to the VSS entries with ap_windows_installer_result()) is not
 * wired into this pipeline yet: engine.c refuses an install job that holds a
 * Windows target, up front and with a clear message.
 *
 * Port: a Windows target's port (host:port, ansible_port) is the WinRM
 * port, as in Ansible inventories; SMB is always 445.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/catalog.h"
#include "agentpush/transport.h"
#include "agentpush/windows.h"
#include "../engine/hostjob.h"

#define WINRM_HTTPS_PORT 5986
#define WINRM_HTTP_PORT 5985

struct whost {
	struct ap_hostjob *hj;
	struct ap_ctx *ctx;
	const char *user;
	struct ap_conn *smb;
	struct ap_conn *winrm;
	int fatal_rc;
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

static void
conn_opts(const struct whost *w, struct ap_conn_opts *co)
{
	const struct ap_run_opts *o = w->hj->run->opts;
	int timeout_ms = (o->timeout_s > 0 ? o->timeout_s : AP_DEFAULT_TIMEOUT_S) * 1000;

	memset(co, 0, sizeof(*co));
	co->host = w->hj->t->host;
	co->user = w->user;
	co->password = o->password;
	co->connect_timeout_ms = timeout_ms;
	co->io_timeout_ms = timeout_ms;
	co->domain = ap_hostjob_var(w->hj, "agentpush_domain");
	co->ca_file = o->ca_file;
	co->winrm_allow_http = o->winrm_insecure_http;
	co->winrm_auth = o->winrm_auth;
}

/* Whether an SMB logon failure says the credential itself was refused. */
static int
credential_refused(int id)
{
	return id == AP_ERR_WINDOWS_BAD_CREDENTIALS ||
	       id == AP_ERR_WINDOWS_ACCOUNT_DISABLED ||
	       id == AP_ERR_WINDOWS_ACCOUNT_LOCKED;
}

static int
step_smb(struct whost *w)
{
	struct ap_hostjob *hj = w->hj;
	struct ap_conn_opts co;
	char key[512], by[256], ev[600];
	int r, id;

	snprintf(key, sizeof(key), "windows\n%s\n%s", w->user,
	         hj->run->opts->password != NULL ? "password" : "");
	if (ap_credgate_acquire(hj->run->gate, key, hj->t->host, by, sizeof(by))
	    == AP_CREDGATE_BLOCKED) {
		snprintf(ev, sizeof(ev),
		         "the credential for %s was rejected by %s earlier in this run; not offered again",
		         w->user, by);
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
	ap_credgate_release(hj->run->gate, key, hj->t->host,
	                    r == AP_OK || id == AP_ERR_WINDOWS_NO_ADMIN_RIGHTS ||
	                    id == AP_ERR_WINDOWS_SHARE_MISSING
	                        ? AP_CREDGATE_ACCEPTED
	                        : credential_refused(id) ? AP_CREDGATE_REJECTED
	                                                 : AP_CREDGATE_UNKNOWN);
	if (r == AP_ENOMEM)
		return r;
	if (r != AP_OK)
		return add_from_ctx(w, AP_ERR_WINDOWS_SHARING_BLOCKED);
	if ((r = ap_hostjob_advance(hj, AP_HOST_CONNECTED, NULL, w->ctx)) != AP_OK) {
		w->fatal_rc = r;
		return r;
	}
	if (ap_transport_smb.probe_transfer != NULL &&
	    (r = ap_transport_smb.probe_transfer(w->smb, w->ctx)) != AP_OK)
		return r == AP_ENOMEM ? r : add_from_ctx(w, AP_ERR_WINDOWS_NO_ADMIN_RIGHTS);
	return AP_OK;
}

static int
step_winrm_facts(struct whost *w)
{
	const struct ap_run_opts *o = w->hj->run->opts;
	struct ap_windows_facts *facts = NULL;
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
	r = ap_windows_facts_parse(res.out != NULL ? res.out : "", res.out_len, &facts, w->ctx);
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
	r = ap_windows_rules_apply(facts, NULL, w->hj->res, w->ctx);
out:
	ap_windows_facts_free(facts);
	ap_exec_result_clear(&res);
	free(cmd);
	return r;
}

static int
has_error(const struct ap_result *r)
{
	size_t i;

	for (i = 0; i < r->n_findings; i++)
		if (r->findings[i].severity == AP_SEV_ERROR)
			return 1;
	return 0;
}

int
ap_windows_host_run(struct ap_hostjob *hj, struct ap_ctx *ctx)
{
	struct whost w;
	int r;

	memset(&w, 0, sizeof(w));
	w.hj = hj;
	w.ctx = ctx;
	w.user = hj->t->user != NULL ? hj->t->user
	       : hj->run->opts->user != NULL ? hj->run->opts->user : "Administrator";
	hj->res->os = AP_OS_WINDOWS;

	if ((r = step_smb(&w)) != AP_OK)
		goto out;
	if ((r = step_winrm_facts(&w)) != AP_OK)
		goto out;
	if (!has_error(hj->res) &&
	    (r = ap_hostjob_advance(hj, AP_HOST_CHECKED, NULL, ctx)) != AP_OK)
		w.fatal_rc = r;
out:
	if (w.winrm != NULL)
		ap_transport_winrm.close(w.winrm);
	if (w.smb != NULL)
		ap_transport_smb.close(w.smb);
	if (w.fatal_rc != 0)
		return w.fatal_rc;
	return r == AP_ENOMEM || r == AP_EINTERNAL ? r : AP_OK;
}
