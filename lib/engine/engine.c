/*
 * engine.c - runs check, install or resume over many targets (run.h).
 *
 * Workers.  A fixed pool of threads, no more than --parallel and no more
 * than there are hosts to do, takes hosts in order from a shared index.
 * Nothing is forked per host.  Each host's result was created up front on
 * the calling thread, so the report is never modified concurrently: a
 * worker writes only into its own host's result.  A slow or dead host holds
 * only its own worker, for at most the per-stage timeouts.  An `agentpush
 * worker`'s share refills (run.h refill): a thread out of hosts asks for
 * more, and the new ones come in a block of their own (struct refill), so
 * the hosts other threads are walking never move.
 *
 * Per-host state machine (states in store.h; an arrow is recorded durably
 * before the work that follows it when a later run could not undo or find
 * out that work on its own, see below):
 *
 *   PLANNED --login--> CONNECTED --probe+rules ok--> CHECKED
 *                                                       |
 *            check job: CHECKED --> DONE                |
 *            install:   CHECKED --upload+sha256+rename--> COPIED
 *                       COPIED --installer exit ok--> INSTALLED
 *                       INSTALLED --verify passed--> DONE
 *
 *   any non-terminal --error finding--> FAILED
 *   PLANNED --credential already rejected--> SKIPPED
 *
 * Each record is committed with an fsync before the worker goes on (the
 * store may put records of several workers made at the same moment into
 * one transaction: group commit, docs/store.md), the largest part of the
 * controller's CPU per host after SSH itself (bench/), so no more are made
 * than the rule above needs.  The installer is such work: COPIED is
 * recorded before it runs, so a later run verifies before it installs
 * again (invariant 4).  The rest goes with the next record (deferrable()),
 * since resume walks every non-terminal host again from PLANNED anyway:
 * the probe and the verify only read, and what an upload cut short leaves
 * (a .part, a payload in the staging folder) a later run removes first
 * whenever an earlier one may have run there: every host of a resume, and
 * a worker's host that a worker claimed before (lease_gen > 1; hj->resumed).
 * Recording those arrows sooner would buy only a finer "where was it" in
 * `show` after a crash.  So an install records CONNECTED, CHECKED and
 * COPIED together (after the upload, before the installer), and INSTALLED
 * with the terminal state; a check job records all its arrows with its
 * terminal state.  An attempt is counted in the same transaction as its
 * first record, and the findings go with the terminal state.  So a check
 * costs one commit per host, an install two.  (The progress display still
 * sees every state as it happens, and the store's events still list every
 * arrow.)
 *
 * Invariants:
 *   1. A host's recorded state only moves forward; FAILED, SKIPPED and DONE
 *      are terminal.
 *   2. DONE for an install means the verify command passed on this run.
 *   3. The result (findings) is stored before the terminal state, so a host
 *      whose terminal state is recorded always has its findings.
 *   4. On resume, a host not in a terminal state is walked again from
 *      PLANNED: only a fresh probe says what is true on the host now.  The
 *      pipeline's version check then finds an install that completed before
 *      the crash and verifies it instead of installing again.
 *
 * Retries.  A transient failure (connect timed out, handshake cut, the
 * controller out of descriptors) before anything was copied is retried
 * with capped exponential backoff and full jitter, max_attempts in all.
 * Authentication failures never are: they go through the credential gate
 * instead (credgate.h).
 *
 * Handshake cap.  At most hs_max hosts are connecting and logging in at
 * once, so a fleet of thousands does not open thousands of half-done TCP and
 * SSH handshakes at the same instant (servers' MaxStartups, SYN backlogs).
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "agentpush/linux.h"
#include "agentpush/package.h"
#include "hostjob.h"
#include "../pipeline/pipeline.h"

/* Worker stacks: libssh and the rules need little; keep RSS per host small. */
#define WORKER_STACK_SIZE (256 * 1024)
#define DEFAULT_MAX_ATTEMPTS 3
#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 4000
/* Descriptors a host in flight may hold at once (an SSH or SMB socket, the
 * WinRM connections, the payload being sent, known_hosts being read), and
 * those the process keeps besides its hosts (stdio, the store's files,
 * libsmbclient's). */
#define FDS_PER_HOST 4
#define FDS_RESERVED 32
/* A worker's refill (run.h) asks for one host per this many threads at a
 * time (at least one): fewer claims and reads than one per host, and a
 * claimed host waits little for a free thread. */
#define REFILL_PER_THREADS 2
#define REFILL_MAX 32

/* Targets a refill added to a run, kept until the run ends: threads walk
 * their hostjobs, which point into tg and report. */
struct refill {
	struct refill *next;
	struct ap_job_target *tg;
	size_t n_tg;
	struct ap_hostjob *jobs;
	struct ap_report *report;
};

struct pool {
	struct ap_run *run;
	struct ap_hostjob *jobs;
	size_t n;
	size_t next;          /* next job to take; under lock */
	int failed_rc;        /* first local failure; under lock */
	char failed_msg[512];
	pthread_mutex_t lock;
	/* run.h refill; under lock */
	size_t refill_max;    /* ids asked for at a time */
	int refill_over;      /* refill said there are no more */
	struct refill *refills;
};

/* ---- what pipelines call ------------------------------------------------ */

