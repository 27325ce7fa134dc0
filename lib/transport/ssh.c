/*
 * ssh.c - the SSH/SFTP transport over libssh (see transport.h).
 *
 * Design.  One ap_conn holds one SSH session to one host; commands run on
 * channels of that session and files go over one SFTP session opened on
 * first use and kept on the connection.  open() goes through these steps,
 * each with its own ErrorID when it fails:
 *
 *   resolve (getaddrinfo)           -> NAME_UNRESOLVED
 *   TCP connect (ours, see below)   -> NETWORK_UNREACHABLE, HOST_UNREACHABLE,
 *                                      CONNECT_TIMEOUT
 *   socket(), ~/.ssh/config and     -> CONTROLLER_OUT_OF_RESOURCES when the
 *   known_hosts read                   controller has no descriptor left
 *   SSH handshake (ssh_connect)     -> SSH_HANDSHAKE_FAILED, CONNECT_TIMEOUT
 *   host key vs known_hosts         -> HOST_KEY_UNKNOWN, HOST_KEY_CHANGED
 *   authentication                  -> LINUX_BAD_CREDENTIALS
 *
 * We do the TCP connect ourselves on a non-blocking socket with poll(), then
 * hand the descriptor to libssh (SSH_OPTIONS_FD): libssh's own connect
 * reports only a text, and we need the exact errno to tell a missing route
 * from a closed port from silence.  Once ssh_connect() has been called,
 * libssh owns the descriptor and closes it in ssh_free().
 *
 * Credentials: each one is offered at most once per connection and a
 * rejected password is never retried, so a run cannot lock an account out.
 * The password is borrowed from the caller; it is never copied, formatted
 * or logged.
 *
 * The controller's own shortage (socket(), or opening known_hosts, the
 * ssh config or the payload, failing with EMFILE, ENFILE, ENOBUFS, ENOMEM)
 * is CONTROLLER_OUT_OF_RESOURCES wherever it shows, never an ErrorID that
 * blames the host (transport_util.h: ap_transport_local_error_id).
 *
 * Timeouts: connect_timeout_ms bounds TCP connect plus handshake; after the
 * handshake the session timeout becomes io_timeout_ms, which libssh applies
 * to each blocking wait (auth, SFTP requests).  exec() treats io_timeout_ms
 * as the deadline of the whole command.
 *
 * Threads: ssh_init() runs once per process (pthread_once); libssh 0.10
 * uses pthreads for its own locking, so sessions on different threads are
 * independent.  Appends to a known_hosts file are serialised by a process
 * mutex plus flock(), so parallel workers (or processes) adding keys to one
 * file do not interleave lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "agentpush/ctx.h"
#include "agentpush/errors.h"
#include "agentpush/transport.h"
#include "sftp_pipe.h"
#include "transport_util.h"
#include "watchdog.h"

#define SSH_DEFAULT_PORT 22
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_IO_TIMEOUT_MS 120000
/* Free space below which a refused SFTP write is blamed on a full disk. */
#define SFTP_FULL_MARGIN (64 * 1024)
/*
 * exec's stdin writes and output reads, per call.  Command output is small
 * (the probe's is a few KB); this buffer lives as long as the command, on
 * every host in flight, so it is kept to half an SSH channel packet.
 */
#define READ_CHUNK (16 * 1024)

struct ap_conn {
	ssh_session session;
	sftp_session sftp;      /* NULL until first used */
	char host[256];         /* as given, for messages */
	char addr[INET6_ADDRSTRLEN];
	char user[128];
	int port;
	int io_timeout_ms;
	int sock;               /* the socket given to libssh; for guards, and closed
	                         * by ssh_conn_close() when libssh left it open */
	ino_t sock_ino;         /* its inode: tells it from a later socket that
	                         * reuses the number once libssh closed it */
	struct ap_guard guard;  /* armed around one blocking SFTP call at a time */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;
static pthread_mutex_t known_hosts_lock = PTHREAD_MUTEX_INITIALIZER;

static void
init_libssh(void)
{
	init_rc = ssh_init();
}

static void
set_session_timeout(ssh_session s, int ms)
{
	long sec = ms / 1000, usec = (long)(ms % 1000) * 1000;

	if (sec == 0 && usec == 0)
		usec = 1000;
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec);
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usec);
}

static void
addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *p = NULL;

	if (sa->sa_family == AF_INET6)
		p = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		p = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	if (inet_ntop(sa->sa_family, p, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

/*
 * Connects one address within timeout_ms.  Returns the connected
 * (non-blocking) descriptor, or -1 with the errno in *err (ETIMEDOUT for
 * silence).
 */
static int
tcp_connect_one(const struct addrinfo *ai, int timeout_ms, int *err)
{
	int fd = -1, r, soerr = 0;
	socklen_t slen = sizeof(soerr);
	struct pollfd pfd;
	long long deadline = ap_transport_now_ms() + timeout_ms, left;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            ai->ai_protocol);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*err = errno;
		goto fail;
	}
	for (;;) {
		left = deadline - ap_transport_now_ms();
		if (left <= 0) {
			*err = ETIMEDOUT;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = errno;
			goto fail;
		}
		if (r == 0) {
			*err = ETIMEDOUT;
			goto fail;
		}
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0) {
		*err = errno;
		goto fail;
	}
	if (soerr != 0) {
		*err = soerr;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * Resolves host and connects to the first address that answers.  Returns
 * the descriptor or a negative AP_E* code with the ErrorID on ctx.  The
 * address used (or last tried) is written to c->addr.
 */
static int
tcp_connect(struct ap_conn *c, const char *host, int port, int timeout_ms,
            struct ap_ctx *ctx)
{
	struct addrinfo hints, *res = NULL, *ai = NULL;
	char sport[16], ev[512];
	int r, fd = -1, err = 0, rc = AP_EREMOTE, id;
	long long deadline = ap_transport_now_ms() + timeout_ms, left;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(sport, sizeof(sport), "%d", port);
	r = getaddrinfo(host, sport, &hints, &res);
	if (r == EAI_SYSTEM && (id = ap_transport_local_error_id(errno)) != 0)
		/* /etc/hosts or the resolver's socket: the controller's */
		return ap_ctx_fail(ctx, AP_EIO, id, "cannot resolve host name %s: %s",
		                   host, strerror(errno));
	if (r != 0) {
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_NAME_UNRESOLVED,
		                   "cannot resolve host name %s: %s", host,
		                   r == EAI_SYSTEM ? strerror(errno) :
		                   gai_strerror(r));
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		left = deadline - ap_transport_now_ms();
		addr_str(ai->ai_addr, c->addr, sizeof(c->addr));
		if (left <= 0) {
			err = ETIMEDOUT;
			break;
		}
		fd = tcp_connect_one(ai, (int)left, &err);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		return fd;
	id = ap_transport_connect_error_id(err, &rc);
	ap_transport_connect_evidence(ev, sizeof(ev), c->addr, port, err,
	                              timeout_ms);
	return ap_ctx_fail(ctx, rc, id, "%s", ev);
}

/* Writes "HOME/.ssh/NAME" into buf: HOME from the environment, else the
 * passwd entry's, or the passwd entry's first when passwd_first (as libssh
 * finds ~/.ssh).  Returns 0, or -1 when there is no home or buf is too
 * small. */
static int
home_ssh_file(const char *name, int passwd_first, char *buf, size_t len)
{
	const char *home = NULL;
	struct passwd pw, *ppw = NULL;
	char pwbuf[4096];

	if (passwd_first &&
	    getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &ppw) == 0 && ppw != NULL)
		home = ppw->pw_dir;
	if (home == NULL || home[0] == '\0')
		home = getenv("HOME");
	if ((home == NULL || home[0] == '\0') && !passwd_first) {
		if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &ppw) != 0 ||
		    ppw == NULL)
			return -1;
		home = ppw->pw_dir;
	}
	if (home == NULL || home[0] == '\0' ||
	    (size_t)snprintf(buf, len, "%s/.ssh/%s", home, name) >= len)
		return -1;
	return 0;
}

