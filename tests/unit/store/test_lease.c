/*
 * test_lease.c - workers sharing one store (store.h, "Workers"): claims
 * are disjoint, an expired lease is taken over, fencing refuses the old
 * owner's writes, renew reports a loss, a job completes once, and the
 * credential gate is shared.  Each test opens two handles with different
 * owners on one store, as two worker processes would.
 *
 * Backend-neutral: the store is a fresh SQLite file under /tmp unless
 * AP_TEST_STORE names another location (e.g. a postgresql:// URI of a
 * private, empty database; tests/meson.build registers both runs).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentpush/errors.h"
#include "agentpush/store.h"
#include "store_fixture.h"

struct fx {
	struct store_fixture sf;
	struct ap_ctx *ctx;
	struct ap_store *a;     /* worker "wa" */
	struct ap_store *b;     /* worker "wb" */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(store_fixture_new(&f->sf), 0);
	f->ctx = ap_ctx_new();
	assert_non_null(f->ctx);
	if (ap_store_open(f->sf.location, &f->a, f->ctx) != AP_OK ||
	    ap_store_open(f->sf.location, &f->b, f->ctx) != AP_OK)
		fail_msg("open %s: %s", f->sf.location, ap_ctx_errmsg(f->ctx));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	ap_store_close(f->a);
	ap_store_close(f->b);
	ap_ctx_free(f->ctx);
	store_fixture_free(&f->sf);
	free(f);
	return 0;
}

/* A job of n targets root@198.18.0.<i+1>; their ids into tids. */
static int64_t
make_job(struct ap_store *st, size_t n, int64_t *tids, struct ap_ctx *ctx)
{
	struct ap_target *t = calloc(n, sizeof(*t));
	char spec[64];
	int64_t job = 0;
	size_t i;

	assert_non_null(t);
	for (i = 0; i < n; i++) {
		snprintf(spec, sizeof(spec), "root@198.18.%zu.%zu:22", i / 250, i % 250 + 1);
		assert_int_equal(ap_target_parse(spec, &t[i], NULL), AP_OK);
	}
	if (ap_store_job_create(st, AP_JOB_INSTALL, "/tmp/agent.tar.gz", "1.0", "{}",
	                        t, n, &job, tids, ctx) != AP_OK)
		fail_msg("job_create: %s", ap_ctx_errmsg(ctx));
	ap_targets_free(t, n);
	return job;
}

static void
claim_ok(struct ap_store *st, const char *owner, int lease_ms, size_t max,
         struct ap_claim **c, size_t *n, struct ap_ctx *ctx)
{
	if (ap_store_claim(st, owner, lease_ms, max, c, n, ctx) != AP_OK)
		fail_msg("claim: %s", ap_ctx_errmsg(ctx));
}

static void
claim_job_ok(struct ap_store *st, const char *owner, int lease_ms, int64_t job_id,
             size_t max, struct ap_claim **c, size_t *n, struct ap_ctx *ctx)
{
	if (ap_store_claim_job(st, owner, lease_ms, job_id, max, c, n, ctx) != AP_OK)
		fail_msg("claim_job: %s", ap_ctx_errmsg(ctx));
}

/* Waits well past a lease of 1 ms.  Not a timed assertion: the lease
 * only has to be over, and a slower machine waits the same. */
static void
past_short_lease(void)
{
	struct timespec ts = { 0, 50 * 1000000L };

	nanosleep(&ts, NULL);
}

static enum ap_host_state
state_of(struct ap_store *st, int64_t job, int64_t tid, struct ap_ctx *ctx)
{
	struct ap_job_target *t = NULL;
	enum ap_host_state s = AP_HOST_STATE_COUNT_;
	size_t n = 0, i;

	assert_int_equal(ap_store_job_targets(st, job, &t, &n, ctx), AP_OK);
	for (i = 0; i < n; i++)
		if (t[i].id == tid)
			s = t[i].state;
	ap_store_targets_free(t, n);
	return s;
}

/* ---- claims ---- */

