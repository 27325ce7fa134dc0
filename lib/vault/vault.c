/*
 * vault.c - the credential vault (vault.h): keys, sealing, accounts.
 *
 * Key file: one line, "agentpush-vault-key 1 VERSION HEX64\n", mode 0600,
 * beside the job store.  VERSION is the key version it belongs to, so a
 * key file left from before a rekey is named as such instead of reading as
 * a wrong key.  A rekey writes KEY.new, commits the store, then renames it
 * over KEY; a crash between the two leaves KEY.new, which the next open
 * takes when it is the one the store asks for.
 *
 * Sealing, for account row ID under key version V:
 *   nonce  = 24 random bytes
 *   ad     = "agentpush-vault 1|account ID|field password|key V"
 *   secret = XChaCha20-Poly1305(key, nonce, ad, password)
 * stored as hex.  The key check of version V is the same with an empty
 * message and ad "agentpush-vault 1|key-check|key V", kept as nonce || tag.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agentpush/run.h"
#include "agentpush/store.h"
#include "agentpush/vault.h"
#include "vault_int.h"

#define KEY_BYTES AP_VAULT_KEY_BYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SALT_BYTES crypto_pwhash_SALTBYTES
#define KEY_FILE_MAGIC "agentpush-vault-key 1"
#define AD_MAX 128

_Static_assert(AP_VAULT_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "the vault key is an XChaCha20-Poly1305 key");

struct ap_vault {
	struct ap_store *st;
	char *key_path;
	int version;
	char kind[16];
	unsigned char *key;         /* sodium_malloc'd, KEY_BYTES */
};

/* ---- secrets in guarded memory, and no core dump while one is held ---- */

static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static int hold_count;
static int hold_dumpable;
static struct rlimit hold_core;

static void
hold(void)
{
	struct rlimit none = { 0, 0 };

	pthread_mutex_lock(&hold_mu);
	if (hold_count++ == 0) {
		hold_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
		if (getrlimit(RLIMIT_CORE, &hold_core) != 0)
			hold_core.rlim_cur = hold_core.rlim_max = 0;
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		none.rlim_max = hold_core.rlim_max;
		setrlimit(RLIMIT_CORE, &none);
	}
	pthread_mutex_unlock(&hold_mu);
}

static void
unhold(void)
{
	pthread_mutex_lock(&hold_mu);
	if (hold_count > 0 && --hold_count == 0) {
		setrlimit(RLIMIT_CORE, &hold_core);
		if (hold_dumpable > 0)
			prctl(PR_SET_DUMPABLE, hold_dumpable, 0, 0, 0);
	}
	pthread_mutex_unlock(&hold_mu);
}

static int
sodium_ready(struct ap_ctx *ctx)
{
	if (sodium_init() < 0)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "libsodium cannot start (no entropy source?)");
	return AP_OK;
}

/* sodium_malloc(n), zeroed, with the hold taken; NULL when out of memory. */
static void *
secure_alloc(size_t n)
{
	void *p = NULL;

	if ((p = sodium_malloc(n)) == NULL)
		return NULL;
	sodium_memzero(p, n);
	hold();
	return p;
}

static void
secure_free(void *p)
{
	if (p == NULL)
		return;
	sodium_free(p);   /* wipes */
	unhold();
}

int
ap_secret_new(size_t cap, struct ap_secret **out, struct ap_ctx *ctx)
{
	struct ap_secret *s = NULL;
	int r;

	*out = NULL;
	if ((r = sodium_ready(ctx)) != AP_OK)
		return r;
	if (cap == 0 || (s = calloc(1, sizeof(*s))) == NULL ||
	    (s->data = secure_alloc(cap)) == NULL) {
		free(s);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory (locked memory for a secret)");
	}
	s->cap = cap;
	*out = s;
	return AP_OK;
}

void
ap_secret_free(struct ap_secret *s)
{
	if (s == NULL)
		return;
	secure_free(s->data);
	free(s);
}

