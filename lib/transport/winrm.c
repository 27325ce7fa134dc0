/*
 * winrm.c - the WinRM transport: a WS-Management remote shell (MS-WSMV)
 * over HTTPS through libcurl (see transport.h, docs/winrm.md).
 *
 * Design.  One ap_conn is one libcurl handle (so one kept-alive TCP/TLS
 * connection, which NTLM needs: it authenticates the connection) and one
 * remote shell, created by open() and deleted by close():
 *
 *   open   POST Create            -> ShellId         (checks TCP, TLS, auth)
 *   exec   POST Command           -> CommandId
 *          POST Send (stdin, End) -> 32 KB a message, when there is stdin
 *          POST Receive ...       -> streams, until CommandState Done
 *          POST Signal terminate     (best effort)
 *   close  POST Delete               (best effort), then free
 *
 * Errors of open(), each with evidence on ctx:
 *   name not resolved                          -> NAME_UNRESOLVED
 *   no route / network down                    -> per transport_util.c
 *   refused, or silence, on the WinRM port     -> WINDOWS_WMI_BLOCKED (95103)
 *   TLS certificate not verified               -> WINDOWS_WMI_BLOCKED, with
 *                                                 curl's reason (no new id)
 *   HTTP 401 after authenticating              -> WINDOWS_BAD_CREDENTIALS
 *   Kerberos: no usable ticket (none, expired,  -> WINDOWS_BAD_CREDENTIALS,
 *   no KDC, unknown HTTP/host principal)          before anything is sent
 *   the NTLM GSS-API mechanism not installed   -> AP_EUNSUPP, no ErrorID
 *   HTTP 401, no scheme in common with the host -> WINDOWS_WMI_BLOCKED (no
 *                                                 password was judged, so
 *                                                 the credential gate must
 *                                                 not count it)
 *   SOAP fault AccessDenied on Create          -> WINDOWS_BAD_CREDENTIALS
 *   any other fault or HTTP status             -> WINDOWS_WMI_BLOCKED
 * The TCP errno comes from libcurl (CURLINFO_OS_ERRNO), so the same
 * transport_util.c helpers as ssh.c classify it and write the evidence.
 *
 * TLS: peer and host name are always verified (CURLOPT_SSL_VERIFYPEER/HOST);
 * ca_file replaces the system store.  Plain HTTP only with winrm_allow_http,
 * and then Basic is not offered unless asked for by name.  Redirects are not
 * followed and only the one scheme is allowed.
 *
 * Authentication (docs/winrm.md).  NTLM and Kerberos are GSS-API
 * (winrm_auth.c); libcurl is then plain HTTP transport (no CURLOPT_HTTPAUTH,
 * no user name given to it) and this file carries the tokens in its own
 * "Authorization: Negotiate <base64>" header, read the server's from the
 * 401's WWW-Authenticate, and sends the request itself with the last token.
 * Why not libcurl's schemes: its NTLM only goes under the name "NTLM",
 * which a default Windows listener does not offer (it offers Negotiate and
 * Kerberos and takes raw NTLMSSP under Negotiate), and its Negotiate is
 * GSS-API with the default credential, never the password.
 *   AUTO       NTLM with the password under "Negotiate" (or "NTLM" when the
 *              host offers only that); Basic, over HTTPS only, when the
 *              host offers Basic and its Negotiate/NTLM answered our NTLM
 *              NEGOTIATE message with no challenge (nothing judged yet)
 *   NEGOTIATE  the same NTLM, never Basic
 *   BASIC      libcurl's Basic (CURLAUTH_BASIC), sent at once
 *   KERBEROS   the credential cache's ticket, the krb5 mechanism only
 *              (never SPNEGO, which could pick NTLM), no password
 * One password try per open(): a handshake whose last message gets a 401
 * is 95107 at once, never retried.  NTLM authenticates the connection, so
 * libcurl must keep one: HTTP/1.1 (no HTTP/2 multiplexing), one cached
 * connection, and CURLINFO_NUM_CONNECTS after every transfer tells whether
 * libcurl had to open a new one.  A 401 on a new connection after a logon
 * succeeded (the host closed the old one) logs on again, once, from the
 * credential GSS-API keeps, and sends the request again (a 401 means it was
 * not run).
 *
 * Secrets: the password goes to GSS-API (the credential keeps the NT hash
 * until close) or, for Basic, to libcurl (CURLOPT_PASSWORD keeps its own
 * copy until curl_easy_cleanup(); we cannot wipe it).  Token strings and
 * the header lines holding them are wiped before they are freed.  Evidence
 * names the user, never the password.
 *
 * Threads: curl_global_init() runs once (pthread_once); a handle belongs to
 * one thread at a time; CURLOPT_NOSIGNAL keeps timeouts off SIGALRM.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "agentpush/ctx.h"
#include "agentpush/errors.h"
#include "agentpush/transport.h"
#include "transport_util.h"
#include "winrm_auth.h"
#include "winrm_xml.h"

#define WINRM_HTTPS_PORT 5986
#define WINRM_HTTP_PORT 5985
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_IO_TIMEOUT_MS 120000
#define RECEIVE_TIMEOUT_S 20     /* server-side long poll of one Receive */
#define SEND_CHUNK (32 * 1024)   /* base64 keeps it under MaxEnvelopeSize */
#define CLOSE_TIMEOUT_MS 10000

