/*
 * fuzz_vault.c - libFuzzer harness for the vault's readers of input it does
 * not trust (lib/vault/vault_int.h): a key file's line, and a row's nonce
 * and ciphertext as the store hands them (a row may have been altered).
 * Input: line 1 the key file's line, line 2 the nonce (hex), line 3 the
 * ciphertext (hex).  Neither reader may crash or read out of bounds; a key
 * line taken has a version from 1; a ciphertext that opens (with the key of
 * line 1 when it parsed, else a fixed key) gives a NUL-terminated secret of
 * at most AP_SECRET_MAX bytes, and one that does not gives no secret and a
 * one-line message.  tests/unit/vault runs this over tests/fuzz/corpus/vault/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/vault.h"
#include "vault/vault_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char key[AP_VAULT_KEY_BYTES];
	struct ap_secret *out = NULL;
	struct ap_ctx *ctx = NULL;
	char *s = malloc(size + 1), *line[3] = { NULL, NULL, NULL }, *p = NULL;
	int version = 0, i, r;

	if (s == NULL || (ctx = ap_ctx_new()) == NULL)
		goto out;
	memcpy(s, data, size);
	s[size] = '\0';
	for (i = 0, p = s; i < 3 && p != NULL; i++) {
		line[i] = p;
		if ((p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
	}
	memset(key, 7, sizeof(key));
	if (ap_vault_key_line_parse(line[0], key, &version) == 0 && version < 1)
		abort();
	r = ap_vault_unseal(key, 1, version > 0 ? version : 1, line[1], line[2], "account x", &out, ctx);
	if (r == AP_OK) {
		if (out == NULL || out->len > AP_SECRET_MAX || out->data[out->len] != '\0')
			abort();
	} else if (out != NULL || strchr(ap_ctx_errmsg(ctx), '\n') != NULL) {
		abort();
	}
	ap_secret_free(out);
out:
	ap_ctx_free(ctx);
	free(s);
	return 0;
}
