/*
 * worker.c - `agentpush worker` (worker.h): claim, run, renew, release.
 *
 * The loop:
 *
 *   claim up to --parallel targets (ap_store_claim: FOR UPDATE SKIP LOCKED)
 *     nothing: every SWEEP_IDLE_POLLS-th time from the first, mark done
 *     the running jobs with no host left (sweep_finished); wait poll_ms
 *     (or return, with once) and claim again
 *     database error: log it, back off (1 s doubling to 30 s, jittered)
 *   start the renewer thread over the claimed targets (every lease/3)
 *   for each job among the claims (they come in job order):
 *     ap_run_resume() with only_targets = its claimed targets and
 *     lease_owner set, the job's stored options over opts->base; when
 *     the claims are all of one job, the run refills (run.h refill): a
 *     thread out of hosts claims a few more of that job
 *     (ap_store_claim_job), which join the renewer's list, until the job
 *     has none left to claim
 *   stop the renewer; release every claimed lease (a host left
 *   non-terminal by a database failure is thus free at once, not only
 *   when its lease expires)
 *
 * Why refill: without it a batch ends with its slowest host, and its
 * other threads wait idle meanwhile; on a 600-host job, 25 hosts that all
 * start together also all load the targets together (bench/workers.sh,
 * docs/PERFORMANCE.md).
 *
 * The renewer is the only thread that talks to the store outside the
 * engine's records; it notices a lost lease (a pause past it, a cut from
 * the database) and logs it.  It does not interrupt the host's pipeline:
 * fencing does, at the pipeline's next record, and the host-side install
 * lock keeps the two owners from installing twice meanwhile.
 */
#include <cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agentpush/report.h"
#include "agentpush/server.h"
#include "agentpush/vault.h"
#include "agentpush/worker.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
/* With once: batches in a row that moved no host before the worker stops
 * (a job it cannot run would be claimed again forever). */
#define ONCE_IDLE_BATCHES 3
/* Idle polls from one sweep for finished jobs (sweep_finished) to the
 * next; the first idle poll after work always sweeps. */
#define SWEEP_IDLE_POLLS 30

struct worker {
	struct ap_store *st;
	const struct ap_worker_opts *o;
	char owner[256];
	int lease_ms;
	struct ap_worker_stats stats;
	pthread_mutex_t lock;          /* stats, log */
};

/* The leases a batch holds: its claims, and what its run's refills
 * claimed since (ids, held and sure grow, under lock).  sure[i]: a
 * monotonic time (mono_ms) before which ids[i]'s lease surely still runs:
 * its last claim or renewal was sent at sure[i] - lease_ms, and the
 * database started the lease later than that. */
struct renewer {
	struct worker *w;
	int64_t *ids;
	int *held;
	int64_t *sure;
	size_t n, cap;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
};

/* Milliseconds of CLOCK_MONOTONIC: lease arithmetic immune to the wall
 * clock being set. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Adds ids[0..n) to rn's list, as held, claimed by a statement sent at
 * sent_ms (mono_ms); AP_OK or AP_ENOMEM. */
static int
renewer_add(struct renewer *rn, const int64_t *ids, size_t n, int64_t sent_ms)
{
	int64_t *nids = NULL, *nsure = NULL;
	int *nheld = NULL;
	size_t cap, i;
	int r = AP_OK;

	pthread_mutex_lock(&rn->lock);
	if (rn->n + n > rn->cap) {
		cap = rn->cap * 2 > rn->n + n ? rn->cap * 2 : rn->n + n;
		if ((nids = realloc(rn->ids, cap * sizeof(*nids))) != NULL)
			rn->ids = nids;
		if ((nheld = realloc(rn->held, cap * sizeof(*nheld))) != NULL)
			rn->held = nheld;
		if ((nsure = realloc(rn->sure, cap * sizeof(*nsure))) != NULL)
			rn->sure = nsure;
		if (nids == NULL || nheld == NULL || nsure == NULL) {
			r = AP_ENOMEM;
			goto out;
		}
		rn->cap = cap;
	}
	for (i = 0; i < n; i++) {
		rn->ids[rn->n] = ids[i];
		rn->sure[rn->n] = sent_ms + rn->w->lease_ms;
		rn->held[rn->n++] = 1;
	}
out:
	pthread_mutex_unlock(&rn->lock);
	return r;
}