/*
 * libssh skips an ssh config file it cannot open, whatever the reason, so
 * a controller out of descriptors would go on without the user's User,
 * Port or HostName and blame the host for what follows.  Returns AP_OK
 * unless one of the files libssh reads (~/.ssh/config, /etc/ssh/ssh_config)
 * cannot be opened for lack of descriptors: then fails ctx with
 * CONTROLLER_OUT_OF_RESOURCES.  Called once the socket is open, when the
 * process holds one descriptor more than when libssh read the files: if
 * libssh could not open them for lack of one, this cannot either (unless
 * another thread closed one meanwhile), and the socket's own EMFILE, the
 * more common case, is said as such first.
 */
static int
ssh_config_readable(struct ap_ctx *ctx)
{
	char path[PATH_MAX];
	const char *paths[2] = { NULL, "/etc/ssh/ssh_config" };
	int i, fd, id;

	if (home_ssh_file("config", 1, path, sizeof(path)) == 0)
		paths[0] = path;
	for (i = 0; i < 2; i++) {
		if (paths[i] == NULL)
			continue;
		if ((fd = open(paths[i], O_RDONLY | O_CLOEXEC)) >= 0) {
			close(fd);
			continue;
		}
		if ((id = ap_transport_local_error_id(errno)) != 0)
			return ap_ctx_fail(ctx, AP_EIO, id, "cannot read ssh config file %s: %s",
			                   paths[i], strerror(errno));
	}
	return AP_OK;
}

/* Writes "ssh-ed25519 SHA256:..." for key into buf. */
static void
key_desc(ssh_key key, char *buf, size_t len)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;

	if (key != NULL &&
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	                           &hlen) == 0)
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash,
		                              hlen);
	snprintf(buf, len, "%s %s",
	         key != NULL ? ssh_key_type_to_char(ssh_key_type(key)) : "?",
	         fp != NULL ? fp : "SHA256:?");
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
}

/*
 * libssh answers "unknown" for a host when it cannot open known_hosts at
 * all, whatever the reason: out of descriptors (EMFILE), permissions.
 * Returns AP_OK when the file can be read or does not exist (then
 * "unknown" is true), else fails ctx naming the file and the reason, so a
 * known host is never reported unknown nor, under accept-new, recorded
 * again over a key the file holds.
 */
static int
known_hosts_readable(const char *kh_path, struct ap_ctx *ctx)
{
	int fd = open(kh_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno != ENOENT)
		return ap_ctx_fail(ctx, AP_EIO, ap_transport_local_error_id(errno),
		                   "cannot read known_hosts file %s: %s",
		                   kh_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return AP_OK;
}

/*
 * Appends the server's key to known_hosts under a mutex and flock(),
 * re-checking first: another worker may have recorded it (or a different
 * key) meanwhile.  Returns the fresh check result, SSH_KNOWN_HOSTS_OK when
 * written, or SSH_KNOWN_HOSTS_ERROR with errno-ish detail in ctx.
 */
static enum ssh_known_hosts_e
record_host_key(struct ap_conn *c, const char *path, struct ap_ctx *ctx)
{
	enum ssh_known_hosts_e st = SSH_KNOWN_HOSTS_ERROR;
	char *line = NULL, dir[PATH_MAX], *slash = NULL;
	int fd = -1;
	size_t n;

	pthread_mutex_lock(&known_hosts_lock);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		/* ~/.ssh may not exist yet: create that one level, like ssh. */
		snprintf(dir, sizeof(dir), "%s", path);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			(void)mkdir(dir, 0700);
		}
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		ap_ctx_fail(ctx, AP_EIO, ap_transport_local_error_id(errno),
		            "cannot write known_hosts file %s: %s", path,
		            strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX) < 0) {
		ap_ctx_fail(ctx, AP_EIO, 0, "cannot lock known_hosts file %s: %s",
		            path, strerror(errno));
		goto out;
	}
	st = ssh_session_is_known_server(c->session);
	if (st != SSH_KNOWN_HOSTS_UNKNOWN && st != SSH_KNOWN_HOSTS_NOT_FOUND)
		goto out;
	if (known_hosts_readable(path, ctx) != AP_OK) {
		st = SSH_KNOWN_HOSTS_ERROR;
		goto out;
	}
	if (ssh_session_export_known_hosts_entry(c->session, &line) != SSH_OK ||
	    line == NULL) {
		ap_ctx_fail(ctx, AP_EINTERNAL, 0, "cannot format the host key of %s: %s",
		            c->host, ssh_get_error(c->session));
		st = SSH_KNOWN_HOSTS_ERROR;
		goto out;
	}
	n = strlen(line);
	/* One write() with O_APPEND: the line lands whole. */
	if (n > 0 && line[n - 1] != '\n') {
		char *nl = realloc(line, n + 2);

		if (nl == NULL) {
			ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			st = SSH_KNOWN_HOSTS_ERROR;
			goto out;
		}
		line = nl;
		line[n++] = '\n';
		line[n] = '\0';
	}
	if (write(fd, line, n) != (ssize_t)n || fsync(fd) < 0) {
		ap_ctx_fail(ctx, AP_EIO, 0, "cannot write known_hosts file %s: %s",
		            path, strerror(errno));
		st = SSH_KNOWN_HOSTS_ERROR;
		goto out;
	}
	st = SSH_KNOWN_HOSTS_OK;
