/*
 * fuzz_logscan.c - libFuzzer harness for the log reader of explain --log
 * (lib/logscan, logscan.h): the file is anything a user points it at.
 * Never a crash, a leak or an out-of-bounds read, and:
 *   - the result does not depend on how the bytes were split: the input fed
 *     whole and fed in chunks of 1, 2, 3, 5, 8... bytes give the same result;
 *   - each hit's evidence is valid UTF-8 without control characters, at most
 *     AP_LOGSCAN_LINE_MAX bytes, and its lines are in order;
 *   - at most AP_LOGSCAN_IDS_MAX hits, each ErrorID once.
 * tests/cli_explain/meson.build runs this over tests/fuzz/corpus/logscan/
 * (fuzz_driver.c) in the normal test suite.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/logscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8, no C0/C1 control character, no DEL. */
static void
check_text(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k, j;

	if (n > max)
		abort();
	while (i < n) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			abort();
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		k = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : p[i] >= 0xc2 ? 2 : 0;
		if (k == 0 || i + k > n)
			abort();
		for (j = 1; j < k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				abort();
		if (p[i] == 0xc2 && p[i + 1] < 0xa0)
			abort(); /* C1 control */
		i += k;
	}
}

static void
same(const struct ap_logscan_result *a, const struct ap_logscan_result *b)
{
	size_t i;

	if (a->kind != b->kind || a->n_hits != b->n_hits || a->lines != b->lines ||
	    a->bytes != b->bytes || a->cut_line != b->cut_line ||
	    a->long_lines != b->long_lines || a->binary_lines != b->binary_lines ||
	    a->json_bad_line != b->json_bad_line || a->ids_dropped != b->ids_dropped ||
	    strcmp(a->first, b->first) != 0 || strcmp(a->encoding, b->encoding) != 0)
		abort();
	for (i = 0; i < a->n_hits; i++)
		if (a->hits[i].id != b->hits[i].id || a->hits[i].line != b->hits[i].line ||
		    a->hits[i].count != b->hits[i].count ||
		    strcmp(a->hits[i].text, b->hits[i].text) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t steps[] = { 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 1021, 4099 };
	struct ap_logscan *a = ap_logscan_new(), *b = ap_logscan_new();
	const struct ap_logscan_result *ra, *rb;
	size_t i, j, off, step;

	if (a == NULL || b == NULL)
		goto out;   /* out of memory: allowed */
	ap_logscan_feed(a, data, size);
	ra = ap_logscan_finish(a);
	for (off = 0, i = 0; off < size; off += step, i++) {
		step = steps[i % (sizeof(steps) / sizeof(steps[0]))];
		if (step > size - off)
			step = size - off;
		if (ap_logscan_feed(b, data + off, step) != 0)
			break;  /* binary: the rest is not needed */
	}
	/* a stop means the rest is ignored: feed it anyway, it must not count
	 * (bytes aside, which the caller stopped sending) */
	rb = ap_logscan_finish(b);
	if (rb->kind == AP_LOGSCAN_BINARY) {
		if (ra->kind != AP_LOGSCAN_BINARY || strcmp(ra->first, rb->first) != 0)
			abort();
	} else {
		same(ra, rb);
	}
	if (ra->n_hits > AP_LOGSCAN_IDS_MAX)
		abort();
	check_text(ra->first, sizeof(ra->first) - 1);
	for (i = 0; i < ra->n_hits; i++) {
		const struct ap_logscan_hit *h = &ra->hits[i];

		check_text(h->text, AP_LOGSCAN_LINE_MAX);
		if (h->line == 0 || h->last_line < h->line || h->count == 0 ||
		    h->count > h->last_line - h->line + 1 ||
		    (ra->lines > 0 && h->last_line > ra->lines + 1))
			abort();
		for (j = 0; j < i; j++)
			if (ra->hits[j].id == h->id)
				abort();
		if (h->entry != NULL && h->entry->id != h->id)
			abort();
	}
	(void)ap_logscan_complete(ra);
	(void)ap_logscan_kind_name(ra->kind);
out:
	ap_logscan_free(a);
	ap_logscan_free(b);
	return 0;
}