#define MAX_LEGS 4               /* GSS legs of one logon: NTLM needs 2 */
#define MAX_SRV_TOKEN (96 * 1024)

enum auth_kind { AUTH_BASIC, AUTH_NTLM, AUTH_KRB5 };

/* Schemes a 401 offers (struct ap_conn.offers). */
#define OFFER_NEGOTIATE 1u
#define OFFER_NTLM 2u
#define OFFER_KERBEROS 4u
#define OFFER_BASIC 8u

/* What gss_logon() returns besides AP_* codes: the host answered the first
 * message with no token (our scheme name not offered, or refused there). */
#define NO_COMMON 1

struct ap_conn {
	CURL *curl;
	struct curl_slist *hdrs;        /* Content-Type, our Authorization */
	char url[320];
	char host[256];
	char user[128];
	int port;
	int https;
	int connect_timeout_ms;
	int io_timeout_ms;
	char shell_id[AP_WINRM_ID_MAX];
	struct ap_capbuf body;          /* the last reply */
	char offered[128];              /* WWW-Authenticate schemes seen */
	unsigned offers;                /* the same, OFFER_* bits */
	char *srv_token;                /* base64 token under c->scheme, or NULL */
	int auth;                       /* enum auth_kind in use */
	int auto_mode;                  /* AUTO: Basic may follow (see top) */
	int no_challenge;               /* our first message got a bare 401 */
	const char *scheme;             /* name our GSS tokens go under */
	struct ap_winrm_gss *gss;       /* NTLM or Kerberos; NULL for Basic */
	int authed;                     /* GSS: this connection is logged on */
	int logged_on;                  /* GSS: a logon succeeded on this conn */
	const char *password;           /* during open() only: Basic fallback */
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc;

static void
init_curl(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	ap_winrm_xml_init();
}

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct ap_conn *c = ud;

	if (ap_capbuf_append(&c->body, p, sz * n) != 0 || c->body.truncated)
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	return sz * n;
}

/* Frees a header list after wiping it (a line may hold a token). */
static void
hdrs_free(struct curl_slist *l)
{
	struct curl_slist *i;

	for (i = l; i != NULL; i = i->next)
		sodium_memzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static void
drop_srv_token(struct ap_conn *c)
{
	ap_winrm_token_free(c->srv_token);
	c->srv_token = NULL;
}

/*
 * Records the scheme of each WWW-Authenticate header (for 401 evidence and
 * the choice of scheme), and the token under our scheme name.  A status
 * line starts a new reply: what an earlier one offered is forgotten.
 */
static size_t
on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct ap_conn *c = ud;
	size_t len = sz * n, k = 0, used, t;
	const char *key = "www-authenticate:";
	char scheme[32];

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		c->offered[0] = '\0';
		c->offers = 0;
		drop_srv_token(c);
		return len;
	}
	if (len <= strlen(key) || strncasecmp(p, key, strlen(key)) != 0)
		return len;
	p += strlen(key);
	len -= strlen(key);
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (k < len && k + 1 < sizeof(scheme) && p[k] > ' ' && p[k] < 0x7f &&
	       p[k] != ',') {
		scheme[k] = p[k];
		k++;
	}
	scheme[k] = '\0';
	if (k == 0)
		return sz * n;
	c->offers |= strcasecmp(scheme, "Negotiate") == 0 ? OFFER_NEGOTIATE :
	             strcasecmp(scheme, "NTLM") == 0 ? OFFER_NTLM :
	             strcasecmp(scheme, "Kerberos") == 0 ? OFFER_KERBEROS :
	             strcasecmp(scheme, "Basic") == 0 ? OFFER_BASIC : 0;
	/* "Negotiate <base64>": the server's next token for our handshake */
	if (c->scheme != NULL && strcasecmp(scheme, c->scheme) == 0 &&
	    c->srv_token == NULL) {
		for (used = k; used < len && (p[used] == ' ' || p[used] == '\t'); used++)
			;
		for (t = used; t < len && (isalnum((unsigned char)p[t]) ||
		     p[t] == '+' || p[t] == '/' || p[t] == '='); t++)
			;
		if (t > used && t - used <= MAX_SRV_TOKEN) {
			if ((c->srv_token = malloc(t - used + 1)) == NULL)
				return 0; /* aborts the transfer */
			memcpy(c->srv_token, p + used, t - used);
			c->srv_token[t - used] = '\0';
		}
	}
	if (strstr(c->offered, scheme) != NULL)
		return sz * n;
	used = strlen(c->offered);
	snprintf(c->offered + used, sizeof(c->offered) - used, "%s%s",
	         used > 0 ? ", " : "", scheme);
	return sz * n;
}