out:
	if (fd >= 0)
		close(fd); /* releases the flock */
	pthread_mutex_unlock(&known_hosts_lock);
	free(line);
	return st;
}

/*
 * Finds in known_hosts the key recorded for this host, preferring one of
 * the offered key's type, and describes it into buf ("another key" when
 * none is found).  libssh returns no entry for a changed key, hence this.
 */
static void
expected_key_desc(struct ap_conn *c, const char *kh_path, ssh_key offered,
                  char *buf, size_t len)
{
	FILE *f = NULL;
	char name[300], *line = NULL;
	size_t cap = 0;
	struct ssh_knownhosts_entry *e = NULL;
	int found = 0;

	snprintf(buf, len, "another key");
	if (c->port == SSH_DEFAULT_PORT)
		snprintf(name, sizeof(name), "%s", c->host);
	else
		snprintf(name, sizeof(name), "[%s]:%d", c->host, c->port);
	if ((f = fopen(kh_path, "re")) == NULL)
		return;
	while (found < 2 && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (ssh_known_hosts_parse_line(name, line, &e) != SSH_OK || e == NULL) {
			ssh_knownhosts_entry_free(e);
			e = NULL;
			continue;
		}
		if (ssh_key_type(e->publickey) == ssh_key_type(offered)) {
			key_desc(e->publickey, buf, len);
			found = 2;
		} else if (!found) {
			key_desc(e->publickey, buf, len);
			found = 1;
		}
		ssh_knownhosts_entry_free(e);
		e = NULL;
	}
	free(line);
	fclose(f);
}

/* " (198.18.1.2)" when the host was given by name, "" otherwise. */
static const char *
addr_suffix(const struct ap_conn *c, char *buf, size_t len)
{
	if (strcmp(c->host, c->addr) == 0)
		return "";
	snprintf(buf, len, " (%s)", c->addr);
	return buf;
}

static int
check_host_key(struct ap_conn *c, const char *kh_path,
               enum ap_hostkey_policy policy, struct ap_ctx *ctx)
{
	enum ssh_known_hosts_e st;
	ssh_key key = NULL;
	char offered[160], expected[160], sfx[INET6_ADDRSTRLEN + 4];
	int r;

	if (ssh_get_server_publickey(c->session, &key) != SSH_OK) {
		r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_SSH_HANDSHAKE_FAILED,
		                "%s port %d sent no host key: %s", c->addr,
		                c->port, ssh_get_error(c->session));
		goto out;
	}
	key_desc(key, offered, sizeof(offered));
	st = ssh_session_is_known_server(c->session);
	if ((st == SSH_KNOWN_HOSTS_UNKNOWN || st == SSH_KNOWN_HOSTS_NOT_FOUND) &&
	    (r = known_hosts_readable(kh_path, ctx)) != AP_OK)
		goto out;
	if ((st == SSH_KNOWN_HOSTS_UNKNOWN || st == SSH_KNOWN_HOSTS_NOT_FOUND) &&
	    policy == AP_HOSTKEY_ACCEPT_NEW) {
		st = record_host_key(c, kh_path, ctx);
		if (st == SSH_KNOWN_HOSTS_ERROR) {
			r = ap_ctx_rc(ctx);
			goto out;
		}
	}
	switch (st) {
	case SSH_KNOWN_HOSTS_OK:
		r = AP_OK;
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_HOST_KEY_UNKNOWN,
		                "host key of %s%s is not in %s: offered %s",
		                c->host, addr_suffix(c, sfx, sizeof(sfx)), kh_path,
		                offered);
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		expected_key_desc(c, kh_path, key, expected, sizeof(expected));
		r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_HOST_KEY_CHANGED,
		                "host key of %s%s changed: %s expects %s, the host offered %s",
		                c->host, addr_suffix(c, sfx, sizeof(sfx)), kh_path,
		                expected, offered);
		break;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot check known_hosts file %s: %s",
		                kh_path, ssh_get_error(c->session));
		break;
	}
out:
	ssh_key_free(key);
	return r;
}

/*
 * CONTROLLER_OUT_OF_RESOURCES, with the errno in *err, when this process
 * cannot open one more descriptor right now; else 0.  For failures whose
 * cause libssh hides (a key file or ssh-agent it could not open counts as
 * no key).
 */
static int
descriptor_shortage(int *err)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	*err = errno;
	return ap_transport_local_error_id(*err);
}

/*
 * An answer that is not a verdict: the connection broke (ERROR), or the
 * answer did not come within the timeout (AGAIN, what libssh returns when
 * a blocking call times out).  Neither says the credential was refused, so
 * neither may reach the credential gate as a refusal: under packet loss a
 * timed-out password exchange was taken for a wrong password, and the
 * gate then kept it from every other host (found by tests/integration/
 * chaos, 30 % loss).
 */
#define AUTH_BROKE(rc) ((rc) == SSH_AUTH_ERROR || (rc) == SSH_AUTH_AGAIN)

/*
 * Answers a keyboard-interactive exchange with the password, once, and only
 * for a single-prompt challenge.  Returns an SSH_AUTH_* code; *unsupported
 * is set when the server asked something we cannot answer.
 */
static int
auth_kbdint(ssh_session s, const char *password, int *unsupported)
{
	int rc, answered = 0, n;

	rc = ssh_userauth_kbdint(s, NULL, NULL);
	while (rc == SSH_AUTH_INFO) {
		n = ssh_userauth_kbdint_getnprompts(s);
		if (n == 1 && !answered) {
			if (ssh_userauth_kbdint_setanswer(s, 0, password) < 0)
				return SSH_AUTH_ERROR;
			answered = 1;
		} else if (n > 0) {
			/* A second question (OTP, expired password...): stop. */
			*unsupported = 1;
			return SSH_AUTH_DENIED;
		}
		rc = ssh_userauth_kbdint(s, NULL, NULL);
	}
	return rc;
}