static void
test_claim_disjoint(void **state)
{
	struct fx *f = *state;
	struct ap_claim *ca = NULL, *cb = NULL, *cc = NULL;
	int64_t tids[10], j, j2;
	size_t na = 0, nb = 0, nc = 0, i, k;

	j = make_job(f->a, 10, tids, f->ctx);
	claim_ok(f->a, "wa", 60000, 4, &ca, &na, f->ctx);
	claim_ok(f->b, "wb", 60000, 100, &cb, &nb, f->ctx);
	assert_int_equal(na, 4);
	assert_int_equal(nb, 6);
	/* oldest job first, then target id: a has the first four */
	for (i = 0; i < na; i++) {
		assert_int_equal(ca[i].job_id, j);
		assert_int_equal(ca[i].target_id, tids[i]);
		assert_int_equal(ca[i].state, AP_HOST_PLANNED);
		assert_int_equal(ca[i].lease_gen, 1);
	}
	for (i = 0; i < nb; i++) {
		assert_int_equal(cb[i].target_id, tids[4 + i]);
		for (k = 0; k < na; k++)
			assert_true(cb[i].target_id != ca[k].target_id);
	}
	/* nothing left while the leases run: nothing allocated either (a
	 * polling worker drops an empty claim without freeing it) */
	claim_ok(f->a, "wa", 60000, 100, &cc, &nc, f->ctx);
	assert_int_equal(nc, 0);
	assert_null(cc);
	/* max 0 claims nothing; a DONE job's targets are not claimed */
	claim_ok(f->a, "wa", 60000, 0, &cc, &nc, f->ctx);
	assert_int_equal(nc, 0);
	ap_store_claims_free(cc, nc);
	j2 = make_job(f->a, 2, tids, f->ctx);
	assert_int_equal(ap_store_job_set_status(f->a, j2, AP_JOB_DONE, f->ctx), AP_OK);
	claim_ok(f->b, "wb", 60000, 100, &cc, &nc, f->ctx);
	assert_int_equal(nc, 0);
	ap_store_claims_free(cc, nc);
	/* bad arguments */
	assert_int_equal(ap_store_claim(f->a, "", 100, 1, &cc, &nc, f->ctx), AP_EINVAL);
	assert_int_equal(ap_store_claim(f->a, "wa", 0, 1, &cc, &nc, f->ctx), AP_EINVAL);
	ap_store_claims_free(ca, na);
	ap_store_claims_free(cb, nb);
}

/* A claim limited to one job (a worker refilling its share) takes only
 * that job's targets, in id order, even when an older job has some left. */
static void
test_claim_job(void **state)
{
	struct fx *f = *state;
	struct ap_claim *c = NULL;
	int64_t t1[3], t2[5], j1, j2;
	size_t n = 0, i;

	j1 = make_job(f->a, 3, t1, f->ctx);
	j2 = make_job(f->a, 5, t2, f->ctx);
	claim_job_ok(f->a, "wa", 60000, j2, 2, &c, &n, f->ctx);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_int_equal(c[i].job_id, j2);
		assert_int_equal(c[i].target_id, t2[i]);
	}
	ap_store_claims_free(c, n);
	/* the rest of job 2 only, not job 1's older targets */
	claim_job_ok(f->b, "wb", 60000, j2, 100, &c, &n, f->ctx);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_int_equal(c[i].target_id, t2[2 + i]);
	ap_store_claims_free(c, n);
	claim_job_ok(f->a, "wa", 60000, j2, 100, &c, &n, f->ctx);
	assert_int_equal(n, 0);
	ap_store_claims_free(c, n);
	/* job 0 is any job: job 1's three are still there */
	claim_job_ok(f->a, "wa", 60000, 0, 100, &c, &n, f->ctx);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_int_equal(c[i].job_id, j1);
	ap_store_claims_free(c, n);
	assert_int_equal(ap_store_claim_job(f->a, "wa", 100, -1, 1, &c, &n, f->ctx), AP_EINVAL);
}

/* A refill never takes back the claimer's own expired lease (the host is
 * still in its run); another worker's refill, or a new batch's claim (a
 * worker whose release failed), does. */
static void
test_claim_job_not_own(void **state)
{
	struct fx *f = *state;
	struct ap_claim *c = NULL;
	int64_t t[2], j;
	size_t n = 0;

	j = make_job(f->a, 2, t, f->ctx);
	claim_job_ok(f->a, "wa", 1, j, 1, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, t[0]);
	ap_store_claims_free(c, n);
	past_short_lease();
	/* wa's refill: only the other target, not its own expired one */
	claim_job_ok(f->a, "wa", 60000, j, 10, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, t[1]);
	ap_store_claims_free(c, n);
	/* t[0] is still wa's, expired: wb's refill takes it */
	claim_job_ok(f->b, "wb", 1, j, 10, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, t[0]);
	assert_int_equal(c[0].lease_gen, 2);
	ap_store_claims_free(c, n);
	past_short_lease();
	/* now wb's, expired: wb's new batch (any job) takes it back */
	claim_ok(f->b, "wb", 60000, 10, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, t[0]);
	ap_store_claims_free(c, n);
}

/* A handle records a target it recorded before (with PostgreSQL, without
 * reading it first: the guard, store.c) after another handle moved it:
 * the record still starts from the state the target is in, and one
 * refused by fencing says who holds the target now. */
