/*
 * server_int.h - the contract between the configuration server's HTTP layer
 * (lib/server/http.c: libmicrohttpd, TLS, body limits, authentication) and
 * its route handlers (api_jobs.c, api_errors.c, api_agents.c, static.c).
 *
 * A handler sees a fully read request (body NUL-terminated, at most
 * AP_SRV_MAX_BODY bytes: the HTTP layer answers 413 itself beyond that) whose
 * authentication the HTTP layer has already checked as the route's table
 * entry asks, and fills one response.  It never writes to a socket and never
 * prints; it logs through ap_srv_log().  Handlers run on the HTTP layer's
 * connection threads, several at once: anything they share lives in struct
 * ap_srv behind its own lock, or in the store (which is thread-safe).
 *
 * No job state lives only in a server's memory: jobs, targets, events,
 * cancel requests and agents are in the store, so a restarted server (or
 * another process on the same store) carries on from there.
 *
 * Ownership: ap_srv_resp's body and content_type strings are owned by the
 * response once set (freed by the HTTP layer); the request's strings are
 * borrowed for the call.
 */
#ifndef AP_SERVER_INT_H
#define AP_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "agentpush/ctx.h"
#include "agentpush/store.h"

/* Request bodies larger than this get 413 before any handler sees them. */
#define AP_SRV_MAX_BODY (1024 * 1024)

struct ap_srv;   /* the server: store, options, rate limiter, beat batcher */

/* Who may call a route; the HTTP layer enforces it before the handler. */
enum ap_srv_auth {
	AP_SRV_AUTH_NONE = 0,  /* anyone (registration checks its passphrase
	                        * itself; static files; health) */
	AP_SRV_AUTH_ADMIN,     /* Authorization: Bearer <admin token> */
	AP_SRV_AUTH_AGENT      /* Authorization: Bearer <agent secret>; the
	                        * handler checks it against the agent named by
	                        * the path (the HTTP layer only requires that a
	                        * Bearer value is present) */
};

struct ap_srv_req {
	const char *method;          /* "GET", "POST", "DELETE" */
	const char *path;            /* full path, e.g. "/api/v1/jobs/3" */
	const char *param;           /* the "{}" capture of the pattern, or NULL */
	const char *body;            /* NUL-terminated ("" when none) */
	size_t body_len;
	const char *client_addr;     /* numeric address of the peer */
	const char *bearer;          /* Bearer value, or NULL */
	const char *accept_language; /* header value, or NULL */
	const char *last_event_id;   /* Last-Event-ID header, or NULL */
	/* query string value by name, or NULL (borrowed) */
	const char *(*query)(const struct ap_srv_req *req, const char *name);
	void *query_ud;              /* for query(): the HTTP layer's */
};

/*
 * A streamed body (Server-Sent Events): next() is called repeatedly from the
 * connection's thread; it writes at most size bytes into buf and returns how
 * many (it may block up to about a second waiting for something to send,
 * and should send a comment line as a keep-alive when nothing happened),
 * 0 is not allowed, -1 ends the stream.  free_fn releases ud once the
 * connection is done.
 */
struct ap_srv_stream {
	long (*next)(void *ud, char *buf, size_t size);
	void (*free_fn)(void *ud);
	void *ud;
};

struct ap_srv_resp {
	int status;                  /* HTTP status */
	char *body;                  /* malloc'd; NULL for no body */
	size_t body_len;
	char *content_type;          /* malloc'd; NULL: application/json */
	char *location;              /* malloc'd Location header, or NULL */
	int retry_after_s;           /* > 0: a Retry-After header (429) */
	struct ap_srv_stream stream; /* next != NULL: body is streamed instead */
};

typedef void (*ap_srv_handler)(struct ap_srv *srv, const struct ap_srv_req *req,
                               struct ap_srv_resp *resp);