int
ap_secret_read_file(const char *path, const char *what, struct ap_secret **out,
                    struct ap_ctx *ctx)
{
	struct ap_secret *s = NULL;
	struct stat sb;
	ssize_t k;
	char *nl = NULL;
	int fd = -1, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return ap_ctx_fail(ctx, AP_EIO, 0, "%s %s: cannot read it: %s", what, path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s %s: not a regular file", what, path);
		goto out;
	}
	if ((r = ap_secret_new(AP_SECRET_MAX + 2, &s, ctx)) != AP_OK)
		goto out;
	for (;;) {
		k = read(fd, s->data + s->len, AP_SECRET_MAX + 1 - s->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = ap_ctx_fail(ctx, AP_EIO, 0, "%s %s: cannot read it: %s", what, path, strerror(errno));
			goto out;
		}
		s->len += (size_t)k;
		if (k == 0 || s->len == AP_SECRET_MAX + 1 || memchr(s->data, '\n', s->len) != NULL)
			break;
	}
	if ((nl = memchr(s->data, '\n', s->len)) != NULL)
		s->len = (size_t)(nl - s->data);
	if (s->len > AP_SECRET_MAX) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s %s: the first line is longer than %d bytes", what, path, AP_SECRET_MAX);
		goto out;
	}
	if (s->len > 0 && s->data[s->len - 1] == '\r')
		s->len--;
	sodium_memzero(s->data + s->len, s->cap - s->len);
	if (s->len == 0 || strlen(s->data) != s->len) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s %s: the first line is empty or holds a NUL byte", what, path);
		goto out;
	}
	*out = s;
	s = NULL;   /* transferred */
	r = AP_OK;
out:
	if (fd >= 0)
		close(fd);
	ap_secret_free(s);
	return r;
}

/* ---- names and paths ---- */

int
ap_vault_name_valid(const char *name)
{
	size_t i, n;

	if (name == NULL || (n = strlen(name)) == 0 || n > 64 || name[0] == '-' || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
ap_vault_key_path(const char *db_path, char *buf, size_t size, struct ap_ctx *ctx)
{
	const char *slash = NULL;
	int n;

	if (db_path == NULL || (slash = strrchr(db_path, '/')) == NULL)
		n = snprintf(buf, size, "vault.key");
	else
		n = snprintf(buf, size, "%.*s/vault.key", (int)(slash - db_path), db_path);
	if (n < 0 || (size_t)n >= size)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "the vault key path is longer than %zu bytes", size - 1);
	return AP_OK;
}

/* ---- sealing ---- */

static void
make_ad(char ad[AD_MAX], int64_t id, int version)
{
	if (id > 0)
		snprintf(ad, AD_MAX, "agentpush-vault 1|account %" PRId64 "|field password|key %d", id, version);
	else
		snprintf(ad, AD_MAX, "agentpush-vault 1|key-check|key %d", version);
}

/* Hex of nonce and ciphertext of msg (len bytes) into malloc'd strings. */
static int
seal(const unsigned char *key, int64_t id, int version, const char *msg,
     size_t len, char **nonce_hex, char **ct_hex, struct ap_ctx *ctx)
{
	unsigned char nonce[NONCE_BYTES], *ct = NULL;
	unsigned long long ct_len = 0;
	char ad[AD_MAX];
	int r = AP_OK;

	*nonce_hex = *ct_hex = NULL;
	make_ad(ad, id, version);
	randombytes_buf(nonce, sizeof(nonce));
	if ((ct = malloc(len + TAG_BYTES)) == NULL ||
	    (*nonce_hex = malloc(NONCE_BYTES * 2 + 1)) == NULL ||
	    (*ct_hex = malloc((len + TAG_BYTES) * 2 + 1)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, (const unsigned char *)msg, len,
	                                           (const unsigned char *)ad, strlen(ad), NULL, nonce, key);
	sodium_bin2hex(*nonce_hex, NONCE_BYTES * 2 + 1, nonce, sizeof(nonce));
	sodium_bin2hex(*ct_hex, (len + TAG_BYTES) * 2 + 1, ct, (size_t)ct_len);
out:
	free(ct);
	if (r != AP_OK) {
		free(*nonce_hex);
		free(*ct_hex);
		*nonce_hex = *ct_hex = NULL;
	}
	return r;
}

int
ap_vault_unseal(const unsigned char *key, int64_t id, int version,
                const char *nonce_hex, const char *ct_hex, const char *what,
                struct ap_secret **out, struct ap_ctx *ctx)
{
	unsigned char nonce[NONCE_BYTES], *ct = NULL;
	struct ap_secret *s = NULL;
	unsigned long long m_len = 0;
	size_t n_len = 0, c_len = 0, hex_len;
	char ad[AD_MAX];
	int r;

	*out = NULL;
	hex_len = ct_hex != NULL ? strlen(ct_hex) : 0;
	if (nonce_hex == NULL || ct_hex == NULL || hex_len % 2 != 0 ||
	    hex_len / 2 < TAG_BYTES || hex_len / 2 > AP_SECRET_MAX + TAG_BYTES) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s does not open: its row is damaged or was altered", what);
		goto out;
	}
	if ((ct = malloc(hex_len / 2)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if (sodium_hex2bin(nonce, sizeof(nonce), nonce_hex, strlen(nonce_hex), NULL, &n_len, NULL) != 0 ||
	    n_len != sizeof(nonce) ||
	    sodium_hex2bin(ct, hex_len / 2, ct_hex, hex_len, NULL, &c_len, NULL) != 0 ||
	    c_len != hex_len / 2) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s does not open: its row is damaged or was altered", what);
		goto out;
	}
	if ((r = ap_secret_new(c_len - TAG_BYTES + 1, &s, ctx)) != AP_OK)
		goto out;
	make_ad(ad, id, version);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)s->data, &m_len, NULL, ct, c_len,
	                                               (const unsigned char *)ad, strlen(ad), nonce, key) != 0) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "%s does not open with the vault key: its row was altered or copied from elsewhere",
		                what);
		goto out;
	}
	s->len = (size_t)m_len;
	s->data[s->len] = '\0';
	*out = s;
	s = NULL;   /* transferred */
	r = AP_OK;
