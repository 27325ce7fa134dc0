/*
 * register.h - the agent's side of the configuration server (docs/api.md,
 * "Agents"): registration once, then a heartbeat every interval.
 *
 * Files, under the install dir (all written 0600, each replaced by rename so
 * a crash leaves the old or the new one, never half of one):
 *
 *   etc/register.conf   written by `agentpush install --server`: server=URL,
 *                       pin=sha256//... (https), passphrase=..., enrollment=...
 *                       Removed by the agent once it has registered, so the
 *                       passphrase does not stay on the host.
 *   etc/agent.conf      written by the agent after registering: server, pin,
 *                       agent_id, secret, heartbeat.  The secret is this
 *                       agent's only credential afterwards.
 *   run/register.status one line the install reads back for evidence:
 *                       "registered ID", or "error KIND DETAIL" where KIND is
 *                       unreachable (no TCP/TLS session with the server from
 *                       this host), refused (403/429), tls (pin mismatch),
 *                       or failed (anything else).
 *
 * HTTP goes through the host's curl(1), fed its whole configuration on stdin
 * (`curl --config -`): the agent stays libc-only, and neither the
 * passphrase nor the secret ever appears on a command line.  With https the
 * server's certificate is trusted by its public key pin only (handed over at
 * install), not by a CA: the server's certificate is self-signed.
 *
 * Nothing here exits the process or blocks longer than curl's own time
 * limit (15 s a request).
 */
#ifndef AGENT_REGISTER_H
#define AGENT_REGISTER_H

#include <stddef.h>

#define REG_URL_MAX 512
#define REG_SECRET_MAX 256

struct reg {
	char dir[4096];                /* the install dir (borrowed copy) */
	char server[REG_URL_MAX];      /* "" until configured */
	char pin[128];                 /* "" for http:// */
	char agent_id[64];             /* "" until registered */
	char secret[REG_SECRET_MAX];
	unsigned interval_s;           /* heartbeat interval the server gave */
	unsigned retry_s;              /* next registration try, backoff */
};

/* Reads etc/agent.conf when there is one (an agent registered before a
 * restart).  dir is the install dir. */
void reg_init(struct reg *rg, const char *dir);

/*
 * Registers when etc/register.conf is there (a new install, or a rotation
 * of the server: it replaces an earlier registration).  Returns the number
 * of seconds until it should be called again.
 */
unsigned reg_poll(struct reg *rg, const char *version);

/* One heartbeat to the server when registered (no-op otherwise). */
void reg_beat(struct reg *rg, const char *version, long uptime_s);

/* Wipes the secret from memory. */
void reg_clear(struct reg *rg);

/*
 * Exposed for tests and the fuzzer: the string value of "key" in a flat
 * JSON object (escapes \" \\ \/ \n \t \r \b \f and \u00XX decoded; other
 * \u escapes refused), into out.  Returns 0, or -1 when absent, not a
 * string, or too long.  Numbers: reg_json_uint().
 */
int reg_json_str(const char *json, const char *key, char *out, size_t size);
int reg_json_uint(const char *json, const char *key, unsigned *out);

#endif /* AGENT_REGISTER_H */
