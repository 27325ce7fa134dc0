/*
 * winrm_auth.c - GSS-API logons for the WinRM client (see winrm_auth.h).
 *
 * Why GSS-API and not libcurl's own schemes: libcurl's NTLM can only be
 * sent under the scheme name "NTLM", which a default Windows WinRM listener
 * does not offer (it offers "Negotiate" and "Kerberos" and takes raw
 * NTLMSSP tokens under "Negotiate"); libcurl's Negotiate never uses the
 * password.  So winrm.c carries these tokens in its own Authorization
 * header, and this file makes them.
 *
 * NTLM: gss_acquire_cred_with_password() for the NTLM mechanism only, then
 * gss_init_sec_context(): NEGOTIATE, then AUTHENTICATE from the server's
 * CHALLENGE (raw NTLMSSP messages, no SPNEGO wrapping: what Windows'
 * Negotiate takes, and what pywinrm/requests-ntlm send).
 *
 * Kerberos: gss_init_sec_context() with the default credential (the
 * credential cache, KRB5CCNAME) for the krb5 mechanism only, mutual
 * authentication asked: one AP-REQ, the server's AP-REP on the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <sodium.h>

#include "winrm_auth.h"

#define MAX_TOKEN (64 * 1024)   /* NTLM and Kerberos tokens are far smaller */

/* 1.3.6.1.4.1.311.2.2.10, the NTLMSSP mechanism gss-ntlmssp registers */
static gss_OID_desc ntlm_oid = {
	10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"
};

struct ap_winrm_gss {
	enum ap_winrm_mech mech;
	gss_OID oid;
	gss_name_t target;      /* HTTP@host */
	gss_cred_id_t cred;     /* NTLM: from the password; KRB5: default */
	gss_ctx_id_t ctx;
};

/* Appends ": " and GSS-API's text for code (of kind type) to why. */
static void
append_status(char *why, size_t whylen, OM_uint32 code, int type, gss_OID mech)
{
	OM_uint32 mn, more = 0;
	gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
	size_t used;

	if (gss_display_status(&mn, code, type, mech, &more, &b) != GSS_S_COMPLETE)
		return;
	used = strlen(why);
	snprintf(why + used, whylen - used, ": %.*s", (int)b.length,
	         (const char *)b.value);
	gss_release_buffer(&mn, &b);
}

/* Writes "what: major message: minor message" into why. */
static void
status_str(char *why, size_t whylen, const char *what, OM_uint32 major,
           OM_uint32 minor, gss_OID mech)
{
	snprintf(why, whylen, "%s", what);
	if (GSS_ERROR(major))
		append_status(why, whylen, major, GSS_C_GSS_CODE, GSS_C_NO_OID);
	if (minor != 0)
		append_status(why, whylen, minor, GSS_C_MECH_CODE, mech);
}

/* Whether the mechglue knows the NTLM mechanism (gss-ntlmssp's
 * /etc/gss/mech.d/ntlmssp.conf and its plugin). */
static int
have_ntlm(void)
{
	OM_uint32 mn;
	gss_OID_set mechs = GSS_C_NO_OID_SET;
	int present = 0;

	if (gss_indicate_mechs(&mn, &mechs) != GSS_S_COMPLETE)
		return 0;
	(void)gss_test_oid_set_member(&mn, &ntlm_oid, mechs, &present);
	gss_release_oid_set(&mn, &mechs);
	return present;
}

void
ap_winrm_gss_free(struct ap_winrm_gss *g)
{
	OM_uint32 mn;

	if (g == NULL)
		return;
	if (g->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&mn, &g->ctx, GSS_C_NO_BUFFER);
	if (g->cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&mn, &g->cred);
	if (g->target != GSS_C_NO_NAME)
		gss_release_name(&mn, &g->target);
	free(g);
}

void
ap_winrm_gss_restart(struct ap_winrm_gss *g)
{
	OM_uint32 mn;

	if (g != NULL && g->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&mn, &g->ctx, GSS_C_NO_BUFFER);
}

void
ap_winrm_token_free(char *b64)
{
	if (b64 == NULL)
		return;
	sodium_memzero(b64, strlen(b64));
	free(b64);
}

int
ap_winrm_gss_new(enum ap_winrm_mech mech, const char *user,
                 const char *password, const char *host,
                 struct ap_winrm_gss **out, char *why, size_t whylen)
{
	struct ap_winrm_gss *g = NULL;
	OM_uint32 major, minor = 0, mn;
	gss_buffer_desc b;
	gss_name_t uname = GSS_C_NO_NAME;
	gss_OID_set_desc set;
	char svc[300];
	int r;

