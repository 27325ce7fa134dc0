/*
 * secrets.c - the admin token, the registration passphrase and per-agent
 * secrets, with libsodium (server.h, server_int.h).
 *
 * Why two hashes: the admin token and agent secrets are 256-bit random
 * values, so a fast BLAKE2b hash is as good a verifier as any (no
 * dictionary to try); the passphrase is something an operator may copy
 * around and type, so its verifier is Argon2id (crypto_pwhash_str), slow on
 * purpose.  Files holding a cleartext are written 0600 through a temporary
 * file and rename(2), so a crash never leaves half a secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agentpush/server.h"
#include "server_int.h"

#define TOKEN_FILE "admin-token"
#define PASSPHRASE_FILE "registration-passphrase"
#define SECRET_BYTES 32

static const char alnum[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

int
ap_srv_sodium_init(struct ap_ctx *ctx)
{
	if (sodium_init() < 0)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "libsodium cannot start (no entropy source?)");
	return AP_OK;
}

void
ap_srv_random_hex(char *buf, size_t n_bytes)
{
	unsigned char raw[64];

	if (n_bytes > sizeof(raw))
		n_bytes = sizeof(raw);
	randombytes_buf(raw, n_bytes);
	sodium_bin2hex(buf, n_bytes * 2 + 1, raw, n_bytes);
	sodium_memzero(raw, sizeof(raw));
}

void
ap_srv_hash_hex(const char *secret, char out[AP_SRV_HASH_HEX])
{
	unsigned char h[32];

	crypto_generichash(h, sizeof(h), (const unsigned char *)secret, strlen(secret), NULL, 0);
	sodium_bin2hex(out, AP_SRV_HASH_HEX, h, sizeof(h));
}

int
ap_srv_hash_matches(const char *secret, const char *hash_hex)
{
	char h[AP_SRV_HASH_HEX];

	if (secret == NULL || hash_hex == NULL || strlen(hash_hex) != AP_SRV_HASH_HEX - 1)
		return 0;
	ap_srv_hash_hex(secret, h);
	return sodium_memcmp(h, hash_hex, AP_SRV_HASH_HEX - 1) == 0;
}

/* Writes s + "\n" to dir/name, 0600, atomically. */
static int
write_secret_file(const char *dir, const char *name, const char *s,
                  struct ap_ctx *ctx)
{
	char path[4096], tmp[4200];
	size_t len = strlen(s);
	int fd = -1, r = AP_OK;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return ap_ctx_fail(ctx, AP_EIO, 0, "cannot create %s: %s", tmp, strerror(errno));
	if (fchmod(fd, 0600) != 0 || write(fd, s, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (r != AP_OK)
		unlink(tmp);
	return r;
}

/*
 * Reads the first line of dir/name into buf.  AP_ENOTFOUND when the file
 * does not exist; a file others may read is refused (someone loosened it).
 */
static int
read_secret_file(const char *dir, const char *name, char *buf, size_t size,
                 struct ap_ctx *ctx)
{
	char path[4096];
	struct stat sb;
	ssize_t n;
	int fd = -1, r = AP_OK;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "%s does not exist", path);
		return ap_ctx_fail(ctx, AP_EIO, 0, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || (sb.st_mode & 077) != 0) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s may be read by others (mode %03o): make it 0600 (chmod 600 %s)",
		                path, (unsigned)(sb.st_mode & 0777), path);
		goto out;
	}
	n = read(fd, buf, size - 1);
	if (n < 0) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0')
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s is empty", path);
out:
	close(fd);
	return r;
}

static void
random_passphrase(char *buf)
{
	size_t i;

	/* uniform: randombytes_uniform has no modulo bias */
	for (i = 0; i < AP_SERVER_PASSPHRASE_LEN; i++)
		buf[i] = alnum[randombytes_uniform(sizeof(alnum) - 1)];
	buf[AP_SERVER_PASSPHRASE_LEN] = '\0';
}

int
ap_server_passphrase_rotate(struct ap_store *st, const char *state_dir,
                            struct ap_ctx *ctx)
{
	char pass[AP_SERVER_PASSPHRASE_LEN + 1], verifier[crypto_pwhash_STRBYTES];
	int r;

