/*
 * excerpt.c - evidence from installer logs, and version comparison.
 *
 * ap_package_log_excerpt() reads bytes that come from a remote host, so it
 * trusts nothing: any length, any bytes, no terminating NUL, UTF-16 with or
 * without a BOM (Windows installers), CRLF or LF.  The decoding and line
 * splitting are the log reader's of explain --log (ap_logscan_lines,
 * logscan.h), so both read a log the same way; here each line is brought
 * down to ASCII ('?' for every other byte) and cut to EXC_LINE_MAX bytes.
 * One pass keeps a ring of the last EXC_LINES matching lines and another of
 * the last non-empty lines, so memory use is fixed whatever the log's size.
 * Fuzzed by tests/fuzz/fuzz_excerpt.c and fuzz_manifest.c.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agentpush/logscan.h"
#include "agentpush/package.h"

#define EXC_LINES 10
#define EXC_TAIL 5
#define EXC_LINE_MAX 200

struct ring {
	char line[EXC_LINES][EXC_LINE_MAX + 1];
	size_t n;    /* lines held, at most cap */
	size_t next; /* slot of the next line */
	size_t cap;
};

static void
ring_push(struct ring *rg, const char *s)
{
	size_t len = strlen(s);

	memcpy(rg->line[rg->next], s, len + 1);
	rg->next = (rg->next + 1) % rg->cap;
	if (rg->n < rg->cap)
		rg->n++;
}

/* Case-insensitive substring search; needle is lowercase. */
static bool
has_word(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static bool
errorish(const char *s)
{
	static const char *const words[] = {
		"error", "fail", "fatal", "denied", "cannot", "can't", "could not",
		"not found", "abort", "exception", NULL
	};
	size_t i;

	for (i = 0; words[i] != NULL; i++)
		if (has_word(s, words[i]))
			return true;
	return false;
}

/* Appends the lines of rg, oldest first, to out (sized by the caller). */
static size_t
ring_emit(const struct ring *rg, char *out)
{
	size_t i, k, len, pos = 0;

	for (i = 0; i < rg->n; i++) {
		k = (rg->next + rg->cap - rg->n + i) % rg->cap;
		len = strlen(rg->line[k]);
		if (pos > 0)
			out[pos++] = '\n';
		memcpy(out + pos, rg->line[k], len);
		pos += len;
	}
	out[pos] = '\0';
	return pos;
}

struct excerpt {
	struct ring *err, *tail;
};

/* One sanitised line (ap_logscan_lines): ASCII, trimmed, cut, kept. */
static void
take_line(const char *line, void *arg)
{
	struct excerpt *x = arg;
	char cur[EXC_LINE_MAX + 1];
	size_t b = 0, e = 0;

	for (; *line != '\0' && e < EXC_LINE_MAX; line++)
		cur[e++] = (unsigned char)*line >= 0x80 ? '?' : *line;
	while (b < e && cur[b] == ' ')
		b++;
	while (e > b && cur[e - 1] == ' ')
		e--;
	if (b == e)
		return;
	cur[e] = '\0';
	if (errorish(cur + b))
		ring_push(x->err, cur + b);
	ring_push(x->tail, cur + b);
}

int
ap_package_log_excerpt(const char *text, size_t len, char **excerpt)
{
	struct ring *err = NULL, *tail = NULL;
	struct excerpt x;
	char *out = NULL;
	int r;

	*excerpt = NULL;
	err = calloc(1, sizeof(*err));
	tail = calloc(1, sizeof(*tail));
	/* Each line plus its newline, and the final NUL. */
	out = malloc(EXC_LINES * (EXC_LINE_MAX + 1) + 1);
	if (err == NULL || tail == NULL || out == NULL) {
		r = AP_ENOMEM;
		goto out;
	}
	err->cap = EXC_LINES;
	tail->cap = EXC_TAIL;
	x.err = err;
	x.tail = tail;
	if (text != NULL && len > 0 && (r = ap_logscan_lines(text, len, take_line, &x)) != AP_OK)
		goto out;
	ring_emit(err->n > 0 ? err : tail, out);
	*excerpt = out;
	out = NULL; /* transferred */
	r = 0;
out:
	free(err);
	free(tail);
	free(out);
	return r;
}

/* Compares the numbers at *pa and *pb, then their non-numeric tails. */
static int
cmp_component(const char **pa, const char **pb)
{
	const char *a = *pa, *b = *pb;
	size_t la = 0, lb = 0, ta = 0, tb = 0;
	int c;

	/* Leading zeros do not count, and "" is 0 like "0". */
	while (*a == '0')
		a++;
	while (*b == '0')
		b++;
	while (isdigit((unsigned char)a[la]))
		la++;
	while (isdigit((unsigned char)b[lb]))
		lb++;
	if (la != lb)
		return la < lb ? -1 : 1;
	if ((c = memcmp(a, b, la)) != 0)
		return c < 0 ? -1 : 1;
	a += la;
	b += lb;
	while (a[ta] && a[ta] != '.')
		ta++;
	while (b[tb] && b[tb] != '.')
		tb++;
	/* "1.0" > "1.0rc1": a missing tail sorts after any tail. */
	if (ta == 0 && tb > 0)
		return 1;
	if (tb == 0 && ta > 0)
		return -1;
	c = strncmp(a, b, ta < tb ? ta : tb);
	if (c == 0 && ta != tb)
		c = ta < tb ? -1 : 1;
	*pa = a + ta;
	*pb = b + tb;
	return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int
ap_version_cmp(const char *a, const char *b)
{
	int c;

	if (a == NULL || b == NULL)
		return a == b ? 0 : a == NULL ? -1 : 1;
	for (;;) {
		if (*a == '\0' && *b == '\0')
			return 0;
		/* A missing component counts as 0: "1.2" == "1.2.0". */
		if ((c = cmp_component(&a, &b)) != 0)
			return c;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
	}
}
