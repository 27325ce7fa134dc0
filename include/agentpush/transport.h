/*
 * transport.h - one small interface over the ways agentpush reaches a host.
 *
 * A transport opens one connection to one host and then carries everything
 * the push needs over it: commands (with their stdin, so a probe script or a
 * sudo password never lands on a command line), file uploads, and close.
 * Backends: lib/transport/ssh.c (libssh: SSH + SFTP); smb.c and winrm.c come
 * with the Windows work.  Like SQLite's VFS, tests can swap in a
 * fault-injecting backend through the same table.
 *
 * Failure reporting: when open/exec/put fail because of the target, they
 * return AP_EREMOTE (or AP_ETIMEOUT) and record on ctx the catalog ErrorID
 * (ap_ctx_error_id) and a one-line evidence text (ap_ctx_errmsg) such as
 * "connect to 198.18.1.2 port 22: Connection refused".  Secrets never appear
 * in that text.
 *
 * Threads: a connection belongs to one thread at a time; different
 * connections may be used from different threads at once.
 *
 * Ownership: open() returns a connection the caller releases with close()
 * (which accepts NULL).  The options struct and its strings are borrowed for
 * the duration of open() only.  ap_exec_result buffers are malloc'd and freed
 * by ap_exec_result_clear().
 */
#ifndef AGENTPUSH_TRANSPORT_H
#define AGENTPUSH_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

#include "agentpush/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An upload's own limit: the connection's timeout (set_timeout, the stage
 * limit) bounds each wait for the server, and the whole upload may take
 * that plus one second per AP_UPLOAD_MIN_RATE bytes.  A link that keeps
 * answering, but slower than that (loss, a saturated line), fails the copy
 * instead of holding the host far past its stage limit: 1 MiB at --timeout
 * 8 through 30 % loss took 163 s (docs/reliability.md).  A big payload on
 * a slow but healthy link still has the time it needs.
 */
#define AP_UPLOAD_MIN_RATE (64 * 1024)

enum ap_hostkey_policy {
	AP_HOSTKEY_STRICT = 0,  /* unknown or changed key: refuse */
	AP_HOSTKEY_ACCEPT_NEW   /* unknown: record; changed: refuse */
};

struct ap_conn_opts {
	const char *host;
	int port;                 /* 0: transport default */
	const char *user;         /* NULL: transport default (root for ssh) */
	const char *password;     /* NULL: none; never logged or copied out */
	const char *identity;     /* private key file, or NULL */
	const void *identity_key; /* ssh: `identity` already loaded by
	                           * ap_ssh_identity_load(), shared read-only by
	                           * every connection of a run (borrowed); NULL:
	                           * each connection loads the file itself */
	const char *known_hosts;  /* NULL: ~/.ssh/known_hosts */
	enum ap_hostkey_policy hostkey_policy;
	int use_agent;            /* try ssh-agent keys */
	int use_ssh_config;       /* read ~/.ssh/config for this host */
	int connect_timeout_ms;   /* TCP connect + handshake; 0: default */
	int io_timeout_ms;        /* each later operation; 0: default */
	/* SMB (smb.c) only; the other transports ignore these. */
	const char *domain;       /* NTLM domain for a plain user name; NULL:
	                           * libsmbclient's workgroup */
	const char *smb_share;    /* NULL: ADMIN$, then C$ if ADMIN$ is absent */
	int smb_kerberos;         /* 1: Kerberos only (never falls back to NTLM) */
	/* WinRM (winrm.c) only; the other transports ignore these. */
	const char *ca_file;      /* PEM CA bundle for the WinRM HTTPS
	                           * certificate; NULL: the system store */
	int winrm_allow_http;     /* 1: plain HTTP (5985), password and commands
	                           * readable on the wire; only from
	                           * --winrm-insecure-http */
	int winrm_auth;           /* enum ap_winrm_auth */
};

/* WinRM HTTP authentication (ap_conn_opts.winrm_auth). */
enum ap_winrm_auth {
	AP_WINRM_AUTH_AUTO = 0,   /* NTLM under Negotiate; Basic over HTTPS
	                           * when the host takes no NTLM (winrm.c) */
	AP_WINRM_AUTH_BASIC,      /* Basic only (local accounts) */
	AP_WINRM_AUTH_NEGOTIATE,  /* NTLM with the password under Negotiate
	                           * (GSS-API, gss-ntlmssp), never Basic */
	AP_WINRM_AUTH_KERBEROS    /* Kerberos only, with the credential
	                           * cache's ticket; no password */
};