	if ((r = ap_srv_sodium_init(ctx)) != AP_OK)
		return r;
	random_passphrase(pass);
	if (crypto_pwhash_str(verifier, pass, strlen(pass), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "cannot hash the passphrase (out of memory)");
		goto out;
	}
	/* The file first: a crash between the two leaves a file that does
	 * not match the store, which read refuses and the next rotate mends;
	 * the other order would leave a verifier nobody knows the secret of. */
	if ((r = write_secret_file(state_dir, PASSPHRASE_FILE, pass, ctx)) != AP_OK)
		goto out;
	r = ap_store_secret_put(st, "registration_passphrase", verifier, ctx);
out:
	sodium_memzero(pass, sizeof(pass));
	return r;
}

int
ap_srv_passphrase_verify(struct ap_store *st, const char *pass, struct ap_ctx *ctx)
{
	char *verifier = NULL;
	int r;

	if ((r = ap_store_secret_get(st, "registration_passphrase", &verifier, ctx)) != AP_OK)
		return r;
	r = crypto_pwhash_str_verify(verifier, pass, strlen(pass)) == 0 ? 1 : 0;
	free(verifier);
	return r;
}

int
ap_server_passphrase_read(struct ap_store *st, const char *state_dir,
                          char *buf, size_t size, struct ap_ctx *ctx)
{
	int r;

	if (size < AP_SERVER_PASSPHRASE_LEN + 1)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "server: passphrase buffer too small");
	if ((r = ap_srv_sodium_init(ctx)) != AP_OK)
		return r;
	if ((r = read_secret_file(state_dir, PASSPHRASE_FILE, buf, size, ctx)) != AP_OK)
		goto fail;
	if ((r = ap_srv_passphrase_verify(st, buf, ctx)) < 0)
		goto fail;
	if (r == 0) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s/%s does not match the passphrase of the store (another server's state folder?): run agentpush passphrase rotate",
		                state_dir, PASSPHRASE_FILE);
		goto fail;
	}
	return AP_OK;
fail:
	sodium_memzero(buf, size);
	return r;
}

int
ap_server_secrets_init(struct ap_store *st, const char *state_dir,
                       int *created, char *token_path, size_t size,
                       struct ap_ctx *ctx)
{
	char token[SECRET_BYTES * 2 + 1], hash[AP_SRV_HASH_HEX];
	char *have = NULL;
	struct ap_ctx *probe = NULL;
	int r;

	if (created != NULL)
		*created = 0;
	if (token_path != NULL)
		snprintf(token_path, size, "%s/%s", state_dir, TOKEN_FILE);
	if ((r = ap_srv_sodium_init(ctx)) != AP_OK)
		return r;
	if ((probe = ap_ctx_new()) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	r = ap_store_secret_get(st, "admin_token", &have, probe);
	if (r == AP_ENOTFOUND) {
		ap_srv_random_hex(token, SECRET_BYTES);
		ap_srv_hash_hex(token, hash);
		if ((r = write_secret_file(state_dir, TOKEN_FILE, token, ctx)) == AP_OK &&
		    (r = ap_store_secret_put(st, "admin_token", hash, ctx)) == AP_OK &&
		    created != NULL)
			*created = 1;
		sodium_memzero(token, sizeof(token));
		if (r != AP_OK)
			goto out;
	} else if (r != AP_OK) {
		r = ap_ctx_fail(ctx, r, 0, "%s", ap_ctx_errmsg(probe));
		goto out;
	}
	free(have);
	have = NULL;
	ap_ctx_clear(probe);
	r = ap_store_secret_get(st, "registration_passphrase", &have, probe);
	if (r == AP_ENOTFOUND)
		r = ap_server_passphrase_rotate(st, state_dir, ctx);
	else if (r != AP_OK)
		r = ap_ctx_fail(ctx, r, 0, "%s", ap_ctx_errmsg(probe));
out:
	free(have);
	ap_ctx_free(probe);
	return r;
}
