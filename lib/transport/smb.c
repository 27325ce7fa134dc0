/*
 * smb.c - the SMB2/3 file-copy transport over Samba's libsmbclient (see
 * transport.h and docs/smb.md).  Windows targets: it copies files into the
 * administrative share; it runs no command (exec is NULL, WinRM does that).
 *
 * Design.  One ap_conn holds one libsmbclient context (SMBCCTX) with one
 * SMB session and one tree connect to one share.  open() goes through these
 * steps, each with its own ErrorID when it fails:
 *
 *   resolve (getaddrinfo)             -> NAME_UNRESOLVED
 *   TCP connect to 445 (ours)         -> WINDOWS_SHARING_BLOCKED (refused or
 *                                        silent), NETWORK_UNREACHABLE,
 *                                        HOST_UNREACHABLE; the controller out
 *                                        of descriptors (here, in
 *                                        libsmbclient's own socket or for the
 *                                        payload): CONTROLLER_OUT_OF_RESOURCES
 *   negotiate SMB2_02..SMB3, signed   -> WINDOWS_SHARING_BLOCKED
 *   session setup (one attempt)       -> from the server's NTSTATUS through
 *                                        smb_status.c: 95107, 95519, 95520,
 *                                        95521, 95522, 95518
 *   tree connect ADMIN$ (else C$)     -> WINDOWS_SHARE_MISSING (95106),
 *                                        WINDOWS_NO_ADMIN_RIGHTS (95517)
 *
 * Our own TCP connect comes first because libsmbclient reports a failed
 * connect as a bare errno after trying port 139 too; ours gives the exact
 * errno within connect_timeout_ms, then the socket is closed and
 * libsmbclient connects again (port fixed with smbc_setPort: never 139).
 *
 * The server's status.  libsmbclient returns EACCES for a wrong password, a
 * disabled account and a refused share alike, so open() raises the debug
 * level to 4 for the login and captures the library's log through
 * smbc_setLogCallback: a "SPNEGO login failed: <text>" line carries the
 * session-setup status as Samba's friendly text, and a " session setup ok"
 * line proves the logon worked, so a later EACCES/ENOENT is the tree
 * connect's NT_STATUS_ACCESS_DENIED/NT_STATUS_BAD_NETWORK_NAME.
 *
 * One attempt per open().  Anonymous fallback is off
 * (smbc_setOptionNoAutoAnonymousLogin), port 139 is never tried, SMB1 is
 * refused (smbc_setOptionProtocols "SMB2_02".."SMB3"), and Kerberos is
 * either required (opts->smb_kerberos) or disabled, never "Kerberos then
 * NTLM".  The password is borrowed during open() only: the auth callback
 * hands it to libsmbclient while c->password is set; afterwards it hands an
 * empty user and password, so a reconnect libsmbclient might attempt later
 * is anonymous (refused) rather than a second try of the credential.
 * Falling back from a missing ADMIN$ to C$ is a second session on a
 * credential the server already accepted, not a retry.
 *
 * Signing: libsmbclient requires signing whenever the encryption level is
 * not "none" (SMBC_ENCRYPTLEVEL_DEFAULT is set explicitly here).
 *
 * Paths: remote paths are relative to %SystemRoot% (the ADMIN$ share),
 * '/' or '\' separated.  When ADMIN$ is absent and C$ is used, "Windows/" is
 * put in front so the same path lands in the same folder.  With an explicit
 * opts->smb_share, paths are relative to that share and nothing is added.
 *
 * Threads: libsmbclient keeps its log callback, debug level and
 * configuration in process globals and is not safe to initialise from
 * several threads at once.  One process mutex (smb_lock) serialises context
 * creation and freeing and the whole login (negotiate, session setup, tree
 * connect) with its raised debug level; a thread-local pointer routes log
 * lines to the login in progress, and lines of other threads are dropped.
 * Logins to many hosts therefore run one at a time (each bounded by the
 * timeouts below).  Transfers, listings and renames on open connections
 * hold smb_lock as well (see locked_put() and its siblings), one call at a
 * time across the process.
 *
 * Timeouts: connect_timeout_ms (default 10 s) bounds our TCP connect;
 * libsmbclient's per-request timeout is io_timeout_ms (default 60 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "agentpush/ctx.h"
#include "agentpush/errors.h"
#include "agentpush/transport.h"
#include "smb_api.h"
#include "smb_status.h"
#include "transport_util.h"

#define SMB_PORT 445
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_IO_TIMEOUT_MS 60000
#define COPY_CHUNK (1024 * 1024)
#define LOG_CAP 16384
#define LOGIN_DEBUG_LEVEL 4

struct ap_conn {
	const struct ap_smbc_api *api; /* libsmbclient, loaded (smb_api.h) */
	SMBCCTX *sctx;
	const char *password;   /* borrowed, set only inside open() */
	int reauth;             /* libsmbclient asked for credentials after open */
	int local_account;      /* user given without a domain */
	int kerberos;           /* opts->smb_kerberos: Kerberos only */
	char host[256];         /* as given, for messages */
	char addr[INET6_ADDRSTRLEN];
	char urlhost[300];      /* addr, [v6addr], or host name for Kerberos */
	char user[256];         /* user name without "DOMAIN\" */
	char domain[128];       /* "" when none was given */
	char share[80];         /* "ADMIN$" or "C$" or opts->smb_share */
	char prefix[16];        /* "Windows/" on the C$ fallback, else "" */
	int port;
};

