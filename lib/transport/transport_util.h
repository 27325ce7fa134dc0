/*
 * transport_util.h - pure helpers of the transports, kept apart from the
 * libssh code so unit tests can reach them without a server.
 *
 * Internal to lib/ (not installed): the unit tests include it through
 * lib/transport.  No function here does I/O or allocates unless stated.
 */
#ifndef AGENTPUSH_TRANSPORT_UTIL_H
#define AGENTPUSH_TRANSPORT_UTIL_H

#include <stddef.h>

/* Milliseconds of CLOCK_MONOTONIC: for deadlines, never for dates. */
long long ap_transport_now_ms(void);

/* Per-stream cap of exec() output; beyond it bytes are read and dropped. */
#define AP_TRANSPORT_OUTPUT_CAP (4u * 1024u * 1024u)

/*
 * Maps the errno of a failed TCP connect to the catalog ErrorID and stores
 * in *rc the AP_E* code to return (AP_EREMOTE, AP_ETIMEOUT for ETIMEDOUT,
 * AP_EIO for the controller's own shortage, see below).  Unknown errnos map
 * to AP_ERR_HOST_UNREACHABLE.
 */
int ap_transport_connect_error_id(int err, int *rc);

/*
 * AP_ERR_CONTROLLER_OUT_OF_RESOURCES when err, from a system call of the
 * controller (socket(), open() of known_hosts or of the payload), says the
 * controller itself is short of descriptors or kernel memory (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM), else 0: such a failure is never the host's.
 */
int ap_transport_local_error_id(int err);

/*
 * Writes into buf the evidence of a failed connect:
 * "connect to 198.18.1.2 port 22: Connection refused", for err ==
 * ETIMEDOUT with timeout_ms > 0 "no answer from 198.18.1.2 port 22 within
 * 5 s", for the controller's own shortage "the controller cannot open a
 * socket to 198.18.1.2 port 22: Too many open files".  Always
 * NUL-terminates (buf_len > 0).
 */
void ap_transport_connect_evidence(char *buf, size_t buf_len,
                                   const char *addr, int port, int err,
                                   int timeout_ms);

/*
 * Writes "publickey, password" for a libssh SSH_AUTH_METHOD_* bit set into
 * buf ("none" for 0).  Always NUL-terminates (buf_len > 0).
 */
void ap_transport_auth_methods_str(char *buf, size_t buf_len, int methods);

/*
 * The WinRM authentication (enum ap_winrm_auth) for one host: configured
 * (--winrm-auth) unless the inventory's ansible_winrm_transport (NULL when
 * the host has none) names one: "basic" Basic, any other ("ntlm",
 * "kerberos") Negotiate; and Kerberos alone when kerberos is set (the
 * caller's decision: --kerberos, or that variable saying "kerberos"), in
 * which case the caller sends no password.
 */
int ap_transport_winrm_auth(int configured, const char *transport, int kerberos);

/*
 * Returns s quoted for a POSIX shell ('...' with ' written as '\''), in a
 * malloc'd string the caller frees, or NULL when out of memory.
 */
char *ap_transport_shell_quote(const char *s);

/*
 * Formats a timeout in milliseconds as seconds for messages: "5 s", "0.5 s".
 */
void ap_transport_secs_str(char *buf, size_t buf_len, int ms);

/* A growable buffer capped at cap bytes; the rest is counted then dropped. */
struct ap_capbuf {
	char *p;       /* NUL-terminated once anything was appended */
	size_t len;
	size_t alloc;
	size_t cap;
	int truncated;
};

/*
 * Appends data[0..n) to b, keeping at most b->cap bytes and setting
 * b->truncated when bytes were dropped.  Returns 0, or -1 when out of memory
 * (b is unchanged then).
 */
int ap_capbuf_append(struct ap_capbuf *b, const void *data, size_t n);
/* Frees b's bytes and zeroes it (cap kept).  NULL is fine. */
void ap_capbuf_clear(struct ap_capbuf *b);

struct ap_exec_result;

/*
 * Moves a command's collected output into res: bufs[0] becomes stdout and
 * bufs[1] stderr, each NUL-terminated ("" when nothing came), with their
 * truncated flags.  Returns 0, or -1 when out of memory (res untouched).
 * On success the buffers no longer own their bytes.
 */
int ap_capbuf_to_exec_result(struct ap_capbuf bufs[2],
                             struct ap_exec_result *res);

#endif /* AGENTPUSH_TRANSPORT_UTIL_H */