static void
test_record_after_another_moved(void **state)
{
	struct fx *f = *state;
	enum ap_host_state moves[2] = { AP_HOST_INSTALLED, AP_HOST_DONE };
	struct ap_job_event *ev = NULL;
	int64_t tids[1], j;
	size_t nev = 0, i;
	int found = 0;

	j = make_job(f->a, 1, tids, f->ctx);
	assert_int_equal(ap_store_target_set_state(f->a, tids[0], AP_HOST_CONNECTED, NULL, f->ctx), AP_OK);
	assert_int_equal(ap_store_target_set_state(f->b, tids[0], AP_HOST_COPIED, NULL, f->ctx), AP_OK);
	assert_int_equal(ap_store_target_record(f->a, tids[0], 0, NULL, moves, 2, "a again", f->ctx), AP_OK);
	assert_int_equal(state_of(f->b, j, tids[0], f->ctx), AP_HOST_DONE);
	assert_int_equal(ap_store_job_events(f->b, j, tids[0], &ev, &nev, f->ctx), AP_OK);
	for (i = 0; i < nev; i++)
		if (strcmp(ev[i].detail, "copied -> installed") == 0)
			found = 1;
	ap_store_events_free(ev, nev);
	assert_true(found);
	/* a backwards move is refused, whatever a remembers */
	assert_int_equal(ap_store_target_set_state(f->a, tids[0], AP_HOST_COPIED, NULL, f->ctx), AP_EINTERNAL);
	/* fenced: a wrote last, then b took the lease */
	j = make_job(f->a, 1, tids, f->ctx);
	assert_int_equal(ap_store_set_owner(f->a, "wa", f->ctx), AP_OK);
	assert_int_equal(ap_store_set_owner(f->b, "wb", f->ctx), AP_OK);
	{
		struct ap_claim *c = NULL;
		size_t n = 0;

		assert_int_equal(ap_store_claim_job(f->a, "wa", 1, j, 1, &c, &n, f->ctx), AP_OK);
		assert_int_equal(n, 1);
		ap_store_claims_free(c, n);
		assert_int_equal(ap_store_target_set_state(f->a, tids[0], AP_HOST_CONNECTED, NULL, f->ctx), AP_OK);
		past_short_lease();
		assert_int_equal(ap_store_claim_job(f->b, "wb", 60000, j, 1, &c, &n, f->ctx), AP_OK);
		assert_int_equal(n, 1);
		ap_store_claims_free(c, n);
	}
	assert_int_equal(ap_store_target_set_state(f->a, tids[0], AP_HOST_CHECKED, NULL, f->ctx), AP_ECONFLICT);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "wb"));
	assert_int_equal(state_of(f->b, j, tids[0], f->ctx), AP_HOST_CONNECTED);
	/* and a database error was not counted for the guard: b writes on */
	assert_int_equal(ap_store_target_set_state(f->b, tids[0], AP_HOST_CHECKED, NULL, f->ctx), AP_OK);
}

/* Four processes, each with its own handle, claim one target at a time
 * as fast as they can until none is left: every target is claimed
 * exactly once. */
#define RACE_TARGETS 60
#define RACE_PROCS 4
static void
test_claim_race(void **state)
{
	struct fx *f = *state;
	int64_t tids[RACE_TARGETS], got;
	int seen[RACE_TARGETS] = { 0 };
	int fds[2], p, status;
	pid_t pids[RACE_PROCS];
	size_t i, total = 0;
	FILE *in = NULL;

	make_job(f->a, RACE_TARGETS, tids, f->ctx);
	assert_int_equal(pipe(fds), 0);
	for (p = 0; p < RACE_PROCS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct ap_ctx *ctx = ap_ctx_new();
			struct ap_store *st = NULL;
			struct ap_claim *c = NULL;
			char owner[32];
			size_t n = 0;

			close(fds[0]);
			snprintf(owner, sizeof(owner), "w%d", p);
			if (ctx == NULL || ap_store_open(f->sf.location, &st, ctx) != AP_OK)
				_exit(2);
			for (;;) {
				if (ap_store_claim(st, owner, 60000, 1, &c, &n, ctx) != AP_OK)
					_exit(3);
				if (n == 0)
					break;
				if (write(fds[1], &c[0].target_id, sizeof(c[0].target_id)) !=
				    (ssize_t)sizeof(c[0].target_id))
					_exit(4);
				ap_store_claims_free(c, n);
			}
			ap_store_close(st);
			ap_ctx_free(ctx);
			_exit(0);
		}
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	assert_non_null(in);
	while (fread(&got, sizeof(got), 1, in) == 1) {
		for (i = 0; i < RACE_TARGETS; i++)
			if (tids[i] == got)
				break;
		assert_true(i < RACE_TARGETS);
		seen[i]++;
		total++;
	}
	fclose(in);
	for (p = 0; p < RACE_PROCS; p++) {
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(total, RACE_TARGETS);
	for (i = 0; i < RACE_TARGETS; i++)
		assert_int_equal(seen[i], 1);
}

static void
test_expiry_takeover(void **state)
{
	struct fx *f = *state;
	struct ap_claim *c = NULL;
	int64_t tids[2];
	size_t n = 0;

	make_job(f->a, 2, tids, f->ctx);
	claim_ok(f->a, "wa", 60000, 1, &c, &n, f->ctx);       /* tids[0], long */
	ap_store_claims_free(c, n);
	claim_ok(f->a, "wa", 1, 1, &c, &n, f->ctx);           /* tids[1], 1 ms */
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, tids[1]);
	ap_store_claims_free(c, n);
	assert_int_equal(ap_store_set_owner(f->a, "wa", f->ctx), AP_OK);
	assert_int_equal(ap_store_target_set_state(f->a, tids[1], AP_HOST_CONNECTED, NULL, f->ctx), AP_OK);
	past_short_lease();
	/* b takes the expired one only, where a left it, one generation on */
	claim_ok(f->b, "wb", 60000, 10, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, tids[1]);
	assert_int_equal(c[0].state, AP_HOST_CONNECTED);
	assert_int_equal(c[0].lease_gen, 2);
	ap_store_claims_free(c, n);
}

