/*
 * transport_util.c - pure helpers of the transports (see transport_util.h):
 * the connect errno to ErrorID table, evidence texts, shell quoting and a
 * capped output buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libssh/libssh.h>

#include "agentpush/ctx.h"
#include "agentpush/errors.h"
#include "agentpush/transport.h"
#include "transport_util.h"

/*
 * Why these groups: ENETUNREACH means no route to the network at all (a
 * routing or addressing fault on our side or on the path), while refused or
 * host-unreachable answers come from the host's segment (host down, port
 * closed, firewall reject).  ETIMEDOUT is silence: a drop firewall or a
 * powered-off host behind a router.
 */
static const struct {
	int err;
	int id;
	int rc;
} connect_map[] = {
	{ ENETUNREACH,  AP_ERR_NETWORK_UNREACHABLE, AP_EREMOTE },
	{ ENETDOWN,     AP_ERR_NETWORK_UNREACHABLE, AP_EREMOTE },
	{ EADDRNOTAVAIL, AP_ERR_NETWORK_UNREACHABLE, AP_EREMOTE },
	{ ECONNREFUSED, AP_ERR_HOST_UNREACHABLE,    AP_EREMOTE },
	{ EHOSTUNREACH, AP_ERR_HOST_UNREACHABLE,    AP_EREMOTE },
	{ EHOSTDOWN,    AP_ERR_HOST_UNREACHABLE,    AP_EREMOTE },
	{ ECONNRESET,   AP_ERR_HOST_UNREACHABLE,    AP_EREMOTE },
	{ ETIMEDOUT,    AP_ERR_CONNECT_TIMEOUT,     AP_ETIMEOUT },
};

int
ap_transport_local_error_id(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM
	       ? AP_ERR_CONTROLLER_OUT_OF_RESOURCES : 0;
}

int
ap_transport_connect_error_id(int err, int *rc)
{
	size_t i;
	int id;

	/* socket() itself failed: the controller, not the host */
	if ((id = ap_transport_local_error_id(err)) != 0) {
		if (rc != NULL)
			*rc = AP_EIO;
		return id;
	}
	for (i = 0; i < sizeof(connect_map) / sizeof(connect_map[0]); i++) {
		if (connect_map[i].err == err) {
			if (rc != NULL)
				*rc = connect_map[i].rc;
			return connect_map[i].id;
		}
	}
	if (rc != NULL)
		*rc = AP_EREMOTE;
	return AP_ERR_HOST_UNREACHABLE;
}

void
ap_transport_secs_str(char *buf, size_t buf_len, int ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, buf_len, "%d s", ms / 1000);
	else
		snprintf(buf, buf_len, "%.1f s", ms / 1000.0);
}

void
ap_transport_connect_evidence(char *buf, size_t buf_len, const char *addr,
                              int port, int err, int timeout_ms)
{
	char secs[32];

	if (err == ETIMEDOUT && timeout_ms > 0) {
		ap_transport_secs_str(secs, sizeof(secs), timeout_ms);
		snprintf(buf, buf_len, "no answer from %s port %d within %s",
		         addr, port, secs);
		return;
	}
	if (ap_transport_local_error_id(err) != 0) {
		snprintf(buf, buf_len, "the controller cannot open a socket to %s port %d: %s",
		         addr, port, strerror(err));
		return;
	}
	snprintf(buf, buf_len, "connect to %s port %d: %s", addr, port,
	         strerror(err));
}

void
ap_transport_auth_methods_str(char *buf, size_t buf_len, int methods)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = {
		{ SSH_AUTH_METHOD_PUBLICKEY,   "publickey" },
		{ SSH_AUTH_METHOD_PASSWORD,    "password" },
		{ SSH_AUTH_METHOD_INTERACTIVE, "keyboard-interactive" },
		{ SSH_AUTH_METHOD_HOSTBASED,   "hostbased" },
		{ SSH_AUTH_METHOD_GSSAPI_MIC,  "gssapi-with-mic" },
	};
	size_t i, off = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(methods & names[i].bit))
			continue;
		n = snprintf(buf + off, buf_len - off, "%s%s",
		             off > 0 ? ", " : "", names[i].name);
		if (n < 0 || (size_t)n >= buf_len - off)
			return;
		off += (size_t)n;
	}
	if (off == 0)
		snprintf(buf, buf_len, "none");
}

int
ap_transport_winrm_auth(int configured, const char *transport, int kerberos)
{
	if (kerberos)
		return AP_WINRM_AUTH_KERBEROS;
	if (transport != NULL && strcmp(transport, "basic") == 0)
		return AP_WINRM_AUTH_BASIC;
	if (transport != NULL) /* ntlm, kerberos */
		return AP_WINRM_AUTH_NEGOTIATE;
	return configured;
}

char *
ap_transport_shell_quote(const char *s)
{
	size_t n = 2, i;
	char *q = NULL, *w = NULL;

	for (i = 0; s[i] != '\0'; i++)
		n += s[i] == '\'' ? 4 : 1;
	if ((q = malloc(n + 1)) == NULL)
		return NULL;
	w = q;
	*w++ = '\'';
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\'') {
			memcpy(w, "'\\''", 4);
			w += 4;
		} else {
			*w++ = s[i];
		}
	}
	*w++ = '\'';
	*w = '\0';
	return q;
}

int
ap_capbuf_append(struct ap_capbuf *b, const void *data, size_t n)
{
	size_t keep = n, want;
	char *np = NULL;

	if (b->len + keep > b->cap) {
		keep = b->cap - b->len;
		b->truncated = 1;
	}
	if (b->p == NULL || b->len + keep + 1 > b->alloc) {
		want = b->alloc > 0 ? b->alloc : 4096;
		while (want < b->len + keep + 1)
			want *= 2;
		if (want > b->cap + 1)
			want = b->cap + 1;
		if ((np = realloc(b->p, want)) == NULL)
			return -1;
		b->p = np;
		b->alloc = want;
	}
	if (keep > 0)
		memcpy(b->p + b->len, data, keep);
	b->len += keep;
	b->p[b->len] = '\0';
	return 0;
}

int
ap_capbuf_to_exec_result(struct ap_capbuf bufs[2], struct ap_exec_result *res)
{
	int s;

	for (s = 0; s < 2; s++)
		if (bufs[s].p == NULL && ap_capbuf_append(&bufs[s], "", 0) < 0)
			return -1;
	res->out = bufs[0].p;
	res->out_len = bufs[0].len;
	res->out_truncated = bufs[0].truncated;
	res->err = bufs[1].p;
	res->err_len = bufs[1].len;
	res->err_truncated = bufs[1].truncated;
	bufs[0].p = bufs[1].p = NULL; /* transferred */
	return 0;
}

void
ap_capbuf_clear(struct ap_capbuf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->alloc = 0;
	b->truncated = 0;
}

long long
ap_transport_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