int
ap_ssh_identity_load(const char *path, void **out, struct ap_ctx *ctx)
{
	ssh_key key = NULL;

	*out = NULL;
	if (path == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh: no key file given");
	pthread_once(&init_once, init_libssh);
	if (init_rc != SSH_OK)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "ssh: libssh failed to initialise");
	if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK)
		return ap_ctx_fail(ctx, AP_EINVAL, 0,
		                   "cannot load key %s (missing, unreadable or protected by a passphrase)",
		                   path);
	*out = key;
	return AP_OK;
}

void
ap_ssh_identity_free(void *key)
{
	ssh_key_free((ssh_key)key);
}

static int
authenticate(struct ap_conn *c, const struct ap_conn_opts *opts,
             struct ap_ctx *ctx)
{
	ssh_session s = c->session;
	ssh_key key = NULL, shared = (ssh_key)(uintptr_t)opts->identity_key;
	char offers[128], tried[512] = "";
	size_t tl = 0;
	int rc, methods, r, unsupported = 0, pw_tried = 0, err = 0;
	const char *sock = getenv("SSH_AUTH_SOCK");

#define TRIED(...) do { \
	int n_ = snprintf(tried + tl, sizeof(tried) - tl, "%s", tl ? "; " : ""); \
	if (n_ > 0 && (size_t)n_ < sizeof(tried) - tl) tl += (size_t)n_; \
	n_ = snprintf(tried + tl, sizeof(tried) - tl, __VA_ARGS__); \
	if (n_ > 0 && (size_t)n_ < sizeof(tried) - tl) tl += (size_t)n_; \
} while (0)

	/*
	 * With a key, the key first, without the "none" round trip that only
	 * lists the methods: a refusal lists them too (libssh keeps the list
	 * of every USERAUTH_FAILURE), and the key is what is tried first
	 * anyway.  Without one, "none" asks for the list.
	 */
	if (opts->identity != NULL && shared != NULL)
		rc = ssh_userauth_publickey(s, NULL, shared);
	else
		rc = ssh_userauth_none(s, NULL);
	if (rc == SSH_AUTH_SUCCESS)
		return AP_OK;
	if (AUTH_BROKE(rc))
		goto proto_error;
	methods = ssh_userauth_list(s, NULL);
	ap_transport_auth_methods_str(offers, sizeof(offers), methods);
	if (opts->identity != NULL && shared != NULL) {
		if (!(methods & SSH_AUTH_METHOD_PUBLICKEY))
			TRIED("the server does not accept key authentication (offers: %s)",
			      offers);
		else
			TRIED("key %s rejected for %s@%s", opts->identity, c->user,
			      c->addr);
	}

	if (opts->identity != NULL && shared == NULL) {
		if (!(methods & SSH_AUTH_METHOD_PUBLICKEY)) {
			TRIED("the server does not accept key authentication (offers: %s)",
			      offers);
		} else if (ssh_pki_import_privkey_file(opts->identity, NULL, NULL,
		                                       NULL, &key) != SSH_OK) {
			TRIED("cannot load key %s (missing, unreadable or protected by a passphrase)",
			      opts->identity);
		} else {
			rc = ssh_userauth_publickey(s, NULL, key);
			ssh_key_free(key);
			key = NULL;
			if (rc == SSH_AUTH_SUCCESS)
				return AP_OK;
			if (AUTH_BROKE(rc))
				goto proto_error;
			TRIED("key %s rejected for %s@%s", opts->identity, c->user,
			      c->addr);
		}
	}
	if (opts->identity == NULL && opts->use_ssh_config &&
	    (methods & SSH_AUTH_METHOD_PUBLICKEY)) {
		/*
		 * What ssh(1) would offer: the agent's keys, then the config's
		 * IdentityFile entries and the default ~/.ssh/id_* keys.  Keys
		 * only: a rejected key locks no account out.
		 */
		rc = ssh_userauth_publickey_auto(s, NULL, NULL);
		if (rc == SSH_AUTH_SUCCESS)
			return AP_OK;
		if (rc == SSH_AUTH_AGAIN || (rc == SSH_AUTH_ERROR && !ssh_is_connected(s)))
			goto proto_error;
		TRIED("no key from ssh-agent or ~/.ssh accepted for %s@%s", c->user, c->addr);
	} else if (opts->use_agent && sock != NULL && sock[0] != '\0' &&
	    (methods & SSH_AUTH_METHOD_PUBLICKEY)) {
		rc = ssh_userauth_agent(s, NULL);
		if (rc == SSH_AUTH_SUCCESS)
			return AP_OK;
		if (rc == SSH_AUTH_AGAIN || (rc == SSH_AUTH_ERROR && !ssh_is_connected(s)))
			goto proto_error;
		TRIED("no ssh-agent key accepted for %s@%s", c->user, c->addr);
	}
	if (opts->password != NULL) {
		if (methods & SSH_AUTH_METHOD_PASSWORD) {
			rc = ssh_userauth_password(s, NULL, opts->password);
			pw_tried = 1;
		} else if (methods & SSH_AUTH_METHOD_INTERACTIVE) {
			rc = auth_kbdint(s, opts->password, &unsupported);
			pw_tried = 1;
		}
		if (pw_tried) {
			if (rc == SSH_AUTH_SUCCESS)
				return AP_OK;
			if (AUTH_BROKE(rc))
				goto proto_error;
			if (unsupported)
				TRIED("the server asked more than a password for %s@%s (keyboard-interactive challenge); use a key",
				      c->user, c->addr);
			else
				TRIED("password rejected for %s@%s", c->user, c->addr);
		} else {
			TRIED("the server does not accept password authentication (offers: %s); set PasswordAuthentication yes in /etc/ssh/sshd_config",
			      offers);
		}
	}
	/*
	 * No password was refused, only keys: libssh counts a key file or an
	 * ssh-agent it could not open as no key, so a controller out of
	 * descriptors would be reported a wrong credential, and the
	 * credential gate would then keep every other host from it.
	 */
	if (!pw_tried && (r = descriptor_shortage(&err)) != 0)
		return ap_ctx_fail(ctx, AP_EIO, r,
		                   "cannot offer the SSH keys for %s@%s (key files, ssh-agent): %s",
		                   c->user, c->addr, strerror(err));
	if (tl == 0)
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_LINUX_BAD_CREDENTIALS,
		                   "no credential to offer for %s@%s (server offers: %s)",
		                   c->user, c->addr, offers);
	return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_LINUX_BAD_CREDENTIALS, "%s",
	                   tried);