/* What agentpush tried, for evidence. */
static const char *
auth_name(const struct ap_conn *c)
{
	if (c->auth == AUTH_BASIC)
		return "Basic";
	if (c->auth == AUTH_KRB5)
		return strcmp(c->scheme, "Kerberos") == 0 ? "Kerberos" :
		       "Kerberos under Negotiate";
	if (strcmp(c->scheme, "NTLM") == 0)
		return c->auto_mode && c->https ? "NTLM, or Basic" : "NTLM";
	return c->auto_mode && c->https ? "NTLM under Negotiate, or Basic" :
	       "NTLM under Negotiate";
}

/* Said after a Kerberos failure, as smb.c says it. */
static const char *
kerberos_note(const struct ap_conn *c)
{
	return c->auth == AUTH_KRB5 ?
	       " (Kerberos only, as asked: the ticket from the credential cache, no NTLM; see klist, kinit)" :
	       "";
}

/* Sets the request headers: Content-Type, and line when not NULL. */
static int
set_headers(struct ap_conn *c, const char *line)
{
	struct curl_slist *l = NULL, *t;

	if ((l = curl_slist_append(NULL, "Content-Type: application/soap+xml;charset=UTF-8")) == NULL)
		return -1;
	if (line != NULL) {
		if ((t = curl_slist_append(l, line)) == NULL) {
			hdrs_free(l);
			return -1;
		}
		l = t;
	}
	if (curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, l) != CURLE_OK) {
		hdrs_free(l);
		return -1;
	}
	hdrs_free(c->hdrs);
	c->hdrs = l;
	return 0;
}

/*
 * One HTTP POST of body, the reply into c->body.  Returns AP_OK with the
 * HTTP status in *code and in *fresh whether libcurl opened a new
 * connection for it, else an AP_E* code with the ErrorID and evidence on
 * ctx (the transport failed: no HTTP status).
 */
static int
transfer(struct ap_conn *c, const char *body, int timeout_ms, long *code,
         int *fresh, struct ap_ctx *ctx)
{
	CURLcode cc;
	long oserr = 0, nconn = 0;
	curl_off_t connected = 0;
	char ev[512], secs[32];
	int rc = AP_EREMOTE, id;

	*code = 0;
	*fresh = 0;
	ap_capbuf_clear(&c->body);
	c->offered[0] = '\0';
	c->offers = 0;
	drop_srv_token(c);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	cc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, code);
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connected);
	curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &nconn);
	*fresh = nconn > 0;
	switch (cc) {
	case CURLE_OK:
		return AP_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_NAME_UNRESOLVED,
		                   "cannot resolve host name %s: %s", c->host,
		                   c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		if (cc == CURLE_OPERATION_TIMEDOUT && connected > 0) {
			ap_transport_secs_str(secs, sizeof(secs), timeout_ms);
			return ap_ctx_fail(ctx, AP_ETIMEOUT, AP_ERR_WINDOWS_WMI_BLOCKED,
			                   "no WS-Management reply from %s within %s",
			                   c->url, secs);
		}
		if (cc == CURLE_OPERATION_TIMEDOUT || oserr == 0)
			oserr = ETIMEDOUT;
		id = ap_transport_connect_error_id((int)oserr, &rc);
		/* The host answered (SMB got through) or stayed silent on the
		 * WinRM port: WinRM is off or firewalled, which 95103 covers. */
		if (oserr == ECONNREFUSED || oserr == ETIMEDOUT)
			id = AP_ERR_WINDOWS_WMI_BLOCKED;
		ap_transport_connect_evidence(ev, sizeof(ev), c->host, c->port,
		                              (int)oserr, c->connect_timeout_ms);
		return ap_ctx_fail(ctx, rc, id, "%s (WinRM %s listener)", ev,
		                   c->port == WINRM_HTTP_PORT ? "HTTP" : "HTTPS");
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "TLS with %s failed, the WinRM certificate was not verified: %s",
		                   c->url, c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	case CURLE_SSL_CACERT_BADFILE:
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "cannot use the CA file for WinRM: %s",
		                   c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	case CURLE_WRITE_ERROR:
		if (c->body.truncated)
			return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
			                   "WS-Management reply from %s over %u bytes",
			                   c->url, AP_WINRM_MAX_REPLY);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	default:
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "WS-Management request to %s failed: %s", c->url,
		                   c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	}
}

