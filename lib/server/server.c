/*
 * server.c - the configuration server's life and shared parts (server.h,
 * server_int.h): start and stop, the log, the registration rate limiter,
 * the heartbeat batcher and the job runners.  The HTTP layer is http.c.
 *
 * Threads: libmicrohttpd's (one per connection, http.c), one heartbeat
 * batcher, and one runner per submitted job (each runs the engine, whose
 * own worker pool does the hosts).  At most max_jobs runners run at once;
 * the others wait for a slot, their job already durable in the store.
 *
 * What lives only in memory, and why that is fine: the rate limiter's
 * window (a restart gives a source a fresh minute), heartbeats of the last
 * second not yet written (a lost one is one missed beat, and stale needs
 * three), and a queued job's password (never stored by design: a job cut by
 * a stop stays in the store, resumable by `agentpush resume ID` with the
 * password given again).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agentpush/catalog.h"
#include "agentpush/run.h"
#include "agentpush/server.h"
#include "agentpush/vault.h"
#include "server_int.h"
#include "server_priv.h"

#define DEFAULT_HEARTBEAT_S 60
#define DEFAULT_MAX_JOBS 4
#define RATE_WINDOW_S 60
#define RATE_MAX_SOURCES 8192
#define BEAT_FLUSH_MS 1000

/* ---- small parts -------------------------------------------------------- */

struct ap_store *
ap_srv_store(struct ap_srv *srv)
{
	return srv->store;
}

int
ap_srv_workers(const struct ap_srv *srv)
{
	return srv->workers;
}

int
ap_srv_heartbeat_s(const struct ap_srv *srv)
{
	return srv->heartbeat_s;
}

int
ap_srv_stopping(const struct ap_srv *srv)
{
	return __atomic_load_n(&srv->stop, __ATOMIC_ACQUIRE) != 0;
}

int
ap_srv_port(const struct ap_srv *srv)
{
	return srv->port;
}

const char *
ap_srv_scheme(const struct ap_srv *srv)
{
	return srv->insecure_http ? "http" : "https";
}

const char *
ap_srv_pin(const struct ap_srv *srv)
{
	return srv->pin;
}

const char *
ap_srv_state_dir(const struct ap_srv *srv)
{
	return srv->state_dir;
}

int
ap_srv_admin_ok(const struct ap_srv *srv, const char *bearer)
{
	return bearer != NULL && ap_srv_hash_matches(bearer, srv->admin_hash);
}

void
ap_srv_now_iso(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", base, (int)(ts.tv_nsec / 1000000L) % 1000);
}