proto_error:
	r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_SSH_HANDSHAKE_FAILED,
	                "authentication with %s port %d broke off: %s", c->addr,
	                c->port, ssh_get_error(s));
	return r;
#undef TRIED
}

/* Whether descriptor fd is open and is the socket whose inode is ino. */
static int
sock_is(int fd, ino_t ino)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino;
}

static void
ssh_conn_close(struct ap_conn *c)
{
	if (c == NULL)
		return;
	if (c->sftp != NULL)
		sftp_free(c->sftp);
	if (c->session != NULL) {
		if (ssh_is_connected(c->session)) {
			/* its message waits behind whatever is still queued:
			 * bounded as a command is (ssh_conn_exec) */
			ap_guard_arm(&c->guard, c->sock, c->io_timeout_ms);
			ssh_disconnect(c->session);
			(void)ap_guard_disarm(&c->guard);
		}
		ssh_free(c->session);
	}
	/*
	 * Since libssh 0.10, ssh_disconnect() leaves a socket given through
	 * SSH_OPTIONS_FD open and forgets it (ssh_free() then no longer
	 * closes it), while its error paths still close it: close it here
	 * when it is still this connection's socket.  Every host leaked one
	 * descriptor until the process ended (chaos_fds: 200 targets under
	 * 'ulimit -n 64' failed past the 52nd).
	 */
	if (c->sock >= 0 && sock_is(c->sock, c->sock_ino))
		close(c->sock);
	free(c);
}

static int
ssh_conn_open(const struct ap_conn_opts *opts, struct ap_conn **out,
              struct ap_ctx *ctx)
{
	struct ap_conn *c = NULL;
	char kh[PATH_MAX], *str = NULL;
	const char *host = NULL;
	int r, fd = -1, port, ctimeout, verbosity = SSH_LOG_NOLOG, no = 0, one = 1;
	unsigned int uport = 0;
	long long t0 = ap_transport_now_ms(), left;
	char secs[32];

	*out = NULL;
	if (opts == NULL || opts->host == NULL || opts->host[0] == '\0')
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh: no host name given");
	if (opts->port < 0 || opts->port > 65535)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh: port %d out of range 1-65535",
		                   opts->port);
	pthread_once(&init_once, init_libssh);
	if (init_rc != SSH_OK)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "ssh: libssh failed to initialise");
	ctimeout = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms :
	           DEFAULT_CONNECT_TIMEOUT_MS;
	if (opts->known_hosts != NULL) {
		if ((size_t)snprintf(kh, sizeof(kh), "%s", opts->known_hosts) >=
		    sizeof(kh))
			return ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh: known_hosts path too long");
	} else if (home_ssh_file("known_hosts", 0, kh, sizeof(kh)) < 0) {
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh: cannot find the home directory for ~/.ssh/known_hosts");
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	c->sock = -1;
	c->io_timeout_ms = opts->io_timeout_ms > 0 ? opts->io_timeout_ms :
	                   DEFAULT_IO_TIMEOUT_MS;
	snprintf(c->host, sizeof(c->host), "%s", opts->host);
	if ((c->session = ssh_new()) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	ssh_options_set(c->session, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	if (ssh_options_set(c->session, SSH_OPTIONS_HOST, opts->host) < 0) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh: bad host name %s", opts->host);
		goto out;
	}
	if (opts->use_ssh_config) {
		/*
		 * libssh keeps options already set when it parses a config
		 * (first value wins, like OpenSSH), so only the host is set
		 * before; explicit options are set after and override.
		 */
		if (ssh_options_parse_config(c->session, NULL) < 0) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh: cannot parse ~/.ssh/config: %s",
			                ssh_get_error(c->session));
			goto out;
		}
	} else {
		/* Otherwise ssh_connect() would read ~/.ssh/config itself. */
		ssh_options_set(c->session, SSH_OPTIONS_PROCESS_CONFIG, &no);
	}
	if (opts->port > 0) {
		uport = (unsigned int)opts->port;
		ssh_options_set(c->session, SSH_OPTIONS_PORT, &uport);
	}
	if (opts->user != NULL)
		ssh_options_set(c->session, SSH_OPTIONS_USER, opts->user);
	else if (!opts->use_ssh_config ||
	         ssh_options_get(c->session, SSH_OPTIONS_USER, &str) != SSH_OK)
		ssh_options_set(c->session, SSH_OPTIONS_USER, "root");
	ssh_string_free_char(str);
	str = NULL;
	ssh_options_set(c->session, SSH_OPTIONS_KNOWNHOSTS, kh);
	/* The host to dial: a config HostName may have replaced it. */
	if (ssh_options_get(c->session, SSH_OPTIONS_HOST, &str) == SSH_OK)
		host = str;
	else
		host = opts->host;
	if (ssh_options_get_port(c->session, &uport) != SSH_OK || uport == 0)
		uport = SSH_DEFAULT_PORT;
	port = (int)uport;
	c->port = port;
	snprintf(c->user, sizeof(c->user), "%s",
	         opts->user != NULL ? opts->user : "root");
	{
		char *u = NULL;

		if (ssh_options_get(c->session, SSH_OPTIONS_USER, &u) == SSH_OK)
			snprintf(c->user, sizeof(c->user), "%s", u);
		ssh_string_free_char(u);
	}

	fd = tcp_connect(c, host, port, ctimeout, ctx);
	ssh_string_free_char(str);
	str = NULL;
	host = NULL;
	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (opts->use_ssh_config && (r = ssh_config_readable(ctx)) != AP_OK)
		goto out;
	/*
	 * No Nagle: SFTP writes and channel requests are small messages that
	 * wait for an answer; with Nagle each one can sit out a delayed ACK
	 * (measured: a 5 MB upload took 2.4 s instead of 0.17 s, bench/).
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ssh_options_set(c->session, SSH_OPTIONS_FD, &fd);
	left = ctimeout - (ap_transport_now_ms() - t0);
	set_session_timeout(c->session, left > 0 ? (int)left : 1);
	c->sock = fd;
	{
		struct stat st;

		c->sock_ino = fstat(fd, &st) == 0 ? st.st_ino : 0;
	}
	fd = -1; /* transferred: libssh or ssh_conn_close() closes it */
	if (ssh_connect(c->session) != SSH_OK) {
		if (ap_transport_now_ms() - t0 >= ctimeout) {
			ap_transport_secs_str(secs, sizeof(secs), ctimeout);
			r = ap_ctx_fail(ctx, AP_ETIMEOUT, AP_ERR_CONNECT_TIMEOUT,
			                "no SSH greeting from %s port %d within %s",
			                c->addr, port, secs);
		} else {
			r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_SSH_HANDSHAKE_FAILED,
			                "SSH handshake with %s port %d failed: %s",
			                c->addr, port, ssh_get_error(c->session));
		}
		goto out;
	}
	set_session_timeout(c->session, c->io_timeout_ms);
	if ((r = check_host_key(c, kh, opts->hostkey_policy, ctx)) != AP_OK)
		goto out;
	if ((r = authenticate(c, opts, ctx)) != AP_OK)
		goto out;
	*out = c;
	c = NULL; /* transferred */
	r = AP_OK;
