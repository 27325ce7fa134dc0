/*
 * fuzz_excerpt.c - libFuzzer harness for the installer log reader
 * (ap_package_log_excerpt, lib/package/excerpt.c): the log is whatever the
 * host's installer wrote, read back over the network.  Never a crash or an
 * out-of-bounds read; the excerpt keeps its contract (package.h): at most
 * 10 lines of at most 200 bytes, printable ASCII only.
 * tests/unit/package runs this over tests/fuzz/corpus/excerpt/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *ex = NULL;
	const char *p = NULL, *nl = NULL;
	int lines = 0;

	if (ap_package_log_excerpt((const char *)data, size, &ex) != 0)
		return 0;   /* out of memory: allowed */
	for (p = ex; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);   /* the last line */
		if (++lines > 10 || (size_t)(nl - p) > 200)
			abort();
		for (const char *c = p; c < nl; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				abort();
		if (*nl == '\0')
			break;
	}
	free(ex);
	return 0;
}