/* Log lines of the login in progress on this thread (see Threads above). */
struct capture {
	char buf[LOG_CAP];
	size_t len;
};

static pthread_mutex_t smb_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct capture *cur_capture;

static void
log_cb(void *priv, int level, const char *msg)
{
	struct capture *cap = cur_capture;
	size_t n, room;

	(void)priv;
	(void)level;
	if (cap == NULL || msg == NULL)
		return;
	n = strlen(msg);
	room = sizeof(cap->buf) - 1 - cap->len;
	if (n > room)
		n = room;
	memcpy(cap->buf + cap->len, msg, n);
	cap->len += n;
	if (cap->len > 0 && cap->buf[cap->len - 1] != '\n' &&
	    cap->len < sizeof(cap->buf) - 1)
		cap->buf[cap->len++] = '\n';
	cap->buf[cap->len] = '\0';
}

static void
auth_cb(SMBCCTX *sctx, const char *srv, const char *shr, char *wg, int wglen,
        char *un, int unlen, char *pw, int pwlen)
{
	/* loaded: a callback runs only inside a call made through the table */
	const struct ap_smbc_api *api = ap_smbc_api(NULL, 0);
	struct ap_conn *c = api != NULL ? api->getOptionUserData(sctx) : NULL;

	(void)srv;
	(void)shr;
	if (c == NULL || c->password == NULL) {
		/* After open(): never offer the credential again. */
		if (c != NULL)
			c->reauth = 1;
		if (unlen > 0)
			un[0] = '\0';
		if (pwlen > 0)
			pw[0] = '\0';
		return;
	}
	if (c->domain[0] != '\0' && wglen > 0)
		snprintf(wg, (size_t)wglen, "%s", c->domain);
	if (unlen > 0)
		snprintf(un, (size_t)unlen, "%s", c->user);
	if (pwlen > 0)
		snprintf(pw, (size_t)pwlen, "%s", c->password);
}

/* One non-blocking connect within ms; 0, or the errno (ETIMEDOUT: silence). */
static int
try_connect(const struct addrinfo *ai, int ms)
{
	int fd, err = 0, r;
	socklen_t len = sizeof(err);
	struct pollfd pfd;
	long long deadline = ap_transport_now_ms() + ms;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            ai->ai_protocol);
	if (fd < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		err = errno;
		goto out;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do {
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)(deadline - ap_transport_now_ms() > 0 ?
		                        deadline - ap_transport_now_ms() : 0));
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		err = errno;
	else if (r == 0)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
out:
	close(fd);
	return err;
}

