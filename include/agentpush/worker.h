/*
 * worker.h - `agentpush worker`: one of any number of processes, on any
 * machines, that share one job store and split its jobs' hosts.
 *
 * A worker claims non-terminal targets of RUNNING jobs from the store under
 * a lease (store.h, "Workers"), runs them through the same engine as
 * `check`, `install` and `resume` (ap_run_resume() restricted to the
 * claimed targets), renews the leases while it works and gives them up
 * when done.  Jobs reach the store from `check`/`install --submit`, or from
 * `agentpush serve`; nothing about a job lives only in a worker's memory, so
 * a worker killed at any moment loses nothing: once its leases expire,
 * another worker claims its hosts and walks them again from PLANNED (a
 * fresh probe, the staging folder cleaned, no second install of a version
 * already there).
 *
 * Safety across workers:
 *   - fencing: the worker's store handle carries its owner string, so a
 *     worker that lost a host's lease (paused past it, cut from the
 *     database) can record nothing more for it and abandons it;
 *   - the credential gate is shared through the store: a credential one
 *     host refused is offered by no worker to any other host of the job;
 *   - on the host, the installer runs under a lock and only when the
 *     version is not already there (lib/pipeline/linux_host.c).
 *
 * A worker that cannot reach the database stops claiming, logs why, and
 * tries again with capped exponential backoff; it holds nothing past its
 * leases meanwhile (they simply expire).
 *
 * Ownership: the options and everything they point to are borrowed for the
 * call; the store handle is the caller's, and the worker sets its owner
 * (ap_store_set_owner) for the duration of the call.
 */
#ifndef AGENTPUSH_WORKER_H
#define AGENTPUSH_WORKER_H

#include <stdint.h>

#include "agentpush/ctx.h"
#include "agentpush/run.h"
#include "agentpush/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AP_WORKER_DEFAULT_LEASE_MS 30000
#define AP_WORKER_DEFAULT_POLL_MS 1000

/* One line of what the worker does (claims, outcomes, database trouble),
 * for the program to print or log.  Called from the worker's threads. */
typedef void (*ap_worker_log_fn)(void *ud, const char *line);

struct ap_worker_opts {
	const char *name;        /* shown in events and owner strings; NULL:
	                          * the host name */
	int parallel;            /* hosts at once; 0: AP_DEFAULT_PARALLEL */
	int lease_ms;            /* 0: AP_WORKER_DEFAULT_LEASE_MS */
	int poll_ms;             /* idle wait between claims; 0: default */
	int once;                /* return once a claim finds nothing to do,
	                          * or 3 batches in a row moved no host (a
	                          * job this worker cannot run) (tests,
	                          * benchmarks, cron) */
	const int *stop;         /* once non-zero (read atomically): claim
	                          * nothing more, finish or give up what is
	                          * held, and return */
	/* What every job is run with: credentials (password, identity),
	 * known_hosts, handshake cap...  Copied per job; the job's own stored
	 * options (user, timeout, host key policy, account, server) are
	 * applied over the copy.  Its store, job_id, lease and target fields
	 * are the worker's to set. */
	const struct ap_run_opts *base;
	const char *state_dir;   /* the configuration server's state folder:
	                          * for jobs whose agents register (install
	                          * --server), the passphrase and the pin come
	                          * from there (ap_server_enroll_load); NULL:
	                          * such a job's hosts are not started (they
	                          * would install agents that cannot register)
	                          * and the worker says so */
	const char *vault_key;   /* the vault's key file, for jobs whose
	                          * targets name vault accounts (NULL: such
	                          * jobs are left to a worker that has it) */
	const char *vault_passfile; /* a passphrase vault's passphrase file */
	ap_worker_log_fn log;    /* may be NULL */
	void *log_ud;
};

/* What a worker did, for its exit line and the benchmark. */
struct ap_worker_stats {
	unsigned long claimed;   /* targets claimed */
	unsigned long done;      /* ended DONE by this worker */
	unsigned long failed;    /* ended FAILED or SKIPPED by this worker */
	unsigned long lost;      /* abandoned: the lease passed to another */
	unsigned long db_errors; /* claims or runs the database failed */
	uint64_t statements;     /* statements sent to the store, and */
	uint64_t round_trips;    /* the waits for its answers (the whole
	                          * handle's, since it was opened) */
};

/*
 * Runs the worker on st until opts->stop, or (opts->once) until a claim
 * finds nothing or 3 batches in a row moved no host.  stats (may be NULL) receives the counts.  Returns AP_OK,
 * or a failure that retrying cannot help (out of memory, a package that
 * cannot be opened is NOT one: that host fails and the worker goes on).
 */
int ap_worker_run(struct ap_store *st, const struct ap_worker_opts *opts,
                  struct ap_worker_stats *stats, struct ap_ctx *ctx);

/* The owner string a worker named name would use in this process: unique
 * per process incarnation ("name/pid/random"), into buf. */
void ap_worker_owner(const char *name, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
