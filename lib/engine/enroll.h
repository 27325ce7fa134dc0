/*
 * enroll.h - what an install hands an agent so that it registers with the
 * configuration server, and how the install knows it did (docs/api.md,
 * "Agents"; agent/register.h is the agent's side).
 *
 * The install writes etc/register.conf (0600) into the agent's install dir
 * on the host: the server's URL, its TLS public key pin, the registration
 * passphrase and a fresh one-time enrollment nonce.  The agent registers
 * with the nonce; the server records it with the agent (store.h, struct
 * ap_agent.enrollment); the install polls the store for it.  A host is done
 * only once that row appears; else its finding comes from the agent's own
 * account of what failed (run/register.status), read back over the same
 * connection.
 *
 * OS-neutral: the pipelines (lib/pipeline/) do the host side with their own
 * transport.  Ownership: every string argument is borrowed; the conf text
 * is the caller's (ap_enroll_text_free wipes it, it holds the passphrase).
 */
#ifndef AP_ENGINE_ENROLL_H
#define AP_ENGINE_ENROLL_H

#include <stddef.h>

#include "agentpush/ctx.h"
#include "agentpush/run.h"

/* A nonce is this many hex digits. */
#define AP_ENROLL_NONCE_HEX 32

/* The placeholder host of a server URL the pipeline replaces with the
 * controller's address on the host's connection (transport local_addr). */
#define AP_ENROLL_CONTROLLER "{controller}"

/* 1 when the run registers its agents (an install with a server). */
int ap_enroll_wanted(const struct ap_run_opts *o);

/* A fresh nonce: AP_ENROLL_NONCE_HEX hex digits and a NUL.  AP_EINTERNAL
 * when the random source cannot be set up (libsodium). */
int ap_enroll_nonce(char out[AP_ENROLL_NONCE_HEX + 1], struct ap_ctx *ctx);

/*
 * The server URL for one host into buf: o->agent_server with
 * AP_ENROLL_CONTROLLER replaced by local_addr (bracketed when IPv6), which
 * may be NULL when the URL has no placeholder.  AP_EINVAL when it has one
 * and local_addr is NULL.
 */
int ap_enroll_server_url(const struct ap_run_opts *o, const char *local_addr,
                         char *buf, size_t size, struct ap_ctx *ctx);

/* register.conf's text (malloc'd into *text, its length *len). */
int ap_enroll_conf_text(const struct ap_run_opts *o, const char *url,
                        const char *nonce, char **text, size_t *len,
                        struct ap_ctx *ctx);
void ap_enroll_text_free(char *text, size_t len);

/*
 * Waits for the agent holding nonce to register, polling o->store, for at
 * most o->register_timeout_s (default AP_DEFAULT_REGISTER_TIMEOUT_S).
 * AP_OK with its agent id in uid; AP_ETIMEOUT; AP_ECANCELED when o->stop
 * was raised; a store failure's code with ctx set.
 */
int ap_enroll_wait(const struct ap_run_opts *o, const char *nonce, char *uid,
                   size_t uid_size, struct ap_ctx *ctx);

/*
 * The finding for an agent that did not register in time, from the first
 * line of its run/register.status (status may be NULL or empty: the agent
 * never wrote one).  Returns the ErrorID (AP_ERR_SERVER_UNREACHABLE_FROM_HOST
 * when the host could not reach the server, else AP_ERR_REGISTRATION_FAILED)
 * and writes the evidence, with url and the wait, into ev.  Untrusted
 * input: status is what the host sent.
 */
int ap_enroll_finding(const char *status, const char *url, int waited_s,
                      char *ev, size_t size);

#endif /* AP_ENGINE_ENROLL_H */
