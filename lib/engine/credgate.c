/*
 * credgate.c - one failed logon per wrong credential per run (credgate.h).
 *
 * A run holds a handful of credentials at most (one password, a few user
 * names from an inventory), so a linked list under one mutex is enough;
 * waiting uses one condition variable broadcast on every state change.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "credgate.h"

enum cred_state { CRED_UNTRIED, CRED_TRYING, CRED_GOOD, CRED_REJECTED };

struct cred {
	struct cred *next;
	char *key;
	char *rejected_by;
	enum cred_state state;
};

struct ap_credgate {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct cred *creds;
};

struct ap_credgate *
ap_credgate_new(void)
{
	struct ap_credgate *g = NULL;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->changed, NULL);
	return g;
}

void
ap_credgate_free(struct ap_credgate *g)
{
	struct cred *c = NULL, *next = NULL;

	if (g == NULL)
		return;
	for (c = g->creds; c != NULL; c = next) {
		next = c->next;
		free(c->key);
		free(c->rejected_by);
		free(c);
	}
	pthread_cond_destroy(&g->changed);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* Finds or adds key; NULL when out of memory.  Called with the lock held. */
static struct cred *
lookup(struct ap_credgate *g, const char *key)
{
	struct cred *c = NULL;

	for (c = g->creds; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->key = strdup(key)) == NULL) {
		free(c);
		return NULL;
	}
	c->state = CRED_UNTRIED;
	c->next = g->creds;
	g->creds = c;
	return c;
}

enum ap_credgate_verdict
ap_credgate_acquire(struct ap_credgate *g, const char *key, const char *host,
                    char *rejected_by, size_t size)
{
	enum ap_credgate_verdict v = AP_CREDGATE_GO;
	struct cred *c = NULL;

	(void)host;
	if (rejected_by != NULL && size > 0)
		rejected_by[0] = '\0';
	pthread_mutex_lock(&g->lock);
	if ((c = lookup(g, key)) == NULL)
		goto out;
	while (c->state == CRED_TRYING)
		pthread_cond_wait(&g->changed, &g->lock);
	switch (c->state) {
	case CRED_REJECTED:
		v = AP_CREDGATE_BLOCKED;
		if (rejected_by != NULL && size > 0 && c->rejected_by != NULL) {
			strncpy(rejected_by, c->rejected_by, size - 1);
			rejected_by[size - 1] = '\0';
		}
		break;
	case CRED_UNTRIED:
		c->state = CRED_TRYING;
		break;
	case CRED_GOOD:
	case CRED_TRYING:
		break;
	}
out:
	pthread_mutex_unlock(&g->lock);
	return v;
}

void
ap_credgate_release(struct ap_credgate *g, const char *key, const char *host,
                    enum ap_credgate_outcome outcome)
{
	struct cred *c = NULL;

	pthread_mutex_lock(&g->lock);
	if ((c = lookup(g, key)) == NULL)
		goto out;
	switch (outcome) {
	case AP_CREDGATE_ACCEPTED:
		if (c->state != CRED_REJECTED)
			c->state = CRED_GOOD;
		break;
	case AP_CREDGATE_REJECTED:
		if (c->state != CRED_REJECTED) {
			c->state = CRED_REJECTED;
			free(c->rejected_by);
			c->rejected_by = strdup(host != NULL ? host : "?");
		}
		break;
	case AP_CREDGATE_UNKNOWN:
		if (c->state == CRED_TRYING)
			c->state = CRED_UNTRIED;
		break;
	}
out:
	pthread_cond_broadcast(&g->changed);
	pthread_mutex_unlock(&g->lock);
}