out:
	free(ct);
	ap_secret_free(s);
	return r;
}

/* The key check of version (nonce || tag, hex) into a malloc'd *out. */
static int
key_check_make(const unsigned char *key, int version, char **out, struct ap_ctx *ctx)
{
	char *nonce = NULL, *ct = NULL;
	size_t n;
	int r;

	*out = NULL;
	if ((r = seal(key, 0, version, "", 0, &nonce, &ct, ctx)) != AP_OK)
		return r;
	n = strlen(nonce) + strlen(ct) + 1;
	if ((*out = malloc(n)) == NULL)
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	else
		snprintf(*out, n, "%s%s", nonce, ct);
	free(nonce);
	free(ct);
	return r;
}

/* Whether key opens the check value of row k. */
static int
key_check_ok(const unsigned char *key, const struct ap_vault_key_row *k)
{
	struct ap_secret *s = NULL;
	char nonce[NONCE_BYTES * 2 + 1];
	struct ap_ctx *quiet = NULL;
	int ok;

	if (k->key_check == NULL || strlen(k->key_check) != NONCE_BYTES * 2 + TAG_BYTES * 2)
		return 0;
	memcpy(nonce, k->key_check, NONCE_BYTES * 2);
	nonce[NONCE_BYTES * 2] = '\0';
	if ((quiet = ap_ctx_new()) == NULL)
		return 0;
	ok = ap_vault_unseal(key, 0, k->version, nonce, k->key_check + NONCE_BYTES * 2, "the key check",
	            &s, quiet) == AP_OK;
	ap_secret_free(s);
	ap_ctx_free(quiet);
	return ok;
}

/* ---- keys ---- */

/* Reads path's key into key (KEY_BYTES) and its version into *version. */
static int
key_file_read(const char *path, unsigned char *key, int *version, struct ap_ctx *ctx)
{
	struct ap_secret *line = NULL;
	struct stat sb;
	int r;

	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "vault key file %s is missing: restore it from a backup (without it the accounts cannot be decrypted)", path);
		return ap_ctx_fail(ctx, AP_EIO, 0, "vault key file %s: %s", path, strerror(errno));
	}
	if (!S_ISREG(sb.st_mode))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault key file %s is not a regular file", path);
	if ((sb.st_mode & 077) != 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault key file %s may be read by others (mode %03o): make it 0600 (chmod 600 %s)",
		                   path, (unsigned)(sb.st_mode & 0777), path);
	if ((r = ap_secret_read_file(path, "vault key file", &line, ctx)) != AP_OK)
		return r;
	if (ap_vault_key_line_parse(line->data, key, version) != 0)
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "vault key file %s is not an agentpush vault key", path);
	ap_secret_free(line);
	return r;
}