static void
wlog(struct worker *w, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (w->o->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&w->lock);
	w->o->log(w->o->log_ud, line);
	pthread_mutex_unlock(&w->lock);
}

static int
stopping(const struct worker *w)
{
	return w->o->stop != NULL && __atomic_load_n(w->o->stop, __ATOMIC_ACQUIRE) != 0;
}

/* Sleeps ms, in slices, returning early once the worker is asked to stop. */
static void
nap(const struct worker *w, long ms)
{
	struct timespec ts;

	while (ms > 0 && !stopping(w)) {
		long slice = ms < 100 ? ms : 100;

		ts.tv_sec = 0;
		ts.tv_nsec = slice * 1000000L;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

void
ap_worker_owner(const char *name, char *buf, size_t size)
{
	char host[256] = "worker";
	unsigned int rnd = 0;

	if (name == NULL || name[0] == '\0') {
		if (gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "worker");
		host[sizeof(host) - 1] = '\0';
		name = host;
	}
	/* The random part tells apart two incarnations with one pid (a
	 * container restarted): a new process must never inherit a lease. */
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (unsigned int)time(NULL) ^ (unsigned int)clock();
	snprintf(buf, size, "%.200s/%ld/%08x", name, (long)getpid(), rnd);
}

/* ---- the renewer ------------------------------------------------------------ */

/* What a renewal of rn->ids[i] sent at sent_ms (mono_ms) answered: still
 * ours (now) or not; returns whether it is still held.  Under rn->lock. */
static int
renewer_noted(struct renewer *rn, size_t i, int now, int64_t sent_ms)
{
	rn->held[i] = rn->held[i] && now;
	if (rn->held[i])
		rn->sure[i] = sent_ms + rn->w->lease_ms;
	return rn->held[i];
}

static void *
renew_loop(void *arg)
{
	struct renewer *rn = arg;
	struct worker *w = rn->w;
	struct ap_ctx *ctx = ap_ctx_new();
	struct timespec until;
	long period_ms = w->lease_ms / 3 > 0 ? w->lease_ms / 3 : 1;
	int64_t *ids = NULL, sent;
	int *now = NULL;
	size_t i, n;

	pthread_mutex_lock(&rn->lock);
	while (!rn->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += period_ms / 1000;
		until.tv_nsec += (period_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&rn->cond, &rn->lock, &until) != ETIMEDOUT || rn->stop)
			continue;
		/* a copy: a refill may grow the list meanwhile */
		n = rn->n;
		ids = malloc(n * sizeof(*ids));
		now = calloc(n, sizeof(*now));
		if (ids != NULL)
			memcpy(ids, rn->ids, n * sizeof(*ids));
		pthread_mutex_unlock(&rn->lock);
		if (ctx != NULL) {
			ap_ctx_clear(ctx);
			sent = mono_ms();
			if (ids == NULL || now == NULL) {
				wlog(w, "cannot renew leases: out of memory");
			} else if (ap_store_lease_renew(w->st, w->owner, w->lease_ms, ids,
			                                n, now, ctx) != AP_OK) {
				wlog(w, "cannot renew leases: %s", ap_ctx_errmsg(ctx));
			} else {
				pthread_mutex_lock(&rn->lock);
				for (i = 0; i < n; i++) {
					/* counted when the engine abandons the
					 * host (count_progress) */
					if (rn->held[i] && !now[i])
						wlog(w, "target %lld: lease lost to another worker",
						     (long long)ids[i]);
					(void)renewer_noted(rn, i, now[i], sent);
				}
				pthread_mutex_unlock(&rn->lock);
			}
		}
		free(ids);
		free(now);
		ids = NULL;
		now = NULL;
		pthread_mutex_lock(&rn->lock);
	}
	pthread_mutex_unlock(&rn->lock);
	ap_ctx_free(ctx);
	return NULL;
}

/* ---- one job's share -------------------------------------------------------- */

struct job_run {
	struct worker *w;
	int64_t job_id;
	struct renewer *rn;     /* the batch's leases; NULL: no refill */
};

/* run.h refill: claims up to max more targets of the job into ids, and
 * has them renewed and released with the batch's. */
static int
refill_claim(void *ud, int64_t *ids, size_t max)
{
	struct job_run *jr = ud;
	struct worker *w = jr->w;
	struct ap_claim *c = NULL;
	struct ap_ctx *ctx = NULL;
	size_t n = 0, i;
	int64_t sent = mono_ms();
	int got = 0;

	if (stopping(w) || (ctx = ap_ctx_new()) == NULL)
		goto out;
	if (ap_store_claim_job(w->st, w->owner, w->lease_ms, jr->job_id, max, &c, &n,
	                       ctx) != AP_OK) {
		pthread_mutex_lock(&w->lock);
		w->stats.db_errors++;
		pthread_mutex_unlock(&w->lock);
		wlog(w, "job %lld: cannot claim more hosts: %s", (long long)jr->job_id,
		     ap_ctx_errmsg(ctx));
		goto out;
	}
	for (i = 0; i < n; i++)
		ids[i] = c[i].target_id;
	if (n > 0 && renewer_add(jr->rn, ids, n, sent) != AP_OK) {
		/* not renewed: give them up now rather than lose them */
		(void)ap_store_lease_release(w->st, w->owner, ids, n, ctx);
		wlog(w, "job %lld: cannot claim more hosts: out of memory", (long long)jr->job_id);
		goto out;
	}
	pthread_mutex_lock(&w->lock);
	w->stats.claimed += n;
	pthread_mutex_unlock(&w->lock);
	got = (int)n;
out:
	ap_store_claims_free(c, n);
	ap_ctx_free(ctx);
	return got;
}

/*
 * run.h lease_check: whether target_id's lease is still this worker's.
 * Known from the last claim or renewal while that surely still runs;
 * past that (the worker was paused, or its renewals failed), asked of the
 * store, which renews it if it is: one round trip, only then.
 */
static int
lease_check(void *ud, int64_t target_id, struct ap_ctx *ctx)
{
	struct job_run *jr = ud;
	struct renewer *rn = jr->rn;
	struct worker *w = jr->w;
	int64_t sent;
	size_t i;
	int held, sure, now = 0;

	pthread_mutex_lock(&rn->lock);
	for (i = 0; i < rn->n && rn->ids[i] != target_id; i++)
		;
	held = i < rn->n && rn->held[i];
	/* a fifth of the lease to spare: the worker may stall right after */
	sure = held && mono_ms() < rn->sure[i] - w->lease_ms / 5;
	pthread_mutex_unlock(&rn->lock);
	if (!held || sure)
		return held;
	sent = mono_ms();
	if (ap_store_lease_renew(w->st, w->owner, w->lease_ms, &target_id, 1, &now,
	                         ctx) != AP_OK)
		return ap_ctx_rc(ctx);
	pthread_mutex_lock(&rn->lock);
	held = renewer_noted(rn, i, now, sent);
	pthread_mutex_unlock(&rn->lock);
	return held;
}

static void
count_progress(void *ud, const struct ap_run_event *ev)
{
	struct job_run *jr = ud;
	struct worker *w = jr->w;

	if (ev->abandoned) {
		pthread_mutex_lock(&w->lock);
		w->stats.lost++;
		pthread_mutex_unlock(&w->lock);
		if (ev->attempt == 0)
			wlog(w, "job %lld: %s: abandoned before it started: its lease passed to another worker",
			     (long long)jr->job_id, ev->target->spec);
		else
			wlog(w, "job %lld: %s: abandoned at %s: its lease passed to another worker",
			     (long long)jr->job_id, ev->target->spec,
			     ap_host_state_name((enum ap_host_state)ev->state));
		return;
	}
	if (ev->state != AP_HOST_DONE && ev->state != AP_HOST_FAILED &&
	    ev->state != AP_HOST_SKIPPED)
		return;
	pthread_mutex_lock(&w->lock);
	if (ev->state == AP_HOST_DONE)
		w->stats.done++;
	else
		w->stats.failed++;
	pthread_mutex_unlock(&w->lock);
	if (ev->error_id != 0)
		wlog(w, "job %lld: %s: %s (ErrorID %d)", (long long)jr->job_id,
		     ev->target->spec, ap_host_state_name((enum ap_host_state)ev->state),
		     ev->error_id);
	else
		wlog(w, "job %lld: %s: %s", (long long)jr->job_id, ev->target->spec,
		     ap_host_state_name((enum ap_host_state)ev->state));
}

/*
 * A string option of the job (options_json), else dflt: the job's own
 * settings are what the person who submitted it chose.
 */
static const char *
job_str(const cJSON *opts, const char *key, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(opts, key);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static int
job_int(const cJSON *opts, const char *key, int lo, int hi, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(opts, key);

	return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi
	       ? (int)v->valuedouble : dflt;
}

/* Runs the claimed targets ids[0..n) of job_id, whose leases rn renews,
 * refilling with more of the job's when refill is set (their leases join
 * rn); a failure is logged. */
static int
run_share(struct worker *w, int64_t job_id, const int64_t *ids, size_t n,
          struct renewer *rn, int refill)
{
	struct ap_run_opts ro;
	struct ap_job_info job;
	struct ap_report *report = NULL;
	struct ap_ctx *ctx = NULL;
	struct job_run jr;
	cJSON *opts = NULL;
	const char *policy = NULL;
	char *pass = NULL, *pin = NULL;
	struct ap_vault_run *vr = NULL;
	int r;

	memset(&job, 0, sizeof(job));
	jr.w = w;
	jr.job_id = job_id;
	jr.rn = rn;
	if ((ctx = ap_ctx_new()) == NULL || (report = ap_report_new()) == NULL) {
		r = AP_ENOMEM;
		goto out;
	}
	if ((r = ap_store_job_get(w->st, job_id, &job, ctx)) != AP_OK)
		goto fail;
	opts = job.options_json != NULL ? cJSON_Parse(job.options_json) : NULL;
	ro = *w->o->base;
	ro.store = w->st;
	ro.job_id = job_id;
	ro.package_path = NULL;     /* ap_run_resume() takes the job's */
	ro.lease_owner = w->owner;
	ro.lease_ms = w->lease_ms;
	ro.only_targets = ids;
	ro.n_only_targets = n;
	ro.stop = w->o->stop;
	ro.progress = count_progress;
	ro.progress_ud = &jr;
	ro.lease_check = lease_check;
	ro.lease_ud = &jr;
	if (refill) {
		ro.refill = refill_claim;
		ro.refill_ud = &jr;
	} else if (w->o->base->parallel <= 0 || (size_t)w->o->base->parallel > n) {
		ro.parallel = (int)n;
	}
	if (opts != NULL) {
		if (ro.user == NULL)
			ro.user = job_str(opts, "user", NULL);
		ro.timeout_s = job_int(opts, "timeout", 0, 86400, ro.timeout_s);
		if (ro.account == NULL)
			ro.account = job_str(opts, "account", NULL);
		if (ro.identity == NULL)
			ro.identity = job_str(opts, "identity", NULL);
		if (ro.known_hosts == NULL)
			ro.known_hosts = job_str(opts, "known_hosts", NULL);
		policy = job_str(opts, "host_key_policy", NULL);
		if (policy != NULL && strcmp(policy, "strict") == 0)
			ro.hostkey_policy = AP_HOSTKEY_STRICT;
		if (job.kind == AP_JOB_INSTALL && ro.agent_server == NULL &&
		    job_str(opts, "server", NULL) != NULL) {
			ro.agent_server = job_str(opts, "server", NULL);
			ro.register_timeout_s = job_int(opts, "register_timeout", 1, 86400, 0);
		}
	}
	/* The vault accounts its targets name, as serve's runner opens them;
	 * nothing happens when none does.  A worker without the vault's key
	 * fails here with a message naming what it lacks, and the job waits
	 * for a worker that has it. */
	r = ap_vault_run_open(w->st, w->o->vault_key != NULL ? w->o->vault_key
	                      : "(no --vault-key given to this worker)",
	                      w->o->vault_passfile, &ro, NULL, 0, &vr, ctx);
	if (r != AP_OK)
		goto fail;
	if (ro.agent_server != NULL && ro.agent_passphrase == NULL) {
		/* The passphrase is never stored with a job: it comes from the
		 * server's state folder on this machine, or the job waits for a
		 * worker that has it (the leases are released below). */
		if (w->o->state_dir == NULL) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0,
			                "its agents register with %s, and this worker has no --state-dir to read the registration passphrase from; left to a worker that has one",
			                ro.agent_server);
			goto fail;
		}
		if ((r = ap_server_enroll_load(w->st, w->o->state_dir, NULL, ro.agent_server,
		                               &pass, &pin, ctx)) != AP_OK)
			goto fail;
		ro.agent_passphrase = pass;
		ro.agent_pin = pin;
	}
	if ((r = ap_run_resume(&ro, report, ctx)) == AP_OK)
		goto out;
fail:
	if (r == AP_ENOMEM)
		goto out;
	pthread_mutex_lock(&w->lock);
	w->stats.db_errors++;
	pthread_mutex_unlock(&w->lock);
	wlog(w, "job %lld: %s", (long long)job_id, ap_ctx_errmsg(ctx));
out:
	ap_vault_run_close(vr, &ro);
	ap_server_enroll_free(pass, pin);
	cJSON_Delete(opts);
	ap_job_info_clear(&job);
	ap_report_free(report);
	ap_ctx_free(ctx);
	return r == AP_ENOMEM ? AP_ENOMEM : AP_OK;
}

