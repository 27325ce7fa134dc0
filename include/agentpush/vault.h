/*
 * vault.h - the credential vault: named accounts (user, domain, kind and a
 * password) kept in the job store, the password sealed with a key the store
 * never sees.
 *
 * Crypto: libsodium's XChaCha20-Poly1305 (crypto_aead_xchacha20poly1305_
 * ietf), a random 192-bit nonce per sealing.  The additional data binds the
 * account's row id, the field ("password") and the key version, so a
 * ciphertext copied to another row, another field or sealed under another
 * key version does not open.  Each key version has a check value in the
 * store (the AEAD of nothing), so a wrong key is told from a tampered row.
 *
 * The key: a random 256-bit key in a 0600 key file (ap_vault_key_path():
 * "vault.key" beside the job store), made on first use; or, when the vault
 * was made with a passphrase (a passphrase file), derived from it with
 * Argon2id and the salt and limits the store keeps.  A key file that is
 * missing, unreadable by its owner only, or for another key version, a
 * wrong passphrase, a tampered row: one line on ctx, AP_EINVAL (AP_ENOTFOUND
 * for a missing key file), nothing decrypted and nothing changed.
 *
 * Secrets in memory live in struct ap_secret buffers (sodium_malloc: guard
 * pages, mlock'ed, wiped when freed).  While any is held the process is not
 * dumpable (prctl PR_SET_DUMPABLE 0) and its core limit is 0; the last
 * ap_secret_free() restores both.  That state is process-wide by nature,
 * hence a counter under a mutex, the one global of the module.
 *
 * What it does not protect against: whoever can read the key file (its
 * owner, root) or read this process's memory while it runs (root) can
 * decrypt every password.  docs/security.md says more.
 *
 * Ownership: ap_vault_open() returns a handle freed with ap_vault_close()
 * (NULL is fine), which wipes the key; the store is borrowed and must
 * outlive it.  ap_secret_new() and ap_vault_account_open() return secrets
 * freed with ap_secret_free() / ap_vault_account_clear().  Strings passed
 * in are copied.
 */
#ifndef AGENTPUSH_VAULT_H
#define AGENTPUSH_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "agentpush/ctx.h"
#include "agentpush/store.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ap_store;
struct ap_vault;

/* Longest password or passphrase the vault takes, in bytes. */
#define AP_SECRET_MAX 4096

/* A NUL-terminated secret of len bytes in a sodium_malloc'd buffer. */
struct ap_secret {
	char *data;
	size_t len;
	size_t cap;                 /* bytes of data, NUL included */
};

/* A zeroed secret of cap bytes (len 0); AP_ENOMEM on failure (*out NULL). */
int ap_secret_new(size_t cap, struct ap_secret **out, struct ap_ctx *ctx);
/* Wipes and frees s.  NULL is fine. */
void ap_secret_free(struct ap_secret *s);
/*
 * Reads the first line of the regular file path into a new secret (no
 * line end; a trailing CR dropped).  Empty, longer than AP_SECRET_MAX, or
 * unreadable: AP_EINVAL/AP_EIO with a line naming path (never its content).
 */
int ap_secret_read_file(const char *path, const char *what,
                        struct ap_secret **out, struct ap_ctx *ctx);

/* Flags of ap_vault_open(). */
#define AP_VAULT_CREATE 1   /* make the key when the vault has none yet */

/*
 * Opens the vault of st.  key_path: the key file (ap_vault_key_path());
 * passphrase_file: the passphrase's file for a passphrase vault, else NULL.
 * A vault with no key yet: with AP_VAULT_CREATE, a key is made (a passphrase
 * key when passphrase_file is given, else a new key file at key_path, mode
 * 0600), otherwise AP_ENOTFOUND.  The key is checked against the store's
 * check value before anything else happens.
 */
int ap_vault_open(struct ap_store *st, const char *key_path,
                  const char *passphrase_file, int flags,
                  struct ap_vault **out, struct ap_ctx *ctx);
void ap_vault_close(struct ap_vault *v);

/* "DIR/vault.key" for the job store at db_path (DIR its folder) into buf. */
int ap_vault_key_path(const char *db_path, char *buf, size_t size,
                      struct ap_ctx *ctx);

/* Whether name is acceptable as an account name: 1 to 64 of A-Z a-z 0-9 . _ -,
 * not starting with '-' or '.'. */
int ap_vault_name_valid(const char *name);

/* An opened account: its row (store.h: name, user, domain, kind,
 * rejected_at/_by...) and its password decrypted. */
struct ap_vault_account {
	struct ap_account row;
	struct ap_secret *password;
};
void ap_vault_account_clear(struct ap_vault_account *a);

/* Adds an account; AP_ECONFLICT when the name is taken.  kind: "linux" or
 * "windows"; domain may be NULL. */
int ap_vault_account_add(struct ap_vault *v, const char *name, const char *user,
                         const char *domain, const char *kind,
                         const struct ap_secret *password, struct ap_ctx *ctx);
/* Replaces the password of account name (and forgets a refusal). */
int ap_vault_account_passwd(struct ap_vault *v, const char *name,
                            const struct ap_secret *password, struct ap_ctx *ctx);
/* Loads and decrypts account name into *out (zeroed first; filled only on
 * success).  AP_ENOTFOUND: no such account; AP_EINVAL: it does not open
 * (tampered, or sealed for another row or key). */
int ap_vault_account_open(struct ap_vault *v, const char *name,
                          struct ap_vault_account *out, struct ap_ctx *ctx);
/* Removes account name after checking it opens with this key. */
int ap_vault_account_remove(struct ap_vault *v, const char *name,
                            struct ap_ctx *ctx);
/*
 * A new key for every account, in one transaction: a passphrase key when
 * new_passphrase_file is given, else a new random key file at the vault's
 * key_path (written as key_path.new, put in place once the store
 * committed).  Every account must open with the current key first.
 */
int ap_vault_rekey(struct ap_vault *v, const char *new_passphrase_file,
                   struct ap_ctx *ctx);
/*
 * The accounts a run names, opened for it.  ap_vault_run_open() collects
 * the names (ap_run_account_name(): each target's agentpush_account, else
 * opts->account) of targets[0..n), or, when targets is NULL, of the stored
 * job opts->job_id's targets; does nothing (*out NULL, AP_OK) when none
 * names one; else opens the vault of st (key_path, passphrase_file as
 * ap_vault_open(), never creating) and decrypts each account, pointing
 * opts->accounts/n_accounts at them.  A name the vault does not hold:
 * AP_ENOTFOUND.  ap_vault_run_close() wipes them and clears opts's
 * pointers (NULL is fine).
 */
struct ap_vault_run;
struct ap_run_opts;
struct ap_target;
int ap_vault_run_open(struct ap_store *st, const char *key_path,
                      const char *passphrase_file, struct ap_run_opts *opts,
                      const struct ap_target *targets, size_t n,
                      struct ap_vault_run **out, struct ap_ctx *ctx);
void ap_vault_run_close(struct ap_vault_run *vr, struct ap_run_opts *opts);

/* The current key's version and kind ("file" or "passphrase"). */
int ap_vault_key_version(const struct ap_vault *v);
const char *ap_vault_key_kind(const struct ap_vault *v);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_VAULT_H */