/*
 * Resolves c->host and checks that port answers, recording the address in
 * c->addr.  Refused or silent: 95105 (the "port 445 refused or
 * filtered"); no route to the network: 95523; host unreachable: 95117.
 */
static int
check_port(struct ap_conn *c, int timeout_ms, struct ap_ctx *ctx)
{
	struct addrinfo hints, *res = NULL, *ai = NULL;
	char sport[16], ev[512];
	const void *a = NULL;
	int r, err = ETIMEDOUT, rc = AP_EREMOTE, id;
	long long deadline = ap_transport_now_ms() + timeout_ms, left;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(sport, sizeof(sport), "%d", c->port);
	r = getaddrinfo(c->host, sport, &hints, &res);
	if (r != 0)
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_NAME_UNRESOLVED,
		                   "cannot resolve host name %s: %s", c->host,
		                   r == EAI_SYSTEM ? strerror(errno) :
		                   gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET6)
			a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
		else
			a = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
		if (inet_ntop(ai->ai_family, a, c->addr, sizeof(c->addr)) == NULL)
			snprintf(c->addr, sizeof(c->addr), "?");
		left = deadline - ap_transport_now_ms();
		if (left <= 0) {
			err = ETIMEDOUT;
			break;
		}
		err = try_connect(ai, (int)left);
		if (err == 0) {
			if (ai->ai_family == AF_INET6)
				snprintf(c->urlhost, sizeof(c->urlhost), "[%s]", c->addr);
			else
				snprintf(c->urlhost, sizeof(c->urlhost), "%s", c->addr);
			break;
		}
	}
	freeaddrinfo(res);
	if (err == 0)
		return AP_OK;
	id = ap_transport_connect_error_id(err, &rc);
	if (err == ECONNREFUSED || err == ETIMEDOUT)
		id = AP_ERR_WINDOWS_SHARING_BLOCKED;
	ap_transport_connect_evidence(ev, sizeof(ev), c->addr, c->port, err,
	                              timeout_ms);
	return ap_ctx_fail(ctx, rc, id, "%s", ev);
}

/*
 * Writes "smb://HOST/SHARE/<prefix><path>" into buf, path's '\' turned into
 * '/' and every byte outside [A-Za-z0-9._~/-] percent-encoded (libsmbclient
 * decodes URLs).  Returns 0, or -1 when buf is too small.
 */
static int
make_url(const struct ap_conn *c, const char *path, char *buf, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *parts[2] = { c->prefix, path != NULL ? path : "" };
	size_t o, i;
	int k, n;
	unsigned char ch;

	n = snprintf(buf, len, "smb://%s/", c->urlhost);
	if (n < 0 || (size_t)n >= len)
		return -1;
	o = (size_t)n;
	for (k = -1; k < 2; k++) {
		const char *s = k < 0 ? c->share : parts[k];

		if (k == 1)
			while (*s == '/' || *s == '\\')
				s++;
		for (i = 0; s[i] != '\0'; i++) {
			ch = (unsigned char)s[i];
			if (ch == '\\')
				ch = '/';
			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
			    ch == '~' || ch == '-' || ch == '/') {
				if (o + 1 >= len)
					return -1;
				buf[o++] = (char)ch;
			} else {
				if (o + 3 >= len)
					return -1;
				buf[o++] = '%';
				buf[o++] = hex[ch >> 4];
				buf[o++] = hex[ch & 15];
			}
		}
		if (k < 0) {
			if (o + 1 >= len)
				return -1;
			buf[o++] = '/';
		}
	}
	buf[o] = '\0';
	return 0;
}

/* "\\198.18.0.2\ADMIN$\Temp\x.part" for messages. */
static void
unc_path(const struct ap_conn *c, const char *path, char *buf, size_t len)
{
	size_t i;

	snprintf(buf, len, "\\\\%s\\%s\\%s%s", c->addr, c->share, c->prefix,
	         path != NULL ? path : "");
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '/')
			buf[i] = '\\';
}