/* ---- fencing ---- */

static void
test_fencing(void **state)
{
	struct fx *f = *state;
	enum ap_host_state moves[2] = { AP_HOST_CHECKED, AP_HOST_COPIED };
	struct ap_result res;
	struct ap_claim *c = NULL;
	struct ap_job_event *ev = NULL;
	int64_t tids[1], j;
	size_t n = 0, nev = 0, nev2 = 0;

	memset(&res, 0, sizeof(res));
	res.note = "from the old owner";
	j = make_job(f->a, 1, tids, f->ctx);
	assert_int_equal(ap_store_set_owner(f->a, "wa", f->ctx), AP_OK);
	assert_int_equal(ap_store_set_owner(f->b, "wb/4711", f->ctx), AP_OK);
	/* fenced and not claimed: refused */
	assert_int_equal(ap_store_target_set_state(f->a, tids[0], AP_HOST_CONNECTED, NULL, f->ctx), AP_ECONFLICT);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "target"));
	claim_ok(f->a, "wa", 1, 1, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	ap_store_claims_free(c, n);
	assert_int_equal(ap_store_target_set_state(f->a, tids[0], AP_HOST_CONNECTED, NULL, f->ctx), AP_OK);
	assert_int_equal(ap_store_event(f->a, j, tids[0], "note", "a holds it", f->ctx), AP_OK);
	past_short_lease();
	/* expired but nobody took it: still a's */
	assert_int_equal(ap_store_target_attempt(f->a, tids[0], f->ctx), AP_OK);
	claim_ok(f->b, "wb/4711", 60000, 1, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	ap_store_claims_free(c, n);
	assert_int_equal(ap_store_job_events(f->a, j, tids[0], &ev, &nev, f->ctx), AP_OK);
	ap_store_events_free(ev, nev);
	/* every kind of write from a is refused, and changes nothing */
	assert_int_equal(ap_store_target_set_state(f->a, tids[0], AP_HOST_CHECKED, NULL, f->ctx), AP_ECONFLICT);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "wb/4711"));
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "another worker"));
	assert_null(strchr(ap_ctx_errmsg(f->ctx), '\n'));
	assert_int_equal(ap_store_target_attempt(f->a, tids[0], f->ctx), AP_ECONFLICT);
	assert_int_equal(ap_store_target_set_result(f->a, tids[0], &res, f->ctx), AP_ECONFLICT);
	assert_int_equal(ap_store_target_record(f->a, tids[0], 1, &res, moves, 2, "x", f->ctx), AP_ECONFLICT);
	assert_int_equal(ap_store_event(f->a, j, tids[0], "note", "late", f->ctx), AP_ECONFLICT);
	assert_int_equal(state_of(f->b, j, tids[0], f->ctx), AP_HOST_CONNECTED);
	assert_int_equal(ap_store_job_events(f->a, j, tids[0], &ev, &nev2, f->ctx), AP_OK);
	assert_int_equal(nev2, nev);
	ap_store_events_free(ev, nev2);
	/* a job-level event is not fenced */
	assert_int_equal(ap_store_event(f->a, j, 0, "note", "job level", f->ctx), AP_OK);
	/* b, the holder, writes */
	assert_int_equal(ap_store_target_record(f->b, tids[0], 1, &res, moves, 2, "b did it", f->ctx), AP_OK);
	assert_int_equal(state_of(f->a, j, tids[0], f->ctx), AP_HOST_COPIED);
	/* released: nobody's, so b is refused too */
	assert_int_equal(ap_store_lease_release(f->b, "wb/4711", &tids[0], 1, f->ctx), AP_OK);
	assert_int_equal(ap_store_target_set_state(f->b, tids[0], AP_HOST_INSTALLED, NULL, f->ctx), AP_ECONFLICT);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "released"));
	/* fencing off: the CLI's in-process runs write as before */
	assert_int_equal(ap_store_set_owner(f->b, NULL, f->ctx), AP_OK);
	assert_int_equal(ap_store_target_set_state(f->b, tids[0], AP_HOST_INSTALLED, NULL, f->ctx), AP_OK);
	assert_int_equal(ap_store_set_owner(f->b, "", f->ctx), AP_EINVAL);
}

