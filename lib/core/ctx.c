/*
 * ctx.c - error detail carried on a context object (see ctx.h).
 *
 * The message buffer is fixed-size on purpose: recording an error must not
 * itself fail for lack of memory, so ap_ctx_fail() can be called on the ENOMEM
 * path.  Messages longer than the buffer are cut, never overflowed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/ctx.h"

#define CTX_MSG_MAX 1024

struct ap_ctx {
	int rc;
	int error_id;
	char msg[CTX_MSG_MAX];
};

struct ap_ctx *
ap_ctx_new(void)
{
	return calloc(1, sizeof(struct ap_ctx));
}

void
ap_ctx_free(struct ap_ctx *ctx)
{
	free(ctx);
}

int
ap_ctx_vfail(struct ap_ctx *ctx, int rc, int error_id, const char *fmt,
             va_list ap)
{
	char *nl = NULL;

	if (ctx == NULL)
		return rc;
	ctx->rc = rc;
	ctx->error_id = error_id;
	vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
	/* One line only: a message is shown after "agentpush: ". */
	while ((nl = strpbrk(ctx->msg, "\r\n")) != NULL)
		*nl = ' ';
	return rc;
}

int
ap_ctx_fail(struct ap_ctx *ctx, int rc, int error_id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ap_ctx_vfail(ctx, rc, error_id, fmt, ap);
	va_end(ap);
	return rc;
}

void
ap_ctx_clear(struct ap_ctx *ctx)
{
	if (ctx == NULL)
		return;
	ctx->rc = AP_OK;
	ctx->error_id = 0;
	ctx->msg[0] = '\0';
}

const char *
ap_ctx_errmsg(const struct ap_ctx *ctx)
{
	return ctx != NULL ? ctx->msg : "";
}

int
ap_ctx_rc(const struct ap_ctx *ctx)
{
	return ctx != NULL ? ctx->rc : AP_OK;
}

int
ap_ctx_error_id(const struct ap_ctx *ctx)
{
	return ctx != NULL ? ctx->error_id : 0;
}

const char *
ap_rc_str(int rc)
{
	switch (rc) {
	case AP_OK:        return "success";
	case AP_ENOMEM:    return "out of memory";
	case AP_EINVAL:    return "invalid input";
	case AP_EIO:       return "input/output error";
	case AP_ENOTFOUND: return "not found";
	case AP_EREMOTE:   return "the target refused or failed";
	case AP_EPROTO:    return "protocol error";
	case AP_ETIMEOUT:  return "timed out";
	case AP_EUNSUPP:   return "not supported";
	case AP_ECANCELED: return "canceled";
	case AP_EINTERNAL: return "internal error";
	case AP_ECONFLICT: return "conflict";
	}
	return "unknown error";
}
