/*
 * run.h - one run of `check` or `install` over a set of targets.
 *
 * ap_run_check() diagnoses every target and changes nothing on any of them;
 * ap_run_install() checks, copies, installs and verifies.  Both fill one
 * result per target into the caller's report, in the order the targets were
 * given, and return AP_OK when the run itself worked (whatever the targets'
 * outcomes; see ap_report_exit_status()).  A failure of the run itself (bad
 * package, unreadable known_hosts, out of memory) returns a negative code
 * with its reason on ctx.
 *
 * No globals: everything a run needs is in struct ap_run_opts and the
 * objects passed in, so several runs may go on in one process.
 *
 * Ownership: all pointers in ap_run_opts are borrowed for the call.  The
 * password is never copied into a report, log or store.
 */
#ifndef AGENTPUSH_RUN_H
#define AGENTPUSH_RUN_H

#include <stddef.h>

#include "agentpush/ctx.h"
#include "agentpush/report.h"
#include "agentpush/target.h"
#include "agentpush/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ap_run_opts {
	enum ap_os os;                 /* --os: auto, linux or windows */
	const char *user;              /* --user, or NULL */
	const char *password;          /* from --password-file or the environment */
	const char *identity;          /* --identity */
	const char *known_hosts;       /* --known-hosts */
	enum ap_hostkey_policy hostkey_policy;
	int parallel;                  /* --parallel; 0: default */
	int timeout_s;                 /* --timeout per stage; 0: default */
	const char *package_path;      /* install: --package */
	const char *db_path;           /* --db: the job store */
};

/* Default number of hosts in flight when --parallel is not given. */
#define AP_DEFAULT_PARALLEL 32
/* Default per-stage timeout in seconds. */
#define AP_DEFAULT_TIMEOUT_S 30

int ap_run_check(const struct ap_run_opts *opts, const struct ap_target *targets,
                 size_t n_targets, struct ap_report *report, struct ap_ctx *ctx);
int ap_run_install(const struct ap_run_opts *opts,
                   const struct ap_target *targets, size_t n_targets,
                   struct ap_report *report, struct ap_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_RUN_H */
