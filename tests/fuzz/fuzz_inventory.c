/*
 * fuzz_inventory.c - libFuzzer harness for the inventory parser, the one
 * parser here that reads a file a user may have got from anywhere.
 *
 * Built with -Dfuzz=true (clang, -fsanitize=fuzzer); its corpus in
 * tests/fuzz/corpus/inventory also runs through fuzz_driver.c in every
 * normal test run, so the harness cannot rot.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agentpush/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_target *t = NULL;
	size_t n = 0, i;
	int r;

	if (ctx == NULL)
		return 0;
	r = ap_inventory_parse("fuzz", (const char *)data, size, &t, &n, ctx);
	if (r == AP_OK) {
		/* Every target the parser returns must be acceptable. */
		for (i = 0; i < n; i++)
			if (!ap_target_host_valid(t[i].host) || t[i].port < 0 ||
			    t[i].port > 65535)
				__builtin_trap();
	} else if (strchr(ap_ctx_errmsg(ctx), '\n') != NULL) {
		__builtin_trap(); /* messages are one line */
	}
	ap_targets_free(t, n);
	ap_ctx_free(ctx);
	return 0;
}