	*out = NULL;
	why[0] = '\0';
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return AP_WINRM_GSS_NOMEM;
	g->mech = mech;
	g->oid = mech == AP_WINRM_MECH_NTLM ? &ntlm_oid : (gss_OID)gss_mech_krb5;
	g->cred = GSS_C_NO_CREDENTIAL;
	g->ctx = GSS_C_NO_CONTEXT;
	g->target = GSS_C_NO_NAME;
	snprintf(svc, sizeof(svc), "HTTP@%s", host);
	b.value = svc;
	b.length = strlen(svc);
	major = gss_import_name(&minor, &b, GSS_C_NT_HOSTBASED_SERVICE, &g->target);
	if (GSS_ERROR(major)) {
		status_str(why, whylen, "cannot make the target name", major, minor,
		           GSS_C_NO_OID);
		r = AP_WINRM_GSS_LOCAL;
		goto out;
	}
	if (mech == AP_WINRM_MECH_KRB5) {
		r = AP_WINRM_GSS_OK;
		goto out;
	}
	if (!have_ntlm()) {
		snprintf(why, whylen, "the NTLM GSS-API mechanism is not installed "
		         "(Debian package gss-ntlmssp)");
		r = AP_WINRM_GSS_NOMECH;
		goto out;
	}
	/* The mechanism parses the name itself: DOMAIN\user, user@domain or
	 * user (gss-ntlmssp's import_name for GSS_C_NT_USER_NAME). */
	b.value = (void *)user;
	b.length = strlen(user);
	major = gss_import_name(&minor, &b, GSS_C_NT_USER_NAME, &uname);
	if (GSS_ERROR(major)) {
		status_str(why, whylen, "cannot use the user name", major, minor,
		           GSS_C_NO_OID);
		r = AP_WINRM_GSS_LOCAL;
		goto out;
	}
	set.count = 1;
	set.elements = &ntlm_oid;
	/* The buffer points at the caller's password: nothing of ours to
	 * wipe; gss-ntlmssp keeps only the NT hash, in the credential. */
	b.value = (void *)password;
	b.length = strlen(password);
	major = gss_acquire_cred_with_password(&minor, uname, &b, GSS_C_INDEFINITE,
	                                       &set, GSS_C_INITIATE, &g->cred,
	                                       NULL, NULL);
	if (GSS_ERROR(major)) {
		status_str(why, whylen, "cannot make an NTLM credential", major,
		           minor, &ntlm_oid);
		r = major == GSS_S_BAD_MECH ? AP_WINRM_GSS_NOMECH : AP_WINRM_GSS_LOCAL;
		goto out;
	}
	r = AP_WINRM_GSS_OK;
out:
	if (uname != GSS_C_NO_NAME)
		gss_release_name(&mn, &uname);
	if (r == AP_WINRM_GSS_OK) {
		*out = g;
		g = NULL;
	}
	ap_winrm_gss_free(g);
	return r;
}

int
ap_winrm_gss_step(struct ap_winrm_gss *g, const char *in_b64, char **out_b64,
                  int *complete, char *why, size_t whylen)
{
	OM_uint32 major, minor = 0, mn, flags;
	gss_buffer_desc in = GSS_C_EMPTY_BUFFER, outb = GSS_C_EMPTY_BUFFER;
	unsigned char *bin = NULL;
	size_t inlen = 0, b64len;
	char *b64 = NULL;
	int r;

	*out_b64 = NULL;
	*complete = 0;
	why[0] = '\0';
	if (in_b64 != NULL) {
		size_t l = strlen(in_b64);

		if (l == 0 || l > MAX_TOKEN * 4 / 3 + 4 ||
		    (bin = malloc(l / 4 * 3 + 3)) == NULL) {
			snprintf(why, whylen, l == 0 || l > MAX_TOKEN * 4 / 3 + 4 ?
			         "the server's token is empty or too long" : "out of memory");
			return l == 0 || l > MAX_TOKEN * 4 / 3 + 4 ?
			       AP_WINRM_GSS_PEER : AP_WINRM_GSS_NOMEM;
		}
		if (sodium_base642bin(bin, l / 4 * 3 + 3, in_b64, l, NULL, &inlen,
		                      NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
			snprintf(why, whylen, "the server's token is not base64");
			r = AP_WINRM_GSS_PEER;
			goto out;
		}
		in.value = bin;
		in.length = inlen;
	}
	/* NTLM: no flags (integrity and sealing are TLS's job here).
	 * Kerberos: mutual, so the reply proves the server knows its key. */
	flags = g->mech == AP_WINRM_MECH_KRB5 ? GSS_C_MUTUAL_FLAG : 0;
	major = gss_init_sec_context(&minor, g->cred, &g->ctx, g->target, g->oid,
	                             flags, GSS_C_INDEFINITE,
	                             GSS_C_NO_CHANNEL_BINDINGS,
	                             in_b64 != NULL ? &in : GSS_C_NO_BUFFER,
	                             NULL, &outb, NULL, NULL);
	if (GSS_ERROR(major)) {
		status_str(why, whylen, g->mech == AP_WINRM_MECH_KRB5 ? "Kerberos"
		           : "NTLM", major, minor, g->oid);
		/* the first step reads only local things: the credential,
		 * the ticket cache, the KDC */
		r = in_b64 == NULL ? AP_WINRM_GSS_LOCAL : AP_WINRM_GSS_PEER;
		goto out;
	}
	if (outb.length > MAX_TOKEN) {
		snprintf(why, whylen, "GSS-API token over %d bytes", MAX_TOKEN);
		r = AP_WINRM_GSS_PEER;
		goto out;
	}
	if (outb.length > 0) {
		b64len = sodium_base64_encoded_len(outb.length,
		                                   sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(b64len)) == NULL) {
			snprintf(why, whylen, "out of memory");
			r = AP_WINRM_GSS_NOMEM;
			goto out;
		}
		sodium_bin2base64(b64, b64len, outb.value, outb.length,
		                  sodium_base64_VARIANT_ORIGINAL);
	}
	*out_b64 = b64;
	b64 = NULL;
	*complete = major == GSS_S_COMPLETE;
	r = AP_WINRM_GSS_OK;
out:
	if (outb.value != NULL) {
		sodium_memzero(outb.value, outb.length);
		gss_release_buffer(&mn, &outb);
	}
	if (bin != NULL) {
		sodium_memzero(bin, inlen);
		free(bin);
	}
	ap_winrm_token_free(b64);
	if (r != AP_WINRM_GSS_OK)
		ap_winrm_gss_restart(g);
	return r;
}