/* Splits "DOMAIN\user" (or takes opts->domain) into c->domain, c->user. */
static int
set_user(struct ap_conn *c, const struct ap_conn_opts *opts,
         struct ap_ctx *ctx)
{
	const char *u = opts->user, *bs = strchr(u, '\\');

	if (bs != NULL) {
		if ((size_t)(bs - u) >= sizeof(c->domain) || bs == u ||
		    bs[1] == '\0')
			return ap_ctx_fail(ctx, AP_EINVAL, 0,
			                   "SMB user name '%s' is not DOMAIN\\user", u);
		memcpy(c->domain, u, (size_t)(bs - u));
		c->domain[bs - u] = '\0';
		u = bs + 1;
	} else if (opts->domain != NULL && opts->domain[0] != '\0') {
		if (strlen(opts->domain) >= sizeof(c->domain))
			return ap_ctx_fail(ctx, AP_EINVAL, 0,
			                   "SMB domain name too long: %s", opts->domain);
		snprintf(c->domain, sizeof(c->domain), "%s", opts->domain);
	}
	if (strlen(u) >= sizeof(c->user))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "SMB user name too long");
	snprintf(c->user, sizeof(c->user), "%s", u);
	c->local_account = c->domain[0] == '\0' && strchr(u, '@') == NULL;
	c->kerberos = opts->smb_kerberos;
	return AP_OK;
}

/* Context setup; the caller holds smb_lock. */
static int
new_context(struct ap_conn *c, const struct ap_conn_opts *opts, int io_ms,
            struct ap_ctx *ctx)
{
	SMBCCTX *s = NULL;

	if ((s = c->api->new_context()) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0,
		                   "libsmbclient: cannot create a context: %s",
		                   strerror(errno));
	/* Before init: until a callback is set, Samba logs to stdout. */
	c->api->setLogCallback(s, NULL, log_cb);
	c->api->setDebug(s, 0);
	c->api->setOptionUserData(s, c);
	c->api->setFunctionAuthDataWithContext(s, auth_cb);
	c->api->setOptionNoAutoAnonymousLogin(s, 1);
	c->api->setOptionUseKerberos(s, opts->smb_kerberos ? 1 : 0);
	c->api->setOptionFallbackAfterKerberos(s, 0);
	c->api->setOptionUseCCache(s, opts->smb_kerberos ? 1 : 0);
	c->api->setOptionSmbEncryptionLevel(s, SMBC_ENCRYPTLEVEL_DEFAULT);
	c->api->setPort(s, (uint16_t)c->port);
	c->api->setTimeout(s, io_ms);
	c->api->setUser(s, c->user);
	if (c->domain[0] != '\0')
		c->api->setWorkgroup(s, c->domain);
	if (c->api->init_context(s) == NULL) {
		c->api->free_context(s, 1);
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0,
		                   "libsmbclient: cannot initialise a context: %s",
		                   strerror(errno));
	}
	if (!c->api->setOptionProtocols(s, "SMB2_02", "SMB3")) {
		c->api->free_context(s, 1);
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0,
		                   "libsmbclient: cannot restrict protocols to SMB2/3");
	}
	c->sctx = s;
	return AP_OK;
}

/* Session setup + tree connect to c->share; 0 or the errno. */
static int
connect_share(struct ap_conn *c, struct capture *cap)
{
	char url[1024];
	SMBCFILE *d = NULL;
	int err = 0;

	cap->len = 0;
	cap->buf[0] = '\0';
	if (make_url(c, "", url, sizeof(url)) < 0)
		return ENAMETOOLONG;
	errno = 0;
	d = c->api->getFunctionOpendir(c->sctx)(c->sctx, url);
	if (d == NULL)
		return errno != 0 ? errno : EIO;
	c->api->getFunctionClosedir(c->sctx)(c->sctx, d);
	return err;
}

/*
 * Said after a refused Kerberos-only logon: the ticket is what was judged,
 * so the fix is in the credential cache, and no NTLM try followed.
 */