/* Maps a failed ap_winrm_gss_* call to an AP_* code on ctx. */
static int
gss_fail(struct ap_conn *c, int g, const char *why, struct ap_ctx *ctx)
{
	switch (g) {
	case AP_WINRM_GSS_NOMEM:
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	case AP_WINRM_GSS_NOMECH:
		return ap_ctx_fail(ctx, AP_EUNSUPP, 0, "winrm: %s", why);
	case AP_WINRM_GSS_LOCAL:
		/* Kerberos: no ticket, an expired one, no KDC, no HTTP/host
		 * principal; NTLM: a user name the mechanism cannot parse.
		 * Nothing was sent. */
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_BAD_CREDENTIALS,
		                   "winrm: no %s logon of %s to %s could be made: %s%s",
		                   c->auth == AUTH_KRB5 ? "Kerberos" : "NTLM",
		                   c->user[0] != '\0' ? c->user : "the ticket's user",
		                   c->url, why, kerberos_note(c));
	default:
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "winrm: the %s token from %s was not taken: %s",
		                   c->auth == AUTH_KRB5 ? "Kerberos" : "NTLM", c->url, why);
	}
}

/*
 * Logs this connection on with GSS-API and sends xml with the last token
 * (the handshake's earlier messages go with an empty body, as libcurl's own
 * NTLM does: the host answers them with a 401 before reading any).  Returns
 * AP_OK with the HTTP status of xml's reply in *code (never 401), NO_COMMON
 * when the host answered the first message with a bare 401 (c->offered says
 * what it offers; nothing was judged), else an AP_E* code with ctx set: a
 * 401 to the last message is 95107 at once (one password try).
 */
static int
gss_logon(struct ap_conn *c, const char *xml, int timeout_ms, long *code,
          struct ap_ctx *ctx)
{
	char *tok = NULL, *line = NULL, *in = NULL, why[512];
	size_t n;
	int r, g, complete = 0, leg, fresh = 0, last, renamed = 0;
	unsigned mine, alt;

	c->authed = 0;
	c->no_challenge = 0;
	ap_winrm_gss_restart(c->gss);
	for (leg = 0; leg < MAX_LEGS; leg++) {
		g = ap_winrm_gss_step(c->gss, in, &tok, &complete, why, sizeof(why));
		ap_winrm_token_free(in);
		in = NULL;
		if (g != AP_WINRM_GSS_OK) {
			r = gss_fail(c, g, why, ctx);
			goto out;
		}
		if (tok == NULL) {
			r = ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
			                "winrm: the %s handshake with %s ended without a token to send",
			                c->auth == AUTH_KRB5 ? "Kerberos" : "NTLM", c->url);
			goto out;
		}
		/* NTLM's AUTHENTICATE completes the context; Kerberos sends one
		 * AP-REQ (the reply's AP-REP only proves the server). */
		last = complete || c->auth == AUTH_KRB5;
		n = strlen("Authorization: ") + strlen(c->scheme) + 1 + strlen(tok) + 1;
		if ((line = malloc(n)) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
		snprintf(line, n, "Authorization: %s %s", c->scheme, tok);
		ap_winrm_token_free(tok);
		tok = NULL;
		r = set_headers(c, line);
		ap_winrm_token_free(line);
		line = NULL;
		if (r != 0) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
		if ((r = transfer(c, last ? xml : "", timeout_ms, code, &fresh, ctx)) != AP_OK)
			goto out;
		if (leg > 0 && fresh) {
			r = ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
			                "winrm: %s closed the connection in the middle of the %s "
			                "handshake (it authenticates one connection)", c->url,
			                c->auth == AUTH_KRB5 ? "Kerberos" : "NTLM");
			goto out;
		}
		if (*code != 401) {
			if (!last) {
				r = ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
				                "HTTP %ld from %s to the first %s message, not 401",
				                *code, c->url,
				                c->auth == AUTH_KRB5 ? "Kerberos" : "NTLM");
				goto out;
			}
			/* Kerberos' mutual authentication: the AP-REP rides on the
			 * reply; a host that sends none is taken (TLS proved it). */
			if (!complete && c->srv_token != NULL) {
				g = ap_winrm_gss_step(c->gss, c->srv_token, &tok, &complete,
				                      why, sizeof(why));
				ap_winrm_token_free(tok);
				tok = NULL;
				if (g != AP_WINRM_GSS_OK) {
					r = gss_fail(c, g, why, ctx);
					goto out;
				}
			}
			/* Later requests on this connection carry no header. */
			if (set_headers(c, NULL) != 0) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto out;
			}
			c->authed = 1;
			c->logged_on = 1;
			r = AP_OK;
			goto out;
		}
		if (last) {
			/* The password (or the ticket) was judged and refused. */
			r = ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_BAD_CREDENTIALS,
			                "HTTP 401 from %s: the logon of %s was refused "
			                "(agentpush: %s; host offers: %s)%s", c->url,
			                c->user[0] != '\0' ? c->user : "the ticket's user",
			                auth_name(c),
			                c->offered[0] != '\0' ? c->offered : "no scheme",
			                kerberos_note(c));
			goto out;
		}
		if (c->srv_token != NULL) {
			in = c->srv_token;  /* the CHALLENGE */
			c->srv_token = NULL;
			continue;
		}
		/* A bare 401 to the first message.  A host that does not offer
		 * our scheme name may offer the other one this mechanism goes
		 * under: NTLM, or Kerberos; start again once under that name. */
		mine = strcmp(c->scheme, "Negotiate") == 0 ? OFFER_NEGOTIATE :
		       c->auth == AUTH_KRB5 ? OFFER_KERBEROS : OFFER_NTLM;
		alt = c->auth == AUTH_KRB5 ? OFFER_KERBEROS : OFFER_NTLM;
		if (leg == 0 && !renamed && (c->offers & mine) == 0 &&
		    (c->offers & alt) != 0) {
			c->scheme = c->auth == AUTH_KRB5 ? "Kerberos" : "NTLM";
			renamed = 1;
			ap_winrm_gss_restart(c->gss);
			leg = -1;
			continue;
		}
		c->no_challenge = (c->offers & mine) != 0;
		r = NO_COMMON;
		goto out;
	}
	r = ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
	                "winrm: the %s handshake with %s did not end after %d messages",
	                c->auth == AUTH_KRB5 ? "Kerberos" : "NTLM", c->url, MAX_LEGS);