int
ap_vault_key_line_parse(const char *line, unsigned char *key, int *version)
{
	const char *magic = KEY_FILE_MAGIC " ", *p = NULL;
	char *end = NULL;
	size_t got = 0;
	long v;

	if (strncmp(line, magic, strlen(magic)) != 0)
		return -1;
	p = line + strlen(magic);
	if (*p < '1' || *p > '9')
		return -1;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno != 0 || end == p || *end != ' ' || v < 1 || v > INT_MAX)
		return -1;
	p = end + 1;
	if (strlen(p) != KEY_BYTES * 2 ||
	    sodium_hex2bin(key, KEY_BYTES, p, KEY_BYTES * 2, NULL, &got, NULL) != 0 || got != KEY_BYTES)
		return -1;
	*version = (int)v;
	return 0;
}

/* Writes key (version) to path, 0600, through path.tmp; replace 0 makes
 * it fail with AP_ECONFLICT when path exists (link(2), never replaced). */
static int
key_file_write(const char *path, const unsigned char *key, int version,
               int replace, struct ap_ctx *ctx)
{
	struct ap_secret *line = NULL;
	char tmp[PATH_MAX + 32];
	int fd = -1, r, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((r = ap_secret_new(128, &line, ctx)) != AP_OK)
		return r;
	n = snprintf(line->data, line->cap, "%s %d ", KEY_FILE_MAGIC, version);
	sodium_bin2hex(line->data + n, line->cap - (size_t)n, key, KEY_BYTES);
	line->len = strlen(line->data);
	line->data[line->len++] = '\n';
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot create the vault key file %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || write(fd, line->data, line->len) != (ssize_t)line->len ||
	    fsync(fd) != 0) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot write the vault key file %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot write the vault key file %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (replace ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
		r = errno == EEXIST ? ap_ctx_fail(ctx, AP_ECONFLICT, 0, "vault key file %s exists already", path)
		                    : ap_ctx_fail(ctx, AP_EIO, 0, "cannot put the vault key file in place as %s: %s",
		                                  path, strerror(errno));
		goto out;
	}
	r = AP_OK;
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	ap_secret_free(line);
	return r;
}

/* Derives the key of a passphrase row k from the passphrase in file. */
static int
key_derive(const char *file, const struct ap_vault_key_row *k, unsigned char *key,
           struct ap_ctx *ctx)
{
	unsigned char salt[SALT_BYTES];
	struct ap_secret *pass = NULL;
	size_t got = 0;
	int r;

	if (k->salt == NULL || strlen(k->salt) != SALT_BYTES * 2 ||
	    sodium_hex2bin(salt, sizeof(salt), k->salt, SALT_BYTES * 2, NULL, &got, NULL) != 0 ||
	    got != SALT_BYTES || k->opslimit < (int64_t)crypto_pwhash_OPSLIMIT_MIN ||
	    k->memlimit < (int64_t)crypto_pwhash_MEMLIMIT_MIN)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "the vault's passphrase settings in the job store are damaged");
	if ((r = ap_secret_read_file(file, "vault passphrase file", &pass, ctx)) != AP_OK)
		return r;
	if (crypto_pwhash(key, KEY_BYTES, pass->data, pass->len, salt,
	                  (unsigned long long)k->opslimit, (size_t)k->memlimit,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0)
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "cannot derive the vault key from the passphrase (out of memory)");
	ap_secret_free(pass);
	return r;
}

/*
 * A new key of version into key, and its row into *k: random, written to
 * key_file (replace as key_file_write), or derived from passphrase_file.
 */
