/*
 * fix.h - `agentpush fix`: the remedies agentpush can apply itself to what a
 * check found, with consent, recorded in the store and undoable.
 *
 * Three steps, each a call, so the caller (the CLI) can show and ask in
 * between:
 *
 *   ap_fix_plan()   from one host's check result, the remedies for its
 *                   findings, from a per-OS table keyed by ErrorID
 *                   (lib/fix/linux_fix.c, windows_fix.c): each with the
 *                   exact script that will run, why (ErrorID and evidence),
 *                   whether it changes privileges, and its undo.  Nothing
 *                   is sent anywhere.
 *   ap_fix_apply()  runs the remedies that may run on one host -- Linux:
 *                   as root over one SSH connection; Windows: PowerShell
 *                   over WinRM, as the check's account or as another
 *                   administrator account (below) -- and records each one
 *                   tried as an event "fix" of the check job's target
 *                   (store.h): a JSON object with the commands, their exit
 *                   status and output, and the undo commands.
 *   ap_fix_undo_*() reads those events back and runs the undo scripts
 *                   (events "undo").
 *
 * Windows: each remedy goes over the channel the finding leaves working,
 * decided when it is planned (windows_fix.c):
 *   95105 File and Printer Sharing blocked: WinRM, as the check's account;
 *   95517 remote UAC filters the account, 95519 the account is disabled:
 *         the check's account cannot do it; WinRM as another administrator
 *         account (the caller's "admin", e.g. the vault account of the
 *         built-in Administrator), when one is given and is not the same
 *         login;
 *   95103 WinRM blocked: no channel of ours.
 * A remedy without a channel is printed as a PowerShell script for an
 * administrator to run on the host, with a one-line reason (advice).
 *
 * What is never applied, only printed: anything that needs a restart,
 * deletes user data or touches GRUB or fstab; a privilege change unless the
 * caller allows it; a Windows remedy no channel reaches.
 *
 * A remedy that fails leaves the host as it was: the sshd_config remedy
 * keeps a copy first and, on any failure, writes it back byte for byte and
 * does not reload sshd; the firewall remedy disables again the rules of the
 * group it found disabled; net user and the registry value change in one
 * step or not at all.
 *
 * The library never prints.  Ownership: structs filled here own their
 * strings; free them with the matching *_clear() function.  Targets and
 * results passed in are borrowed for the call.
 */
#ifndef AGENTPUSH_FIX_H
#define AGENTPUSH_FIX_H

#include <stddef.h>
#include <stdint.h>

#include "agentpush/ctx.h"
#include "agentpush/report.h"
#include "agentpush/run.h"
#include "agentpush/target.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ap_store;

/* One remedy for one finding of one host. */
struct ap_fix_remedy {
	int id;                 /* the ErrorID it answers */
	char *name;             /* stable short name: "sftp-subsystem", ... */
	char *evidence;         /* the finding's evidence: why */
	char *shell;            /* "sh" (run as root through sh -s) or "powershell" */
	char *commands;         /* the exact script; NULL for advice only */
	char *undo;             /* the script that undoes it; NULL: no undo */
	char *advice;           /* one line: why it is not applied remotely,
	                         * or NULL when it can be */
	int privilege;          /* 1: changes who may do what (sudoers...) */
	int remote;             /* 1: ap_fix_apply() can run it on the host */
	char *setting;          /* the per-host inventory variable it sets
	                         * when it succeeds (agentpush_staging_dir),
	                         * or NULL; its value comes from the host */
	int as_admin;           /* Windows: 1 runs as the admin account given
	                         * to ap_fix_plan(), not the check's account */
};

/* The remedies of one host. */
struct ap_fix_host {
	const struct ap_target *target; /* borrowed */
	int64_t target_id;      /* its row in the check job, 0 when none */
	enum ap_os os;
	struct ap_fix_remedy *remedies;
	size_t n;
};

/*
 * Plans the remedies of one host from its check result res (t its target,
 * os the OS res reports, opts the connection settings the login name comes
 * from as for a check (vault account, target, --user; may be NULL), admin
 * another administrator account for the Windows remedies the check's own
 * account cannot apply (95517, 95519; NULL: none, they are printed), tag a
 * short word unique to this fix run that names the copies it keeps on the
 * host, [A-Za-z0-9._-] only).  Only findings of severity error are
 * considered; with n_only > 0, only those whose ErrorID is in only.  A
 * finding no remedy answers gets an advice-only entry naming the catalog's
 * remediation.  *out is zeroed first; AP_OK even when nothing is planned.
 */
int ap_fix_plan(const struct ap_run_opts *opts, const struct ap_run_account *admin,
                const struct ap_target *t, enum ap_os os, const struct ap_result *res,
                const char *tag, const int *only, size_t n_only, struct ap_fix_host *out,
                struct ap_ctx *ctx);
void ap_fix_host_clear(struct ap_fix_host *h);