out:
	ap_winrm_token_free(tok);
	ap_winrm_token_free(in);
	ap_winrm_token_free(line);
	if (r != AP_OK)
		(void)set_headers(c, NULL);
	return r;
}

/* AUTO's fallback: libcurl's Basic with the password, sent at once. */
static int
use_basic(struct ap_conn *c, struct ap_ctx *ctx)
{
	ap_winrm_gss_free(c->gss);
	c->gss = NULL;
	c->auth = AUTH_BASIC;
	if (set_headers(c, NULL) != 0 ||
	    curl_easy_setopt(c->curl, CURLOPT_USERNAME, c->user) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_PASSWORD, c->password) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC) != CURLE_OK)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	return AP_OK;
}

static int
no_common(struct ap_conn *c, struct ap_ctx *ctx)
{
	return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_WMI_BLOCKED,
	                   "HTTP 401 from %s: no authentication scheme in common "
	                   "(agentpush: %s; host offers: %s)%s", c->url, auth_name(c),
	                   c->offered[0] != '\0' ? c->offered : "no scheme",
	                   !c->no_challenge ? "" : c->auth == AUTH_KRB5 ?
	                   "; the host refused the Kerberos token without judging it" :
	                   "; the host answered the NTLM NEGOTIATE message with no "
	                   "challenge (NTLM off there?)");
}

/*
 * Posts one envelope and reads the reply into c->body, logging on first
 * when the connection is not (GSS).  Returns AP_OK with the HTTP status in
 * *status (200, or 500 carrying a SOAP fault), else an AP_E* code with the
 * ErrorID and evidence on ctx.
 */
static int
post(struct ap_conn *c, const char *xml, int timeout_ms, long *status,
     struct ap_ctx *ctx)
{
	long code = 0;
	int r, fresh = 0;

	*status = 0;
	if (c->auth != AUTH_BASIC && !c->authed) {
		r = gss_logon(c, xml, timeout_ms, &code, ctx);
	} else {
		r = transfer(c, xml, timeout_ms, &code, &fresh, ctx);
		/* Logged on, but refused: libcurl had to open a new connection
		 * (the host closed ours), or the host wants this request
		 * authenticated again.  Once, with the credential GSS-API
		 * keeps; the request was not run, so it goes again. */
		if (r == AP_OK && code == 401 && c->auth != AUTH_BASIC)
			r = gss_logon(c, xml, timeout_ms, &code, ctx);
	}
	if (r == NO_COMMON) {
		/* Nothing judged yet: AUTO may still use Basic (see top). */
		if (!c->auto_mode || !c->https || (c->offers & OFFER_BASIC) == 0 ||
		    c->logged_on || c->password == NULL)
			return no_common(c, ctx);
		if ((r = use_basic(c, ctx)) != AP_OK)
			return r;
		r = transfer(c, xml, timeout_ms, &code, &fresh, ctx);
	}
	if (r != AP_OK)
		return r;
	if (code == 401) {
		/* Basic: the host offers no Basic, so nothing judged the
		 * password; this is the listener's configuration. */
		if ((c->offers & OFFER_BASIC) == 0)
			return no_common(c, ctx);
		return ap_ctx_fail(ctx, AP_EREMOTE, AP_ERR_WINDOWS_BAD_CREDENTIALS,
		                   "HTTP 401 from %s: the logon of %s was refused "
		                   "(agentpush: Basic; host offers: %s)",
		                   c->url, c->user,
		                   c->offered[0] != '\0' ? c->offered : "no scheme");
	}
	if (code != 200 && code != 500) {
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "HTTP %ld from %s: not a WS-Management reply", code,
		                   c->url);
	}
	*status = code;
	return AP_OK;
}

