/*
 * ctx.h - the context object that carries error detail.
 *
 * Every library call that can fail takes a struct ap_ctx and, on failure,
 * returns a negative AP_E* code and records a one-line, user-actionable
 * message on the context (libssh's ssh_set_error() habit).  The library never
 * prints; the caller decides what to show.
 *
 * A context belongs to one thread at a time.  The engine gives each worker its
 * own context; nothing here is global.
 *
 * Ownership: ap_ctx_new() returns a context the caller frees with
 * ap_ctx_free() (which accepts NULL).  Strings returned by ap_ctx_errmsg() are
 * owned by the context and valid until the next call that sets an error.
 */
#ifndef AGENTPUSH_CTX_H
#define AGENTPUSH_CTX_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Library return codes.  0 is success; every failure is negative. */
enum ap_rc {
	AP_OK = 0,
	AP_ENOMEM = -1,    /* out of memory */
	AP_EINVAL = -2,    /* bad input from the caller, a file or the user */
	AP_EIO = -3,       /* local I/O failed (file, pipe) */
	AP_ENOTFOUND = -4, /* the thing asked for does not exist */
	AP_EREMOTE = -5,   /* the target refused or failed; see ap_ctx_error_id() */
	AP_EPROTO = -6,    /* a peer spoke something we could not parse */
	AP_ETIMEOUT = -7,  /* a deadline passed */
	AP_EUNSUPP = -8,   /* not supported (yet) on this platform or build */
	AP_ECANCELED = -9, /* stopped on request */
	AP_EINTERNAL = -10, /* a bug: an invariant did not hold */
	AP_ECONFLICT = -11  /* the thing is not in a state that allows this */
};

struct ap_ctx;

/* Returns a new context, or NULL when out of memory. */
struct ap_ctx *ap_ctx_new(void);
/* Frees ctx and everything it owns.  NULL is fine. */
void ap_ctx_free(struct ap_ctx *ctx);

/*
 * Records an error on ctx and returns rc, so a caller can write
 *   return ap_ctx_fail(ctx, AP_EINVAL, 0, "inventory %s:%d: ...", path, line);
 * error_id is a catalog ErrorID (see catalog.h) or 0 when the failure is not a
 * target condition.  The message is one line, with no trailing newline; it
 * must never contain a secret.
 */
int ap_ctx_fail(struct ap_ctx *ctx, int rc, int error_id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int ap_ctx_vfail(struct ap_ctx *ctx, int rc, int error_id, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));

/* Clears the recorded error. */
void ap_ctx_clear(struct ap_ctx *ctx);

/* The last message, or "" when none.  Owned by ctx. */
const char *ap_ctx_errmsg(const struct ap_ctx *ctx);
/* The last return code recorded, or AP_OK. */
int ap_ctx_rc(const struct ap_ctx *ctx);
/* The catalog ErrorID of the last error, or 0. */
int ap_ctx_error_id(const struct ap_ctx *ctx);

/* A short English name for an AP_E* code ("out of memory", ...). */
const char *ap_rc_str(int rc);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_CTX_H */