struct ap_exec_result {
	int exit_status;          /* -1 when killed by a signal or unknown */
	char *out;                /* stdout, NUL-terminated */
	size_t out_len;
	char *err;                /* stderr, NUL-terminated */
	size_t err_len;
	int out_truncated;        /* 1: stdout passed the cap; the rest was dropped */
	int err_truncated;        /* 1: stderr passed the cap */
};

struct ap_conn; /* opaque, owned by its backend */

struct ap_transport_ops {
	const char *name;
	int (*open)(const struct ap_conn_opts *opts, struct ap_conn **out,
	            struct ap_ctx *ctx);
	/*
	 * Runs cmd, feeds it in[0..in_len) on stdin then EOF, and collects its
	 * output (each stream capped; the cap is documented by the backend).
	 * Returns AP_OK when the command ran, whatever its exit status.
	 */
	int (*exec)(struct ap_conn *c, const char *cmd, const void *in,
	            size_t in_len, struct ap_exec_result *res, struct ap_ctx *ctx);
	/* Uploads local_path to remote_path (created with mode). */
	int (*put)(struct ap_conn *c, const char *local_path,
	           const char *remote_path, mode_t mode, struct ap_ctx *ctx);
	void (*close)(struct ap_conn *c);
	/*
	 * Renames from to to on the host, replacing to atomically when both sit
	 * on one file system (the caller uploads to a staging name in the
	 * destination folder, then renames).  NULL when a backend cannot.
	 */
	int (*rename)(struct ap_conn *c, const char *from, const char *to,
	              struct ap_ctx *ctx);
	/*
	 * Checks that file transfer works (ssh: the sftp subsystem starts)
	 * without writing anything, for `check`, which must change nothing.
	 * AP_OK, or AP_EREMOTE with the ErrorID (ssh: AP_ERR_LINUX_SFTP_MISSING).
	 */
	int (*probe_transfer)(struct ap_conn *c, struct ap_ctx *ctx);
	/*
	 * Stores in *avail the bytes an unprivileged write could still use on the
	 * file system holding path.  AP_EUNSUPP when the server cannot tell
	 * (ssh: no statvfs@openssh.com); *avail is untouched on failure.
	 */
	int (*free_space)(struct ap_conn *c, const char *path,
	                  unsigned long long *avail, struct ap_ctx *ctx);
	/*
	 * Sets the limit of every later operation, a whole exec included, to
	 * io_timeout_ms (> 0): an installer may run far longer than a stage's
	 * limit, which the caller puts back afterwards.  NULL when a backend
	 * runs no command (smb).
	 */
	void (*set_timeout)(struct ap_conn *c, int io_timeout_ms);
	/*
	 * The controller's own address on this connection (numeric, IPv6
	 * without brackets): the address the host sees us by, which is where an
	 * agent on it can reach a server on this machine.  AP_EUNSUPP when a
	 * backend cannot tell; NULL when it never can.
	 */
	int (*local_addr)(struct ap_conn *c, char *buf, size_t size,
	                  struct ap_ctx *ctx);
};

extern const struct ap_transport_ops ap_transport_ssh;
/* SMB2/3 file copy through libsmbclient (smb.c, docs/smb.md): put, rename,
 * probe_transfer, free_space; exec is NULL (WinRM runs commands). */
extern const struct ap_transport_ops ap_transport_smb;
/* WS-Management shell over HTTPS through libcurl (winrm.c, docs/winrm.md):
 * exec only; put/rename/probe_transfer/free_space are NULL (SMB copies). */
extern const struct ap_transport_ops ap_transport_winrm;

void ap_exec_result_clear(struct ap_exec_result *res);

/*
 * Loads an unencrypted private key file once, for ap_conn_opts.identity_key,
 * so a run of N hosts parses it once rather than N times.  *out (free with
 * ap_ssh_identity_free()) may be shared by connections on several threads:
 * libssh only reads a key while signing with it.  A key it cannot load (no
 * file, passphrase) is an error here; the caller then leaves identity_key
 * NULL and each connection reports it as before.
 */
int ap_ssh_identity_load(const char *path, void **out, struct ap_ctx *ctx);
void ap_ssh_identity_free(void *key);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_TRANSPORT_H */