static const char *
kerberos_note(const struct ap_conn *c)
{
	return c->kerberos ? " (Kerberos only, as asked: the ticket from the credential cache was offered, no NTLM; see klist, kinit)"
	                   : "";
}

/* Maps a failed connect_share() to the ErrorID and evidence on ctx. */
static int
login_failure(struct ap_conn *c, int err, const struct capture *cap,
              int both_shares, struct ap_ctx *ctx)
{
	const struct ap_smb_status *st = NULL;
	char reason[512], ev[1200], share[96];
	int session_ok = 0, id;

	st = ap_smb_log_scan(cap->buf, &session_ok, reason, sizeof(reason));
	if (reason[0] != '\0') {
		id = st != NULL && st->phase == AP_SMB_PHASE_LOGON ?
		     st->error_id : AP_ERR_WINDOWS_BAD_CREDENTIALS;
		ap_smb_evidence(ev, sizeof(ev), AP_SMB_PHASE_LOGON, st, reason,
		                c->addr, c->share, c->domain, c->user,
		                c->local_account);
		return ap_ctx_fail(ctx, AP_EREMOTE, id, "%s%s", ev, kerberos_note(c));
	}
	if (session_ok && (err == ENOENT || err == ENODEV)) {
		st = ap_smb_status_by_name("NT_STATUS_BAD_NETWORK_NAME");
		snprintf(share, sizeof(share), "%s", both_shares ? "ADMIN$ and C$" :
		         c->share);
		ap_smb_evidence(ev, sizeof(ev), AP_SMB_PHASE_TREE, st, NULL,
		                c->addr, share, c->domain, c->user,
		                c->local_account);
		return ap_ctx_fail(ctx, AP_EREMOTE, st->error_id, "%s", ev);
	}
	if (session_ok && (err == EACCES || err == EPERM)) {
		st = ap_smb_status_by_name("NT_STATUS_ACCESS_DENIED");
		ap_smb_evidence(ev, sizeof(ev), AP_SMB_PHASE_TREE, st, NULL,
		                c->addr, c->share, c->domain, c->user,
		                c->local_account);
		return ap_ctx_fail(ctx, AP_EREMOTE, st->error_id, "%s", ev);
	}
	if (session_ok)
		return ap_ctx_fail(ctx, err == ETIMEDOUT ? AP_ETIMEOUT : AP_EREMOTE,
		                   AP_ERR_WINDOWS_SHARE_MISSING,
		                   "tree connect to \\\\%s\\%s failed: %s", c->addr,
		                   c->share, strerror(err));
	if (err == EACCES || err == EPERM)
		/* Refused before a session existed, without a status line. */
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_BAD_CREDENTIALS,
		                   "SMB logon of %s%s%s on %s refused: %s%s",
		                   c->domain, c->domain[0] != '\0' ? "\\" : "",
		                   c->user, c->addr, strerror(err), kerberos_note(c));
	/* No session and no status from the host: an EMFILE (ENFILE, ...) is
	 * libsmbclient's own socket() on the controller, not the host's port. */
	if ((id = ap_transport_local_error_id(err)) != 0)
		return ap_ctx_fail(ctx, AP_EIO, id,
		                   "the controller cannot open an SMB connection to %s port %d: %s",
		                   c->addr, c->port, strerror(err));
	return ap_ctx_fail(ctx, err == ETIMEDOUT ? AP_ETIMEOUT : AP_EREMOTE,
	                   AP_ERR_WINDOWS_SHARING_BLOCKED,
	                   "SMB2/3 signed session with %s port %d failed before logon: %s",
	                   c->addr, c->port, strerror(err));
}

static void
smb_close(struct ap_conn *c)
{
	if (c == NULL)
		return;
	if (c->sctx != NULL) {
		pthread_mutex_lock(&smb_lock);
		c->api->setOptionUserData(c->sctx, NULL);
		c->api->free_context(c->sctx, 1);
		pthread_mutex_unlock(&smb_lock);
	}
	free(c);
}