/* ---- renew and release ---- */

static void
test_renew_and_release(void **state)
{
	struct fx *f = *state;
	struct ap_claim *c = NULL;
	int64_t tids[2], ids[2];
	int held[2] = { -1, -1 };
	size_t n = 0;

	make_job(f->a, 2, tids, f->ctx);
	claim_ok(f->a, "wa", 60000, 1, &c, &n, f->ctx);
	ap_store_claims_free(c, n);
	claim_ok(f->a, "wa", 1, 1, &c, &n, f->ctx);
	ap_store_claims_free(c, n);
	past_short_lease();
	claim_ok(f->b, "wb", 60000, 5, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, tids[1]);
	ap_store_claims_free(c, n);
	ids[0] = tids[0];
	ids[1] = tids[1];
	assert_int_equal(ap_store_lease_renew(f->a, "wa", 60000, ids, 2, held, f->ctx), AP_OK);
	assert_int_equal(held[0], 1);
	assert_int_equal(held[1], 0);
	/* a release by a non-holder does nothing */
	assert_int_equal(ap_store_lease_release(f->a, "wa", &tids[1], 1, f->ctx), AP_OK);
	claim_ok(f->a, "wa", 60000, 5, &c, &n, f->ctx);
	assert_int_equal(n, 0);
	ap_store_claims_free(c, n);
	/* a release by the holder frees it at once for another */
	assert_int_equal(ap_store_lease_release(f->a, "wa", tids, 2, f->ctx), AP_OK);
	assert_int_equal(ap_store_lease_renew(f->a, "wa", 60000, ids, 1, held, f->ctx), AP_OK);
	assert_int_equal(held[0], 0);
	claim_ok(f->b, "wb", 60000, 5, &c, &n, f->ctx);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, tids[0]);
	assert_int_equal(c[0].lease_gen, 2);
	ap_store_claims_free(c, n);
}

/* ---- completion ---- */

/* How many "status" events job j has. */
static size_t
status_events(struct ap_store *st, int64_t j, struct ap_ctx *ctx)
{
	struct ap_job_event *ev = NULL;
	size_t nev = 0, i, n = 0;

	assert_int_equal(ap_store_job_events(st, j, 0, &ev, &nev, ctx), AP_OK);
	for (i = 0; i < nev; i++)
		if (strcmp(ev[i].what, "status") == 0)
			n++;
	ap_store_events_free(ev, nev);
	return n;
}

static enum ap_job_status
job_status(struct ap_store *st, int64_t j, struct ap_ctx *ctx)
{
	struct ap_job_info job;
	enum ap_job_status status;

	assert_int_equal(ap_store_job_get(st, j, &job, ctx), AP_OK);
	status = job.status;
	ap_job_info_clear(&job);
	return status;
}

static void
test_complete_if_done(void **state)
{
	struct fx *f = *state;
	int64_t tids[2], j;
	int done = -1;

	j = make_job(f->a, 2, tids, f->ctx);
	assert_int_equal(ap_store_job_complete_if_done(f->a, j, &done, f->ctx), AP_OK);
	assert_int_equal(done, 0);
	assert_int_equal(ap_store_target_set_state(f->a, tids[0], AP_HOST_FAILED, "x", f->ctx), AP_OK);
	assert_int_equal(ap_store_job_complete_if_done(f->b, j, &done, f->ctx), AP_OK);
	assert_int_equal(done, 0);
	assert_int_equal(ap_store_target_set_state(f->b, tids[1], AP_HOST_SKIPPED, "y", f->ctx), AP_OK);
	assert_int_equal(ap_store_job_complete_if_done(f->b, j, &done, f->ctx), AP_OK);
	assert_int_equal(done, 1);
	assert_int_equal(ap_store_job_complete_if_done(f->a, j, &done, f->ctx), AP_OK);
	assert_int_equal(done, 1);
	assert_int_equal(job_status(f->a, j, f->ctx), AP_JOB_DONE);
	/* one "status done" event, not one per caller */
	assert_int_equal(status_events(f->a, j, f->ctx), 1);
	assert_int_equal(ap_store_job_complete_if_done(f->a, j + 1000, &done, f->ctx), AP_ENOTFOUND);
}

/*
 * What an idle worker does: every running job with nothing left to run is
 * marked done, once, and only those; a job already done is left alone.
 */
