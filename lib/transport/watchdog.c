/*
 * watchdog.c - deadlines on blocking libssh calls (watchdog.h says why).
 */
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "transport_util.h"
#include "watchdog.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static int running;                   /* the thread started; under lock */
static struct ap_guard *armed_list;   /* under lock */
/* When the thread will look again: 0 = only when woken.  Under lock. */
static long long waiting_until;

static void
unlink_guard(struct ap_guard *g)
{
	struct ap_guard **pp = &armed_list;

	while (*pp != NULL && *pp != g)
		pp = &(*pp)->next;
	if (*pp == g)
		*pp = g->next;
	g->next = NULL;
	g->armed = 0;
}

static void *
watch(void *arg)
{
	struct ap_guard *g = NULL, *next = NULL;
	struct timespec ts;
	long long now, first;

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		now = ap_transport_now_ms();
		first = 0;
		for (g = armed_list; g != NULL; g = next) {
			next = g->next;
			if (g->deadline_ms <= now) {
				/* Wakes libssh's poll(): it reads end of file. */
				(void)shutdown(g->fd, SHUT_RDWR);
				g->fired = 1;
				unlink_guard(g);
			} else if (first == 0 || g->deadline_ms < first) {
				first = g->deadline_ms;
			}
		}
		waiting_until = first;
		if (first == 0) {
			pthread_cond_wait(&wake, &lock);
			continue;
		}
		ts.tv_sec = (time_t)(first / 1000);
		ts.tv_nsec = (long)(first % 1000) * 1000000L;
		pthread_cond_timedwait(&wake, &lock, &ts);
	}
	return NULL;
}

static void
start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t tid;

	if (pthread_condattr_init(&ca) != 0)
		return;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&wake, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		return;
	}
	pthread_condattr_destroy(&ca);
	if (pthread_attr_init(&ta) != 0)
		return;
	(void)pthread_attr_setstacksize(&ta, 64 * 1024);
	(void)pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &ta, watch, NULL) == 0)
		running = 1;
	pthread_attr_destroy(&ta);
}

void
ap_guard_arm(struct ap_guard *g, int fd, int timeout_ms)
{
	memset(g, 0, sizeof(*g));
	g->fd = fd;
	if (fd < 0 || timeout_ms <= 0)
		return;
	pthread_once(&start_once, start);
	pthread_mutex_lock(&lock);
	if (running) {
		g->deadline_ms = ap_transport_now_ms() + timeout_ms;
		g->armed = 1;
		g->next = armed_list;
		armed_list = g;
		/* Guards mostly share one timeout, so a new one is rarely the
		 * earliest: wake the thread only when it is. */
		if (waiting_until == 0 || g->deadline_ms < waiting_until)
			pthread_cond_signal(&wake);
	}
	pthread_mutex_unlock(&lock);
}

int
ap_guard_disarm(struct ap_guard *g)
{
	int fired;

	pthread_mutex_lock(&lock);
	if (g->armed)
		unlink_guard(g);
	fired = g->fired;
	pthread_mutex_unlock(&lock);
	return fired;
}