static int
key_new(int version, const char *passphrase_file, const char *key_file, int replace,
        unsigned char *key, struct ap_vault_key_row *k, struct ap_ctx *ctx)
{
	unsigned char salt[SALT_BYTES];
	char salt_hex[SALT_BYTES * 2 + 1];
	int r;

	memset(k, 0, sizeof(*k));
	k->version = version;
	if (passphrase_file != NULL) {
		randombytes_buf(salt, sizeof(salt));
		sodium_bin2hex(salt_hex, sizeof(salt_hex), salt, sizeof(salt));
		k->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		k->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
		if ((k->kind = strdup("passphrase")) == NULL || (k->salt = strdup(salt_hex)) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
		if ((r = key_derive(passphrase_file, k, key, ctx)) != AP_OK)
			goto out;
	} else {
		if ((k->kind = strdup("file")) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
		crypto_aead_xchacha20poly1305_ietf_keygen(key);
		if ((r = key_file_write(key_file, key, version, replace, ctx)) != AP_OK)
			goto out;
	}
	r = key_check_make(key, version, &k->key_check, ctx);
out:
	if (r != AP_OK)
		ap_vault_key_row_clear(k);
	return r;
}

/* Loads the key of row k into key: from the passphrase, or the key file
 * (or its .new left by a rekey cut short). */
static int
key_load(const char *key_path, const char *passphrase_file,
         const struct ap_vault_key_row *k, unsigned char *key, struct ap_ctx *ctx)
{
	char next[PATH_MAX + 8];
	int r, v = 0;

	if (strcmp(k->kind, "passphrase") == 0) {
		if (passphrase_file == NULL)
			return ap_ctx_fail(ctx, AP_EINVAL, 0, "the vault is locked with a passphrase: give --vault-passphrase-file FILE");
		if ((r = key_derive(passphrase_file, k, key, ctx)) != AP_OK)
			return r;
		if (!key_check_ok(key, k))
			return ap_ctx_fail(ctx, AP_EINVAL, 0, "wrong vault passphrase (from %s): nothing was decrypted", passphrase_file);
		return AP_OK;
	}
	if (passphrase_file != NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "the vault's key is the file %s, not a passphrase: leave out --vault-passphrase-file", key_path);
	r = key_file_read(key_path, key, &v, ctx);
	if (r == AP_OK && v == k->version && key_check_ok(key, k))
		return AP_OK;
	snprintf(next, sizeof(next), "%s.new", key_path);
	if (access(next, F_OK) == 0) {
		struct ap_ctx *quiet = ap_ctx_new();
		int nv = 0;

		if (quiet != NULL && key_file_read(next, key, &nv, quiet) == AP_OK &&
		    nv == k->version && key_check_ok(key, k) && rename(next, key_path) == 0) {
			ap_ctx_free(quiet);
			ap_ctx_clear(ctx);
			return AP_OK;
		}
		ap_ctx_free(quiet);
	}
	if (r != AP_OK)
		return r;
	if (v != k->version)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault key file %s holds key version %d, the job store needs version %d: restore the matching key file",
		                   key_path, v, k->version);
	return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault key file %s is not the key of this job store's vault: nothing was decrypted", key_path);
}

int
ap_vault_open(struct ap_store *st, const char *key_path, const char *passphrase_file,
              int flags, struct ap_vault **out, struct ap_ctx *ctx)
{
	struct ap_vault_key_row k;
	struct ap_vault *v = NULL;
	int r, tries;

	*out = NULL;
	memset(&k, 0, sizeof(k));
	if (st == NULL || key_path == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault: open: bad arguments");
	if ((r = sodium_ready(ctx)) != AP_OK)
		return r;
	if ((v = calloc(1, sizeof(*v))) == NULL || (v->key_path = strdup(key_path)) == NULL ||
	    (v->key = secure_alloc(KEY_BYTES)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	v->st = st;
	/* Two processes making the first key at once: the store's row
	 * decides, and the loser loads the winner's key. */
	for (tries = 0; tries < 3; tries++) {
		ap_vault_key_row_clear(&k);
		r = ap_store_vault_key_get(st, &k, ctx);
		if (r == AP_OK) {
			r = key_load(key_path, passphrase_file, &k, v->key, ctx);
			break;
		}
		if (r != AP_ENOTFOUND)
			goto out;
		if (!(flags & AP_VAULT_CREATE)) {
			r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "the vault holds no account yet (add one with agentpush accounts add)");
			goto out;
		}
		r = key_new(1, passphrase_file, key_path, 0, v->key, &k, ctx);
		if (r == AP_ECONFLICT) {
			/* a key file with no key row: a first use cut short,
			 * or another process about to record it */
			int fv = 0;

			if ((r = key_file_read(key_path, v->key, &fv, ctx)) != AP_OK)
				goto out;
			if (fv != 1) {
				r = ap_ctx_fail(ctx, AP_EINVAL, 0, "vault key file %s holds key version %d but the vault has no key: move it away",
				                key_path, fv);
				goto out;
			}
			k.version = 1;
			if ((k.kind = strdup("file")) == NULL) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto out;
			}
			if ((r = key_check_make(v->key, 1, &k.key_check, ctx)) != AP_OK)
				goto out;
		} else if (r != AP_OK) {
			goto out;
		}
		r = ap_store_vault_key_init(st, &k, ctx);
		if (r != AP_ECONFLICT)
			break;
		ap_ctx_clear(ctx);
	}
	if (r != AP_OK)
		goto out;
	v->version = k.version;
	snprintf(v->kind, sizeof(v->kind), "%s", k.kind);
	*out = v;
	v = NULL;   /* transferred */
out:
	ap_vault_key_row_clear(&k);
	ap_vault_close(v);
	return r;
}

void
ap_vault_close(struct ap_vault *v)
{
	if (v == NULL)
		return;
	secure_free(v->key);
	free(v->key_path);
	free(v);
}

int
ap_vault_key_version(const struct ap_vault *v)
{
	return v != NULL ? v->version : 0;
}

const char *
ap_vault_key_kind(const struct ap_vault *v)
{
	return v != NULL ? v->kind : "";
}

/* ---- accounts ---- */

struct seal_ud {
	struct ap_vault *v;
	const struct ap_secret *pw;
};

static int
seal_cb(void *ud, int64_t id, char **nonce, char **secret, struct ap_ctx *ctx)
{
	struct seal_ud *s = ud;

	return seal(s->v->key, id, s->v->version, s->pw->data, s->pw->len, nonce, secret, ctx);
}

static int
password_ok(const struct ap_secret *pw, struct ap_ctx *ctx)
{
	if (pw == NULL || pw->data == NULL || pw->len == 0 || pw->len > AP_SECRET_MAX ||
	    strlen(pw->data) != pw->len)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "the password is empty, longer than %d bytes or holds a NUL byte",
		                   AP_SECRET_MAX);
	return AP_OK;
}

int
ap_vault_account_add(struct ap_vault *v, const char *name, const char *user,
                     const char *domain, const char *kind,
                     const struct ap_secret *password, struct ap_ctx *ctx)
{
	struct ap_account a;
	struct seal_ud ud;
	int r;

	if (v == NULL || user == NULL || kind == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault: account_add: bad arguments");
	if (!ap_vault_name_valid(name))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "an account name is 1 to 64 letters, digits, '.', '_' or '-'");
	if (strcmp(kind, "linux") != 0 && strcmp(kind, "windows") != 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "an account's kind is linux or windows");
	if ((r = password_ok(password, ctx)) != AP_OK)
		return r;
	memset(&a, 0, sizeof(a));
	a.name = (char *)name;
	a.user = (char *)user;
	a.domain = (char *)domain;
	a.kind = (char *)kind;
	a.key_version = v->version;
	ud.v = v;
	ud.pw = password;
	return ap_store_account_add(v->st, &a, seal_cb, &ud, NULL, ctx);
}

/* Opens the password of row (sealed under the vault's current key). */
static int
row_unseal(struct ap_vault *v, const struct ap_account *row, struct ap_secret **pw,
           struct ap_ctx *ctx)
{
	char what[128];

	*pw = NULL;
	snprintf(what, sizeof(what), "account %s", row->name);
	if (row->key_version != v->version)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "%s does not open: it is sealed with key version %d, the vault's key is version %d",
		                   what, row->key_version, v->version);
	return ap_vault_unseal(v->key, row->id, row->key_version, row->nonce, row->secret, what, pw, ctx);
}