static int
smb_open(const struct ap_conn_opts *opts, struct ap_conn **out,
         struct ap_ctx *ctx)
{
	struct ap_conn *c = NULL;
	struct capture *cap = NULL;
	char why[300];
	int r, err, locked = 0, fallback = 0;
	int cto, ito;

	*out = NULL;
	if (opts == NULL || opts->host == NULL || opts->host[0] == '\0')
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "SMB: no host given");
	if (opts->user == NULL || opts->user[0] == '\0')
		return ap_ctx_fail(ctx, AP_EINVAL, 0,
		                   "SMB: no user given for %s", opts->host);
	if (opts->password == NULL && !opts->smb_kerberos)
		return ap_ctx_fail(ctx, AP_EINVAL, 0,
		                   "SMB: no password given for %s", opts->host);
	if (strlen(opts->host) >= sizeof(c->host))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "SMB: host name too long");
	if (opts->smb_share != NULL &&
	    (opts->smb_share[0] == '\0' ||
	     strlen(opts->smb_share) >= sizeof(c->share) ||
	     strpbrk(opts->smb_share, "/\\") != NULL))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "SMB: bad share name '%s'",
		                   opts->smb_share);
	cto = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms :
	      DEFAULT_CONNECT_TIMEOUT_MS;
	ito = opts->io_timeout_ms > 0 ? opts->io_timeout_ms :
	      DEFAULT_IO_TIMEOUT_MS;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (cap = malloc(sizeof(*cap))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if ((c->api = ap_smbc_api(why, sizeof(why))) == NULL) {
		r = ap_ctx_fail(ctx, AP_EUNSUPP, 0, "SMB: %s", why);
		goto out;
	}
	snprintf(c->host, sizeof(c->host), "%s", opts->host);
	c->port = opts->port > 0 ? opts->port : SMB_PORT;
	snprintf(c->share, sizeof(c->share), "%s",
	         opts->smb_share != NULL ? opts->smb_share : "ADMIN$");
	if ((r = set_user(c, opts, ctx)) != AP_OK)
		goto out;
	if ((r = check_port(c, cto, ctx)) != AP_OK)
		goto out;
	if (opts->smb_kerberos)  /* the ticket names the host, not an address */
		snprintf(c->urlhost, sizeof(c->urlhost), "%s", c->host);

	pthread_mutex_lock(&smb_lock);
	locked = 1;
	if ((r = new_context(c, opts, ito, ctx)) != AP_OK)
		goto out;
	cur_capture = cap;
	c->api->setDebug(c->sctx, LOGIN_DEBUG_LEVEL);
	c->password = opts->password != NULL ? opts->password : "";
	err = connect_share(c, cap);
	if ((err == ENOENT || err == ENODEV) && opts->smb_share == NULL) {
		int session_ok = 0;
		char reason[8];

		(void)ap_smb_log_scan(cap->buf, &session_ok, reason,
		                      sizeof(reason));
		if (session_ok && reason[0] == '\0') {
			/* ADMIN$ absent: C$, same folder (see Paths). */
			snprintf(c->share, sizeof(c->share), "C$");
			snprintf(c->prefix, sizeof(c->prefix), "Windows/");
			fallback = 1;
			err = connect_share(c, cap);
		}
	}
	c->password = NULL;
	c->api->setDebug(c->sctx, 0);
	cur_capture = NULL;
	if (err != 0) {
		if (fallback && (err == ENOENT || err == ENODEV))
			snprintf(c->share, sizeof(c->share), "ADMIN$");
		r = login_failure(c, err, cap, fallback, ctx);
		goto out;
	}
	r = AP_OK;
out:
	if (c != NULL)
		c->password = NULL;
	if (locked) {
		cur_capture = NULL;
		pthread_mutex_unlock(&smb_lock);
	}
	free(cap);
	if (r == AP_OK) {
		*out = c;
		c = NULL; /* transferred */
	}
	smb_close(c);
	return r;
}

/* ErrorID + rc for an errno of a file operation on the share. */
static int
file_error(struct ap_conn *c, int err, const char *what, const char *path,
           struct ap_ctx *ctx, const char *detail)
{
	char unc[1200];
	int rc = err == ETIMEDOUT ? AP_ETIMEOUT : AP_EREMOTE;