/* Whether remedy r would be run by ap_fix_apply() (remote, and not a
 * privilege change unless allow_privilege). */
int ap_fix_remedy_runs(const struct ap_fix_remedy *r, int allow_privilege);

/* What happened to one remedy. */
struct ap_fix_outcome {
	int tried;              /* 1: its script was started on the host */
	int ok;                 /* 1: it exited 0 */
	int exit_status;        /* its exit status; -1 unknown */
	char *output;           /* stdout then stderr, as the host wrote them */
	char *error;            /* one line when it could not run or failed */
	char *setting_value;    /* the value of remedy->setting, when set */
};
void ap_fix_outcome_clear(struct ap_fix_outcome *o);

/*
 * Runs, in order, every remedy of h that ap_fix_remedy_runs() allows.
 * Linux: over one SSH connection to h->target with opts' connection
 * settings (user, password or vault account, identity, known_hosts, host
 * key policy, timeout), as root (sudo -n, or sudo -S with the password on
 * stdin, for another account).  Windows: each script as an -EncodedCommand
 * PowerShell over WinRM (opts' --ca-file, --winrm-auth, ...), one
 * connection per account: the check's, and admin's (the one given to
 * ap_fix_plan()) for the remedies marked as_admin; a connection that
 * cannot be opened fails those remedies (tried, exit -1, the reason in
 * error) and nothing of them ran.  out has h->n entries, one per remedy
 * (untried ones stay zero).  With st set, each remedy that ran is
 * recorded as an event "fix" of (job_id, h->target_id) (Windows: with
 * "via":"winrm" and, as admin, "account": admin's name; never a
 * password).  AP_OK when the host was reached, whatever the remedies did;
 * AP_EREMOTE with the reason on ctx when it was not (Linux; then nothing
 * ran); AP_ENOMEM or a store error.
 */
int ap_fix_apply(const struct ap_run_opts *opts, const struct ap_run_account *admin,
                 struct ap_fix_host *h, int allow_privilege, struct ap_store *st,
                 int64_t job_id, struct ap_fix_outcome *out, struct ap_ctx *ctx);

/* A remedy recorded by ap_fix_apply() that can still be undone. */
struct ap_fix_undo {
	int64_t event_id;       /* the "fix" event */
	int64_t target_id;
	int id;                 /* ErrorID */
	char *name;
	char *undo;             /* the script */
	char *shell;            /* "sh" or "powershell" (over WinRM) */
	char *account;          /* Windows: the admin account the fix ran as,
	                         * which the undo needs too; NULL: the check's */
};
void ap_fix_undo_free(struct ap_fix_undo *u, size_t n);

/*
 * The remedies of job_id's targets that ran successfully, have an undo
 * script and were not undone yet (no successful "undo" event names them),
 * newest first (undone in the reverse order they were made).
 */
int ap_fix_undo_list(struct ap_store *st, int64_t job_id, struct ap_fix_undo **out,
                     size_t *n, struct ap_ctx *ctx);
/*
 * Runs the undo scripts u[0..n) (all of target t) as ap_fix_apply() runs
 * remedies (one connection per account), recording each as an event
 * "undo" of (job_id, target_id) naming the fix event.  An undo whose
 * account is set runs as admin, which must be that account (same name);
 * else it fails without running (error: the account it needs).  out has n
 * entries.  Return as ap_fix_apply().
 */
int ap_fix_undo_run(const struct ap_run_opts *opts, const struct ap_run_account *admin,
                    const struct ap_target *t, const struct ap_fix_undo *u, size_t n,
                    struct ap_store *st, int64_t job_id, struct ap_fix_outcome *out,
                    struct ap_ctx *ctx);

/* A per-host setting a fix recorded, found for a later run. */
struct ap_fix_setting {
	size_t index;           /* the target it was applied to */
	int64_t job_id;         /* the check job whose fix event holds it */
	const char *key;        /* borrowed: the target's new variable */
	const char *value;
};

/*
 * Gives each of targets[0..n) that does not set the variable itself the
 * per-host setting (agentpush_staging_dir) of the newest successful fix
 * not undone since, for the same host and port, from the fix events of
 * st's check jobs: so a later check or install uses the staging folder a
 * fix chose.  The variable is added to the target (its vars grow).
 * *found (malloc'd, *n_found entries; may be NULL when none) says which
 * targets got what; its strings point into the targets.  Cost: one read
 * of the events of each check job.
 */
int ap_fix_settings_apply(struct ap_store *st, struct ap_target *targets, size_t n,
                          struct ap_fix_setting **found, size_t *n_found,
                          struct ap_ctx *ctx);

/*
 * Copies t into *out (zeroed first) with the inventory variable key set to
 * value (replaced if t has it): the target a new check of a fixed host
 * runs with.  Free with ap_target_clear().
 */
int ap_fix_target_with(const struct ap_target *t, const char *key, const char *value,
                       struct ap_target *out, struct ap_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_FIX_H */
