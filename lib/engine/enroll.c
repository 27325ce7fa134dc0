/*
 * enroll.c - see enroll.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agentpush/errors.h"
#include "agentpush/store.h"
#include "enroll.h"
#include "transport/transport_util.h"

#define POLL_MS 250

int
ap_enroll_wanted(const struct ap_run_opts *o)
{
	return o->agent_server != NULL && o->agent_server[0] != '\0';
}

int
ap_enroll_nonce(char out[AP_ENROLL_NONCE_HEX + 1], struct ap_ctx *ctx)
{
	unsigned char raw[AP_ENROLL_NONCE_HEX / 2];

	/* idempotent and thread-safe; the CLI may not have called it */
	if (sodium_init() < 0)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "libsodium cannot start (no random source?)");
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(out, AP_ENROLL_NONCE_HEX + 1, raw, sizeof(raw));
	return AP_OK;
}

int
ap_enroll_server_url(const struct ap_run_opts *o, const char *local_addr,
                     char *buf, size_t size, struct ap_ctx *ctx)
{
	const char *url = o->agent_server, *ph = strstr(url, AP_ENROLL_CONTROLLER);
	int v6, n;

	if (ph == NULL) {
		n = snprintf(buf, size, "%s", url);
	} else {
		if (local_addr == NULL || local_addr[0] == '\0')
			return ap_ctx_fail(ctx, AP_EINVAL, 0,
			                   "the server URL %s needs the controller's address, which this connection cannot tell",
			                   url);
		v6 = strchr(local_addr, ':') != NULL;
		n = snprintf(buf, size, "%.*s%s%s%s%s", (int)(ph - url), url, v6 ? "[" : "",
		             local_addr, v6 ? "]" : "", ph + strlen(AP_ENROLL_CONTROLLER));
	}
	if (n < 0 || (size_t)n >= size)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "the server URL is too long");
	return AP_OK;
}

int
ap_enroll_conf_text(const struct ap_run_opts *o, const char *url,
                    const char *nonce, char **text, size_t *len,
                    struct ap_ctx *ctx)
{
	const char *pass = o->agent_passphrase != NULL ? o->agent_passphrase : "";
	const char *pin = o->agent_pin != NULL ? o->agent_pin : "";
	size_t n = strlen(url) + strlen(pin) + strlen(pass) + strlen(nonce) + 64;
	char *t = NULL;
	int w;

	*text = NULL;
	*len = 0;
	/* One value a line: a newline in any would forge another key. */
	if (strpbrk(url, "\r\n") != NULL || strpbrk(pin, "\r\n") != NULL ||
	    strpbrk(pass, "\r\n") != NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "the server URL, pin or passphrase holds a line break");
	if ((t = malloc(n)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	w = snprintf(t, n, "server=%s\npin=%s\npassphrase=%s\nenrollment=%s\n", url, pin, pass, nonce);
	if (w < 0 || (size_t)w >= n) {
		ap_enroll_text_free(t, n);
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "register.conf does not fit");
	}
	*text = t;
	*len = (size_t)w;
	return AP_OK;
}

void
ap_enroll_text_free(char *text, size_t len)
{
	if (text == NULL)
		return;
	sodium_memzero(text, len);
	free(text);
}

int
ap_enroll_wait(const struct ap_run_opts *o, const char *nonce, char *uid,
               size_t uid_size, struct ap_ctx *ctx)
{
	int timeout_s = o->register_timeout_s > 0 ? o->register_timeout_s : AP_DEFAULT_REGISTER_TIMEOUT_S;
	int64_t deadline = ap_transport_now_ms() + (int64_t)timeout_s * 1000;
	struct timespec nap = { 0, POLL_MS * 1000000L };
	struct ap_agent a;
	int r;

	if (o->store == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "waiting for an agent's registration needs the job store");
	for (;;) {
		memset(&a, 0, sizeof(a));
		r = ap_store_agent_by_enrollment(o->store, nonce, &a, ctx);
		if (r == AP_OK) {
			snprintf(uid, uid_size, "%s", a.uid != NULL ? a.uid : "");
			ap_agent_clear(&a);
			return AP_OK;
		}
		if (r != AP_ENOTFOUND)
			return r;
		ap_ctx_clear(ctx);
		if (o->stop != NULL && __atomic_load_n(o->stop, __ATOMIC_SEQ_CST))
			return ap_ctx_fail(ctx, AP_ECANCELED, 0, "stopped while waiting for the agent to register");
		if (ap_transport_now_ms() >= deadline)
			return ap_ctx_fail(ctx, AP_ETIMEOUT, 0, "the agent did not register within %d s", timeout_s);
		nanosleep(&nap, NULL);
	}
}

/* The first line of s, control characters replaced, cut to size. */
static void
first_line(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && *s != '\n' && n + 1 < size; s++)
		buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	buf[n] = '\0';
}

int
ap_enroll_finding(const char *status, const char *url, int waited_s,
                  char *ev, size_t size)
{
	char line[400];
	const char *rest = NULL;
	int id = AP_ERR_REGISTRATION_FAILED;

	first_line(status, line, sizeof(line));
	if (line[0] == '\0') {
		snprintf(ev, size, "no registration with %s within %d s, and the agent wrote no "
		         "run/register.status (it never tried: is it running?)", url, waited_s);
		return id;
	}
	if (strncmp(line, "error unreachable ", 18) == 0) {
		/* "error unreachable HOST:PORT curl exit N: message" */
		id = AP_ERR_SERVER_UNREACHABLE_FROM_HOST;
		rest = line + 18;
		snprintf(ev, size, "from the host, %s could not be reached: %s (waited %d s)", url, rest, waited_s);
		return id;
	}
	if (strncmp(line, "registered ", 11) == 0) {
		snprintf(ev, size, "the agent says it registered (%s) but the server's store has no "
		         "registration for this install within %d s: is %s this controller's server?",
		         line + 11, waited_s, url);
		return id;
	}
	rest = strncmp(line, "error ", 6) == 0 ? line + 6 : line;
	snprintf(ev, size, "no registration with %s within %d s; the agent's last try: %s", url, waited_s, rest);
	return id;
}