/*
 * Sends req and parses the reply into *rep, streams into out/err.  A SOAP
 * fault is returned as AP_OK with rep->kind AP_WINRM_R_FAULT, for the caller
 * to judge.  Otherwise AP_OK or an AP_E* code with ctx set.
 */
static int
call(struct ap_conn *c, struct ap_winrm_req *req, int timeout_ms,
     struct ap_winrm_reply *rep, struct ap_capbuf *out, struct ap_capbuf *err,
     struct ap_ctx *ctx)
{
	char *xml = NULL, why[256];
	long status = 0;
	int r;

	req->url = c->url;
	if (c->shell_id[0] != '\0')
		req->shell_id = c->shell_id;
	r = ap_winrm_build(req, &xml, why, sizeof(why));
	if (r == -1)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (r != 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "%s", why);
	r = post(c, xml, timeout_ms, &status, ctx);
	free(xml);
	if (r != AP_OK)
		return r;
	r = ap_winrm_parse(c->body.p != NULL ? c->body.p : "", c->body.len, rep,
	                   out, err, why, sizeof(why));
	if (r == -1)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (r != 0)
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "%s (HTTP %ld from %s)", why, status, c->url);
	if (status == 500 && rep->kind != AP_WINRM_R_FAULT)
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "HTTP 500 from %s without a SOAP fault", c->url);
	return AP_OK;
}

static int
fault_fail(struct ap_conn *c, const struct ap_winrm_reply *rep,
           const char *step, struct ap_ctx *ctx)
{
	int id = AP_ERR_WINDOWS_WMI_BLOCKED;

	if (strstr(rep->fault_subcode, "AccessDenied") != NULL ||
	    rep->wsman_code == 5)
		id = AP_ERR_WINDOWS_BAD_CREDENTIALS;
	return ap_ctx_fail(ctx, AP_EREMOTE, id,
	                   "WS-Management fault on %s at %s: %s%s%s (0x%08lx): %s",
	                   step, c->url, rep->fault_code,
	                   rep->fault_subcode[0] != '\0' ? " " : "",
	                   rep->fault_subcode, rep->wsman_code,
	                   rep->fault_reason[0] != '\0' ? rep->fault_reason : "no reason given");
}

static int
expect(struct ap_conn *c, const struct ap_winrm_reply *rep,
       enum ap_winrm_kind kind, const char *step, struct ap_ctx *ctx)
{
	if (rep->kind == AP_WINRM_R_FAULT)
		return fault_fail(c, rep, step, ctx);
	if (rep->kind != kind)
		return ap_ctx_fail(ctx, AP_EPROTO, AP_ERR_WINDOWS_WMI_BLOCKED,
		                   "unexpected WS-Management reply to %s from %s",
		                   step, c->url);
	return AP_OK;
}

static void
winrm_close(struct ap_conn *c)
{
	struct ap_winrm_req req;
	struct ap_winrm_reply rep;
	struct ap_ctx *tmp = NULL;

	if (c == NULL)
		return;
	if (c->shell_id[0] != '\0' && (tmp = ap_ctx_new()) != NULL) {
		memset(&req, 0, sizeof(req));
		req.action = AP_WINRM_DELETE;
		(void)call(c, &req, CLOSE_TIMEOUT_MS, &rep, NULL, NULL, tmp);
		ap_ctx_free(tmp);
	}
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	hdrs_free(c->hdrs);
	drop_srv_token(c);
	ap_winrm_gss_free(c->gss);
	ap_capbuf_clear(&c->body);
	free(c);
}

static int
winrm_open(const struct ap_conn_opts *o, struct ap_conn **out,
           struct ap_ctx *ctx)
{
	struct ap_conn *c = NULL;
	struct ap_winrm_req req;
	struct ap_winrm_reply rep;
	char why[512];
	int r = AP_ENOMEM, g, https = !o->winrm_allow_http;
	int krb = o->winrm_auth == AP_WINRM_AUTH_KERBEROS;