	unc_path(c, path, unc, sizeof(unc));
	if (err == EACCES || err == EPERM)
		return ap_ctx_fail(ctx, rc, AP_ERR_WINDOWS_NO_ADMIN_RIGHTS,
		                   "%s %s as %s refused: access denied (%s)%s", what,
		                   unc, c->user, strerror(err), detail);
	if (err == ENOSPC)
		return ap_ctx_fail(ctx, rc, AP_ERR_INSUFFICIENT_SPACE,
		                   "%s %s: %s%s", what, unc, strerror(err), detail);
	return ap_ctx_fail(ctx, rc, AP_ERR_COPY_FAILED, "%s %s failed: %s%s%s",
	                   what, unc, strerror(err), detail,
	                   c->reauth ? " (the SMB session was lost)" : "");
}

static int
smb_put(struct ap_conn *c, const char *local_path, const char *remote_path,
        mode_t mode, struct ap_ctx *ctx)
{
	char url[2048], detail[128];
	char *buf = NULL;
	int fd = -1, r, err;
	SMBCFILE *f = NULL;
	struct stat lst, rst;
	unsigned long long done = 0;
	ssize_t n, w, off;

	(void)mode; /* SMB has no Unix modes: the share's ACL applies */
	if (remote_path == NULL || remote_path[0] == '\0' ||
	    make_url(c, remote_path, url, sizeof(url)) < 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "SMB: bad remote path '%s'",
		                   remote_path != NULL ? remote_path : "(null)");
	if ((fd = open(local_path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &lst) < 0) {
		r = ap_ctx_fail(ctx, AP_EIO, ap_transport_local_error_id(errno),
		                "cannot read %s: %s", local_path, strerror(errno));
		goto out;
	}
	if ((buf = malloc(COPY_CHUNK)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	errno = 0;
	f = c->api->getFunctionOpen(c->sctx)(c->sctx, url,
	                                  O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (f == NULL) {
		r = file_error(c, errno != 0 ? errno : EIO, "creating", remote_path,
		               ctx, "");
		goto out;
	}
	for (;;) {
		n = read(fd, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot read %s: %s",
			                local_path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		for (off = 0; off < n; off += w) {
			errno = 0;
			w = c->api->getFunctionWrite(c->sctx)(c->sctx, f, buf + off,
			                                   (size_t)(n - off));
			if (w <= 0) {
				err = errno != 0 ? errno : EIO;
				snprintf(detail, sizeof(detail),
				         " after %llu of %lld bytes", done,
				         (long long)lst.st_size);
				r = file_error(c, err, "writing", remote_path, ctx,
				               detail);
				goto out;
			}
			done += (unsigned long long)w;
		}
	}
	errno = 0;
	err = c->api->getFunctionClose(c->sctx)(c->sctx, f);
	f = NULL;
	if (err < 0) {
		r = file_error(c, errno != 0 ? errno : EIO, "closing", remote_path,
		               ctx, "");
		goto out;
	}
	/* Verify: the server holds as many bytes as we sent. */
	errno = 0;
	if (c->api->getFunctionStat(c->sctx)(c->sctx, url, &rst) < 0) {
		r = file_error(c, errno != 0 ? errno : EIO, "checking", remote_path,
		               ctx, "");
		goto out;
	}
	if (rst.st_size != lst.st_size) {
		char unc[1200];

		unc_path(c, remote_path, unc, sizeof(unc));
		r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_COPY_FAILED,
		                "copy to %s: the host holds %lld bytes, %lld were sent",
		                unc, (long long)rst.st_size, (long long)lst.st_size);
		goto out;
	}
	r = AP_OK;
out:
	if (f != NULL)
		c->api->getFunctionClose(c->sctx)(c->sctx, f);
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

static int
smb_rename(struct ap_conn *c, const char *from, const char *to,
           struct ap_ctx *ctx)
{
	char ufrom[2048], uto[2048], detail[1300], unc[1200];

	if (from == NULL || to == NULL || from[0] == '\0' || to[0] == '\0' ||
	    make_url(c, from, ufrom, sizeof(ufrom)) < 0 ||
	    make_url(c, to, uto, sizeof(uto)) < 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "SMB: bad rename paths");
	errno = 0;
	if (c->api->getFunctionRename(c->sctx)(c->sctx, ufrom, c->sctx, uto) == 0)
		return AP_OK;
	unc_path(c, to, unc, sizeof(unc));
	snprintf(detail, sizeof(detail), " (to %s)", unc);
	return file_error(c, errno != 0 ? errno : EIO, "renaming", from, ctx,
	                  detail);
}

static int
smb_probe_transfer(struct ap_conn *c, struct ap_ctx *ctx)
{
	char url[1024];
	SMBCFILE *d = NULL;

	if (make_url(c, "", url, sizeof(url)) < 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "SMB: URL too long");
	errno = 0;
	d = c->api->getFunctionOpendir(c->sctx)(c->sctx, url);
	if (d == NULL)
		return file_error(c, errno != 0 ? errno : EIO, "listing", "", ctx,
		                  "");
	c->api->getFunctionClosedir(c->sctx)(c->sctx, d);
	return AP_OK;
}

static int
smb_free_space(struct ap_conn *c, const char *path, unsigned long long *avail,
               struct ap_ctx *ctx)
{
	char url[2048];
	struct statvfs st;
	unsigned long long unit;

	if (make_url(c, path, url, sizeof(url)) < 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "SMB: bad remote path");
	memset(&st, 0, sizeof(st));
	errno = 0;
	if (c->api->getFunctionStatVFS(c->sctx)(c->sctx, url, &st) < 0)
		return ap_ctx_fail(ctx, AP_EUNSUPP, 0,
		                   "SMB: the host did not tell its free space on %s: %s",
		                   c->share, strerror(errno != 0 ? errno : EIO));
	unit = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
	*avail = (unsigned long long)st.f_bavail * unit;
	return AP_OK;
}

/*
 * Every other libsmbclient call holds smb_lock too: without
 * smbc_thread_posix() (not exported by Debian's libsmbclient) Samba's
 * talloc_stackframe() is one process global, so an opendir on one thread
 * during another thread's login freed that login's tevent context (seen:
 * SIGSEGV in tevent_trace_point_callback under smbXcli_negprot with two
 * Windows targets in one check).
 */
static int
locked_put(struct ap_conn *c, const char *local_path, const char *remote_path,
           mode_t mode, struct ap_ctx *ctx)
{
	int r;

	pthread_mutex_lock(&smb_lock);
	r = smb_put(c, local_path, remote_path, mode, ctx);
	pthread_mutex_unlock(&smb_lock);
	return r;
}

static int
locked_rename(struct ap_conn *c, const char *from, const char *to,
              struct ap_ctx *ctx)
{
	int r;

	pthread_mutex_lock(&smb_lock);
	r = smb_rename(c, from, to, ctx);
	pthread_mutex_unlock(&smb_lock);
	return r;
}

static int
locked_probe_transfer(struct ap_conn *c, struct ap_ctx *ctx)
{
	int r;

	pthread_mutex_lock(&smb_lock);
	r = smb_probe_transfer(c, ctx);
	pthread_mutex_unlock(&smb_lock);
	return r;
}

static int
locked_free_space(struct ap_conn *c, const char *path,
                  unsigned long long *avail, struct ap_ctx *ctx)
{
	int r;

	pthread_mutex_lock(&smb_lock);
	r = smb_free_space(c, path, avail, ctx);
	pthread_mutex_unlock(&smb_lock);
	return r;
}

const struct ap_transport_ops ap_transport_smb = {
	.name = "smb",
	.open = smb_open,
	.exec = NULL,
	.put = locked_put,
	.close = smb_close,
	.rename = locked_rename,
	.probe_transfer = locked_probe_transfer,
	.free_space = locked_free_space,
};
