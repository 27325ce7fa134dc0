/*
 * test_credgate.c - the lockout rule: a rejected credential is tried once,
 * however many hosts are in flight at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "credgate.h"

#define N_HOSTS 16

struct shared {
	struct ap_credgate *g;
	pthread_mutex_t lock;
	int attempts;     /* how many hosts were let through */
	int blocked;
	enum ap_credgate_outcome answer; /* what every server answers */
};

struct host_arg {
	struct shared *s;
	char host[32];
	char rejected_by[64];
};

static void *
host_thread(void *arg)
{
	struct host_arg *h = arg;
	struct shared *s = h->s;

	if (ap_credgate_acquire(s->g, "root\npassword", h->host, h->rejected_by,
	                        sizeof(h->rejected_by)) == AP_CREDGATE_BLOCKED) {
		pthread_mutex_lock(&s->lock);
		s->blocked++;
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	s->attempts++;
	pthread_mutex_unlock(&s->lock);
	ap_credgate_release(s->g, "root\npassword", h->host, s->answer);
	return NULL;
}

static void
run_hosts(struct shared *s, struct host_arg *args)
{
	pthread_t th[N_HOSTS];
	int i;

	for (i = 0; i < N_HOSTS; i++) {
		args[i].s = s;
		snprintf(args[i].host, sizeof(args[i].host), "198.18.0.%d", i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, host_thread, &args[i]), 0);
	}
	for (i = 0; i < N_HOSTS; i++)
		pthread_join(th[i], NULL);
}

static void
rejected_once_in_total(void **state)
{
	struct shared s = { .answer = AP_CREDGATE_REJECTED };
	struct host_arg args[N_HOSTS];
	int i, named = 0;

	(void)state;
	memset(args, 0, sizeof(args));
	pthread_mutex_init(&s.lock, NULL);
	s.g = ap_credgate_new();
	assert_non_null(s.g);
	run_hosts(&s, args);
	assert_int_equal(s.attempts, 1);
	assert_int_equal(s.blocked, N_HOSTS - 1);
	/* Every blocked host names the host that rejected the credential. */
	for (i = 0; i < N_HOSTS; i++)
		if (args[i].rejected_by[0] != '\0') {
			assert_true(strncmp(args[i].rejected_by, "198.18.0.", 9) == 0);
			named++;
		}
	assert_int_equal(named, N_HOSTS - 1);
	ap_credgate_free(s.g);
	pthread_mutex_destroy(&s.lock);
}

static void
accepted_lets_all_through(void **state)
{
	struct shared s = { .answer = AP_CREDGATE_ACCEPTED };
	struct host_arg args[N_HOSTS];

	(void)state;
	memset(args, 0, sizeof(args));
	pthread_mutex_init(&s.lock, NULL);
	s.g = ap_credgate_new();
	run_hosts(&s, args);
	assert_int_equal(s.attempts, N_HOSTS);
	assert_int_equal(s.blocked, 0);
	ap_credgate_free(s.g);
	pthread_mutex_destroy(&s.lock);
}

static void
unknown_outcome_lets_next_try(void **state)
{
	struct ap_credgate *g = ap_credgate_new();
	char by[64];

	(void)state;
	assert_int_equal(ap_credgate_acquire(g, "k", "a", by, sizeof(by)), AP_CREDGATE_GO);
	ap_credgate_release(g, "k", "a", AP_CREDGATE_UNKNOWN);   /* a: unreachable */
	assert_int_equal(ap_credgate_acquire(g, "k", "b", by, sizeof(by)), AP_CREDGATE_GO);
	ap_credgate_release(g, "k", "b", AP_CREDGATE_REJECTED);
	assert_int_equal(ap_credgate_acquire(g, "k", "c", by, sizeof(by)), AP_CREDGATE_BLOCKED);
	assert_string_equal(by, "b");
	/* Another credential is unaffected. */
	assert_int_equal(ap_credgate_acquire(g, "other", "c", by, sizeof(by)), AP_CREDGATE_GO);
	ap_credgate_release(g, "other", "c", AP_CREDGATE_ACCEPTED);
	ap_credgate_free(g);
	ap_credgate_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rejected_once_in_total),
		cmocka_unit_test(accepted_lets_all_through),
		cmocka_unit_test(unknown_outcome_lets_next_try),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