out:
	if (fd >= 0)
		close(fd);
	ssh_string_free_char(str);
	ssh_conn_close(c);
	return r;
}

/* How long after a command's own deadline the watchdog cuts it. */
#define EXEC_GUARD_SLACK_MS 2000

static int
deadline_left(long long deadline)
{
	long long left = deadline - ap_transport_now_ms();

	return left > 0 ? (int)(left > INT_MAX ? INT_MAX : left) : 0;
}

static int
ssh_conn_exec(struct ap_conn *c, const char *cmd, const void *in,
              size_t in_len, struct ap_exec_result *res, struct ap_ctx *ctx)
{
	ssh_channel ch = NULL;
	struct ap_capbuf bufs[2];
	const char *pin = in;
	char *buf = NULL, secs[32];
	size_t in_off = 0, chunk;
	uint32_t win;
	long long deadline;
	int r, k, s, eof[2] = { 0, 0 }, eof_sent = 0, progressed, wait_s;

	memset(bufs, 0, sizeof(bufs));
	bufs[0].cap = bufs[1].cap = AP_TRANSPORT_OUTPUT_CAP;
	if (res == NULL || cmd == NULL || (in == NULL && in_len > 0))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh exec: bad arguments");
	memset(res, 0, sizeof(*res));
	res->exit_status = -1;
	deadline = ap_transport_now_ms() + c->io_timeout_ms;
	/*
	 * libssh sends with blocking writes: opening the channel, writing
	 * stdin and closing it first flush what the connection still has
	 * queued (an SFTP upload cut short leaves hundreds of KB), and a peer
	 * that stopped reading holds such a send for as long as TCP keeps
	 * trying: the deadline above is never looked at.  Seen: a cleanup
	 * after a failed upload under 30% loss held its host 11 minutes
	 * (chaos_network).  The watchdog bounds the whole command, a little
	 * after that deadline so the loop's own message wins when it can.
	 */
	ap_guard_arm(&c->guard, c->sock, c->io_timeout_ms + EXEC_GUARD_SLACK_MS);
	if ((buf = malloc(READ_CHUNK)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if ((ch = ssh_channel_new(c->session)) == NULL ||
	    ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		r = ap_ctx_fail(ctx, AP_EREMOTE, 0,
		                "cannot start a command on %s: %s", c->addr,
		                ssh_get_error(c->session));
		goto out;
	}
	for (;;) {
		progressed = 0;
		if (in_off < in_len) {
			win = ssh_channel_window_size(ch);
			if (win > 0) {
				chunk = in_len - in_off;
				if (chunk > win)
					chunk = win;
				if (chunk > READ_CHUNK)
					chunk = READ_CHUNK;
				k = ssh_channel_write(ch, pin + in_off, (uint32_t)chunk);
				if (k == SSH_ERROR) {
					r = ap_ctx_fail(ctx, AP_EREMOTE, 0,
					                "writing the stdin of a command on %s failed: %s",
					                c->addr, ssh_get_error(c->session));
					goto out;
				}
				if (k > 0) {
					in_off += (size_t)k;
					progressed = 1;
				}
			}
		}
		if (in_off == in_len && !eof_sent) {
			ssh_channel_send_eof(ch);
			eof_sent = 1;
		}
		for (s = 0; s < 2; s++) {
			if (eof[s])
				continue;
			k = ssh_channel_read_nonblocking(ch, buf, READ_CHUNK, s);
			if (k > 0) {
				if (ap_capbuf_append(&bufs[s], buf, (size_t)k) < 0) {
					r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
					goto out;
				}
				progressed = 1;
			} else if (k == SSH_EOF) {
				eof[s] = 1;
			} else if (k < 0) {
				r = ap_ctx_fail(ctx, AP_EREMOTE, 0,
				                "reading the output of a command on %s failed: %s",
				                c->addr, ssh_get_error(c->session));
				goto out;
			}
		}
		if (eof[0] && eof[1])
			break;
		if (deadline_left(deadline) == 0) {
			ap_transport_secs_str(secs, sizeof(secs), c->io_timeout_ms);
			r = ap_ctx_fail(ctx, AP_ETIMEOUT, 0,
			                "command did not finish within %s", secs);
			goto out;
		}
		if (!progressed) {
			wait_s = eof[0] ? 1 : 0;
			k = deadline_left(deadline);
			/* Short waits while stdin is pending: a window adjust
			 * does not wake the poll, only output does. */
			if (k > (in_off < in_len ? 20 : 200))
				k = in_off < in_len ? 20 : 200;
			if (ssh_channel_poll_timeout(ch, k, wait_s) == SSH_ERROR) {
				r = ap_ctx_fail(ctx, AP_EREMOTE, 0,
				                "connection to %s lost while a command ran: %s",
				                c->addr, ssh_get_error(c->session));
				goto out;
			}
		}
	}
	res->exit_status = ssh_channel_get_exit_status(ch);
	if (res->exit_status < 0)
		res->exit_status = -1;
	if (ap_capbuf_to_exec_result(bufs, res) < 0) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	r = AP_OK;
out:
	if (ch != NULL) {
		if (ssh_channel_is_open(ch))
			ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	if (ap_guard_disarm(&c->guard) && r != AP_OK) {
		ap_ctx_clear(ctx);
		ap_transport_secs_str(secs, sizeof(secs), c->io_timeout_ms);
		r = ap_ctx_fail(ctx, AP_ETIMEOUT, 0,
		                "command did not finish within %s: %s stopped taking data; the connection was closed",
		                secs, c->addr);
	}
	ap_capbuf_clear(&bufs[0]);
	ap_capbuf_clear(&bufs[1]);
	free(buf);
	return r;
}

static const char *
sftp_err_str(int code)
{
	switch (code) {
	case SSH_FX_OK: return "no error";
	case SSH_FX_EOF: return "end of file";
	case SSH_FX_NO_SUCH_FILE: return "no such file or directory";
	case SSH_FX_PERMISSION_DENIED: return "permission denied";
	case SSH_FX_FAILURE: return "the server reported a failure (disk full or I/O error?)";
	case SSH_FX_BAD_MESSAGE: return "bad message";
	case SSH_FX_NO_CONNECTION: return "no connection";
	case SSH_FX_CONNECTION_LOST: return "connection lost";
	case SSH_FX_OP_UNSUPPORTED: return "operation not supported";
	case SSH_FX_FILE_ALREADY_EXISTS: return "file already exists";
	case SSH_FX_WRITE_PROTECT: return "write-protected file system";
	case SSH_FX_NO_MEDIA: return "no media";
	default: return "unknown SFTP error";
	}
}

/*
 * Around each blocking libssh SFTP call: libssh 0.10 would wait forever
 * for a hung sftp-server (watchdog.h).  sftp_end() returns 1 when the
 * watchdog cut the connection; the call then failed, and so will every
 * later one on this connection.
 */
static void
sftp_begin(struct ap_conn *c)
{
	ap_guard_arm(&c->guard, c->sock, c->io_timeout_ms);
}

static int
sftp_end(struct ap_conn *c)
{
	return ap_guard_disarm(&c->guard);
}

/* The error of a guarded call the watchdog cut short. */
static int
sftp_timed_out(struct ap_conn *c, struct ap_ctx *ctx, int id, const char *doing)
{
	char secs[32];

	ap_transport_secs_str(secs, sizeof(secs), c->io_timeout_ms);
	return ap_ctx_fail(ctx, AP_ETIMEOUT, id,
	                   "the sftp server on %s did not answer within %s while %s; the connection was closed",
	                   c->addr, secs, doing);
}

/* Starts the SFTP session once per connection; later calls reuse it. */
static int
get_sftp(struct ap_conn *c, struct ap_ctx *ctx)
{
	sftp_session sftp = NULL;
	int started = 0;

	if (c->sftp != NULL)
		return AP_OK;
	sftp_begin(c);
	if ((sftp = sftp_new(c->session)) != NULL)
		started = sftp_init(sftp) == SSH_OK;
	if (sftp_end(c)) {
		/* No answer is not a refusal: a lossy or cut network looks the
		 * same from here as a hung sftp-server, and 800106 would send
		 * the user (and `agentpush fix`) to edit sshd_config; the
		 * evidence still says which stage stopped answering. */
		sftp_free(sftp);
		return sftp_timed_out(c, ctx, AP_ERR_CONNECT_TIMEOUT,
		                      "starting the sftp subsystem");
	}
	if (sftp == NULL) {
		if (!ssh_is_connected(c->session))
			return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_COPY_FAILED,
			                   "connection to %s lost: %s", c->addr,
			                   ssh_get_error(c->session));
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_LINUX_SFTP_MISSING,
		                   "%s: the server refused the sftp subsystem (%s)",
		                   c->addr, ssh_get_error(c->session));
	}
	if (!started) {
		sftp_free(sftp);
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_LINUX_SFTP_MISSING,
		                   "%s: the sftp subsystem did not start (the server's Subsystem sftp program is missing or failed): %s",
		                   c->addr, ssh_get_error(c->session));
	}
	c->sftp = sftp;
	return AP_OK;
}

