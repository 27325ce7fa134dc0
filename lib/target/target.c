/*
 * target.c - parsing of one target: [user@]host[:port], IPv6 in brackets.
 *
 * Design: the spec is split from the outside in.  The user is everything
 * before the LAST '@' (so a Windows "admin@corp.example" account still
 * works), the port is what follows the closing ']' of an IPv6 literal or the
 * only ':' of a name or IPv4 address.  A bare IPv6 address without brackets
 * is accepted when inet_pton() agrees it is one; it then cannot carry a port.
 *
 * Every rejection names the offending piece in one line.  The spec is quoted
 * through ap_target_quote(), so a control character or a newline in it can
 * never break the one-line rule or reach a terminal raw.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/target.h"

#define HOST_MAX 253
#define USER_MAX 256

void
ap_target_quote(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return;
	for (; s != NULL && *s != '\0' && o + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (s != NULL && *s != '\0' && o + 3 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

/* Describes c for a message: "';'", "a space", "the control character 0x0a". */
static void
describe_char(unsigned char c, char *buf, size_t size)
{
	if (c == ' ')
		snprintf(buf, size, "a space");
	else if (c == '\t')
		snprintf(buf, size, "a tab");
	else if (c < 0x20 || c == 0x7f)
		snprintf(buf, size, "the control character 0x%02x", c);
	else if (c >= 0x80)
		snprintf(buf, size, "the non-ASCII byte 0x%02x", c);
	else
		snprintf(buf, size, "'%c'", c);
}

static int
host_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
	       c == ':' || c == '%';
}

/*
 * Returns NULL when host is acceptable, else a static reason; *bad gets the
 * offending byte when the reason is about one.
 */
static const char *
host_problem(const char *host, unsigned char *bad)
{
	size_t i, n = strlen(host);

	*bad = 0;
	if (n == 0)
		return "host is empty";
	if (n > HOST_MAX)
		return "host is longer than 253 characters";
	if (host[0] == '-')
		return "host may not start with '-'";
	for (i = 0; i < n; i++) {
		if (!host_char_ok((unsigned char)host[i])) {
			*bad = (unsigned char)host[i];
			return "host holds a character not allowed in a host name";
		}
	}
	if (strchr(host, ':') != NULL) {
		/* Only an IPv6 literal may hold ':'; allow a %zone suffix. */
		char tmp[HOST_MAX + 1];
		struct in6_addr a;
		const char *pct = strchr(host, '%');
		size_t len = pct != NULL ? (size_t)(pct - host) : n;

		memcpy(tmp, host, len);
		tmp[len] = '\0';
		if (inet_pton(AF_INET6, tmp, &a) != 1)
			return "host holds ':' but is not an IPv6 address";
		if (pct != NULL && pct[1] == '\0')
			return "IPv6 zone after '%' is empty";
	} else if (strchr(host, '%') != NULL) {
		*bad = '%';
		return "host holds a character not allowed in a host name";
	}
	return NULL;
}

int
ap_target_host_valid(const char *host)
{
	unsigned char bad;

	return host != NULL && host_problem(host, &bad) == NULL;
}

/* User names: no shell metacharacters, white space or control characters. */
static const char *
user_problem(const char *user, unsigned char *bad)
{
	static const char forbidden[] = " \t;&|$`'\"<>(){}[]*?!#~^,:=/";
	size_t i, n = strlen(user);

	*bad = 0;
	if (n == 0)
		return "user before '@' is empty";
	if (n > USER_MAX)
		return "user is longer than 256 characters";
	if (user[0] == '-')
		return "user may not start with '-'";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)user[i];

		if (c < 0x20 || c == 0x7f || strchr(forbidden, c) != NULL) {
			*bad = c;
			return "user holds a character not allowed in a user name";
		}
	}
	return NULL;
}

int
ap_target_user_valid(const char *user)
{
	unsigned char bad;

	return user != NULL && user_problem(user, &bad) == NULL;
}

int
ap_target_port_parse(const char *s, int *out)
{
	long v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 5)
		return AP_EINVAL;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return AP_EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return AP_EINVAL;
	*out = (int)v;
	return AP_OK;
}

/* Fails with "target 'SPEC': REASON[: 'c']". */
static int
fail_spec(struct ap_ctx *ctx, const char *spec, const char *reason,
          unsigned char bad)
{
	char q[160], d[48];

	ap_target_quote(spec, q, sizeof(q));
	if (bad != 0) {
		describe_char(bad, d, sizeof(d));
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "target '%s': %s: %s", q,
		                   reason, d);
	}
	return ap_ctx_fail(ctx, AP_EINVAL, 0, "target '%s': %s", q, reason);
}

