/*
 * drv.c - picking a driver for a store location, and the text rewriting
 * the drivers share (drv.h).
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "agentpush/errors.h"
#include "drv.h"

int
drv_is_uri(const char *loc)
{
	return strncmp(loc, "postgresql://", 13) == 0 || strncmp(loc, "postgres://", 11) == 0;
}

int
drv_open(const char *location, struct drv **out, char **display,
         struct ap_ctx *ctx)
{
	char *disp = NULL;
	int r;

	*out = NULL;
	*display = NULL;
	if (drv_is_uri(location)) {
		if ((disp = drv_redact_uri(location)) == NULL)
			return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		r = drv_pg_open(location, disp, out, ctx);
	} else {
		if ((disp = strdup(location)) == NULL)
			return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		r = drv_sqlite_open(location, out, ctx);
	}
	if (r != AP_OK) {
		free(disp);
		return r;
	}
	*display = disp;
	return AP_OK;
}

char *
drv_redact_uri(const char *uri)
{
	const char *scheme_end = strstr(uri, "://"), *auth, *at = NULL, *colon, *p;
	size_t n = strlen(uri);
	char *out = NULL, *q;

	if (scheme_end == NULL)
		return strdup(uri);
	auth = scheme_end + 3;
	/* The user information ends at the LAST '@' before the query string:
	 * a password that was not percent-encoded may hold '/' or '@'. */
	for (p = auth; *p != '\0' && *p != '?'; p++)
		if (*p == '@')
			at = p;
	if ((out = malloc(n + 8)) == NULL)
		return NULL;
	if (at != NULL && (colon = memchr(auth, ':', (size_t)(at - auth))) != NULL)
		snprintf(out, n + 8, "%.*s***%s", (int)(colon - uri) + 1, uri, at);
	else
		snprintf(out, n + 8, "%s", uri);
	/* ?password=... and every other parameter: cut. */
	if ((q = strchr(out, '?')) != NULL)
		*q = '\0';
	return out;
}

/* Appends s to the growing buffer; 0 or -1 when out of memory. */
static int
put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	char *nb;

	if (*len + n + 1 > *cap) {
		size_t nc = (*cap + n + 1) * 2;

		if ((nb = realloc(*buf, nc)) == NULL)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

char *
drv_translate_tokens(const char *sql, const char *now_ms,
                     const char *for_update, const char *skip_locked,
                     int dollar)
{
	static const struct { const char *tok; int which; } toks[] = {
		{ "@NOW_MS@", 0 }, { "@FOR_UPDATE@", 1 }, { "@SKIP_LOCKED@", 2 },
	};
	const char *repl[3] = { now_ms, for_update, skip_locked };
	const char *p = sql, *q = NULL;
	size_t len = 0, cap = 0, i;
	char *buf = NULL;
	int quoted = 0;

	if (put(&buf, &len, &cap, "", 0) != 0)
		return NULL;
	while (*p != '\0') {
		if (*p == '\'')
			quoted = !quoted;
		if (!quoted && *p == '@') {
			for (i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
				size_t tl = strlen(toks[i].tok);

				if (strncmp(p, toks[i].tok, tl) == 0) {
					if (put(&buf, &len, &cap, repl[toks[i].which],
					        strlen(repl[toks[i].which])) != 0)
						goto oom;
					p += tl;
					break;
				}
			}
			if (i < sizeof(toks) / sizeof(toks[0]))
				continue;
		}
		if (!quoted && dollar && *p == '?' && p[1] >= '0' && p[1] <= '9') {
			if (put(&buf, &len, &cap, "$", 1) != 0)
				goto oom;
			p++;
			continue;
		}
		q = p + 1;
		if (put(&buf, &len, &cap, p, (size_t)(q - p)) != 0)
			goto oom;
		p = q;
	}
	return buf;
oom:
	free(buf);
	return NULL;
}