void
ap_srv_log(struct ap_srv *srv, const char *level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t i;

	if (srv->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One line whatever a client sent. */
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	pthread_mutex_lock(&srv->log_lock);
	srv->log(srv->log_ud, level, line);
	pthread_mutex_unlock(&srv->log_lock);
}

int
ap_srv_passphrase_check(struct ap_srv *srv, const char *pass, struct ap_ctx *ctx)
{
	unsigned char mac[sizeof(srv->pp_mac)];
	char *verifier = NULL;
	int r;

	if ((r = ap_store_secret_get(srv->store, "registration_passphrase", &verifier, ctx)) != AP_OK)
		return r;
	pthread_mutex_lock(&srv->pwhash_lock);
	/* nothing remembered yet: the key may as well be new */
	if (!srv->pp_cached)
		randombytes_buf(srv->pp_key, sizeof(srv->pp_key));
	crypto_generichash(mac, sizeof(mac), (const unsigned char *)pass, strlen(pass),
	                   srv->pp_key, sizeof(srv->pp_key));
	if (srv->pp_cached && strcmp(srv->pp_verifier, verifier) == 0 &&
	    sodium_memcmp(mac, srv->pp_mac, sizeof(mac)) == 0) {
		r = 1;
		goto out;
	}
	r = crypto_pwhash_str_verify(verifier, pass, strlen(pass)) == 0 ? 1 : 0;
	if (r == 1 && strlen(verifier) < sizeof(srv->pp_verifier)) {
		memcpy(srv->pp_verifier, verifier, strlen(verifier) + 1);
		memcpy(srv->pp_mac, mac, sizeof(mac));
		srv->pp_cached = 1;
	}
out:
	pthread_mutex_unlock(&srv->pwhash_lock);
	sodium_memzero(mac, sizeof(mac));
	free(verifier);
	return r;
}

/* ---- the registration rate limiter --------------------------------------- */

struct rate_source {
	char addr[64];
	time_t tries[AP_SRV_REGISTER_PER_MIN]; /* ring of the last tries */
	unsigned next;
};

int
ap_srv_rate_allow(struct ap_srv *srv, const char *addr, int *retry_after_s)
{
	struct rate_source *src = NULL, *free_slot = NULL;
	time_t now = time(NULL);
	size_t i;
	unsigned k, recent = 0;
	time_t oldest = 0;
	int allow = 1;

	*retry_after_s = 0;
	pthread_mutex_lock(&srv->rate_lock);
	for (i = 0; i < srv->n_rate; i++) {
		struct rate_source *s = &srv->rate[i];
		int live = 0;

		for (k = 0; k < AP_SRV_REGISTER_PER_MIN; k++)
			if (s->tries[k] != 0 && now - s->tries[k] < RATE_WINDOW_S)
				live = 1;
		if (strcmp(s->addr, addr) == 0) {
			src = s;
			break;
		}
		if (!live && free_slot == NULL)
			free_slot = s;   /* a source quiet for a minute: reuse */
	}
	if (src == NULL) {
		if (free_slot == NULL && srv->n_rate < RATE_MAX_SOURCES)
			free_slot = &srv->rate[srv->n_rate++];
		if (free_slot == NULL) {
			/* Full of live sources: refuse rather than forget one. */
			*retry_after_s = RATE_WINDOW_S;
			allow = 0;
			goto out;
		}
		src = free_slot;
		memset(src, 0, sizeof(*src));
		snprintf(src->addr, sizeof(src->addr), "%s", addr);
	}
	for (k = 0; k < AP_SRV_REGISTER_PER_MIN; k++) {
		if (src->tries[k] != 0 && now - src->tries[k] < RATE_WINDOW_S) {
			recent++;
			if (oldest == 0 || src->tries[k] < oldest)
				oldest = src->tries[k];
		}
	}
	if (recent >= AP_SRV_REGISTER_PER_MIN) {
		*retry_after_s = (int)(RATE_WINDOW_S - (now - oldest));
		if (*retry_after_s < 1)
			*retry_after_s = 1;
		allow = 0;
		goto out;
	}
	src->tries[src->next] = now;
	src->next = (src->next + 1) % AP_SRV_REGISTER_PER_MIN;
out:
	pthread_mutex_unlock(&srv->rate_lock);
	return allow;
}

/* ---- the heartbeat batcher ----------------------------------------------- */

struct beat_copy {
	char *uid, *at, *version, *health, *address;
};

static void
beat_copy_clear(struct beat_copy *b)
{
	free(b->uid);
	free(b->at);
	free(b->version);
	free(b->health);
	free(b->address);
}

static char *
dup_or_null(const char *s, int *oom)
{
	char *d = NULL;

	if (s != NULL && (d = strdup(s)) == NULL)
		*oom = 1;
	return d;
}

int
ap_srv_beat_queue(struct ap_srv *srv, const struct ap_agent_beat *beat)
{
	struct beat_copy c, *nq = NULL;
	int oom = 0, r = AP_OK;

	memset(&c, 0, sizeof(c));
	c.uid = dup_or_null(beat->uid, &oom);
	c.at = dup_or_null(beat->at, &oom);
	c.version = dup_or_null(beat->version, &oom);
	c.health = dup_or_null(beat->health, &oom);
	c.address = dup_or_null(beat->address, &oom);
	if (oom || c.uid == NULL || c.at == NULL) {
		beat_copy_clear(&c);
		return AP_ENOMEM;
	}
	pthread_mutex_lock(&srv->beat_lock);
	if (srv->n_beats == srv->cap_beats) {
		size_t cap = srv->cap_beats != 0 ? srv->cap_beats * 2 : 256;

		if ((nq = reallocarray(srv->beats, cap, sizeof(*nq))) == NULL) {
			r = AP_ENOMEM;
			goto out;
		}
		srv->beats = nq;
		srv->cap_beats = cap;
	}
	srv->beats[srv->n_beats++] = c;
	memset(&c, 0, sizeof(c)); /* transferred */
out:
	pthread_mutex_unlock(&srv->beat_lock);
	beat_copy_clear(&c);
	return r;
}

/* Writes what is queued in one transaction; the lock is not held meanwhile. */
static void
beats_flush(struct ap_srv *srv, struct ap_ctx *ctx)
{
	struct beat_copy *q = NULL;
	struct ap_agent_beat *b = NULL;
	size_t n = 0, i;

	pthread_mutex_lock(&srv->beat_lock);
	q = srv->beats;
	n = srv->n_beats;
	srv->beats = NULL;
	srv->n_beats = srv->cap_beats = 0;
	pthread_mutex_unlock(&srv->beat_lock);
	if (n == 0)
		goto out;
	if ((b = calloc(n, sizeof(*b))) == NULL) {
		ap_srv_log(srv, "error", "heartbeats: out of memory; %zu beats dropped", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		b[i].uid = q[i].uid;
		b[i].at = q[i].at;
		b[i].version = q[i].version;
		b[i].health = q[i].health;
		b[i].address = q[i].address;
	}
	ap_ctx_clear(ctx);
	if (ap_store_agent_beats(srv->store, b, n, ctx) != AP_OK)
		ap_srv_log(srv, "error", "heartbeats: %zu not recorded: %s", n, ap_ctx_errmsg(ctx));
out:
	for (i = 0; i < n; i++)
		beat_copy_clear(&q[i]);
	free(q);
	free(b);
}

static void *
beat_thread(void *arg)
{
	struct ap_srv *srv = arg;
	struct ap_ctx *ctx = ap_ctx_new();
	struct timespec ts;

	for (;;) {
		pthread_mutex_lock(&srv->beat_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)BEAT_FLUSH_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (!srv->beat_quit)
			pthread_cond_timedwait(&srv->beat_cond, &srv->beat_lock, &ts);
		int quit = srv->beat_quit;
		pthread_mutex_unlock(&srv->beat_lock);
		if (ctx != NULL)
			beats_flush(srv, ctx);
		if (quit)
			break;
	}
	ap_ctx_free(ctx);
	return NULL;
}

/* ---- job runners --------------------------------------------------------- */

struct runner {
	struct ap_srv *srv;
	struct runner *next;         /* srv->runners list */
	pthread_t thread;
	int finished;                /* set by the thread under srv->job_lock */
	int64_t job_id;
	char *user, *password, *identity, *known_hosts, *agent_server;
	char *account;               /* the vault account of targets naming none */
	int hostkey_policy, os, parallel, timeout_s, register_timeout_s;
};

static void
runner_free(struct runner *ru)
{
	if (ru == NULL)
		return;
	free(ru->user);
	if (ru->password != NULL) {
		sodium_memzero(ru->password, strlen(ru->password));
		free(ru->password);
	}
	free(ru->identity);
	free(ru->known_hosts);
	free(ru->agent_server);
	free(ru->account);
	free(ru);
}

static void *
runner_thread(void *arg)
{
	struct runner *ru = arg;
	struct ap_srv *srv = ru->srv;
	struct ap_run_opts o;
	struct ap_report *report = NULL;
	struct ap_vault_run *vr = NULL;
	struct ap_ctx *ctx = ap_ctx_new();

	/* Wait for a slot; a stop leaves the job planned in the store. */
	pthread_mutex_lock(&srv->job_lock);
	while (srv->jobs_running >= srv->max_jobs && !ap_srv_stopping(srv))
		pthread_cond_wait(&srv->job_cond, &srv->job_lock);
	if (!ap_srv_stopping(srv))
		srv->jobs_running++;
	pthread_mutex_unlock(&srv->job_lock);
	if (ap_srv_stopping(srv) || ctx == NULL || (report = ap_report_new()) == NULL)
		goto out_noslot;

	memset(&o, 0, sizeof(o));
	o.store = srv->store;
	o.job_id = ru->job_id;
	o.user = ru->user;
	o.password = ru->password;
	o.identity = ru->identity;
	o.known_hosts = ru->known_hosts;
	o.hostkey_policy = (enum ap_hostkey_policy)ru->hostkey_policy;
	o.os = (enum ap_os)ru->os;
	o.parallel = ru->parallel;
	o.timeout_s = ru->timeout_s;
	o.stop = &srv->stop;
	ap_run_agent_opts(srv, ru->agent_server, ru->register_timeout_s, &o);
	o.account = ru->account;
	ap_srv_log(srv, "info", "job %lld: started", (long long)ru->job_id);
	/* the vault's accounts its targets name; a vault that does not open
	 * leaves the job planned (agentpush resume runs it later) */
	if (ap_vault_run_open(srv->store, srv->vault_key, NULL, &o, NULL, 0, &vr, ctx) != AP_OK)
		ap_srv_log(srv, "error", "job %lld: not started: %s", (long long)ru->job_id, ap_ctx_errmsg(ctx));
	else if (ap_run_resume(&o, report, ctx) != AP_OK)
		ap_srv_log(srv, "error", "job %lld: %s", (long long)ru->job_id, ap_ctx_errmsg(ctx));
	else
		ap_srv_log(srv, "info", "job %lld: %s", (long long)ru->job_id,
		           ap_srv_stopping(srv) ? "stopped, resumable" : "done");
	ap_run_agent_opts_clear(&o);
	ap_vault_run_close(vr, &o);
	pthread_mutex_lock(&srv->job_lock);
	srv->jobs_running--;
	pthread_mutex_unlock(&srv->job_lock);
out_noslot:
	/* The password goes as soon as the job no longer needs it. */
	if (ru->password != NULL) {
		sodium_memzero(ru->password, strlen(ru->password));
		free(ru->password);
		ru->password = NULL;
	}
	ap_report_free(report);
	ap_ctx_free(ctx);
	pthread_mutex_lock(&srv->job_lock);
	ru->finished = 1;
	pthread_cond_broadcast(&srv->job_cond);
	pthread_mutex_unlock(&srv->job_lock);
	return NULL;
}

/* Joins and frees the runners that finished. */
static void
runners_reap(struct ap_srv *srv)
{
	struct runner **pp = NULL, *ru = NULL;

	pthread_mutex_lock(&srv->job_lock);
	pp = &srv->runners;
	while ((ru = *pp) != NULL) {
		if (ru->finished) {
			*pp = ru->next;
			pthread_mutex_unlock(&srv->job_lock);
			pthread_join(ru->thread, NULL);
			runner_free(ru);
			pthread_mutex_lock(&srv->job_lock);
			pp = &srv->runners;
			continue;
		}
		pp = &ru->next;
	}
	pthread_mutex_unlock(&srv->job_lock);
}

static char *
sdup(const char *s, int *oom)
{
	return dup_or_null(s, oom);
}

int
ap_srv_job_start(struct ap_srv *srv, const struct ap_srv_job *job,
                 struct ap_ctx *ctx)
{
	struct runner *ru = NULL;
	pthread_attr_t attr;
	int oom = 0, e;

	runners_reap(srv);
	if (ap_srv_stopping(srv))
		return ap_ctx_fail(ctx, AP_ECANCELED, 0, "the server is stopping");
	if ((ru = calloc(1, sizeof(*ru))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	ru->srv = srv;
	ru->job_id = job->job_id;
	ru->user = sdup(job->user, &oom);
	ru->password = sdup(job->password, &oom);
	ru->identity = sdup(job->identity, &oom);
	ru->known_hosts = sdup(job->known_hosts, &oom);
	ru->agent_server = sdup(job->agent_server, &oom);
	ru->account = sdup(job->account, &oom);
	ru->hostkey_policy = job->hostkey_policy;
	ru->os = job->os;
	ru->parallel = job->parallel;
	ru->timeout_s = job->timeout_s;
	ru->register_timeout_s = job->register_timeout_s;
	if (oom) {
		runner_free(ru);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_mutex_lock(&srv->job_lock);
	e = pthread_create(&ru->thread, &attr, runner_thread, ru);
	if (e == 0) {
		ru->next = srv->runners;
		srv->runners = ru;
	}
	pthread_mutex_unlock(&srv->job_lock);
	pthread_attr_destroy(&attr);
	if (e != 0) {
		runner_free(ru);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "cannot start the job's thread: %s", strerror(e));
	}
	return AP_OK;
}

/* ---- start and stop ------------------------------------------------------ */

/* "ADDR:PORT" or "[V6]:PORT" into host and port. */
static int
parse_listen(const char *s, char *host, size_t size, int *port,
             struct ap_ctx *ctx)
{
	const char *colon = NULL, *h = s;
	size_t hl;
	char *end = NULL;
	long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= size)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
		goto bad;
	*port = (int)p;
	return AP_OK;
bad:
	return ap_ctx_fail(ctx, AP_EINVAL, 0, "--listen %s: expected ADDRESS:PORT (e.g. 127.0.0.1:8443 or [::1]:8443)", s);
}

/* The certificate and key: given, or this server's own, made once. */
static int
cert_init(struct ap_srv *srv, const struct ap_server_opts *o, struct ap_ctx *ctx)
{
	struct stat sb;
	int r;

	if (o->cert_file != NULL || o->key_file != NULL) {
		if (o->cert_file == NULL || o->key_file == NULL)
			return ap_ctx_fail(ctx, AP_EINVAL, 0, "--cert and --key go together");
		snprintf(srv->cert_path, sizeof(srv->cert_path), "%s", o->cert_file);
		snprintf(srv->key_path, sizeof(srv->key_path), "%s", o->key_file);
	} else {
		snprintf(srv->cert_path, sizeof(srv->cert_path), "%s/tls-cert.pem", srv->state_dir);
		snprintf(srv->key_path, sizeof(srv->key_path), "%s/tls-key.pem", srv->state_dir);
		if (stat(srv->cert_path, &sb) != 0 || stat(srv->key_path, &sb) != 0) {
			if ((r = ap_srv_tls_make_cert(srv->cert_path, srv->key_path, srv->host, ctx)) != AP_OK)
				return r;
			ap_srv_log(srv, "info", "made a self-signed certificate: %s", srv->cert_path);
		}
	}
	return ap_server_cert_pin(srv->cert_path, srv->pin, sizeof(srv->pin), ctx);
}

int
ap_server_start(const struct ap_server_opts *o, struct ap_server **out,
                struct ap_ctx *ctx)
{
	struct ap_srv *srv = NULL;
	char *hash = NULL;
	int r;

	*out = NULL;
	if (o == NULL || o->db_path == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "server: no job store given");
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	pthread_mutex_init(&srv->log_lock, NULL);
	pthread_mutex_init(&srv->rate_lock, NULL);
	pthread_mutex_init(&srv->pwhash_lock, NULL);
	pthread_mutex_init(&srv->beat_lock, NULL);
	pthread_cond_init(&srv->beat_cond, NULL);
	pthread_mutex_init(&srv->job_lock, NULL);
	pthread_cond_init(&srv->job_cond, NULL);
	srv->inited = 1;
	srv->log = o->log;
	srv->log_ud = o->log_ud;
	srv->insecure_http = o->insecure_http;
	srv->heartbeat_s = o->heartbeat_s > 0 ? o->heartbeat_s : DEFAULT_HEARTBEAT_S;
	srv->max_jobs = o->max_jobs > 0 ? o->max_jobs : DEFAULT_MAX_JOBS;
	srv->workers = o->workers;
	if ((srv->rate = calloc(RATE_MAX_SOURCES, sizeof(*srv->rate))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto fail;
	}
	if ((r = parse_listen(o->listen != NULL ? o->listen : AP_SERVER_DEFAULT_LISTEN,
	                      srv->host, sizeof(srv->host), &srv->port, ctx)) != AP_OK ||
	    (r = ap_server_state_dir(o->state_dir, o->db_path, srv->state_dir,
	                             sizeof(srv->state_dir), ctx)) != AP_OK ||
	    (r = ap_srv_sodium_init(ctx)) != AP_OK ||
	    (r = ap_vault_key_path(o->db_path, srv->vault_key, sizeof(srv->vault_key), ctx)) != AP_OK ||
	    (r = ap_store_open(o->db_path, &srv->store, ctx)) != AP_OK ||
	    (r = ap_server_secrets_init(srv->store, srv->state_dir, &srv->token_created,
	                                srv->token_path, sizeof(srv->token_path), ctx)) != AP_OK ||
	    (r = ap_store_secret_get(srv->store, "admin_token", &hash, ctx)) != AP_OK)
		goto fail;
	snprintf(srv->admin_hash, sizeof(srv->admin_hash), "%s", hash);
	free(hash);
	if (!srv->insecure_http && (r = cert_init(srv, o, ctx)) != AP_OK)
		goto fail;
	if (pthread_create(&srv->beat_tid, NULL, beat_thread, srv) != 0) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "cannot start the heartbeat thread");
		goto fail;
	}
	srv->beat_started = 1;
	if ((r = ap_srv_http_start(srv, ctx)) != AP_OK)
		goto fail;
	*out = (struct ap_server *)srv;
	return AP_OK;
fail:
	ap_server_stop((struct ap_server *)srv, 0);
	return r;
}

int
ap_server_port(const struct ap_server *s)
{
	return ((const struct ap_srv *)s)->port;
}

const char *
ap_server_host(const struct ap_server *s)
{
	return ((const struct ap_srv *)s)->host;
}

const char *
ap_server_token_path(const struct ap_server *s)
{
	return ((const struct ap_srv *)s)->token_path;
}

int
ap_server_token_created(const struct ap_server *s)
{
	return ((const struct ap_srv *)s)->token_created;
}

const char *
ap_server_cert_path(const struct ap_server *s)
{
	const struct ap_srv *srv = (const struct ap_srv *)s;

	return srv->insecure_http ? NULL : srv->cert_path;
}

void
ap_server_stop(struct ap_server *s, int grace_s)
{
	struct ap_srv *srv = (struct ap_srv *)s;
	struct timespec deadline;
	int left = 0;

	if (srv == NULL)
		return;
	__atomic_store_n(&srv->stop, 1, __ATOMIC_RELEASE);
	if (srv->inited) {
		pthread_mutex_lock(&srv->job_lock);
		pthread_cond_broadcast(&srv->job_cond);
		pthread_mutex_unlock(&srv->job_lock);
	}
	/* Connections first: streams see the stop flag within a second. */
	ap_srv_http_stop(srv);
	/* Runners: their hosts in flight finish, no new one starts. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += grace_s;
	if (srv->inited) {
		struct runner *ru = NULL;

		pthread_mutex_lock(&srv->job_lock);
		for (;;) {
			left = 0;
			for (ru = srv->runners; ru != NULL; ru = ru->next)
				if (!ru->finished)
					left++;
			if (left == 0 ||
			    pthread_cond_timedwait(&srv->job_cond, &srv->job_lock, &deadline) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&srv->job_lock);
		if (left > 0) {
			/* A host still in flight uses the store: leave it all to
			 * the process's exit (the job is resumable, as after a
			 * crash). */
			ap_srv_log(srv, "warning", "stopping with %d job(s) still running; they stay resumable", left);
			return;
		}
		runners_reap(srv);
	}
	if (srv->beat_started) {
		pthread_mutex_lock(&srv->beat_lock);
		srv->beat_quit = 1;
		pthread_cond_signal(&srv->beat_cond);
		pthread_mutex_unlock(&srv->beat_lock);
		pthread_join(srv->beat_tid, NULL);
	}
	ap_store_close(srv->store);
	free(srv->rate);
	free(srv->beats);
	sodium_memzero(srv->admin_hash, sizeof(srv->admin_hash));
	sodium_memzero(srv->pp_key, sizeof(srv->pp_key));
	sodium_memzero(srv->pp_mac, sizeof(srv->pp_mac));
	if (srv->inited) {
		pthread_mutex_destroy(&srv->log_lock);
		pthread_mutex_destroy(&srv->rate_lock);
		pthread_mutex_destroy(&srv->pwhash_lock);
		pthread_mutex_destroy(&srv->beat_lock);
		pthread_cond_destroy(&srv->beat_cond);
		pthread_mutex_destroy(&srv->job_lock);
		pthread_cond_destroy(&srv->job_cond);
	}
	free(srv);
}