/*
 * A route.  pattern matches the path exactly, except that one "{}" matches a
 * single non-empty path segment (no '/'), which becomes req->param.
 */
struct ap_srv_route {
	const char *method;
	const char *pattern;         /* e.g. "/api/v1/jobs/{}" */
	enum ap_srv_auth auth;
	ap_srv_handler fn;
};

/* Route tables, one per module; each ends with an entry whose method is NULL. */
extern const struct ap_srv_route ap_srv_job_routes[];     /* api_jobs.c */
extern const struct ap_srv_route ap_srv_error_routes[];   /* api_errors.c */
extern const struct ap_srv_route ap_srv_agent_routes[];   /* api_agents.c */
extern const struct ap_srv_route ap_srv_static_routes[];  /* static.c */

/* ---- Helpers for handlers (lib/server/resp.c) ---------------------------- */

/* Sets a JSON body from j (consumed: freed here) with status. */
void ap_srv_resp_json(struct ap_srv_resp *resp, int status, cJSON *j);
/*
 * Sets the error body every 4xx/5xx carries:
 *   {"error": {"status": 400, "code": "bad_json", "field": "targets",
 *              "message": "..."}}
 * field may be NULL (left out).  code is a stable lowercase word; message
 * one line a user can act on.
 */
void ap_srv_resp_error(struct ap_srv_resp *resp, int status, const char *code,
                       const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The server's store (borrowed; thread-safe). */
struct ap_store *ap_srv_store(struct ap_srv *srv);
/* Whether jobs are left to `agentpush worker` processes (--workers). */
int ap_srv_workers(const struct ap_srv *srv);

/* One line to the server's log (the program decides where it goes); never a
 * secret.  level: "info", "warning", "error". */
void ap_srv_log(struct ap_srv *srv, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Now, UTC ISO 8601 with milliseconds, into buf (>= 32 bytes). */
void ap_srv_now_iso(char *buf, size_t size);

/* ---- Reading request bodies (lib/server/json_in.c) -------------------------
 *
 * Each returns 0, or -1 with the 400 already set on resp.
 */

/* Parses the body as one JSON object into *out (caller cJSON_Delete()s). */
int ap_srv_body_object(const struct ap_srv_req *req, struct ap_srv_resp *resp,
                       cJSON **out);
/* Refuses a field not in known (NULL-terminated) and a field given twice. */
int ap_srv_fields_known(const cJSON *obj, const char *const *known,
                        struct ap_srv_resp *resp);
/* A string field of 1..max_len characters (no control character but tab
 * and newlines); absent or null: *out NULL (an error when required).  *out
 * is borrowed from obj. */
int ap_srv_field_string(const cJSON *obj, const char *name, int required,
                        size_t max_len, const char **out,
                        struct ap_srv_resp *resp);
/* A whole number in [min, max]; absent or null leaves *out as it is. */
int ap_srv_field_int(const cJSON *obj, const char *name, int min, int max,
                     int *out, struct ap_srv_resp *resp);
/* A positive decimal id of the path; -1 when it is not one. */
int ap_srv_param_id(const char *param, int64_t *out);
/* s with control characters replaced, cut to size, for a message. */
void ap_srv_safe_copy(const char *s, char *buf, size_t size);
/* api_errors.c: 1 when Accept-Language prefers French to English. */
int ap_srv_wants_french(const char *accept_language);

/* ---- Secrets (lib/server/secrets.c) -------------------------------------- */

/* Length of a BLAKE2b-256 hex string with its NUL. */
#define AP_SRV_HASH_HEX 65

int ap_srv_sodium_init(struct ap_ctx *ctx);
/* n_bytes (<= 64) random bytes as hex into buf (2 * n_bytes + 1 bytes). */
void ap_srv_random_hex(char *buf, size_t n_bytes);
/* The BLAKE2b-256 hex of secret. */
void ap_srv_hash_hex(const char *secret, char out[AP_SRV_HASH_HEX]);
/* 1 when secret hashes to hash_hex (constant time), else 0. */
int ap_srv_hash_matches(const char *secret, const char *hash_hex);
/* 1 when pass is the registration passphrase, 0 when not, < 0 on error.
 * Argon2id: tens of milliseconds and 64 MiB; callers serialise it. */
int ap_srv_passphrase_verify(struct ap_store *st, const char *pass,
                             struct ap_ctx *ctx);

/* ---- TLS (lib/server/tls.c) ---------------------------------------------- */

/* Makes a self-signed certificate and its key (0600) for host (an address
 * or a name put in the certificate; may be NULL). */
int ap_srv_tls_make_cert(const char *cert_path, const char *key_path,
                         const char *host, struct ap_ctx *ctx);

/* ---- The server's shared parts (lib/server/server.c) --------------------- */

/* The interval agents are told to beat at, in seconds. */
int ap_srv_heartbeat_s(const struct ap_srv *srv);
/* 1 once a stop was asked (streams end, no new host starts). */
int ap_srv_stopping(const struct ap_srv *srv);
/* The port this server listens on. */
int ap_srv_port(const struct ap_srv *srv);
/* "https" or "http". */
const char *ap_srv_scheme(const struct ap_srv *srv);
/* The certificate's pin ("sha256//..."), or "" with plain HTTP. */
const char *ap_srv_pin(const struct ap_srv *srv);
/* The URL install jobs hand their agents: agent_server when not NULL, else
 * this server's (with "{controller}" as its host when it listens on every
 * address or on loopback only). */
void ap_srv_agent_url(const struct ap_srv *srv, const char *agent_server,
                      char *buf, size_t size);
/* The state folder. */
const char *ap_srv_state_dir(const struct ap_srv *srv);
/* 1 when bearer is the admin token. */
int ap_srv_admin_ok(const struct ap_srv *srv, const char *bearer);

/*
 * Registration rate limit: counts one try from addr; returns 1 when it is
 * within AP_SRV_REGISTER_PER_MIN tries of the last 60 s, else 0 with
 * *retry_after_s set.  The window lives in memory: a restart forgets it,
 * which only ever gives a source a fresh minute.
 */
#define AP_SRV_REGISTER_PER_MIN 5
int ap_srv_rate_allow(struct ap_srv *srv, const char *addr, int *retry_after_s);
/*
 * 1 when pass is the registration passphrase, 0 when not, < 0 on error.
 * The Argon2id check (tens of milliseconds, 64 MiB) runs one at a time;
 * a passphrase it accepted is remembered as a keyed BLAKE2b hash (key
 * random per process) together with the store's verifier, so the next
 * registrations with it cost microseconds, while a rotation (a new
 * verifier in the store, from any process) drops what was remembered.
 * A wrong passphrase always pays the full check (and the rate limit).
 */
int ap_srv_passphrase_check(struct ap_srv *srv, const char *pass,
                            struct ap_ctx *ctx);

/*
 * Queues a heartbeat (copied); the batcher writes the beats of each second
 * in one transaction.  AP_ENOMEM when the copy fails.
 */
int ap_srv_beat_queue(struct ap_srv *srv, const struct ap_agent_beat *beat);

/*
 * A job recorded in the store (ap_run_plan) to be run by this server.  The
 * strings are copied; the password is kept in memory only until the job
 * has run, then wiped.
 */
struct ap_srv_job {
	int64_t job_id;
	const char *user, *password, *identity, *known_hosts;
	int hostkey_policy, os, parallel, timeout_s;
	const char *agent_server;      /* install: URL agents register with */
	int register_timeout_s;
	const char *account;           /* the vault account of targets naming
	                                * none, or NULL */
};
int ap_srv_job_start(struct ap_srv *srv, const struct ap_srv_job *job,
                     struct ap_ctx *ctx);

#endif /* AP_SERVER_INT_H */
