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

/* One line to the server's log (the program decides where it goes); never a
 * secret.  level: "info", "warning", "error". */
void ap_srv_log(struct ap_srv *srv, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Now, UTC ISO 8601 with milliseconds, into buf (>= 32 bytes). */
void ap_srv_now_iso(char *buf, size_t size);

#endif /* AP_SERVER_INT_H */
