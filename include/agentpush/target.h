/*
 * target.h - one machine to push to, as named on the command line or in an
 * inventory: [user@]host[:port], with IPv6 literals in brackets
 * ([user@][2001:db8::1]:22).
 *
 * A host must be a DNS name or an IP literal: it may not start with '-' (it
 * would read as an option to something) and may not hold shell
 * metacharacters, white space or control characters.  Parsing never touches
 * the network.
 *
 * Ownership: ap_target_parse() fills a caller-provided struct whose strings
 * it allocates; release them with ap_target_clear().
 */
#ifndef AGENTPUSH_TARGET_H
#define AGENTPUSH_TARGET_H

#include <stddef.h>

#include "agentpush/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ap_os {
	AP_OS_AUTO = 0,
	AP_OS_LINUX,
	AP_OS_WINDOWS
};

struct ap_var {
	char *key;
	char *value;
};

struct ap_target {
	char *spec;   /* the text as given, e.g. "root@198.18.1.2:22" */
	char *user;   /* NULL: use --user or the default for the OS */
	char *host;   /* name or address literal, without brackets */
	int port;     /* 0: the default port for the transport */
	enum ap_os os;/* AP_OS_AUTO unless the inventory or --os says */
	char *group;  /* inventory group, or NULL */
	struct ap_var *vars; /* inventory variables, n_vars of them */
	size_t n_vars;
};

/*
 * Parses spec into *out (which the call zeroes first).  Returns AP_OK, or
 * AP_EINVAL with a one-line reason on ctx naming what was wrong; *out is
 * left zeroed on failure.
 */
int ap_target_parse(const char *spec, struct ap_target *out, struct ap_ctx *ctx);

/* Whether host is acceptable as a host name or address (see above). */
int ap_target_host_valid(const char *host);

/*
 * Whether user is acceptable as a login name: not empty, not starting with
 * '-', no white space, control or shell metacharacters ('\' and '@' are
 * fine, for DOMAIN\user and user@domain).
 */
int ap_target_user_valid(const char *user);

/* Frees the strings of t and zeroes it.  NULL is fine. */
void ap_target_clear(struct ap_target *t);

/*
 * Parses a decimal port 1..65535 (digits only, no sign or space) into *out.
 * Returns AP_OK, or AP_EINVAL leaving *out unchanged.
 */
int ap_target_port_parse(const char *s, int *out);

/*
 * Copies s into buf (size bytes, always NUL-terminated) for quoting in a
 * one-line message: control characters become \xNN and a long text is cut
 * with "...".  Use it whenever user input is echoed back.
 */
void ap_target_quote(const char *s, char *buf, size_t size);

/* Clears targets[0..n) and frees the array.  NULL is fine. */
void ap_targets_free(struct ap_target *targets, size_t n);

/* "linux", "windows" or "auto". */
const char *ap_os_name(enum ap_os os);
/* Parses "linux", "windows" or "auto"; returns AP_EINVAL otherwise. */
int ap_os_parse(const char *s, enum ap_os *out);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_TARGET_H */