	*out = NULL;
	pthread_once(&init_once, init_curl);
	if (init_rc != CURLE_OK)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "cannot initialise libcurl: %s",
		                   curl_easy_strerror(init_rc));
	if (o->host == NULL || o->host[0] == '\0' || strlen(o->host) >= 250 ||
	    strpbrk(o->host, "/@?#[] \t\r\n") != NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "winrm: bad host name \"%s\"",
		                   o->host != NULL ? o->host : "");
	/* Kerberos logs on with the ticket: the user name only names it in
	 * evidence, and no password is needed. */
	if ((o->user != NULL && strlen(o->user) >= 128) ||
	    (!krb && (o->user == NULL || o->user[0] == '\0' || o->password == NULL)))
		return ap_ctx_fail(ctx, AP_EINVAL, 0,
		                   "winrm: a user name (under 128 bytes) and a password are needed");
	if (o->port < 0 || o->port > 65535)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "winrm: bad port %d", o->port);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	c->body.cap = AP_WINRM_MAX_REPLY;
	c->https = https;
	c->port = o->port != 0 ? o->port : https ? WINRM_HTTPS_PORT : WINRM_HTTP_PORT;
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms :
	                        DEFAULT_CONNECT_TIMEOUT_MS;
	c->io_timeout_ms = o->io_timeout_ms > 0 ? o->io_timeout_ms : DEFAULT_IO_TIMEOUT_MS;
	snprintf(c->host, sizeof(c->host), "%s", o->host);
	snprintf(c->user, sizeof(c->user), "%s", o->user != NULL ? o->user : "");
	c->password = o->password;
	/* An IPv6 literal needs brackets in a URL. */
	snprintf(c->url, sizeof(c->url), strchr(o->host, ':') != NULL ?
	         "%s://[%s]:%d/wsman" : "%s://%s:%d/wsman",
	         https ? "https" : "http", o->host, c->port);
	/* Windows offers Negotiate first and takes raw NTLM or Kerberos
	 * tokens under it; gss_logon() renames once if the host does not. */
	c->scheme = "Negotiate";
	switch (o->winrm_auth) {
	case AP_WINRM_AUTH_BASIC:
		c->auth = AUTH_BASIC;
		break;
	case AP_WINRM_AUTH_KERBEROS:
		c->auth = AUTH_KRB5;
		break;
	case AP_WINRM_AUTH_NEGOTIATE:
		c->auth = AUTH_NTLM;
		break;
	default:
		c->auth = AUTH_NTLM;
		c->auto_mode = 1;
		break;
	}
	if (c->auth != AUTH_BASIC) {
		g = ap_winrm_gss_new(c->auth == AUTH_KRB5 ? AP_WINRM_MECH_KRB5 :
		                     AP_WINRM_MECH_NTLM, c->user, o->password, c->host,
		                     &c->gss, why, sizeof(why));
		if (g != AP_WINRM_GSS_OK) {
			r = gss_fail(c, g, why, ctx);
			goto out;
		}
	}
	if ((c->curl = curl_easy_init()) == NULL || set_headers(c, NULL) != 0)
		goto fail;
	/* NTLM authenticates the connection: HTTP/1.1 (HTTP/2 would share
	 * it between streams), and one connection kept
	 * (CURLOPT_FORBID_REUSE stays 0). */
	if (curl_easy_setopt(c->curl, CURLOPT_URL, c->url) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, https ? "https" : "http") != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_MAXCONNECTS, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
	                     (long)c->connect_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "agentpush") != CURLE_OK ||
	    (c->auth == AUTH_BASIC &&
	     (curl_easy_setopt(c->curl, CURLOPT_USERNAME, c->user) != CURLE_OK ||
	      curl_easy_setopt(c->curl, CURLOPT_PASSWORD, o->password) != CURLE_OK ||
	      curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC) != CURLE_OK))) {
		r = ap_ctx_fail(ctx, AP_EUNSUPP, 0,
		                "winrm: this libcurl lacks an option agentpush needs (HTTP/1.1, TLS, %s)",
		                auth_name(c));
		goto out;
	}
	if (o->ca_file != NULL &&
	    curl_easy_setopt(c->curl, CURLOPT_CAINFO, o->ca_file) != CURLE_OK) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.action = AP_WINRM_CREATE;
	r = call(c, &req, c->io_timeout_ms, &rep, NULL, NULL, ctx);
	c->password = NULL; /* the caller's: not kept past open() */
	if (r != AP_OK)
		goto out;
	if ((r = expect(c, &rep, AP_WINRM_R_CREATED, "Create shell", ctx)) != AP_OK)
		goto out;
	snprintf(c->shell_id, sizeof(c->shell_id), "%s", rep.shell_id);
	*out = c;
	c = NULL; /* transferred */
	r = AP_OK;
	goto out;
