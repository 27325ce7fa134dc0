/*
 * check_int.h - private to lib/check/: what one run shares with the per-host
 * pipelines it starts.
 *
 * run.c owns the worker pool and hands each target to the pipeline of its
 * platform (linux_host.c now; windows_host.c with the Windows work).  A
 * pipeline writes only into the result it was given, so workers never touch
 * shared state except through the credential gate, which locks.
 */
#ifndef AP_CHECK_INT_H
#define AP_CHECK_INT_H

#include "agentpush/ctx.h"
#include "agentpush/report.h"
#include "agentpush/run.h"
#include "agentpush/target.h"
#include "credgate.h"

struct ap_package;
struct ap_linux_matrix;

struct ap_run {
	const struct ap_run_opts *opts;
	struct ap_credgate *gate;
	struct ap_package *pkg;   /* install only; NULL for check */
	int install;              /* 0: check (change nothing), 1: install */
	struct ap_linux_matrix *matrix; /* support matrix, parsed once per run */
};

/*
 * Diagnoses (and, for install, installs on) one Linux target, adding its
 * findings to res.  Returns AP_OK when the pipeline ran to a verdict, whatever
 * the verdict; a negative code only for a local failure (out of memory),
 * with the reason on ctx.
 */
int ap_linux_host_run(const struct ap_run *run, const struct ap_target *t,
                      struct ap_result *res, struct ap_ctx *ctx);

#endif