static void
notify(struct ap_hostjob *hj, enum ap_host_state state, int error_id)
{
	struct ap_run_opts *o = hj->run->opts;
	struct ap_run_event ev;

	if (o->progress == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.index = hj->index;
	ev.target = hj->t;
	ev.state = (int)state;
	ev.error_id = error_id;
	ev.attempt = hj->attempt;
	pthread_mutex_lock(&hj->run->lock);
	o->progress(o->progress_ud, &ev);
	pthread_mutex_unlock(&hj->run->lock);
}

/*
 * Records the moves through states[0..n) with the attempts not counted yet
 * and, when res is not NULL, the findings first: one durable transaction.
 */
static int
record(struct ap_hostjob *hj, const struct ap_result *res,
       const enum ap_host_state *states, size_t n, const char *note,
       struct ap_ctx *ctx)
{
	struct ap_store *st = hj->run->opts->store;
	int r;

	if (st == NULL || hj->target_id == 0)
		return AP_OK;
	r = ap_store_target_record(st, hj->target_id, hj->attempts_unrecorded,
	                           res, states, n, note, ctx);
	if (r == AP_OK)
		hj->attempts_unrecorded = 0;
	else if (r == AP_ECONFLICT && hj->run->opts->lease_owner != NULL)
		hj->lost = 1;
	return r;
}

int
ap_hostjob_lost(const struct ap_hostjob *hj)
{
	return hj->lost;
}

/*
 * Whether reaching state may wait for the host's next record (file
 * comment): what is done between it and the next recorded state a later
 * run finds out or undoes on its own.  CONNECTED and CHECKED (the probe
 * only reads; an upload cut short is removed by the next run, which knows
 * an earlier one may have run: hj->resumed) and INSTALLED (the verify only
 * reads).  COPIED is not: the installer changes the host, and a host left
 * COPIED is verified before anything is installed again (invariant 4).
 */
static int
deferrable(const struct ap_hostjob *hj, enum ap_host_state state)
{
	if (!hj->run->install)
		return state <= AP_HOST_CHECKED;
	return state != AP_HOST_COPIED;
}

int
ap_hostjob_advance(struct ap_hostjob *hj, enum ap_host_state state,
                   const char *note, struct ap_ctx *ctx)
{
	enum ap_host_state moves[AP_HOST_STATE_COUNT_], d;
	size_t n_moves = 0;
	int r;

	if (state > hj->reached)
		hj->reached = state;
	if (ap_host_state_terminal(hj->state) || state <= hj->state ||
	    state <= hj->deferred)
		return AP_OK;
	if (note == NULL && deferrable(hj, state)) {
		/* recorded with the next state that is not (file comment) */
		hj->deferred = state;
		notify(hj, state, 0);
		return AP_OK;
	}
	for (d = hj->state + 1; d <= hj->deferred; d++)
		moves[n_moves++] = d;
	moves[n_moves++] = state;
	if ((r = record(hj, NULL, moves, n_moves, note, ctx)) != AP_OK)
		return r;
	hj->state = state;
	hj->deferred = AP_HOST_PLANNED;
	notify(hj, state, 0);
	return AP_OK;
}

void
ap_hostjob_handshake_begin(struct ap_hostjob *hj)
{
	struct ap_run *run = hj->run;

	if (hj->handshake_held)
		return;
	pthread_mutex_lock(&run->hs_lock);
	while (run->hs_busy >= run->hs_max)
		pthread_cond_wait(&run->hs_cond, &run->hs_lock);
	run->hs_busy++;
	pthread_mutex_unlock(&run->hs_lock);
	hj->handshake_held = 1;
}

void
ap_hostjob_handshake_end(struct ap_hostjob *hj)
{
	struct ap_run *run = hj->run;

	if (!hj->handshake_held)
		return;
	pthread_mutex_lock(&run->hs_lock);
	run->hs_busy--;
	pthread_cond_signal(&run->hs_cond);
	pthread_mutex_unlock(&run->hs_lock);
	hj->handshake_held = 0;
}

const char *
ap_hostjob_var(const struct ap_hostjob *hj, const char *key)
{
	size_t i;

	for (i = 0; i < hj->t->n_vars; i++)
		if (strcmp(hj->t->vars[i].key, key) == 0)
			return hj->t->vars[i].value;
	return NULL;
}

const char *
ap_run_account_name(const struct ap_run_opts *opts, const struct ap_target *t)
{
	size_t i;

	for (i = 0; t != NULL && i < t->n_vars; i++)
		if (strcmp(t->vars[i].key, "agentpush_account") == 0)
			return t->vars[i].value;
	return opts->account;
}

const struct ap_run_account *
ap_run_account_for(const struct ap_run_opts *opts, const struct ap_target *t)
{
	const char *name = ap_run_account_name(opts, t);
	size_t i;

	for (i = 0; name != NULL && i < opts->n_accounts; i++)
		if (strcmp(opts->accounts[i].name, name) == 0)
			return &opts->accounts[i];
	return NULL;
}

const char *
ap_hostjob_user(const struct ap_hostjob *hj, const char *dflt)
{
	if (hj->account != NULL)
		return hj->account->user;
	if (hj->t->user != NULL)
		return hj->t->user;
	return hj->run->opts->user != NULL ? hj->run->opts->user : dflt;
}

const char *
ap_hostjob_password(const struct ap_hostjob *hj)
{
	return hj->account != NULL ? hj->account->password : hj->run->opts->password;
}

void
ap_hostjob_cred_key(const struct ap_hostjob *hj, const char *transport,
                    const char *user, const char *method, char *buf, size_t size)
{
	if (hj->account != NULL)
		snprintf(buf, size, "account\n%s", hj->account->name);
	else
		snprintf(buf, size, "%s\n%s\n%s", transport, user, method);
}

/*
 * The gate shared by the workers of a job (run.h lease_owner): once this
 * process's gate said GO, asks the store's, waiting while another worker
 * is trying the same untried credential.  Returns 0: go; 1: the credential
 * was refused on some worker's host (that host into by).  A store that
 * cannot be asked is not a refusal: the error goes on ctx and is returned
 * (the run stops as on a failed record, the host stays claimable and
 * nothing was offered).  A stop while waiting returns AP_ECANCELED.
 */
static int run_stopping(const struct ap_run_opts *opts);

static int
shared_gate_refuses(struct ap_hostjob *hj, const char *key, char *by, size_t size,
                    struct ap_ctx *ctx)
{
	const struct ap_run_opts *o = hj->run->opts;
	enum ap_store_cred_verdict v = AP_STORE_CRED_WAIT;
	struct timespec pause = { 0, 200 * 1000000L };
	int r;

	if (o->lease_owner == NULL || o->store == NULL || o->job_id == 0)
		return 0;
	for (;;) {
		r = ap_store_cred_acquire(o->store, o->job_id, key, hj->t->host,
		                          o->lease_owner, o->lease_ms > 0 ? o->lease_ms : 30000,
		                          &v, by, size, ctx);
		if (r != AP_OK) {
			char why[256];

			snprintf(why, sizeof(why), "%s", ap_ctx_errmsg(ctx));
			return ap_ctx_fail(ctx, r, 0, "asking the job store whether %s may be offered its credential: %s",
			                   hj->t->host, why);
		}
		if (v != AP_STORE_CRED_WAIT)
			return v == AP_STORE_CRED_BLOCKED;
		if (run_stopping(o))
			return ap_ctx_fail(ctx, AP_ECANCELED, 0, "stopped while another worker was trying the credential of %s",
			                   hj->t->host);
		nanosleep(&pause, NULL);
	}
}

int
ap_hostjob_cred_acquire(struct ap_hostjob *hj, const char *key, const char *user,
                        char *ev, size_t size, struct ap_ctx *ctx)
{
	const struct ap_run_account *a = hj->account;
	char by[256];
	int r;

	if (a != NULL && a->rejected_at != NULL) {
		snprintf(ev, size, "the password of account %s was refused by %s at %s (an earlier run); not offered again until it is changed (agentpush accounts passwd %s)",
		         a->name, a->rejected_by != NULL ? a->rejected_by : "?", a->rejected_at, a->name);
		return 1;
	}
	if (ap_credgate_acquire(hj->run->gate, key, hj->t->host, by, sizeof(by)) == AP_CREDGATE_GO) {
		if ((r = shared_gate_refuses(hj, key, by, sizeof(by), ctx)) == 0)
			return 0;
		ap_credgate_release(hj->run->gate, key, hj->t->host, AP_CREDGATE_UNKNOWN);
		if (r < 0)
			return r;
	}
	if (a != NULL)
		snprintf(ev, size, "the password of account %s was refused by %s earlier in this run; not offered again",
		         a->name, by);
	else
		snprintf(ev, size, "the credential for %s was rejected by %s earlier in this run; not offered again",
		         user, by);
	return 1;
}

void
ap_hostjob_cred_release(struct ap_hostjob *hj, const char *key,
                        enum ap_credgate_outcome outcome)
{
	struct ap_ctx *quiet = NULL;

	ap_credgate_release(hj->run->gate, key, hj->t->host, outcome);
	if (hj->run->opts->lease_owner != NULL && hj->run->opts->store != NULL &&
	    (quiet = ap_ctx_new()) != NULL) {
		/* best effort: an unreleased trial expires with lease_ms */
		(void)ap_store_cred_release(hj->run->opts->store, hj->run->opts->job_id,
		                            key, hj->t->host, hj->run->opts->lease_owner,
		                            outcome == AP_CREDGATE_ACCEPTED ? 0
		                            : outcome == AP_CREDGATE_REJECTED ? 1 : 2, quiet);
		ap_ctx_free(quiet);
		quiet = NULL;
	}
	if (outcome != AP_CREDGATE_REJECTED || hj->account == NULL ||
	    hj->run->opts->store == NULL || (quiet = ap_ctx_new()) == NULL)
		return;
	(void)ap_store_account_mark_rejected(hj->run->opts->store, hj->account->id,
	                                     hj->t->host, quiet);
	ap_ctx_free(quiet);
}

int
ap_hostjob_stage_timeout_ms(const struct ap_hostjob *hj)
{
	int s = hj->run->opts->timeout_s > 0 ? hj->run->opts->timeout_s
	                                     : AP_DEFAULT_TIMEOUT_S;

	return s * 1000; /* --timeout is at most 86400: no overflow */
}

int
ap_hostjob_install_timeout_ms(const struct ap_hostjob *hj, enum ap_os os)
{
	uint64_t s = hj->run->pkg != NULL ? ap_package_install_timeout_s(hj->run->pkg, os) : 0;
	int stage = ap_hostjob_stage_timeout_ms(hj);

	/* both at most 86400 s */
	return s * 1000 > (uint64_t)stage ? (int)(s * 1000) : stage;
}

/* ---- one host ------------------------------------------------------------ */

/*
 * The OS of a target: the inventory's (os=, ansible_connection=winrm), else
 * --os.  "auto" means Linux for now: telling the two apart needs a probe of
 * ports 22/445/5986, which would touch hosts a user only named.
 */
static enum ap_os
host_os(const struct ap_run_opts *opts, const struct ap_target *t)
{
	enum ap_os os = t->os != AP_OS_AUTO ? t->os : opts->os;

	return os == AP_OS_WINDOWS ? AP_OS_WINDOWS : AP_OS_LINUX;
}

/* The pipeline that works on t (host_os() always names one that exists). */
static const struct ap_pipeline_ops *
host_pipeline(const struct ap_run_opts *opts, const struct ap_target *t)
{
	return ap_pipeline_for(host_os(opts, t));
}

/* Whether the caller asked the run to stop starting hosts (opts->stop). */
static int
run_stopping(const struct ap_run_opts *opts)
{
	return opts->stop != NULL && __atomic_load_n(opts->stop, __ATOMIC_ACQUIRE) != 0;
}

/* Whether a failure is worth another attempt (see the file comment). */
static int
transient(const struct ap_hostjob *hj)
{
	int id = ap_result_first_error(hj->res);

	/* Once a payload was copied in this attempt, the host is not retried.
	 * The controller out of descriptors (800107) is the controller's own
	 * moment, not the host's: other hosts ending free some. */
	if (hj->reached >= AP_HOST_COPIED)
		return 0;
	return id == AP_ERR_CONNECT_TIMEOUT || id == AP_ERR_SSH_HANDSHAKE_FAILED ||
	       id == AP_ERR_CONTROLLER_OUT_OF_RESOURCES;
}

static void
backoff_sleep(int attempt, unsigned *seed)
{
	long ms = BACKOFF_BASE_MS;
	struct timespec ts;
	int i;

	for (i = 1; i < attempt && ms < BACKOFF_CAP_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_CAP_MS)
		ms = BACKOFF_CAP_MS;
	/* Full jitter in [ms/2, ms]: hosts that failed together retry apart. */
	ms = ms / 2 + (long)(rand_r(seed) % (unsigned)(ms / 2 + 1));
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/*
 * What becomes of a host whose record failed with r: a worker that lost
 * the host's lease abandons it (the new owner finishes it; this run's
 * result only says so) and goes on with its other hosts; any other
 * failure of the store stops the run.
 */
static int
host_record_failed(struct ap_hostjob *hj, int r, struct ap_ctx *ctx)
{
	if (r != AP_ECONFLICT || hj->run->opts->lease_owner == NULL)
		return r;
	struct ap_run_opts *o = hj->run->opts;
	struct ap_run_event ev;

	hj->lost = 1;
	ap_ctx_clear(ctx);
	ap_result_reset(hj->res);
	if (ap_result_set_note(hj->res, "abandoned: its lease passed to another worker") != AP_OK)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (o->progress != NULL) {
		memset(&ev, 0, sizeof(ev));
		ev.index = hj->index;
		ev.target = hj->t;
		ev.state = (int)hj->state;
		ev.attempt = hj->attempt;
		ev.abandoned = 1;
		pthread_mutex_lock(&hj->run->lock);
		o->progress(o->progress_ud, &ev);
		pthread_mutex_unlock(&hj->run->lock);
	}
	return AP_OK;
}

/* Runs one host to a terminal state, with retries, and records it. */
static int
run_host(struct ap_hostjob *hj, struct ap_ctx *ctx)
{
	const struct ap_run_opts *o = hj->run->opts;
	struct ap_store *st = o->store;
	enum ap_host_state final, d, moves[AP_HOST_STATE_COUNT_];
	size_t n_moves = 0;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)(hj->index * 2654435761u);
	int r, err;

	/* A stop (the server shutting down) starts no new host and records
	 * nothing: the host stays PLANNED and a resume takes it.  A cancel
	 * (durable, in the store) ends the host SKIPPED before it is touched. */
	if (run_stopping(hj->run->opts))
		return AP_OK;
	if (st != NULL && hj->run->opts->job_id != 0 && hj->target_id != 0) {
		if ((r = ap_store_job_cancelled(st, hj->run->opts->job_id, ctx)) < 0)
			return r;
		if (r == 1) {
			final = AP_HOST_SKIPPED;
			if (ap_result_set_note(hj->res, "cancelled") != AP_OK)
				return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			if ((r = record(hj, hj->res, &final, 1, "cancelled", ctx)) != AP_OK)
				return host_record_failed(hj, r, ctx);
			hj->state = final;
			notify(hj, final, 0);
			return AP_OK;
		}
	}
	/* A worker's lease may have lapsed while the host waited in the pool
	 * (a paused process, a late claim): then it is another's now. */
	if (o->lease_check != NULL && o->lease_owner != NULL && hj->target_id != 0) {
		if ((r = o->lease_check(o->lease_ud, hj->target_id, ctx)) < 0)
			return r;
		if (r == 0)
			return host_record_failed(hj, AP_ECONFLICT, ctx);
	}
	for (;;) {
		hj->attempt++;
		/* counted with this attempt's first record (file comment) */
		hj->attempts_unrecorded++;
		/* Every attempt starts from PLANNED, resumed hosts too (invariant 4). */
		hj->reached = AP_HOST_PLANNED;
		hj->deferred = AP_HOST_PLANNED;
		notify(hj, AP_HOST_PLANNED, 0);
		r = host_pipeline(hj->run->opts, hj->t)->run(hj, ctx);
		ap_hostjob_handshake_end(hj);
		if (r == AP_ECANCELED && run_stopping(hj->run->opts)) {
			/* Stopped at the shared credential gate, before the host
			 * was offered anything: left as a host not started. */
			ap_ctx_clear(ctx);
			ap_result_reset(hj->res);
			return AP_OK;
		}
		if (r != AP_OK)
			return hj->lost ? host_record_failed(hj, r, ctx) : r;
		if (hj->attempt >= hj->run->max_attempts || !transient(hj))
			break;
		if (st != NULL && hj->target_id != 0) {
			char detail[200];

			snprintf(detail, sizeof(detail), "attempt %d failed with %d; retrying",
			         hj->attempt, ap_result_first_error(hj->res));
			if ((r = ap_store_event(st, hj->run->opts->job_id, hj->target_id, "retry", detail, ctx)) != AP_OK)
				return host_record_failed(hj, r, ctx);
		}
		ap_result_reset(hj->res);
		backoff_sleep(hj->attempt, &seed);
	}
	err = ap_result_first_error(hj->res);
	if (err == AP_ERR_CREDENTIAL_BLOCKED && hj->state == AP_HOST_PLANNED &&
	    hj->deferred == AP_HOST_PLANNED)
		final = AP_HOST_SKIPPED;
	else if (err != 0)
		final = AP_HOST_FAILED;
	else
		final = AP_HOST_DONE;
	/* The states deferred to here (deferrable()), in order. */
	for (d = hj->state + 1; d <= hj->deferred; d++)
		moves[n_moves++] = d;
	moves[n_moves++] = final;
	/* Findings first, in the same transaction: a recorded terminal state
	 * always has them (invariant 3). */
	if ((r = record(hj, hj->res, moves, n_moves, NULL, ctx)) != AP_OK)
		return host_record_failed(hj, r, ctx);
	hj->state = final;
	notify(hj, final, err);
	return AP_OK;
}

/* Fills hj to walk the stored, non-terminal target tg again, into res
 * (reset here): how ap_run_resume() and a refill start a host. */
static void
hostjob_from_store(struct ap_run *run, struct ap_hostjob *hj,
                   const struct ap_job_target *tg, struct ap_result *res)
{
	const struct ap_run_opts *opts = run->opts;

	hj->run = run;
	hj->t = &tg->target;
	hj->account = ap_run_account_for(opts, &tg->target);
	hj->index = tg->index;
	hj->target_id = tg->id;
	hj->state = tg->state;
	hj->attempt = 0;
	/* A worker's claim of a host no run touched is a first run: never
	 * claimed before, and nothing recorded.  Another worker that claimed
	 * it may have died in its upload without a record (deferrable()). */
	hj->resumed = opts->only_targets == NULL || tg->state != AP_HOST_PLANNED ||
	              tg->attempts != 0 || tg->lease_gen > 1;
	hj->res = res;
	ap_result_reset(res);
}

/* The job's "claim" event for a worker's share of n hosts (more: a
 * refill's). */
static int
share_event(const struct ap_run_opts *opts, size_t n, int more, struct ap_ctx *ctx)
{
	char detail[300];

	snprintf(detail, sizeof(detail), "worker %s took %zu %shost%s",
	         opts->lease_owner != NULL ? opts->lease_owner : "?", n,
	         more ? "more " : "", n == 1 ? "" : "s");
	return ap_store_event(opts->store, opts->job_id, 0, "claim", detail, ctx);
}

static void
refills_free(struct refill *rf)
{
	struct refill *next = NULL;

	for (; rf != NULL; rf = next) {
		next = rf->next;
		ap_store_targets_free(rf->tg, rf->n_tg);
		free(rf->jobs);
		ap_report_free(rf->report);
		free(rf);
	}
}

/*
 * Called with p->lock held by a thread that found no host left: asks the
 * run's refill (run.h) for more of the job's targets, reads them from the
 * store and makes them the pool's hosts.  The hosts other threads walk stay
 * where they are (in an earlier block).  A failure to read them fails the
 * run as a failed record does; the caller gives their leases up.
 */
static void
pool_refill(struct pool *p, struct ap_ctx *ctx)
{
	struct ap_run_opts *o = p->run->opts;
	struct refill *rf = NULL;
	struct ap_result *res = NULL;
	int64_t ids[REFILL_MAX];
	size_t i, todo = 0;
	int got, r;

	if (o->refill == NULL || p->refill_over || run_stopping(o))
		return;
	if ((got = o->refill(o->refill_ud, ids, p->refill_max)) <= 0) {
		p->refill_over = 1;
		return;
	}
	if ((rf = calloc(1, sizeof(*rf))) == NULL || (rf->report = ap_report_new()) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto fail;
	}
	r = ap_store_job_targets_in(o->store, o->job_id, ids, (size_t)got, &rf->tg,
	                            &rf->n_tg, ctx);
	if (r != AP_OK)
		goto fail;
	if (rf->n_tg > 0 && (rf->jobs = calloc(rf->n_tg, sizeof(*rf->jobs))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto fail;
	}
	for (i = 0; i < rf->n_tg; i++) {
		if (ap_host_state_terminal(rf->tg[i].state))
			continue;
		if ((res = ap_report_add_target(rf->report, &rf->tg[i].target)) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto fail;
		}
		hostjob_from_store(p->run, &rf->jobs[todo++], &rf->tg[i], res);
	}
	if ((r = share_event(o, todo, 1, ctx)) != AP_OK)
		goto fail;
	rf->next = p->refills;
	p->refills = rf;
	p->jobs = rf->jobs;
	p->n = todo;
	p->next = 0;
	return;
fail:
	p->refill_over = 1;
	if (p->failed_rc == 0) {
		p->failed_rc = r;
		snprintf(p->failed_msg, sizeof(p->failed_msg), "claiming more hosts: %s",
		         ap_ctx_errmsg(ctx));
	}
	refills_free(rf);
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	struct ap_ctx *ctx = NULL;
	struct ap_hostjob *hj = NULL;
	int rc = 0;

	if ((ctx = ap_ctx_new()) == NULL) {
		pthread_mutex_lock(&p->lock);
		if (p->failed_rc == 0) {
			p->failed_rc = AP_ENOMEM;
			snprintf(p->failed_msg, sizeof(p->failed_msg), "out of memory");
		}
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (p->failed_rc == 0 && p->next >= p->n) {
			ap_ctx_clear(ctx);
			pool_refill(p, ctx);
		}
		if (p->failed_rc != 0 || p->next >= p->n) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		/* the address, not the index: a refill replaces p->jobs */
		hj = &p->jobs[p->next++];
		pthread_mutex_unlock(&p->lock);

		ap_ctx_clear(ctx);
		rc = run_host(hj, ctx);
		if (rc < 0) {
			pthread_mutex_lock(&p->lock);
			if (p->failed_rc == 0) {
				p->failed_rc = rc;
				snprintf(p->failed_msg, sizeof(p->failed_msg), "%s: %s",
				         hj->t->spec, ap_ctx_errmsg(ctx));
			}
			pthread_mutex_unlock(&p->lock);
		}
	}
	ap_ctx_free(ctx);
	return NULL;
}

/*
 * How many workers the descriptor limit (RLIMIT_NOFILE) leaves room for.
 * Past it, a socket(), the payload's open() or libssh's read of known_hosts
 * fails with EMFILE, and each of those would be reported as a fault of the
 * host (unreachable, unknown host key, copy failed): seen with `ulimit -n
 * 64` and --parallel 200 (tests/integration/chaos/chaos_fds.sh).  Fewer
 * workers only make the run slower.
 */
static size_t
fd_room(void)
{
	struct rlimit rl;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return (size_t)-1;
	room = rl.rlim_cur > FDS_RESERVED + FDS_PER_HOST
	       ? (rl.rlim_cur - FDS_RESERVED) / FDS_PER_HOST : 1;
	return room > (rlim_t)SIZE_MAX ? (size_t)-1 : (size_t)room;
}

/* Runs every job of the array through the pool: min(--parallel, hosts,
 * fd_room()) workers; with a refill (run.h), --parallel of them even for
 * fewer hosts, since more are to come. */
static int
run_pool(struct ap_run *run, struct ap_hostjob *jobs, size_t n, struct ap_ctx *ctx)
{
	struct pool p;
	pthread_t *threads = NULL;
	pthread_attr_t attr;
	size_t i = 0, n_threads = 0, started = 0;
	int parallel = run->opts->parallel > 0 ? run->opts->parallel
	                                       : AP_DEFAULT_PARALLEL;
	int r = AP_OK;

	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lock, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
	p.run = run;
	p.jobs = jobs;
	p.n = n;
	if (n == 0)
		goto out;
	n_threads = (size_t)parallel < n || run->opts->refill != NULL ? (size_t)parallel : n;
	if (n_threads > fd_room())
		n_threads = fd_room();
	p.refill_max = n_threads / REFILL_PER_THREADS;
	p.refill_max = p.refill_max < 1 ? 1 : p.refill_max > REFILL_MAX ? REFILL_MAX : p.refill_max;
	if ((threads = calloc(n_threads, sizeof(*threads))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (started = 0; started < n_threads; started++)
		if (pthread_create(&threads[started], &attr, worker, &p) != 0)
			break;
	if (started == 0) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "cannot start a worker thread");
		goto out;
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (p.failed_rc != 0)
		r = ap_ctx_fail(ctx, p.failed_rc, 0, "%s", p.failed_msg);
out:
	refills_free(p.refills);
	free(threads);
	pthread_attr_destroy(&attr);
	pthread_mutex_destroy(&p.lock);
	return r;
}

/* ---- runs ------------------------------------------------------------------ */

static int
run_init(struct ap_run *run, struct ap_run_opts *opts, int install,
         struct ap_ctx *ctx)
{
	int r;

	memset(run, 0, sizeof(*run));
	run->opts = opts;
	run->install = install;
	run->max_attempts = DEFAULT_MAX_ATTEMPTS;
	run->hs_max = opts->max_handshakes > 0 ? opts->max_handshakes
	                                       : AP_DEFAULT_MAX_HANDSHAKES;
	pthread_mutex_init(&run->hs_lock, NULL);
	pthread_cond_init(&run->hs_cond, NULL);
	pthread_mutex_init(&run->lock, NULL);
	if (install) {
		if (opts->package_path == NULL)
			return ap_ctx_fail(ctx, AP_EINVAL, 0,
			                   "install needs a package (--package PATH)");
		if ((r = ap_package_open(opts->package_path, &run->pkg, ctx)) != AP_OK)
			return r;
	}
	if ((r = ap_linux_matrix_builtin(&run->matrix, ctx)) != AP_OK)
		return r;
	if ((run->gate = ap_credgate_new()) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	/* The key is parsed once, not once per host.  A key that does not
	 * load is no failure here: each host then reports it as its own. */
	if (opts->identity != NULL) {
		struct ap_ctx *kctx = ap_ctx_new();

		if (kctx != NULL)
			(void)ap_ssh_identity_load(opts->identity, &run->ssh_key, kctx);
		ap_ctx_free(kctx);
	}
	return AP_OK;
}

static void
run_fini(struct ap_run *run)
{
	ap_ssh_identity_free(run->ssh_key);
	ap_credgate_free(run->gate);
	ap_linux_matrix_free(run->matrix);
	ap_package_free(run->pkg);
	pthread_cond_destroy(&run->hs_cond);
	pthread_mutex_destroy(&run->hs_lock);
	pthread_mutex_destroy(&run->lock);
}

static int
run_new(struct ap_run_opts *opts, const struct ap_target *targets, size_t n,
        struct ap_report *report, int install, struct ap_ctx *ctx)
{
	struct ap_run run;
	struct ap_hostjob *jobs = NULL;
	struct ap_target *stored = NULL;
	int64_t *ids = NULL;
	size_t i;
	int r;

	if ((r = run_init(&run, opts, install, ctx)) != AP_OK)
		goto out;
	if (n > 0 && ((jobs = calloc(n, sizeof(*jobs))) == NULL ||
	              (ids = calloc(n, sizeof(*ids))) == NULL)) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if (opts->store != NULL) {
		/* Each target is stored with the OS it is treated as, so that a
		 * resume (which has no --os) walks it the same way. */
		if (n > 0 && (stored = calloc(n, sizeof(*stored))) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++) {
			stored[i] = targets[i]; /* shallow: the strings stay targets' */
			stored[i].os = host_os(opts, &targets[i]);
		}
		r = ap_store_job_create(opts->store, install ? AP_JOB_INSTALL : AP_JOB_CHECK,
		                        install ? opts->package_path : NULL,
		                        install ? ap_package_version(run.pkg) : NULL,
		                        opts->options_json, stored, n, &opts->job_id, ids, ctx);
		if (r != AP_OK)
			goto out;
	}
	for (i = 0; i < n; i++) {
		jobs[i].run = &run;
		jobs[i].t = &targets[i];
		jobs[i].account = ap_run_account_for(opts, &targets[i]);
		jobs[i].index = i;
		jobs[i].target_id = ids[i];
		jobs[i].state = AP_HOST_PLANNED;
		if ((jobs[i].res = ap_report_add_target(report, &targets[i])) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
	}
	if ((r = run_pool(&run, jobs, n, ctx)) != AP_OK)
		goto out;
	/* Stopped: hosts never started keep the job running (resumable). */
	if (opts->store != NULL && !run_stopping(opts))
		r = ap_store_job_set_status(opts->store, opts->job_id, AP_JOB_DONE, ctx);
out:
	free(stored);
	free(ids);
	free(jobs);
	run_fini(&run);
	return r;
}

char *
ap_run_options_json(const struct ap_run_opts *r)
{
	cJSON *j = cJSON_CreateObject();
	char *s = NULL;

	if (j == NULL)
		return NULL;
	if (cJSON_AddStringToObject(j, "os", ap_os_name(r->os)) == NULL ||
	    (r->user != NULL && cJSON_AddStringToObject(j, "user", r->user) == NULL) ||
	    (r->identity != NULL && cJSON_AddStringToObject(j, "identity", r->identity) == NULL) ||
	    (r->known_hosts != NULL && cJSON_AddStringToObject(j, "known_hosts", r->known_hosts) == NULL) ||
	    cJSON_AddStringToObject(j, "host_key_policy",
	                            r->hostkey_policy == AP_HOSTKEY_STRICT ? "strict" : "accept-new") == NULL ||
	    cJSON_AddNumberToObject(j, "parallel", r->parallel) == NULL ||
	    cJSON_AddNumberToObject(j, "timeout", r->timeout_s) == NULL ||
	    cJSON_AddBoolToObject(j, "password", r->password != NULL) == NULL ||
	    (r->account != NULL && cJSON_AddStringToObject(j, "account", r->account) == NULL) ||
	    (r->kerberos && cJSON_AddBoolToObject(j, "kerberos", 1) == NULL) ||
	    (r->agent_server != NULL && cJSON_AddStringToObject(j, "server", r->agent_server) == NULL) ||
	    (r->agent_server != NULL &&
	     cJSON_AddNumberToObject(j, "register_timeout", r->register_timeout_s > 0 ? r->register_timeout_s
	                             : AP_DEFAULT_REGISTER_TIMEOUT_S) == NULL))
		goto out;
	s = cJSON_PrintUnformatted(j);
out:
	cJSON_Delete(j);
	return s;
}

int
ap_run_plan(struct ap_run_opts *opts, int install,
            const struct ap_target *targets, size_t n, struct ap_ctx *ctx)
{
	struct ap_target *stored = NULL;
	struct ap_package *pkg = NULL;
	size_t i;
	int r;

	if (opts->store == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "a planned job needs the job store");
	if (install) {
		if (opts->package_path == NULL)
			return ap_ctx_fail(ctx, AP_EINVAL, 0,
			                   "install needs a package (--package PATH)");
		if ((r = ap_package_open(opts->package_path, &pkg, ctx)) != AP_OK)
			return r;
	}
	if (n > 0 && (stored = calloc(n, sizeof(*stored))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		stored[i] = targets[i]; /* shallow, as in run_new() */
		stored[i].os = host_os(opts, &targets[i]);
	}
	r = ap_store_job_create(opts->store, install ? AP_JOB_INSTALL : AP_JOB_CHECK,
	                        install ? opts->package_path : NULL,
	                        install ? ap_package_version(pkg) : NULL,
	                        opts->options_json, stored, n, &opts->job_id, NULL, ctx);
out:
	free(stored);
	ap_package_free(pkg);
	return r;
}

int
ap_run_check(struct ap_run_opts *opts, const struct ap_target *targets,
             size_t n_targets, struct ap_report *report, struct ap_ctx *ctx)
{
	return run_new(opts, targets, n_targets, report, 0, ctx);
}

int
ap_run_install(struct ap_run_opts *opts, const struct ap_target *targets,
               size_t n_targets, struct ap_report *report, struct ap_ctx *ctx)
{
	return run_new(opts, targets, n_targets, report, 1, ctx);
}

/* Whether ap_run_resume() is to walk target id (run.h only_targets). */
static int
wanted(const struct ap_run_opts *opts, int64_t id)
{
	size_t i;

	if (opts->only_targets == NULL)
		return 1;
	for (i = 0; i < opts->n_only_targets; i++)
		if (opts->only_targets[i] == id)
			return 1;
	return 0;
}

int
ap_run_resume(struct ap_run_opts *opts, struct ap_report *report,
              struct ap_ctx *ctx)
{
	struct ap_job_info job;
	struct ap_job_target *tg = NULL;
	struct ap_hostjob *jobs = NULL;
	struct ap_run run;
	size_t n = 0, i, todo = 0;
	int r, inited = 0, borrowed_pkg = 0, fresh = 1;

	memset(&job, 0, sizeof(job));
	memset(&run, 0, sizeof(run));
	if (opts->store == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "resume needs the job store");
	if ((r = ap_store_job_get(opts->store, opts->job_id, &job, ctx)) != AP_OK)
		goto out;
	if (job.kind == AP_JOB_INSTALL && opts->package_path == NULL) {
		opts->package_path = job.package;
		borrowed_pkg = 1;
	}
	/* A worker's share reads only its claims: a 600-host job is read
	 * in full by no batch of it. */
	r = opts->only_targets != NULL
	    ? ap_store_job_targets_in(opts->store, opts->job_id, opts->only_targets,
	                              opts->n_only_targets, &tg, &n, ctx)
	    : ap_store_job_targets(opts->store, opts->job_id, &tg, &n, ctx);
	if (r != AP_OK)
		goto out;
	inited = 1;
	if ((r = run_init(&run, opts, job.kind == AP_JOB_INSTALL, ctx)) != AP_OK)
		goto out;
	if (run.pkg != NULL && job.package_version != NULL &&
	    strcmp(ap_package_version(run.pkg), job.package_version) != 0) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0,
		                "job %lld was started with package version %s; %s holds %s",
		                (long long)opts->job_id, job.package_version,
		                opts->package_path, ap_package_version(run.pkg));
		goto out;
	}
	/* Terminal targets keep what was stored; the others go again. */
	r = opts->only_targets != NULL
	    ? ap_store_job_report_in(opts->store, opts->job_id, opts->only_targets,
	                             opts->n_only_targets, report, ctx)
	    : ap_store_job_report(opts->store, opts->job_id, report, ctx);
	if (r != AP_OK)
		goto out;
	if (ap_report_count(report) != n) {
		r = ap_ctx_fail(ctx, AP_EINTERNAL, 0, "job %lld: stored report has %zu targets, expected %zu",
		                (long long)opts->job_id, ap_report_count(report), n);
		goto out;
	}
	if (n > 0 && (jobs = calloc(n, sizeof(*jobs))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (tg[i].state != AP_HOST_PLANNED || tg[i].attempts != 0)
			fresh = 0;
	for (i = 0; i < n; i++) {
		if (ap_host_state_terminal(tg[i].state) || !wanted(opts, tg[i].id))
			continue;
		hostjob_from_store(&run, &jobs[todo++], &tg[i], ap_report_at(report, i));
	}
	if (opts->only_targets != NULL) {
		/* A worker's share: the job is done when every worker's is. */
		int done = 0;

		if ((r = share_event(opts, todo, 0, ctx)) != AP_OK)
			goto out;
		if ((r = run_pool(&run, jobs, todo, ctx)) != AP_OK)
			goto out;
		r = ap_store_job_complete_if_done(opts->store, opts->job_id, &done, ctx);
		goto out;
	}
	if ((r = ap_store_job_set_status(opts->store, opts->job_id, AP_JOB_RUNNING, ctx)) != AP_OK)
		goto out;
	if ((r = ap_store_event(opts->store, opts->job_id, 0, "resume",
	                        fresh ? "started" : "resumed", ctx)) != AP_OK)
		goto out;
	if ((r = run_pool(&run, jobs, todo, ctx)) != AP_OK)
		goto out;
	if (!run_stopping(opts))
		r = ap_store_job_set_status(opts->store, opts->job_id, AP_JOB_DONE, ctx);
out:
	free(jobs);
	if (inited)
		run_fini(&run);
	if (borrowed_pkg)
		opts->package_path = NULL; /* it pointed into job */
	ap_store_targets_free(tg, n);
	ap_job_info_clear(&job);
	return r;
}
