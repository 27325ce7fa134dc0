/*
 * server.h - the configuration server (`agentpush serve`) as a library.
 *
 * The server is the CLI's library behind HTTPS: it submits jobs to the same
 * engine, reads the same store, explains the same catalog.  Its files (TLS
 * key and certificate, the admin token, the registration passphrase) live in
 * one state folder, 0700, each file 0600.
 *
 * Ownership: strings passed in are borrowed for the call; output buffers
 * belong to the caller.
 */
#ifndef AGENTPUSH_SERVER_H
#define AGENTPUSH_SERVER_H

#include <stddef.h>

#include "agentpush/ctx.h"
#include "agentpush/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default listen address of `agentpush serve`. */
#define AP_SERVER_DEFAULT_LISTEN "127.0.0.1:8443"

/*
 * The server's state folder: state_dir when it is not NULL, else the folder
 * that holds the job store file db_path (so the default store,
 * ~/.local/state/agentpush/jobs.db, puts them in ~/.local/state/agentpush).
 * The folder is created 0700 when missing.  Writes into buf.
 */
int ap_server_state_dir(const char *state_dir, const char *db_path, char *buf,
                        size_t size, struct ap_ctx *ctx);

/* ---- secrets (lib/server/secrets.c) ------------------------------------
 *
 * The admin API token and the registration passphrase are made on the
 * server's first start.  Each cleartext is kept only in a 0600 file of the
 * state folder (admin-token, registration-passphrase: an operator reads
 * them there, install hands the passphrase to agents); the store keeps only
 * verifiers: the token's BLAKE2b hash, the passphrase's Argon2id string.
 */

/* Passphrases are this many characters (from [A-Za-z0-9]; ~143 bits). */
#define AP_SERVER_PASSPHRASE_LEN 24

/*
 * Makes the token and the passphrase when either is missing (in the store or
 * in the state folder); an existing pair is kept.  *created (may be NULL) is
 * set to 1 when a token was made now.  Writes the token file's path into
 * token_path (may be NULL).
 */
int ap_server_secrets_init(struct ap_store *st, const char *state_dir,
                           int *created, char *token_path, size_t size,
                           struct ap_ctx *ctx);

/*
 * The registration passphrase, read from the state folder into buf (at
 * least AP_SERVER_PASSPHRASE_LEN + 1 bytes), checked against the store's
 * verifier.  AP_ENOTFOUND when the server never made one.  The caller
 * wipes buf after use.
 */
int ap_server_passphrase_read(struct ap_store *st, const char *state_dir,
                              char *buf, size_t size, struct ap_ctx *ctx);

/*
 * Makes a new passphrase: the file and the store's verifier.  Agents that
 * already registered keep working (they hold their own secret); only new
 * registrations need the new one.
 */
int ap_server_passphrase_rotate(struct ap_store *st, const char *state_dir,
                                struct ap_ctx *ctx);

/*
 * The TLS certificate's public key pin, "sha256//BASE64" (curl's
 * CURLOPT_PINNEDPUBLICKEY form), of the PEM certificate file cert_path.
 */
int ap_server_cert_pin(const char *cert_path, char *buf, size_t size,
                       struct ap_ctx *ctx);

/*
 * What `install --server URL` hands each agent (run.h: agent_passphrase,
 * agent_pin), read from the server's state folder (state_dir, or the
 * folder of the store file db_path): the registration passphrase, checked
 * against st's verifier, into *pass (sodium_malloc'd), and for an https URL
 * the pin of <state>/tls-cert.pem into *pin (malloc'd; NULL for http).
 * Release both with ap_server_enroll_free(), which wipes the passphrase.
 */
int ap_server_enroll_load(struct ap_store *st, const char *state_dir,
                          const char *db_path, const char *url, char **pass,
                          char **pin, struct ap_ctx *ctx);
void ap_server_enroll_free(char *pass, char *pin);

/* ---- the server (lib/server/server.c) ---------------------------------- */

struct ap_server;

struct ap_server_opts {
	const char *listen;          /* "ADDR:PORT" ([v6]:PORT); NULL: default */
	const char *db_path;         /* the job store */
	const char *state_dir;       /* NULL: the store's folder */
	const char *cert_file;       /* --cert/--key; NULL: <state>/tls-cert.pem,
	                              * made on first start */
	const char *key_file;
	int insecure_http;           /* plain HTTP (tests only) */
	int heartbeat_s;             /* interval handed to agents; 0: 60 */
	int max_jobs;                /* jobs run at once; 0: 4 */
	int workers;                 /* 1: jobs are run by `agentpush worker`
	                              * processes sharing the store (worker.h);
	                              * the server records them only, and
	                              * refuses a job password (it could not
	                              * reach the workers) */
	const char *localedir;       /* for Accept-Language; NULL: built in */
	/* Where log lines go (one line, no newline, never a secret); NULL:
	 * nowhere.  Called from any thread, serialised by the server. */
	void (*log)(void *ud, const char *level, const char *line);
	void *log_ud;
};

/*
 * Opens the store, makes the secrets and the certificate when missing,
 * binds the address and starts answering (threads of its own).  *out
 * belongs to the caller: ap_server_stop() it.
 */
int ap_server_start(const struct ap_server_opts *opts, struct ap_server **out,
                    struct ap_ctx *ctx);
/* The address listened on (numeric, without brackets). */
const char *ap_server_host(const struct ap_server *srv);
/* The port bound (useful with port 0). */
int ap_server_port(const struct ap_server *srv);
/* Path of the admin token file; whether this start made it. */
const char *ap_server_token_path(const struct ap_server *srv);
int ap_server_token_created(const struct ap_server *srv);
/* The certificate in use, or NULL with insecure_http. */
const char *ap_server_cert_path(const struct ap_server *srv);
/*
 * Graceful stop: no new connection or host; running hosts finish their
 * current pipeline for up to grace_s seconds; whatever is left of a job stays
 * in the store as after a crash (resumable); queued heartbeats are written.
 * Frees srv.
 */
void ap_server_stop(struct ap_server *srv, int grace_s);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_SERVER_H */