fail:
	r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
out:
	if (c != NULL)
		c->password = NULL;
	winrm_close(c);
	return r;
}

static int
winrm_exec(struct ap_conn *c, const char *cmd, const void *in, size_t in_len,
           struct ap_exec_result *res, struct ap_ctx *ctx)
{
	struct ap_capbuf bufs[2];
	struct ap_winrm_req req;
	struct ap_winrm_reply rep;
	char cid[AP_WINRM_ID_MAX];
	long long deadline = ap_transport_now_ms() + c->io_timeout_ms, left;
	size_t off = 0, n;
	int r;

	memset(res, 0, sizeof(*res));
	res->exit_status = -1;
	memset(bufs, 0, sizeof(bufs));
	bufs[0].cap = bufs[1].cap = AP_TRANSPORT_OUTPUT_CAP;
	cid[0] = '\0';

	memset(&req, 0, sizeof(req));
	req.action = AP_WINRM_COMMAND;
	req.command = cmd;
	if ((r = call(c, &req, c->io_timeout_ms, &rep, NULL, NULL, ctx)) != AP_OK)
		goto out;
	if ((r = expect(c, &rep, AP_WINRM_R_COMMAND, "Command", ctx)) != AP_OK)
		goto out;
	snprintf(cid, sizeof(cid), "%s", rep.command_id);

	while (in_len > 0 && off < in_len) {
		n = in_len - off < SEND_CHUNK ? in_len - off : SEND_CHUNK;
		memset(&req, 0, sizeof(req));
		req.action = AP_WINRM_SEND;
		req.command_id = cid;
		req.data = (const char *)in + off;
		req.data_len = n;
		req.end = off + n == in_len;
		if ((r = call(c, &req, c->io_timeout_ms, &rep, NULL, NULL, ctx)) != AP_OK)
			goto out;
		if ((r = expect(c, &rep, AP_WINRM_R_EMPTY, "Send", ctx)) != AP_OK)
			goto out;
		off += n;
	}

	for (;;) {
		left = deadline - ap_transport_now_ms();
		if (left <= 0) {
			r = ap_ctx_fail(ctx, AP_ETIMEOUT, AP_ERR_WINDOWS_WMI_BLOCKED,
			                "the command on %s did not finish within %d s",
			                c->url, c->io_timeout_ms / 1000);
			goto out;
		}
		memset(&req, 0, sizeof(req));
		req.action = AP_WINRM_RECEIVE;
		req.command_id = cid;
		req.timeout_s = RECEIVE_TIMEOUT_S;
		if ((r = call(c, &req, (int)(left < (RECEIVE_TIMEOUT_S + 10) * 1000 ?
		                              left : (RECEIVE_TIMEOUT_S + 10) * 1000),
		              &rep, &bufs[0], &bufs[1], ctx)) != AP_OK)
			goto out;
		/* w:TimedOut is the long poll ending with nothing new: ask again. */
		if (rep.kind == AP_WINRM_R_FAULT &&
		    strstr(rep.fault_subcode, "TimedOut") != NULL)
			continue;
		if ((r = expect(c, &rep, AP_WINRM_R_RECEIVE, "Receive", ctx)) != AP_OK)
			goto out;
		if (rep.done)
			break;
	}
	res->exit_status = rep.has_exit_code ? (int)rep.exit_code : -1;
	if (ap_capbuf_to_exec_result(bufs, res) < 0) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	r = AP_OK;
out:
	if (cid[0] != '\0') {
		/* Terminate and release the command, even after an error; a
		 * failure here changes nothing for the caller. */
		struct ap_ctx *tmp = ap_ctx_new();

		if (tmp != NULL) {
			memset(&req, 0, sizeof(req));
			req.action = AP_WINRM_SIGNAL;
			req.command_id = cid;
			(void)call(c, &req, CLOSE_TIMEOUT_MS, &rep, NULL, NULL, tmp);
			ap_ctx_free(tmp);
		}
	}
	ap_capbuf_clear(&bufs[0]);
	ap_capbuf_clear(&bufs[1]);
	return r;
}

/* Both the HTTP requests and the deadline of a whole exec use it. */
static void
winrm_set_timeout(struct ap_conn *c, int io_timeout_ms)
{
	if (c != NULL && io_timeout_ms > 0)
		c->io_timeout_ms = io_timeout_ms;
}

const struct ap_transport_ops ap_transport_winrm = {
	.name = "winrm",
	.open = winrm_open,
	.exec = winrm_exec,
	.put = NULL,
	.close = winrm_close,
	.rename = NULL,
	.probe_transfer = NULL,
	.free_space = NULL,
	.set_timeout = winrm_set_timeout,
};