/* ---- the loop --------------------------------------------------------------- */

/* Runs one batch of claims (sent at sent_ms, mono_ms): renewer on, each
 * job's share, release. */
static int
run_batch(struct worker *w, const struct ap_claim *c, size_t n, int64_t sent_ms)
{
	struct renewer rn;
	pthread_t th;
	int64_t *ids = NULL;
	int started = 0, r = AP_OK, one_job;
	struct ap_ctx *ctx = NULL;
	size_t i, j;

	memset(&rn, 0, sizeof(rn));
	rn.w = w;
	pthread_mutex_init(&rn.lock, NULL);
	pthread_cond_init(&rn.cond, NULL);
	if ((ids = calloc(n, sizeof(*ids))) == NULL || (ctx = ap_ctx_new()) == NULL) {
		r = AP_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		ids[i] = c[i].target_id;
	if ((r = renewer_add(&rn, ids, n, sent_ms)) != AP_OK)
		goto out;
	/* A refill takes more of the share's own job only: with claims of
	 * several jobs, the later jobs' hosts would wait for the first's. */
	one_job = c[0].job_id == c[n - 1].job_id;
	started = pthread_create(&th, NULL, renew_loop, &rn) == 0;
	if (!started)
		wlog(w, "cannot start the lease renewer; leases may expire under long installs");
	/* Claims come in job order: one share per job. */
	for (i = 0; i < n && r == AP_OK; i = j) {
		for (j = i; j < n && c[j].job_id == c[i].job_id; j++)
			;
		wlog(w, "job %lld: claimed %zu host%s", (long long)c[i].job_id, j - i,
		     j - i == 1 ? "" : "s");
		r = run_share(w, c[i].job_id, ids + i, j - i, &rn, one_job);
	}
	if (started) {
		pthread_mutex_lock(&rn.lock);
		rn.stop = 1;
		pthread_cond_signal(&rn.cond);
		pthread_mutex_unlock(&rn.lock);
		pthread_join(th, NULL);
	}
	/* Terminal targets are never claimed again; the others (a database
	 * failure cut them short) are free for any worker at once.  Refills
	 * are over: the list no longer changes. */
	(void)ap_store_lease_release(w->st, w->owner, rn.ids, rn.n, ctx);
	/* on failure the database is gone: the leases will expire */
out:
	pthread_cond_destroy(&rn.cond);
	pthread_mutex_destroy(&rn.lock);
	ap_ctx_free(ctx);
	free(ids);
	free(rn.ids);
	free(rn.held);
	free(rn.sure);
	return r;
}

/*
 * Marks done the running jobs with no host left to run.  A share's run
 * completes its job when it ends (ap_run_resume), but a share that ended
 * on an error (a store that failed mid-record) never gets there: without
 * this, such a job would say "running" for ever.  Best effort: a failure
 * is logged and the next sweep tries again.
 */
static void
sweep_finished(struct worker *w, struct ap_ctx *ctx)
{
	size_t n = 0;

	ap_ctx_clear(ctx);
	if (ap_store_jobs_complete_finished(w->st, &n, ctx) != AP_OK)
		wlog(w, "cannot look for finished jobs: %s", ap_ctx_errmsg(ctx));
	else if (n > 0)
		wlog(w, "%zu job%s had no host left to run: marked done", n, n == 1 ? "" : "s");
	ap_ctx_clear(ctx);
}

int
ap_worker_run(struct ap_store *st, const struct ap_worker_opts *o,
              struct ap_worker_stats *stats, struct ap_ctx *ctx)
{
	struct worker w;
	struct ap_claim *c = NULL;
	struct ap_ctx *cctx = NULL;
	size_t n = 0;
	long backoff = 0;
	int64_t sent = 0;
	unsigned long progress;
	unsigned seed;
	unsigned idle_polls = 0;     /* polls that claimed nothing, since work */
	int r, parallel, idle = 0;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.lock, NULL);
	w.st = st;
	w.o = o;
	w.lease_ms = o->lease_ms > 0 ? o->lease_ms : AP_WORKER_DEFAULT_LEASE_MS;
	ap_worker_owner(o->name, w.owner, sizeof(w.owner));
	seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	parallel = o->base != NULL && o->base->parallel > 0 ? o->base->parallel : AP_DEFAULT_PARALLEL;
	if (o->base == NULL) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "worker: no run options");
		goto out;
	}
	if ((cctx = ap_ctx_new()) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if ((r = ap_store_set_owner(st, w.owner, ctx)) != AP_OK)
		goto out;
	wlog(&w, "worker %s: claiming up to %d hosts at a time, lease %d ms", w.owner,
	     parallel, w.lease_ms);
	while (!stopping(&w)) {
		ap_ctx_clear(cctx);
		sent = mono_ms();
		if (ap_store_claim(st, w.owner, w.lease_ms, (size_t)parallel, &c, &n, cctx) != AP_OK) {
			w.stats.db_errors++;
			backoff = backoff == 0 ? BACKOFF_MIN_MS
			          : backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			/* jitter in [backoff/2, backoff]: workers cut off together
			 * do not all come back at the same instant */
			{
				long ms = backoff / 2 + (long)(rand_r(&seed) % (unsigned)(backoff / 2 + 1));

				wlog(&w, "cannot claim work: %s; trying again in %ld ms",
				     ap_ctx_errmsg(cctx), ms);
				nap(&w, ms);
			}
			continue;
		}
		if (backoff != 0)
			wlog(&w, "the database answers again");
		backoff = 0;
		if (n == 0) {
			if (idle_polls++ % SWEEP_IDLE_POLLS == 0)
				sweep_finished(&w, cctx);
			if (o->once)
				break;
			nap(&w, o->poll_ms > 0 ? o->poll_ms : AP_WORKER_DEFAULT_POLL_MS);
			continue;
		}
		w.stats.claimed += n;
		idle_polls = 0;
		progress = w.stats.done + w.stats.failed + w.stats.lost;
		r = run_batch(&w, c, n, sent);
		ap_store_claims_free(c, n);
		c = NULL;
		n = 0;
		if (r != AP_OK) {
			r = ap_ctx_fail(ctx, r, 0, "out of memory");
			goto out;
		}
		/* Nothing moved (a job this worker cannot run, the database
		 * gone mid-batch): do not claim the same targets again at once.
		 * With once, a few such batches in a row end the run: what is
		 * left is for a worker that can run it (the leases are free). */
		if (w.stats.done + w.stats.failed + w.stats.lost != progress) {
			idle = 0;
		} else if (o->once && ++idle >= ONCE_IDLE_BATCHES) {
			wlog(&w, "nothing it claimed could be run by this worker %d times in a row; stopping (--once)",
			     idle);
			break;
		} else {
			nap(&w, o->poll_ms > 0 ? o->poll_ms : AP_WORKER_DEFAULT_POLL_MS);
		}
	}
	r = AP_OK;
out:
	if (c != NULL)
		ap_store_claims_free(c, n);
	w.stats.statements = ap_store_statements(st);
	w.stats.round_trips = ap_store_round_trips(st);
	if (stats != NULL)
		*stats = w.stats;
	{
		struct ap_ctx *q = ap_ctx_new();

		if (q != NULL)
			(void)ap_store_set_owner(st, NULL, q);
		ap_ctx_free(q);
	}
	ap_ctx_free(cctx);
	pthread_mutex_destroy(&w.lock);
	return r;
}