/* The account's row, its password opened into *pw. */
static int
row_open(struct ap_vault *v, const char *name, struct ap_account *row,
         struct ap_secret **pw, struct ap_ctx *ctx)
{
	int r;

	*pw = NULL;
	if ((r = ap_store_account_get(v->st, name, row, ctx)) != AP_OK)
		return r;
	if ((r = row_unseal(v, row, pw, ctx)) != AP_OK)
		ap_account_clear(row);
	return r;
}

int
ap_vault_account_passwd(struct ap_vault *v, const char *name,
                        const struct ap_secret *password, struct ap_ctx *ctx)
{
	struct ap_account row;
	struct ap_secret *old = NULL;
	char *nonce = NULL, *secret = NULL;
	int r;

	memset(&row, 0, sizeof(row));
	if (v == NULL || name == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault: account_passwd: bad arguments");
	if ((r = password_ok(password, ctx)) != AP_OK)
		return r;
	/* the old one must open: a wrong key changes nothing */
	if ((r = row_open(v, name, &row, &old, ctx)) != AP_OK)
		goto out;
	if ((r = seal(v->key, row.id, v->version, password->data, password->len, &nonce, &secret, ctx)) != AP_OK)
		goto out;
	r = ap_store_account_set_secret(v->st, row.id, v->version, nonce, secret, ctx);
out:
	ap_secret_free(old);
	ap_account_clear(&row);
	free(nonce);
	free(secret);
	return r;
}

void
ap_vault_account_clear(struct ap_vault_account *a)
{
	if (a == NULL)
		return;
	ap_account_clear(&a->row);
	ap_secret_free(a->password);
	a->password = NULL;
}

int
ap_vault_account_open(struct ap_vault *v, const char *name,
                      struct ap_vault_account *out, struct ap_ctx *ctx)
{
	memset(out, 0, sizeof(*out));
	if (v == NULL || name == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault: account_open: bad arguments");
	return row_open(v, name, &out->row, &out->password, ctx);
}

int
ap_vault_account_remove(struct ap_vault *v, const char *name, struct ap_ctx *ctx)
{
	struct ap_account row;
	struct ap_secret *pw = NULL;
	int r;

	if (v == NULL || name == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault: account_remove: bad arguments");
	if ((r = row_open(v, name, &row, &pw, ctx)) != AP_OK)
		return r;
	ap_secret_free(pw);
	ap_account_clear(&row);
	return ap_store_account_remove(v->st, name, ctx);
}

int
ap_vault_rekey(struct ap_vault *v, const char *new_passphrase_file, struct ap_ctx *ctx)
{
	struct ap_account *rows = NULL;
	struct ap_secret *pw = NULL;
	struct ap_vault_key_row k;
	unsigned char *nkey = NULL;
	char next[PATH_MAX + 8];
	size_t i, n = 0;
	int r, old_file;

	memset(&k, 0, sizeof(k));
	if (v == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "vault: rekey: bad arguments");
	snprintf(next, sizeof(next), "%s.new", v->key_path);
	old_file = strcmp(v->kind, "file") == 0;
	if ((nkey = secure_alloc(KEY_BYTES)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if ((r = ap_store_accounts_list(v->st, &rows, &n, ctx)) != AP_OK)
		goto out;
	if ((r = key_new(v->version + 1, new_passphrase_file, next, 1, nkey, &k, ctx)) != AP_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = row_unseal(v, &rows[i], &pw, ctx)) != AP_OK)
			goto out;
		free(rows[i].nonce);
		free(rows[i].secret);
		rows[i].nonce = rows[i].secret = NULL;
		r = seal(nkey, rows[i].id, k.version, pw->data, pw->len, &rows[i].nonce, &rows[i].secret, ctx);
		ap_secret_free(pw);
		pw = NULL;
		if (r != AP_OK)
			goto out;
	}
	if ((r = ap_store_vault_rekey(v->st, &k, rows, n, ctx)) != AP_OK)
		goto out;
	/* Committed: the new key is the key now. */
	if (new_passphrase_file == NULL) {
		if (rename(next, v->key_path) != 0) {
			r = ap_ctx_fail(ctx, AP_EIO, 0, "the vault was rekeyed but %s could not be renamed to %s (%s): rename it by hand",
			                next, v->key_path, strerror(errno));
			goto out;
		}
	} else if (old_file) {
		unlink(v->key_path);   /* the old key opens nothing any more */
	}
	memcpy(v->key, nkey, KEY_BYTES);
	v->version = k.version;
	snprintf(v->kind, sizeof(v->kind), "%s", k.kind);
out:
	if (r != AP_OK && new_passphrase_file == NULL)
		unlink(next);
	ap_secret_free(pw);
	secure_free(nkey);
	ap_vault_key_row_clear(&k);
	ap_store_accounts_free(rows, n);
	return r;
}

/* ---- the accounts of a run ---- */

struct ap_vault_run {
	struct ap_vault *v;
	struct ap_vault_account *va;
	struct ap_run_account *ra;
	size_t n;
};

/* Adds name to names (n of them) unless it is there; -1 when out of memory. */
static int
name_add(const char ***names, size_t *n, const char *name)
{
	const char **nn = NULL;
	size_t i;

	if (name == NULL)
		return 0;
	for (i = 0; i < *n; i++)
		if (strcmp((*names)[i], name) == 0)
			return 0;
	if ((nn = reallocarray(*names, *n + 1, sizeof(*nn))) == NULL)
		return -1;
	nn[(*n)++] = name;
	*names = nn;
	return 0;
}

int
ap_vault_run_open(struct ap_store *st, const char *key_path, const char *passphrase_file,
                  struct ap_run_opts *opts, const struct ap_target *targets, size_t n,
                  struct ap_vault_run **out, struct ap_ctx *ctx)
{
	struct ap_vault_run *vr = NULL;
	struct ap_job_target *tg = NULL;
	const char **names = NULL;
	size_t i, n_names = 0, n_tg = 0;
	int r;

	*out = NULL;
	if (targets == NULL && (r = ap_store_job_targets(st, opts->job_id, &tg, &n_tg, ctx)) != AP_OK)
		return r;
	for (i = 0; i < (targets != NULL ? n : n_tg); i++)
		if (name_add(&names, &n_names, ap_run_account_name(opts, targets != NULL ? &targets[i]
		                                                                          : &tg[i].target)) != 0) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
	r = AP_OK;
	if (n_names == 0)
		goto out;
	if ((vr = calloc(1, sizeof(*vr))) == NULL ||
	    (vr->va = calloc(n_names, sizeof(*vr->va))) == NULL ||
	    (vr->ra = calloc(n_names, sizeof(*vr->ra))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if ((r = ap_vault_open(st, key_path, passphrase_file, 0, &vr->v, ctx)) != AP_OK)
		goto out;
	for (i = 0; i < n_names; i++) {
		const struct ap_account *a = &vr->va[i].row;

		if ((r = ap_vault_account_open(vr->v, names[i], &vr->va[i], ctx)) != AP_OK)
			goto out;
		vr->n++;
		vr->ra[i].id = a->id;
		vr->ra[i].name = a->name;
		vr->ra[i].user = a->user;
		vr->ra[i].domain = a->domain;
		vr->ra[i].password = vr->va[i].password->data;
		vr->ra[i].rejected_at = a->rejected_at;
		vr->ra[i].rejected_by = a->rejected_by;
	}
	opts->accounts = vr->ra;
	opts->n_accounts = vr->n;
	*out = vr;
	vr = NULL;   /* transferred */
out:
	ap_vault_run_close(vr, NULL);
	ap_store_targets_free(tg, n_tg);
	free(names);
	return r;
}

void
ap_vault_run_close(struct ap_vault_run *vr, struct ap_run_opts *opts)
{
	size_t i;

	if (opts != NULL) {
		opts->accounts = NULL;
		opts->n_accounts = 0;
	}
	if (vr == NULL)
		return;
	for (i = 0; vr->va != NULL && i < vr->n; i++)
		ap_vault_account_clear(&vr->va[i]);
	free(vr->va);
	free(vr->ra);
	ap_vault_close(vr->v);
	free(vr);
}
