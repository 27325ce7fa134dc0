/*
 * pipeline.h - private to lib/: the table of host pipelines.
 *
 * A host pipeline does the whole work of one host of one OS family, for a
 * check (diagnose, change nothing) or an install (check, copy, install,
 * verify, register).  The engine (lib/engine/engine.c) owns the state
 * machine, the store and the workers; it picks a pipeline with
 * ap_pipeline_for() and calls it through this table only, so the engine
 * names no OS and a new OS family is one new file plus one line in
 * pipeline.c.  A pipeline talks back to the engine only through the
 * contract in lib/engine/hostjob.h (advance a state, take a handshake slot,
 * ask the credential gate), never through the engine's internals.
 *
 * Every component that runs hosts -- the CLI's check and install, resume,
 * the configuration server and `agentpush worker` -- goes through the
 * engine and therefore through this table.
 *
 * Ownership: the table is static and read-only; the ops borrow the hostjob
 * for the duration of one call.
 */
#ifndef AP_PIPELINE_H
#define AP_PIPELINE_H

#include "agentpush/ctx.h"
#include "agentpush/target.h"

struct ap_hostjob;

struct ap_pipeline_ops {
	enum ap_os os;
	const char *name;          /* "linux", "windows": for events and docs */
	/*
	 * Diagnoses (and, for an install run, installs on) one host, adding
	 * its findings to hj->res and moving its state with
	 * ap_hostjob_advance().  Returns AP_OK when the pipeline ran to a
	 * verdict, whatever the verdict; a negative code only for a local
	 * failure (out of memory, the store refused a record), with the
	 * reason on ctx.
	 */
	int (*run)(struct ap_hostjob *hj, struct ap_ctx *ctx);
};

/* The pipeline for os (AP_OS_LINUX or AP_OS_WINDOWS), or NULL. */
const struct ap_pipeline_ops *ap_pipeline_for(enum ap_os os);

/* The pipelines themselves (linux_host.c, windows_host.c). */
extern const struct ap_pipeline_ops ap_pipeline_linux;
extern const struct ap_pipeline_ops ap_pipeline_windows;

#endif
