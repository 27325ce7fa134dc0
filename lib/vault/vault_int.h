/*
 * vault_int.h - internals of lib/vault/ shared with its fuzzer
 * (tests/fuzz/fuzz_vault.c): the two readers of input the vault does not
 * trust, a key file's line and a row's nonce and ciphertext.
 */
#ifndef AP_VAULT_INT_H
#define AP_VAULT_INT_H

#include <stdint.h>

#include "agentpush/ctx.h"
#include "agentpush/vault.h"

/* Bytes of a vault key. */
#define AP_VAULT_KEY_BYTES 32

/*
 * Parses a key file's line ("agentpush-vault-key 1 VERSION HEX64", no line
 * end) into key (AP_VAULT_KEY_BYTES) and *version; 0, or -1 when it is not
 * one (key and *version then hold nothing useful).
 */
int ap_vault_key_line_parse(const char *line, unsigned char *key, int *version);

/*
 * Opens the sealed password of account row id under key version with key
 * (nonce and ciphertext as hex, from the store) into *out, a new secret;
 * AP_EINVAL naming what when it does not open (wrong key, altered, copied
 * from another row or field, not hex, too long).  *out is NULL on failure.
 */
int ap_vault_unseal(const unsigned char *key, int64_t id, int version,
                    const char *nonce_hex, const char *ct_hex, const char *what,
                    struct ap_secret **out, struct ap_ctx *ctx);

#endif
