/*
 * test_pg_reconnect.c - the PostgreSQL store across a server restart
 * (store.h, drv_pg.c): the call that finds the connection gone fails with
 * AP_EIO and says so in one line, without the URI's secrets; a
 * transaction cut in the middle leaves nothing half-written; a later call
 * reconnects by itself and finds everything committed before the
 * restart; prepared statements work again on the new connection.
 *
 * Run by pg_run.sh, which starts the private server and exports its URI
 * (AP_TEST_STORE) and the command that restarts it (AP_TEST_PG_RESTART).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentpush/errors.h"
#include "agentpush/store.h"
#include "store_fixture.h"

static void
restart_server(void)
{
	const char *cmd = getenv("AP_TEST_PG_RESTART");

	assert_non_null(cmd);
	assert_int_equal(system(cmd), 0);
}

/* Retries job_get until the store has reconnected (the driver allows one
 * attempt per backoff period, 250 ms doubling to 5 s): at most 60 tries
 * 200 ms apart; no timing is asserted, only that it comes back. */
static int
get_until_back(struct ap_store *st, int64_t job, struct ap_job_info *info,
               struct ap_ctx *ctx)
{
	struct timespec ts = { 0, 200 * 1000000L };
	int i, r = AP_EIO;

	for (i = 0; i < 60 && r != AP_OK; i++) {
		r = ap_store_job_get(st, job, info, ctx);
		if (r != AP_OK)
			nanosleep(&ts, NULL);
	}
	return r;
}

static void
test_restart(void **state)
{
	struct store_fixture sf;
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_store *st = NULL;
	struct ap_target t[2];
	struct ap_job_info info;
	struct ap_claim *c = NULL;
	int64_t job = 0, tids[2];
	size_t n = 0;
	int r;

	(void)state;
	memset(t, 0, sizeof(t));
	assert_non_null(ctx);
	assert_int_equal(store_fixture_new(&sf), 0);
	if (ap_store_open(sf.location, &st, ctx) != AP_OK)
		fail_msg("open: %s", ap_ctx_errmsg(ctx));
	assert_int_equal(ap_target_parse("root@198.18.0.1", &t[0], NULL), AP_OK);
	assert_int_equal(ap_target_parse("root@198.18.0.2", &t[1], NULL), AP_OK);
	assert_int_equal(ap_store_job_create(st, AP_JOB_CHECK, NULL, NULL, "{}", t, 2, &job, tids, ctx), AP_OK);
	assert_int_equal(ap_store_set_owner(st, "w1", ctx), AP_OK);
	assert_int_equal(ap_store_claim(st, "w1", 600000, 1, &c, &n, ctx), AP_OK);
	assert_int_equal(n, 1);
	ap_store_claims_free(c, n);
	assert_int_equal(ap_store_target_set_state(st, tids[0], AP_HOST_CONNECTED, NULL, ctx), AP_OK);

	restart_server();
	/* the first call finds the connection gone */
	memset(&info, 0, sizeof(info));
	r = ap_store_target_set_state(st, tids[0], AP_HOST_CHECKED, NULL, ctx);
	assert_int_equal(r, AP_EIO);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "connection lost"));
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "postgresql://"));
	assert_null(strchr(ap_ctx_errmsg(ctx), '\n'));
	/* a later one reconnects; what was committed is there */
	assert_int_equal(get_until_back(st, job, &info, ctx), AP_OK);
	assert_int_equal(info.n_targets, 2);
	/* the refused call wrote nothing: still connected, not checked */
	assert_int_equal(info.n_state[AP_HOST_CONNECTED], 1);
	assert_int_equal(info.n_state[AP_HOST_CHECKED], 0);
	ap_job_info_clear(&info);
	/* and every statement works again (prepared anew): the lease held */
	assert_int_equal(ap_store_target_set_state(st, tids[0], AP_HOST_CHECKED, NULL, ctx), AP_OK);
	assert_int_equal(ap_store_target_set_state(st, tids[0], AP_HOST_DONE, NULL, ctx), AP_OK);
	assert_int_equal(ap_store_claim(st, "w1", 600000, 5, &c, &n, ctx), AP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].target_id, tids[1]);
	ap_store_claims_free(c, n);

	ap_target_clear(&t[0]);
	ap_target_clear(&t[1]);
	ap_store_close(st);
	store_fixture_free(&sf);
	ap_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
