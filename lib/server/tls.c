/*
 * tls.c - the server's certificate: made on first start (a self-signed
 * ECDSA P-256 certificate, key 0600 in the state folder) and its public key
 * pin, which install hands to agents so they trust this server and nothing
 * else (no CA is involved: the pin is the trust anchor).
 *
 * GnuTLS because libmicrohttpd already speaks TLS through it; one TLS
 * library in the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "agentpush/server.h"
#include "server_int.h"

#define CERT_DAYS 3650

/* host as an IPv4 or IPv6 address into ip; 1 when it is one. */
static int
inet_pton_any(const char *host, unsigned char *ip, size_t *len)
{
	if (inet_pton(AF_INET, host, ip) == 1) {
		*len = 4;
		return 1;
	}
	if (inet_pton(AF_INET6, host, ip) == 1) {
		*len = 16;
		return 1;
	}
	return 0;
}

static int
tls_fail(struct ap_ctx *ctx, const char *what, int e)
{
	return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "TLS: %s: %s", what, gnutls_strerror(e));
}

/* Writes data to path with mode, atomically (temp file + rename). */
static int
write_file(const char *path, const void *data, size_t len, mode_t mode,
           struct ap_ctx *ctx)
{
	char tmp[4200];
	int fd = -1, r = AP_OK;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)) < 0)
		return ap_ctx_fail(ctx, AP_EIO, 0, "cannot create %s: %s", tmp, strerror(errno));
	if (fchmod(fd, mode) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot write %s: %s", tmp, strerror(errno));
	if (close(fd) != 0 && r == AP_OK)
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot write %s: %s", tmp, strerror(errno));
	if (r == AP_OK && rename(tmp, path) != 0)
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot rename %s: %s", tmp, strerror(errno));
	if (r != AP_OK)
		unlink(tmp);
	return r;
}

int
ap_srv_tls_make_cert(const char *cert_path, const char *key_path,
                     const char *host, struct ap_ctx *ctx)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kpem = { NULL, 0 }, cpem = { NULL, 0 };
	unsigned char serial[16];
	time_t now = time(NULL);
	int e, r = AP_OK;

	if ((e = gnutls_x509_privkey_init(&key)) < 0 ||
	    (e = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	                                      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0) {
		r = tls_fail(ctx, "cannot make a key", e);
		goto out;
	}
	randombytes_buf(serial, sizeof(serial));
	serial[0] &= 0x7f; /* a positive serial */
	if ((e = gnutls_x509_crt_init(&crt)) < 0 ||
	    (e = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (e = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (e = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
	    (e = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)CERT_DAYS * 86400)) < 0 ||
	    (e = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	                                       "agentpush", strlen("agentpush"))) < 0 ||
	    (e = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (e = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (e = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (e = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0) {
		r = tls_fail(ctx, "cannot build the certificate", e);
		goto out;
	}
	if (host != NULL && host[0] != '\0') {
		unsigned char ip[16];
		size_t iplen = 0;

		if (inet_pton_any(host, ip, &iplen))
			e = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip,
			                                         (unsigned)iplen, GNUTLS_FSAN_APPEND);
		else
			e = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
			                                         (unsigned)strlen(host), GNUTLS_FSAN_APPEND);
		if (e < 0) {
			r = tls_fail(ctx, "cannot name the certificate", e);
			goto out;
		}
	}
	if ((e = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0) {
		r = tls_fail(ctx, "cannot sign the certificate", e);
		goto out;
	}
	if ((e = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem)) < 0 ||
	    (e = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem)) < 0) {
		r = tls_fail(ctx, "cannot export the certificate", e);
		goto out;
	}
	/* The key first: a certificate without its key is never left. */
	if ((r = write_file(key_path, kpem.data, kpem.size, 0600, ctx)) != AP_OK ||
	    (r = write_file(cert_path, cpem.data, cpem.size, 0644, ctx)) != AP_OK)
		goto out;
out:
	if (kpem.data != NULL) {
		sodium_memzero(kpem.data, kpem.size);
		gnutls_free(kpem.data);
	}
	gnutls_free(cpem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return r;
}

int
ap_server_cert_pin(const char *cert_path, char *buf, size_t size,
                   struct ap_ctx *ctx)
{
	gnutls_datum_t pem = { NULL, 0 }, der = { NULL, 0 };
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t pub = NULL;
	unsigned char digest[32];
	char b64[64];
	int e, r = AP_OK;

	if ((e = gnutls_load_file(cert_path, &pem)) < 0)
		return ap_ctx_fail(ctx, AP_EIO, 0, "cannot read the certificate %s: %s", cert_path,
		                   gnutls_strerror(e));
	if ((e = gnutls_x509_crt_init(&crt)) < 0 ||
	    (e = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM)) < 0) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s is not a PEM certificate: %s", cert_path,
		                gnutls_strerror(e));
		goto out;
	}
	/* curl's pin: sha256 of the DER SubjectPublicKeyInfo, base64. */
	if ((e = gnutls_pubkey_init(&pub)) < 0 ||
	    (e = gnutls_pubkey_import_x509(pub, crt, 0)) < 0 ||
	    (e = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der)) < 0 ||
	    (e = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest)) < 0) {
		r = tls_fail(ctx, "cannot read the certificate's public key", e);
		goto out;
	}
	sodium_bin2base64(b64, sizeof(b64), digest, sizeof(digest), sodium_base64_VARIANT_ORIGINAL);
	if ((size_t)snprintf(buf, size, "sha256//%s", b64) >= size)
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "server: pin buffer too small");
out:
	gnutls_free(der.data);
	gnutls_free(pem.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	return r;
}
