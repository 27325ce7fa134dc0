/*
 * winrm_auth.h - GSS-API logons for the WinRM client (winrm.c), internal to
 * lib/transport: NTLM with the given password (the gss-ntlmssp mechanism,
 * OID 1.3.6.1.4.1.311.2.2.10, loaded by MIT krb5's mechglue from
 * /etc/gss/mech.d) and Kerberos with the credential cache's ticket (MIT
 * krb5's own mechanism, never SPNEGO: SPNEGO could pick NTLM).
 *
 * Tokens cross this interface in base64, as they go in the HTTP headers.
 * Every token buffer this module gets from GSS-API or makes is wiped before
 * it is freed (an NTLM AUTHENTICATE message holds an NTLMv2 response, which
 * can be attacked offline).  The password is never copied here: it goes to
 * gss_acquire_cred_with_password() and the mechanism keeps what it derives
 * from it inside the credential until ap_winrm_gss_free().
 *
 * Not thread-safe per object; distinct objects may be used by distinct
 * threads (MIT's mechglue is thread-safe).
 */
#ifndef AP_WINRM_AUTH_H
#define AP_WINRM_AUTH_H

#include <stddef.h>

enum ap_winrm_mech {
	AP_WINRM_MECH_NTLM,   /* password, gss-ntlmssp */
	AP_WINRM_MECH_KRB5    /* the default credential cache's ticket */
};

/* Results of the functions below (why holds a one-line reason). */
enum {
	AP_WINRM_GSS_OK = 0,
	AP_WINRM_GSS_NOMEM = -1,
	AP_WINRM_GSS_NOMECH = 1,   /* the NTLM mechanism is not installed */
	AP_WINRM_GSS_LOCAL = 2,    /* no usable local credential: a bad user
	                            * name, no Kerberos ticket, no KDC, ... */
	AP_WINRM_GSS_PEER = 3      /* the server's token was refused */
};

struct ap_winrm_gss;

/*
 * Prepares logons to host (the target name is HTTP@host, a host-based
 * service name).  NTLM: user (DOMAIN\user, user@domain or user) and
 * password give the credential now.  KRB5: user and password are unused;
 * the ticket is read at the first step.  On AP_WINRM_GSS_OK *out is owned
 * by the caller (ap_winrm_gss_free).
 */
int ap_winrm_gss_new(enum ap_winrm_mech mech, const char *user,
                     const char *password, const char *host,
                     struct ap_winrm_gss **out, char *why, size_t whylen);

/*
 * One step of the handshake: in_b64 is the server's token (NULL for the
 * first step).  On AP_WINRM_GSS_OK, *out_b64 is the token to send
 * (NUL-terminated, to be freed with ap_winrm_token_free), or NULL when
 * there is none; *complete is 1 once the context is established.
 */
int ap_winrm_gss_step(struct ap_winrm_gss *g, const char *in_b64,
                      char **out_b64, int *complete, char *why,
                      size_t whylen);

/* Forgets the security context: the next step starts a new handshake.  The
 * credential stays (a new connection logs on again without the password). */
void ap_winrm_gss_restart(struct ap_winrm_gss *g);

/* Frees g (NULL is fine): the context and the credential. */
void ap_winrm_gss_free(struct ap_winrm_gss *g);

/* Wipes and frees a token from ap_winrm_gss_step (NULL is fine). */
void ap_winrm_token_free(char *b64);

#endif