int
ap_target_parse(const char *spec, struct ap_target *out, struct ap_ctx *ctx)
{
	struct ap_target t = {0};
	const char *at, *hs, *he, *ps = NULL, *reason;
	unsigned char bad = 0;
	char q[16];
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (spec == NULL || out == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "target: nothing given");
	if (spec[0] == '\0')
		return fail_spec(ctx, spec, "target is empty", 0);
	if (strlen(spec) > USER_MAX + HOST_MAX + 16)
		return fail_spec(ctx, spec, "target is too long", 0);

	at = strrchr(spec, '@');
	hs = at != NULL ? at + 1 : spec;
	if (hs[0] == '[') {
		he = strchr(hs, ']');
		if (he == NULL)
			return fail_spec(ctx, spec, "'[' without a closing ']'", 0);
		if (he[1] == ':')
			ps = he + 2;
		else if (he[1] != '\0')
			return fail_spec(ctx, spec,
			                 "only ':PORT' may follow an IPv6 address in brackets",
			                 0);
		hs++;
		if (memchr(hs, ':', (size_t)(he - hs)) == NULL)
			return fail_spec(ctx, spec,
			                 "brackets are only for IPv6 addresses", 0);
	} else {
		const char *c1 = strchr(hs, ':');

		if (c1 != NULL && strchr(c1 + 1, ':') != NULL) {
			/* Several ':': a bare IPv6 address, no port possible. */
			he = hs + strlen(hs);
		} else if (c1 != NULL) {
			he = c1;
			ps = c1 + 1;
		} else {
			he = hs + strlen(hs);
		}
	}

	r = AP_ENOMEM;
	if ((t.spec = strdup(spec)) == NULL)
		goto out;
	if (at != NULL && (t.user = strndup(spec, (size_t)(at - spec))) == NULL)
		goto out;
	if ((t.host = strndup(hs, (size_t)(he - hs))) == NULL)
		goto out;

	if (t.user != NULL && (reason = user_problem(t.user, &bad)) != NULL) {
		r = fail_spec(ctx, spec, reason, bad);
		goto out;
	}
	if ((reason = host_problem(t.host, &bad)) != NULL) {
		r = fail_spec(ctx, spec, reason, bad);
		goto out;
	}
	if (ps != NULL && ap_target_port_parse(ps, &t.port) != AP_OK) {
		char msg[64];

		ap_target_quote(ps, q, sizeof(q));
		snprintf(msg, sizeof(msg), "port '%s' is not a number from 1 to 65535",
		         q);
		r = fail_spec(ctx, spec, msg, 0);
		goto out;
	}
	*out = t;
	memset(&t, 0, sizeof(t)); /* transferred */
	r = AP_OK;
out:
	/* every other failure was said above; errors travel on ctx */
	if (r == AP_ENOMEM)
		ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	ap_target_clear(&t);
	return r;
}

void
ap_target_clear(struct ap_target *t)
{
	size_t i;

	if (t == NULL)
		return;
	free(t->spec);
	free(t->user);
	free(t->host);
	free(t->group);
	for (i = 0; i < t->n_vars; i++) {
		free(t->vars[i].key);
		free(t->vars[i].value);
	}
	free(t->vars);
	memset(t, 0, sizeof(*t));
}

const char *
ap_os_name(enum ap_os os)
{
	switch (os) {
	case AP_OS_LINUX:
		return "linux";
	case AP_OS_WINDOWS:
		return "windows";
	case AP_OS_AUTO:
		break;
	}
	return "auto";
}

int
ap_os_parse(const char *s, enum ap_os *out)
{
	if (s == NULL)
		return AP_EINVAL;
	if (strcmp(s, "linux") == 0)
		*out = AP_OS_LINUX;
	else if (strcmp(s, "windows") == 0)
		*out = AP_OS_WINDOWS;
	else if (strcmp(s, "auto") == 0)
		*out = AP_OS_AUTO;
	else
		return AP_EINVAL;
	return AP_OK;
}

void
ap_targets_free(struct ap_target *targets, size_t n)
{
	size_t i;

	if (targets == NULL)
		return;
	for (i = 0; i < n; i++)
		ap_target_clear(&targets[i]);
	free(targets);
}