static void
test_complete_finished(void **state)
{
	struct fx *f = *state;
	int64_t t1[2], t2[2], t3[1], j1, j2, j3;
	size_t n = 99;
	int done = -1;

	j1 = make_job(f->a, 2, t1, f->ctx);
	j2 = make_job(f->a, 2, t2, f->ctx);
	j3 = make_job(f->a, 1, t3, f->ctx);
	assert_int_equal(ap_store_jobs_complete_finished(f->b, &n, f->ctx), AP_OK);
	assert_int_equal(n, 0);
	assert_int_equal(ap_store_target_set_state(f->a, t1[0], AP_HOST_DONE, "x", f->ctx), AP_OK);
	assert_int_equal(ap_store_target_set_state(f->a, t1[1], AP_HOST_FAILED, "y", f->ctx), AP_OK);
	assert_int_equal(ap_store_target_set_state(f->a, t2[0], AP_HOST_DONE, "x", f->ctx), AP_OK);
	assert_int_equal(ap_store_target_set_state(f->a, t3[0], AP_HOST_SKIPPED, "z", f->ctx), AP_OK);
	assert_int_equal(ap_store_job_complete_if_done(f->a, j3, &done, f->ctx), AP_OK);
	assert_int_equal(done, 1);

	assert_int_equal(ap_store_jobs_complete_finished(f->b, &n, f->ctx), AP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(job_status(f->a, j1, f->ctx), AP_JOB_DONE);
	assert_int_equal(job_status(f->a, j2, f->ctx), AP_JOB_RUNNING);
	assert_int_equal(ap_store_jobs_complete_finished(f->a, &n, f->ctx), AP_OK);
	assert_int_equal(n, 0);
	assert_int_equal(status_events(f->a, j1, f->ctx), 1);
	assert_int_equal(status_events(f->a, j2, f->ctx), 0);
	assert_int_equal(status_events(f->a, j3, f->ctx), 1);

	assert_int_equal(ap_store_target_set_state(f->b, t2[1], AP_HOST_DONE, "x", f->ctx), AP_OK);
	assert_int_equal(ap_store_jobs_complete_finished(f->a, &n, f->ctx), AP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(job_status(f->b, j2, f->ctx), AP_JOB_DONE);
	assert_int_equal(status_events(f->b, j2, f->ctx), 1);
}

/* ---- the credential gate ---- */

static enum ap_store_cred_verdict
acquire(struct ap_store *st, int64_t j, const char *key, const char *owner,
        int lease_ms, char *by, size_t size, struct ap_ctx *ctx)
{
	enum ap_store_cred_verdict v = AP_STORE_CRED_GO;

	if (ap_store_cred_acquire(st, j, key, "198.18.0.9", owner, lease_ms, &v, by, size, ctx) != AP_OK)
		fail_msg("cred_acquire: %s", ap_ctx_errmsg(ctx));
	return v;
}

static void
test_cred_gate(void **state)
{
	struct fx *f = *state;
	int64_t tids[1], j, j2;
	char by[64];

	j = make_job(f->a, 1, tids, f->ctx);
	j2 = make_job(f->a, 1, tids, f->ctx);
	/* untried: a holds the try, b waits, a again is fine */
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	assert_int_equal(acquire(f->b, j, "acct:web", "wb", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_WAIT);
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	/* another job has its own gate */
	assert_int_equal(acquire(f->b, j2, "acct:web", "wb", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	/* no answer: untried again, b may try */
	assert_int_equal(ap_store_cred_release(f->a, j, "acct:web", "198.18.0.1", "wa", AP_STORE_CRED_UNKNOWN, f->ctx), AP_OK);
	assert_int_equal(acquire(f->b, j, "acct:web", "wb", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_WAIT);
	/* an unknown outcome from a non-holder does not free b's try */
	assert_int_equal(ap_store_cred_release(f->a, j, "acct:web", "198.18.0.1", "wa", AP_STORE_CRED_UNKNOWN, f->ctx), AP_OK);
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_WAIT);
	/* accepted: good for everyone at once */
	assert_int_equal(ap_store_cred_release(f->b, j, "acct:web", "198.18.0.2", "wb", AP_STORE_CRED_ACCEPTED, f->ctx), AP_OK);
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	assert_int_equal(acquire(f->b, j, "acct:web", "wb", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	/* rejected: blocked for every worker, with the host, for good */
	assert_int_equal(acquire(f->a, j, "acct:db", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	assert_int_equal(ap_store_cred_release(f->a, j, "acct:db", "198.18.0.7", "wa", AP_STORE_CRED_REJECTED, f->ctx), AP_OK);
	assert_int_equal(acquire(f->b, j, "acct:db", "wb", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_BLOCKED);
	assert_string_equal(by, "198.18.0.7");
	assert_int_equal(ap_store_cred_release(f->b, j, "acct:db", "198.18.0.8", "wb", AP_STORE_CRED_ACCEPTED, f->ctx), AP_OK);
	assert_int_equal(acquire(f->a, j, "acct:db", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_BLOCKED);
	assert_string_equal(by, "198.18.0.7");
	/* a try whose holder died: taken over once its hold has passed */
	assert_int_equal(acquire(f->a, j, "acct:ops", "wa", 1, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	past_short_lease();
	assert_int_equal(acquire(f->b, j, "acct:ops", "wb", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	assert_int_equal(acquire(f->a, j, "acct:ops", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_WAIT);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A credential a handle saw good is answered again without a round trip
 * on PostgreSQL, until another handle rejects it: the rejection's notice
 * ends that at once, long before the 5 s the answer is kept at most.
 * SQLite reads the row each time (a statement, no server).
 */
static void
test_cred_good_notice(void **state)
{
	struct fx *f = *state;
	struct timespec pause = { 0, 10 * 1000000L };
	int64_t tids[1], j, peeked, blocked;
	uint64_t before;
	char by[64];
	int pg = strncmp(ap_store_location(f->a), "postgres", 8) == 0, tries;

	j = make_job(f->a, 1, tids, f->ctx);
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	assert_int_equal(ap_store_cred_release(f->a, j, "acct:web", "198.18.0.1", "wa", AP_STORE_CRED_ACCEPTED, f->ctx), AP_OK);
	peeked = now_ms();
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	before = ap_store_round_trips(f->a);
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
	assert_int_equal(ap_store_round_trips(f->a) - before, pg ? 0 : 2);
	/* another worker's host refuses it */
	assert_int_equal(ap_store_cred_release(f->b, j, "acct:web", "198.18.0.5", "wb", AP_STORE_CRED_REJECTED, f->ctx), AP_OK);
	for (tries = 0; tries < 400; tries++) {
		if (acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx) == AP_STORE_CRED_BLOCKED)
			break;
		nanosleep(&pause, NULL);
	}
	blocked = now_ms();
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_BLOCKED);
	assert_string_equal(by, "198.18.0.5");
	/* the notice ended it, not the 5 s */
	if (blocked - peeked >= 4000)
		fail_msg("the rejection was seen %" PRId64 " ms after the good answer was read", blocked - peeked);
	/* a credential of another job is not answered from this one */
	j = make_job(f->a, 1, tids, f->ctx);
	assert_int_equal(acquire(f->a, j, "acct:web", "wa", 60000, by, sizeof(by), f->ctx), AP_STORE_CRED_GO);
}

/*
 * A job seen not cancelled: SQLite asks again after a second; PostgreSQL
 * keeps the answer without a round trip until a notice comes, and a
 * cancel sends one, seen by the other handle within milliseconds.
 */
static void
test_cancel_notice(void **state)
{
	struct fx *f = *state;
	struct timespec pause = { 0, 10 * 1000000L }, second = { 1, 100 * 1000000L };
	int64_t tids[1], j, t0, seen;
	uint64_t before;
	int pg = strncmp(ap_store_location(f->a), "postgres", 8) == 0, tries, c = 0;

	j = make_job(f->a, 1, tids, f->ctx);
	assert_int_equal(ap_store_job_cancelled(f->a, j, f->ctx), 0);
	nanosleep(&second, NULL);       /* past the once-a-second check */
	before = ap_store_round_trips(f->a);
	assert_int_equal(ap_store_job_cancelled(f->a, j, f->ctx), 0);
	assert_int_equal(ap_store_round_trips(f->a) - before, pg ? 0 : 1);
	t0 = now_ms();
	assert_int_equal(ap_store_job_cancel(f->b, j, f->ctx), AP_OK);
	for (tries = 0; tries < 400; tries++) {
		if ((c = ap_store_job_cancelled(f->a, j, f->ctx)) != 0)
			break;
		nanosleep(&pause, NULL);
	}
	seen = now_ms();
	assert_int_equal(c, 1);
	if (seen - t0 >= 4000)
		fail_msg("the cancel was seen %" PRId64 " ms after it was made", seen - t0);
}

/*
 * The counters: statements, and the waits for the database's answer.  A
 * claim is one statement: PostgreSQL runs it alone, one round trip;
 * SQLite wraps it in BEGIN IMMEDIATE and COMMIT (three statements, which
 * is what it counts as round trips), once the claim is prepared on the
 * connection.
 */
static void
test_round_trips(void **state)
{
	struct fx *f = *state;
	struct ap_claim *c = NULL;
	uint64_t before, after, sbefore, safter;
	time_t t0;
	int64_t tids[3], j2;
	size_t n = 0;
	int pg = strncmp(ap_store_location(f->b), "postgres", 8) == 0;

	make_job(f->a, 3, tids, f->ctx);
	claim_ok(f->b, "wb", 60000, 1, &c, &n, f->ctx);    /* prepares it */
	ap_store_claims_free(c, n);
	before = ap_store_round_trips(f->b);
	sbefore = ap_store_statements(f->b);
	claim_ok(f->b, "wb", 60000, 2, &c, &n, f->ctx);
	ap_store_claims_free(c, n);
	after = ap_store_round_trips(f->b);
	safter = ap_store_statements(f->b);
	assert_int_equal(n, 2);
	assert_int_equal(safter - sbefore, pg ? 1 : 3);
	assert_int_equal(after - before, pg ? 1 : 3);
	/* A record reads its target first (fencing, the move allowed): two
	 * round trips with PostgreSQL; for a target this handle recorded
	 * last, the check goes with the writes as a guard: one. */
	{
		enum ap_host_state st1 = AP_HOST_CONNECTED, st2 = AP_HOST_CHECKED;

		assert_int_equal(ap_store_set_owner(f->b, "wb", f->ctx), AP_OK);
		/* the same two on another target: statements prepared */
		assert_int_equal(ap_store_target_record(f->b, tids[0], 1, NULL, &st1, 1, NULL, f->ctx), AP_OK);
		assert_int_equal(ap_store_target_record(f->b, tids[0], 0, NULL, &st2, 1, NULL, f->ctx), AP_OK);
		before = ap_store_round_trips(f->b);
		t0 = time(NULL);
		assert_int_equal(ap_store_target_record(f->b, tids[1], 1, NULL, &st1, 1, NULL, f->ctx), AP_OK);
		after = ap_store_round_trips(f->b);
		if (pg)
			assert_int_equal(after - before, 2);
		before = after;
		sbefore = ap_store_statements(f->b);
		assert_int_equal(ap_store_target_record(f->b, tids[1], 0, NULL, &st2, 1, NULL, f->ctx), AP_OK);
		after = ap_store_round_trips(f->b);
		safter = ap_store_statements(f->b);
		if (pg)
			assert_int_equal(after - before, 1);
		/* and the guard is in the row's write: BEGIN, the event, the
		 * write, COMMIT (and the job's "updated" when the second
		 * turned since the last record) */
		if (pg && time(NULL) == t0)
			assert_int_equal(safter - sbefore, 4);
		/* a target the handle claimed under its own owner is known
		 * from the claim: its first record takes one too */
		j2 = make_job(f->a, 1, tids, f->ctx);
		claim_ok(f->b, "wb", 60000, 2, &c, &n, f->ctx);
		assert_int_equal(n, 1);     /* the first job's three are held */
		assert_int_equal(c[0].target_id, tids[0]);
		ap_store_claims_free(c, n);
		before = ap_store_round_trips(f->b);
		assert_int_equal(ap_store_target_record(f->b, tids[0], 1, NULL, &st1, 1, NULL, f->ctx), AP_OK);
		after = ap_store_round_trips(f->b);
		if (pg)
			assert_int_equal(after - before, 1);
		assert_int_equal(state_of(f->a, j2, tids[0], f->ctx), AP_HOST_CONNECTED);
	}
	assert_int_equal(ap_store_round_trips(NULL), 0);
	assert_int_equal(ap_store_statements(NULL), 0);
}

/* A PostgreSQL URI's password never reaches a message (no network: the
 * server's socket folder does not exist). */
static void
test_uri_redacted(void **state)
{
	struct fx *f = *state;
	struct ap_store *st = NULL;
	const char *msg;

	assert_int_equal(ap_store_open("postgresql://ap:Canary-Pg-Pw@/agentpush?host=/nonexistent-ap&password=Canary-Q",
	                               &st, f->ctx), AP_EIO);
	assert_null(st);
	msg = ap_ctx_errmsg(f->ctx);
	assert_null(strstr(msg, "Canary"));
	assert_non_null(strstr(msg, "postgresql://ap:***@/agentpush"));
	assert_non_null(strstr(msg, "cannot connect"));
	assert_null(strchr(msg, '\n'));
	/* a password that was not percent-encoded, with '/' and '@' in it */
	assert_int_equal(ap_store_open("postgres://ap:Canary/x@y@/agentpush?host=/nonexistent-ap",
	                               &st, f->ctx), AP_EIO);
	msg = ap_ctx_errmsg(f->ctx);
	assert_null(strstr(msg, "Canary"));
	assert_non_null(strstr(msg, "postgres://ap:***@/agentpush"));
	if (f->sf.location[0] == '/')
		assert_string_equal(ap_store_location(f->a), f->sf.location);
	else
		assert_int_equal(strncmp(ap_store_location(f->a), "postgresql://", 13), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_disjoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_job_not_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cred_good_notice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_notice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fencing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_after_another_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renew_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_complete_if_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_complete_finished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cred_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uri_redacted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