static int
ssh_conn_probe_transfer(struct ap_conn *c, struct ap_ctx *ctx)
{
	return get_sftp(c, ctx);
}

static int
ssh_conn_free_space(struct ap_conn *c, const char *path,
                    unsigned long long *avail, struct ap_ctx *ctx)
{
	sftp_statvfs_t st = NULL;
	int r;

	if ((r = get_sftp(c, ctx)) != AP_OK)
		return r;
	if (!sftp_extension_supported(c->sftp, "statvfs@openssh.com", "2"))
		return ap_ctx_fail(ctx, AP_EUNSUPP, 0,
		                   "%s: the sftp server cannot report free space",
		                   c->addr);
	sftp_begin(c);
	st = sftp_statvfs(c->sftp, path);
	if (sftp_end(c)) {
		sftp_statvfs_free(st);
		return sftp_timed_out(c, ctx, 0, "reading the free space");
	}
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EREMOTE, 0, "statvfs %s on %s: %s",
		                   path, c->addr,
		                   sftp_err_str(sftp_get_error(c->sftp)));
	*avail = (unsigned long long)st->f_bavail * st->f_frsize;
	sftp_statvfs_free(st);
	return AP_OK;
}

static int
ssh_conn_put(struct ap_conn *c, const char *local_path,
             const char *remote_path, mode_t mode, struct ap_ctx *ctx)
{
	sftp_file f = NULL;
	struct ap_sftp_pipe_result pr;
	struct stat sb;
	long long deadline = 0;
	int fd = -1, r, code, id;
	unsigned long long avail = 0;

	if (local_path == NULL || remote_path == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh put: bad arguments");
	if ((fd = open(local_path, O_RDONLY | O_CLOEXEC)) < 0)
		return ap_ctx_fail(ctx, AP_EIO, ap_transport_local_error_id(errno),
		                   "cannot open %s: %s", local_path,
		                   strerror(errno));
	if ((r = get_sftp(c, ctx)) != AP_OK)
		goto out;
	sftp_begin(c);
	f = sftp_open(c->sftp, remote_path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (sftp_end(c)) {
		r = sftp_timed_out(c, ctx, AP_ERR_COPY_FAILED, "creating the file");
		goto out;
	}
	if (f == NULL) {
		r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_COPY_FAILED,
		                "cannot create %s on %s: %s", remote_path, c->addr,
		                sftp_err_str(sftp_get_error(c->sftp)));
		goto out;
	}
	if (fstat(fd, &sb) == 0 && sb.st_size >= 0)
		deadline = ap_transport_now_ms() + c->io_timeout_ms +
		           (long long)(sb.st_size / AP_UPLOAD_MIN_RATE) * 1000;
	switch (ap_sftp_pipe_write(c->sftp, f, fd, c->io_timeout_ms, deadline, &pr)) {
	case AP_SFTP_PIPE_OK:
		break;
	case AP_SFTP_PIPE_LOCAL:
		r = ap_ctx_fail(ctx, pr.err == ENOMEM ? AP_ENOMEM : AP_EIO, 0,
		                "cannot read %s: %s", local_path, strerror(pr.err));
		goto out;
	case AP_SFTP_PIPE_STATUS:
		id = AP_ERR_COPY_FAILED;
		/* sftp v3 reports a full disk as a bare FAILURE:
		 * ask the file system before blaming the network. */
		if (pr.status == SSH_FX_FAILURE &&
		    ssh_conn_free_space(c, remote_path, &avail, NULL) == AP_OK &&
		    avail < SFTP_FULL_MARGIN)
			id = AP_ERR_INSUFFICIENT_SPACE;
		r = ap_ctx_fail(ctx, AP_EREMOTE, id,
		                "writing %s on %s failed after %llu bytes: %s",
		                remote_path, c->addr, pr.failed_at,
		                id == AP_ERR_INSUFFICIENT_SPACE ?
		                "no space left on the file system" :
		                sftp_err_str((int)pr.status));
		goto out;
	default:
		/*
		 * The reply stream is out of step, and libssh 0.10 would wait
		 * for a reply forever (its SFTP reads retry a timed-out read).
		 * Close the channel first: sftp_close() then fails at once
		 * instead of waiting, and still frees the file.  The session
		 * is dropped; a later SFTP call opens a fresh one.
		 */
		set_session_timeout(c->session, 1);
		ssh_channel_close(c->sftp->channel);
		sftp_close(f);
		f = NULL;
		sftp_free(c->sftp);
		c->sftp = NULL;
		set_session_timeout(c->session, c->io_timeout_ms);
		r = ap_ctx_fail(ctx, pr.timed_out ? AP_ETIMEOUT : AP_EREMOTE,
		                AP_ERR_COPY_FAILED,
		                "writing %s on %s failed after %llu bytes: %s",
		                remote_path, c->addr, pr.written, pr.msg);
		goto out;
	}
	if (sftp_extension_supported(c->sftp, "fsync@openssh.com", "1")) {
		sftp_begin(c);
		code = sftp_fsync(f);
		if (sftp_end(c)) {
			r = sftp_timed_out(c, ctx, AP_ERR_COPY_FAILED, "syncing the file to disk");
			goto out;
		}
		if (code < 0) {
			r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_COPY_FAILED,
			                "fsync of %s on %s failed: %s", remote_path,
			                c->addr, sftp_err_str(sftp_get_error(c->sftp)));
			goto out;
		}
	}
	sftp_begin(c);
	code = sftp_close(f);
	f = NULL;
	if (sftp_end(c)) {
		r = sftp_timed_out(c, ctx, AP_ERR_COPY_FAILED, "closing the file");
		goto out;
	}
	if (code != SSH_OK) {
		r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_COPY_FAILED,
		                "closing %s on %s failed: %s", remote_path, c->addr,
		                sftp_err_str(sftp_get_error(c->sftp)));
		goto out;
	}
	/* The server's umask applied at creation; set the exact mode. */
	sftp_begin(c);
	code = sftp_chmod(c->sftp, remote_path, mode);
	if (sftp_end(c)) {
		r = sftp_timed_out(c, ctx, AP_ERR_COPY_FAILED, "setting the file's mode");
		goto out;
	}
	if (code < 0) {
		r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_COPY_FAILED,
		                "chmod %o %s on %s failed: %s", (unsigned)mode,
		                remote_path, c->addr,
		                sftp_err_str(sftp_get_error(c->sftp)));
		goto out;
	}
	r = AP_OK;
