/*
 * server_priv.h - struct ap_srv itself, for server.c and http.c only.
 * Route handlers go through the functions of server_int.h.
 */
#ifndef AP_SERVER_PRIV_H
#define AP_SERVER_PRIV_H

#include <limits.h>
#include <pthread.h>

#include "agentpush/run.h"
#include "server_int.h"

struct MHD_Daemon;
struct rate_source;
struct beat_copy;
struct runner;

struct ap_srv {
	struct ap_store *store;
	char host[256];              /* listen address */
	int port;
	int insecure_http;
	int heartbeat_s;
	int max_jobs;
	int workers;                 /* ap_server_opts.workers */
	char state_dir[PATH_MAX];
	char vault_key[PATH_MAX + 16]; /* the vault's key file, beside the store */
	char token_path[PATH_MAX + 32];
	int token_created;
	char admin_hash[AP_SRV_HASH_HEX];
	char cert_path[PATH_MAX + 32], key_path[PATH_MAX + 32];
	char pin[80];
	int stop;                    /* atomic; the engine reads it too */
	int inited;

	void (*log)(void *ud, const char *level, const char *line);
	void *log_ud;
	pthread_mutex_t log_lock;

	pthread_mutex_t rate_lock;
	struct rate_source *rate;
	size_t n_rate;

	pthread_mutex_t pwhash_lock;  /* and the fields below */
	char pp_verifier[160];       /* the store's verifier pp_mac is for */
	unsigned char pp_key[32];    /* random, this process only */
	unsigned char pp_mac[32];    /* BLAKE2b(pp_key, accepted passphrase) */
	int pp_cached;

	pthread_mutex_t beat_lock;
	pthread_cond_t beat_cond;
	struct beat_copy *beats;
	size_t n_beats, cap_beats;
	int beat_quit, beat_started;
	pthread_t beat_tid;

	pthread_mutex_t job_lock;
	pthread_cond_t job_cond;
	struct runner *runners;
	int jobs_running;

	struct MHD_Daemon *mhd;
	char *tls_key_pem, *tls_cert_pem;
};

/* http.c: binds and starts answering; stops (waits for its threads). */
int ap_srv_http_start(struct ap_srv *srv, struct ap_ctx *ctx);
void ap_srv_http_stop(struct ap_srv *srv);

/*
 * agents.c: fills the agent-registration fields of o for an install job
 * (server URL, pin, passphrase, deadline) from the server; _clear wipes
 * what it allocated.
 */
void ap_run_agent_opts(struct ap_srv *srv, const char *agent_server,
                       int register_timeout_s, struct ap_run_opts *o);
void ap_run_agent_opts_clear(struct ap_run_opts *o);

#endif