out:
	if (f != NULL) {
		sftp_begin(c);
		sftp_close(f);
		(void)sftp_end(c);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * libssh 0.10 has no posix-rename@openssh.com call and plain SFTP rename
 * refuses to replace an existing file, so the rename runs as `mv -f` on the
 * host: rename(2) there, atomic within one file system.
 */
static int
ssh_conn_rename(struct ap_conn *c, const char *from, const char *to,
                struct ap_ctx *ctx)
{
	char *qf = NULL, *qt = NULL, *cmd = NULL;
	struct ap_exec_result res;
	size_t len;
	int r;

	memset(&res, 0, sizeof(res));
	if (from == NULL || to == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "ssh rename: bad arguments");
	if ((qf = ap_transport_shell_quote(from)) == NULL ||
	    (qt = ap_transport_shell_quote(to)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	len = strlen(qf) + strlen(qt) + 16;
	if ((cmd = malloc(len)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	snprintf(cmd, len, "mv -f -- %s %s", qf, qt);
	if ((r = ssh_conn_exec(c, cmd, NULL, 0, &res, ctx)) != AP_OK)
		goto out;
	if (res.exit_status != 0) {
		while (res.err_len > 0 && (res.err[res.err_len - 1] == '\n' ||
		                           res.err[res.err_len - 1] == '\r'))
			res.err[--res.err_len] = '\0';
		r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_COPY_FAILED,
		                "renaming %s to %s on %s failed: %s", from, to,
		                c->addr, res.err_len > 0 ? res.err : "mv failed");
		goto out;
	}
	r = AP_OK;
out:
	ap_exec_result_clear(&res);
	free(qf);
	free(qt);
	free(cmd);
	return r;
}

/* exec's deadline, and libssh's limit on each blocking wait (SFTP). */
static void
ssh_conn_set_timeout(struct ap_conn *c, int io_timeout_ms)
{
	if (c == NULL || io_timeout_ms <= 0)
		return;
	c->io_timeout_ms = io_timeout_ms;
	set_session_timeout(c->session, io_timeout_ms);
}

static int
ssh_conn_local_addr(struct ap_conn *c, char *buf, size_t size, struct ap_ctx *ctx)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = ssh_get_fd(c->session);

	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return ap_ctx_fail(ctx, AP_EUNSUPP, 0, "%s: cannot read the local address of the connection", c->host);
	if (getnameinfo((struct sockaddr *)&ss, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
		return ap_ctx_fail(ctx, AP_EUNSUPP, 0, "%s: cannot print the local address of the connection", c->host);
	return AP_OK;
}

const struct ap_transport_ops ap_transport_ssh = {
	.name = "ssh",
	.open = ssh_conn_open,
	.exec = ssh_conn_exec,
	.put = ssh_conn_put,
	.close = ssh_conn_close,
	.rename = ssh_conn_rename,
	.probe_transfer = ssh_conn_probe_transfer,
	.free_space = ssh_conn_free_space,
	.set_timeout = ssh_conn_set_timeout,
	.local_addr = ssh_conn_local_addr,
};
