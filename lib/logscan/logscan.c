/*
 * logscan.c - ErrorIDs from installer logs, error files and agentpush's own
 * output (logscan.h), read as a stream.
 *
 * The pipeline, one byte at a time whatever the chunking:
 *   head     the first HEAD_MAX bytes are held until the encoding (BOM, or
 *            the NUL pattern of UTF-16 without one) and the binary test are
 *            decided; a file that is not text stops there.
 *   decode   UTF-16 becomes UTF-8; UTF-8 passes as is.
 *   split    the first non-blank character picks JSON ('{', or '[' followed
 *            by '{', '[', '"' or ']') or lines.  JSON goes byte by byte to
 *            logscan_json.c.  Lines end at LF, CR or CRLF; each keeps at most
 *            AP_LOGSCAN_SCAN_MAX bytes and is sanitised (clean_line below).
 *   sniff    the first SNIFF_LINES non-blank lines are held until the file's
 *            kind is known (markers of each format, see decide_kind), then
 *            replayed; every later line is searched as it comes.
 *   search   ErrorID/EP patterns in every line; exit codes and VSS errors in
 *            the Windows and Linux logs; the ID columns of agentpush's text.
 * Each ErrorID is kept once (first line, last line, count), so memory is
 * fixed: AP_LOGSCAN_IDS_MAX hits, one line, the sniff lines, the JSON stack.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agentpush/windows.h"
#include "logscan_int.h"

#define HEAD_MAX 1024
#define SNIFF_LINES 40
#define CHUNK (64 * 1024)

enum enc { ENC_UTF8 = 0, ENC_UTF16LE, ENC_UTF16BE };
enum mode { MODE_NONE = 0, MODE_BRACKET, MODE_LINES, MODE_JSON, MODE_STOP };

struct ap_logscan {
	struct ap_logscan_result res;
	struct ap_logscan_hit hits[AP_LOGSCAN_IDS_MAX];
	unsigned char head[HEAD_MAX];
	size_t head_len;
	int started, finished;
	enum enc enc;
	int have_byte;              /* UTF-16: first byte of a unit held */
	unsigned char byte0;
	unsigned int high;          /* UTF-16: high surrogate held, or 0 */
	enum mode mode;
	int prev_cr;
	int nonblank;               /* the current line has a non-blank byte */
	char line[AP_LOGSCAN_SCAN_MAX + 1];
	size_t line_len;
	int line_long;
	char clean[AP_LOGSCAN_SCAN_MAX + 1];
	char hitbuf[AP_LOGSCAN_SCAN_MAX + 1]; /* a new hit's text, cleaned */
	unsigned long lineno;       /* the line being read, from 1 */
	char *sniff[SNIFF_LINES];
	unsigned long sniff_no[SNIFF_LINES];
	int n_sniff;
	int kind_known;
	enum ap_logscan_kind line_kind;
	int vss_found;              /* Windows log: a VSS error was read */
	long vss;
	struct json_state js;
	int json_bad;
	int last_nl;                /* the last byte read was a newline */
	/* ap_logscan_lines: every line goes to line_cb; no JSON, no binary stop */
	void (*line_cb)(const char *line, void *arg);
	void *cb_arg;
	char jfirst[AP_LOGSCAN_FIRST_MAX + 1]; /* JSON: its first line */
	size_t jfirst_len;
	int jfirst_done;
};

/* --- hits -------------------------------------------------------------- */

void
ap_logscan_add_hit_(struct ap_logscan *s, int id, unsigned long line,
                    const char *text)
{
	struct ap_logscan_hit *h;
	size_t i, b, e;

	for (i = 0; i < s->res.n_hits; i++) {
		if (s->hits[i].id == id) {
			/* count lines, not finds: two patterns on one line are one.
			 * Lines mostly come in order, but a JSON record is reported
			 * when it closes, at the line of its ID, so an outer record
			 * comes after the records nested in it.  Count a line only
			 * when it is past the last one counted: a line seen out of
			 * order may have been counted already (fuzz_logscan found
			 * line 40 counted twice: 3 lines from 40 to 40).  The first
			 * line stays the one whose text is the evidence. */
			h = &s->hits[i];
			if (line > h->last_line) {
				h->last_line = line;
				h->count++;
			}
			return;
		}
	}
	if (s->res.n_hits >= AP_LOGSCAN_IDS_MAX) {
		s->res.ids_dropped++;
		return;
	}
	h = &s->hits[s->res.n_hits++];
	memset(h, 0, sizeof(*h));
	h->id = id;
	h->entry = ap_catalog_find(id);
	h->line = h->last_line = line;
	h->count = 1;
	/* a line is clean already; a JSON string is not (fuzz_logscan found
	 * invalid UTF-8 passed through) */
	ap_logscan_clean_(text, strlen(text), s->hitbuf, sizeof(s->hitbuf), NULL);
	text = s->hitbuf;
	for (b = 0; text[b] == ' '; b++)
		;
	for (e = strlen(text); e > b && text[e - 1] == ' '; e--)
		;
	if (e - b > AP_LOGSCAN_LINE_MAX) {
		e = b + AP_LOGSCAN_LINE_MAX;
		while (e > b && ((unsigned char)text[e] & 0xc0) == 0x80)
			e--; /* not in the middle of a UTF-8 character */
		h->text_cut = 1;
	}
	memcpy(h->text, text + b, e - b);
	h->text[e - b] = '\0';
}

/* --- sanitising -------------------------------------------------------- */

/* Length of the valid UTF-8 character at p (n bytes left), 0 if invalid or
 * a C1 control (U+0080-U+009F), which a terminal may obey. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t k, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90) ||
	    (p[0] == 0xc2 && p[1] < 0xa0))
		return 0;
	return k;
}

/*
 * Sanitises len bytes of in into out (n bytes, NUL-terminated): terminal
 * escape sequences (ESC [ ... final byte, ESC ] ... BEL or ESC \) are
 * dropped, a tab becomes a space, any other control character, invalid
 * UTF-8 and C1 controls become '?'.  *binary is set when the bytes hold a
 * NUL or more than one control character in eight.  Returns the length.
 */
size_t
ap_logscan_clean_(const char *in, size_t len, char *out, size_t n,
                  int *binary)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0, k, ctrl = 0, nul = 0;

	while (i < len && o + 4 < n) {
		unsigned char c = p[i];

		if (c == 0x1b) {
			i++;
			if (i < len && p[i] == '[') {
				for (i++; i < len && !(p[i] >= 0x40 && p[i] <= 0x7e); i++)
					;
				i++;
			} else if (i < len && p[i] == ']') {
				for (i++; i < len && p[i] != 0x07 && p[i] != 0x1b; i++)
					;
				i += (i < len && p[i] == 0x1b) ? 2 : 1;
			} else {
				i++;
			}
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			if (c == 0)
				nul++;
			else if (c != '\t')
				ctrl++;
			out[o++] = c == '\t' ? ' ' : '?';
			i++;
			continue;
		}
		if (c < 0x80) {
			out[o++] = (char)c;
			i++;
			continue;
		}
		if ((k = utf8_len(p + i, len - i)) == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	if (binary != NULL)
		*binary = nul > 0 || (ctrl > 0 && ctrl * 8 > len);
	return o;
}

/* --- searching a line -------------------------------------------------- */

/* The 5- or 6-digit number at p (not followed by a digit), else 0. */
static int
id_at(const char *p)
{
	int v = 0, i;

	for (i = 0; i < 7 && isdigit((unsigned char)p[i]); i++)
		v = v * 10 + (p[i] - '0');
	if (i < 5 || i > 6)
		return 0;
	return v;
}

/* Skips the separators between a label and its value: " : ", "=", "#". */
static const char *
skip_sep(const char *p)
{
	int i;

	for (i = 0; i < 4 && (*p == ' ' || *p == ':' || *p == '=' || *p == '#' ||
	                      *p == '\t'); i++)
		p++;
	return p;
}

/* The product's older EP codes under parent error 78007
 * (push-install-facts.md). */
static int
ep_code(int ep)
{
	static const int map[][2] = {
		{ 854, 95103 }, { 856, 95105 }, { 858, 95107 }, { 859, 95108 },
		{ 865, 95117 }, { 874, 95213 }, { 883, 95224 }, { 902, 95265 },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i][0] == ep)
			return map[i][1];
	return 0;
}

/*
 * "ErrorID: 95108", "Error ID 95108", "error_id=95108", "ErrorId : 95108"
 * (any ID, known or not), "error code 95108" (only an ID of the catalog: an
 * error code is often something else), and "EP0859".
 */
static void
search_ids(struct ap_logscan *s, unsigned long no, const char *t)
{
	const char *p, *q;
	int id, code;

	for (p = t; *p != '\0'; p++) {
		if ((*p | 0x20) != 'e')
			continue; /* "error..." and "EP0..." both start with e */
		if ((p[1] == 'P' || p[1] == 'p') &&
		    p[2] == '0' && (p == t || !isalnum((unsigned char)p[-1])) &&
		    isdigit((unsigned char)p[3]) && isdigit((unsigned char)p[4]) &&
		    isdigit((unsigned char)p[5]) && !isdigit((unsigned char)p[6]) &&
		    (id = ep_code(atoi(p + 3))) != 0) {
			ap_logscan_add_hit_(s, id, no, t);
			continue;
		}
		if (strncasecmp(p, "error", 5) != 0 ||
		    (p > t && isalpha((unsigned char)p[-1])))
			continue;
		q = p + 5;
		if (*q == ' ' || *q == '_' || *q == '-')
			q++;
		code = 0;
		if (strncasecmp(q, "id", 2) == 0)
			q += 2;
		else if (strncasecmp(q, "code", 4) == 0) {
			q += 4;
			code = 1;
		} else
			continue;
		if (isalpha((unsigned char)*q))
			continue; /* "errorids", "identity"... */
		q = skip_sep(q);
		if ((id = id_at(q)) == 0 || (code && ap_catalog_find(id) == NULL))
			continue;
		ap_logscan_add_hit_(s, id, no, t);
	}
}

/* The number after "exit code", "exitcode", "exit status", "return code" or
 * "exited with" in t; 1 and *code when there is one. */
static int
exit_code_in(const char *t, int *code)
{
	static const char *const words[] = {
		"exit code", "exitcode", "exit_code", "exit status", "return code",
		"exited with", NULL
	};
	const char *p, *q;
	size_t i;
	long v;
	int neg;

	for (p = t; *p != '\0'; p++) {
		/* every word starts with e or r: most bytes stop here */
		if ((*p | 0x20) != 'e' && (*p | 0x20) != 'r')
			continue;
		for (i = 0; words[i] != NULL; i++)
			if (strncasecmp(p, words[i], strlen(words[i])) == 0)
				break;
		if (words[i] == NULL)
			continue;
		q = skip_sep(p + strlen(words[i]));
		if (strncasecmp(q, "code", 4) == 0)
			q = skip_sep(q + 4);
		neg = *q == '-';
		if (neg)
			q++;
		if (!isdigit((unsigned char)*q))
			continue;
		for (v = 0; isdigit((unsigned char)*q) && v < 100000000L; q++)
			v = v * 10 + (*q - '0');
		*code = neg ? -(int)v : (int)v;
		return 1;
	}
	return 0;
}

static int
is_vss_entry(int id)
{
	const struct ap_catalog_entry *e = ap_catalog_find(id);

	return e != NULL && strncmp(e->name, "VSS_", 4) == 0;
}

/* The VSS entry for a VSS error read without an exit code. */
static int
vss_only(long vss)
{
	size_t i;

	for (i = 0; i < ap_catalog_count(); i++) {
		const struct ap_catalog_entry *e = ap_catalog_at(i);

		if (e->vss_error != 0 && e->vss_error == vss)
			return e->id;
	}
	return AP_ERR_VSS_OTHER;
}

static void
search_windows(struct ap_logscan *s, unsigned long no, const char *t)
{
	long v = 0;
	int line_vss, code, id;

	line_vss = ap_windows_vss_in_line(t, &v);
	if (line_vss) {
		s->vss_found = 1;
		s->vss = v;
	}
	if (exit_code_in(t, &code)) {
		id = ap_windows_installer_errorid(code, line_vss, v);
		/* a VSS exit code on its own line: the VSS error read before */
		if (!line_vss && s->vss_found && is_vss_entry(id))
			id = ap_windows_installer_errorid(code, 1, s->vss);
		if (id != 0)
			ap_logscan_add_hit_(s, id, no, t);
	} else if (line_vss) {
		ap_logscan_add_hit_(s, vss_only(v), no, t);
	}
}

/* The product's Linux installer exit codes (push-install-facts.md). */
static int
linux_exit_id(int code)
{
	switch (code) {
	case 0:
	case 98:
		return 0;
	case 99:
		return AP_ERR_INSTALL_PREREQ_FAILED;
	case 119:
		return AP_ERR_LINUX_NOT_ROOT;
	case 149:
		return AP_ERR_OS_UNSUPPORTED;
	default:
		return AP_ERR_INSTALL_FAILED;
	}
}

static int
status_label(const char *t, size_t n)
{
	static const char *const labels[] = {
		"OK", "WARNING", "FAILED", "ALERTE", "ÉCHEC", NULL
	};
	size_t i;

	for (i = 0; labels[i] != NULL; i++)
		if (strlen(labels[i]) == n && strncmp(t, labels[i], n) == 0)
			return 1;
	return 0;
}

/*
 * An agentpush report line: "FAILED   root@h:22  95108 Title" (the target's
 * line; *id set) or "OK       h  installed 1.2.0" (*id 0), or a later
 * finding "           800106 Title" (11 spaces).  1 when it is one.
 */
static int
report_line(const char *t, int *id)
{
	const char *p = t, *q;

	*id = 0;
	if (strncmp(t, "           ", 11) == 0 && isdigit((unsigned char)t[11])) {
		*id = id_at(t + 11);
		q = t + 11;
		while (isdigit((unsigned char)*q))
			q++;
		return *id != 0 && *q == ' ' && ap_catalog_find(*id) != NULL;
	}
	while (*p != '\0' && *p != ' ')
		p++;
	if (!status_label(t, (size_t)(p - t)) || *p != ' ')
		return 0;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	while (*p != '\0' && *p != ' ')
		p++;      /* the target */
	if (*p == '\0')
		return 1; /* a target with nothing after it: OK with no note */
	if (strncmp(p, "  ", 2) != 0)
		return 0;
	p += 2;
	if (isdigit((unsigned char)*p)) {
		*id = id_at(p);
		for (q = p; isdigit((unsigned char)*q); q++)
			;
		if (*q != ' ' || ap_catalog_find(*id) == NULL)
			*id = 0;
	}
	return 1;
}

/* "3 targets: 1 ok, 0 warning, 2 failed", also in French. */
static int
summary_line(const char *t)
{
	const char *p = t;

	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	return strncmp(p, " target", 7) == 0 || strncmp(p, " cible", 6) == 0;
}

static void
search_line(struct ap_logscan *s, unsigned long no, const char *t)
{
	int id = 0, code;

	search_ids(s, no, t);
	switch (s->line_kind) {
	case AP_LOGSCAN_WINDOWS_LOG:
		search_windows(s, no, t);
		break;
	case AP_LOGSCAN_LINUX_LOG:
		if (exit_code_in(t, &code) && (id = linux_exit_id(code)) != 0)
			ap_logscan_add_hit_(s, id, no, t);
		break;
	case AP_LOGSCAN_AGENTPUSH_TEXT:
		if (report_line(t, &id) && id != 0)
			ap_logscan_add_hit_(s, id, no, t);
		break;
	default:
		break;
	}
}

/* --- the file's kind --------------------------------------------------- */

static int
has_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

static int
any_of(const char *t, const char *const *words)
{
	size_t i;

	for (i = 0; words[i] != NULL; i++)
		if (has_ci(t, words[i]))
			return 1;
	return 0;
}

/*
 * A report line or summary line makes it agentpush's text; otherwise the
 * first line naming the Windows or the Linux installer decides; a UTF-16
 * file is Windows; anything else is unknown.
 */
static void
decide_kind(struct ap_logscan *s)
{
	static const char *const win[] = {
		"UnifiedAgent.exe", "UnifiedAgentConfigurator.exe", "ASRSetupLogs",
		"ASRUnifiedAgent", "InMageVSSProvider", "UnifiedAgentInstaller", NULL
	};
	static const char *const lin[] = {
		"ua_install", "UnifiedAgentConfigurator.sh", "InstallerErrors.json",
		"/usr/local/ASR", "install -d ", NULL
	};
	enum ap_logscan_kind k = AP_LOGSCAN_UNKNOWN;
	int i, id;

	for (i = 0; i < s->n_sniff && k == AP_LOGSCAN_UNKNOWN; i++)
		if ((report_line(s->sniff[i], &id) && (id != 0 || i == 0)) ||
		    summary_line(s->sniff[i]))
			k = AP_LOGSCAN_AGENTPUSH_TEXT;
	for (i = 0; i < s->n_sniff && k == AP_LOGSCAN_UNKNOWN; i++) {
		if (any_of(s->sniff[i], win))
			k = AP_LOGSCAN_WINDOWS_LOG;
		else if (any_of(s->sniff[i], lin))
			k = AP_LOGSCAN_LINUX_LOG;
	}
	if (k == AP_LOGSCAN_UNKNOWN && s->enc != ENC_UTF8)
		k = AP_LOGSCAN_WINDOWS_LOG;
	s->line_kind = k;
	s->kind_known = 1;
	for (i = 0; i < s->n_sniff; i++) {
		search_line(s, s->sniff_no[i], s->sniff[i]);
		free(s->sniff[i]);
		s->sniff[i] = NULL;
	}
}

/* --- lines ------------------------------------------------------------- */

static void
end_line(struct ap_logscan *s)
{
	int binary = 0;
	size_t n;

	if (s->mode == MODE_NONE || !s->nonblank) {
		s->lineno++;
		s->line_len = 0;
		s->line_long = 0;
		s->nonblank = 0;
		return;
	}
	n = ap_logscan_clean_(s->line, s->line_len, s->clean, sizeof(s->clean), &binary);
	if (s->line_cb != NULL) {
		s->line_cb(s->clean, s->cb_arg);
		binary = 1; /* searched by nobody */
		goto next;
	}
	if (s->line_long) {
		if (s->res.long_lines++ == 0)
			s->res.long_first = s->lineno;
	}
	if (binary) {
		if (s->res.binary_lines++ == 0)
			s->res.binary_first = s->lineno;
	} else if (s->res.first[0] == '\0' && n > 0) {
		ap_logscan_clean_(s->clean, n < AP_LOGSCAN_FIRST_MAX ? n : AP_LOGSCAN_FIRST_MAX,
		                  s->res.first, sizeof(s->res.first), NULL);
	}
	if (!binary) {
		if (s->kind_known) {
			search_line(s, s->lineno, s->clean);
		} else if ((s->sniff[s->n_sniff] = strdup(s->clean)) != NULL) {
			s->sniff_no[s->n_sniff++] = s->lineno;
			if (s->n_sniff == SNIFF_LINES)
				decide_kind(s);
		}
	}
next:
	s->lineno++;
	s->line_len = 0;
	s->line_long = 0;
	s->nonblank = 0;
}

static void
json_byte(struct ap_logscan *s, unsigned char c)
{
	const char *what = NULL;

	if (s->json_bad)
		return;
	if (ap_logscan_json_byte_(s, &s->js, c, s->lineno, &what) != 0) {
		s->json_bad = 1;
		s->res.json_bad_line = s->lineno;
		s->res.json_bad_what = what;
	}
}

/* A byte of JSON text: to the reader, and kept while on its first line. */
static void
json_in(struct ap_logscan *s, unsigned char c)
{
	json_byte(s, c);
	if (c == '\n' || c == '\r')
		s->jfirst_done = 1;
	else if (!s->jfirst_done && s->jfirst_len < AP_LOGSCAN_FIRST_MAX)
		s->jfirst[s->jfirst_len++] = (char)c;
}

static void
line_byte(struct ap_logscan *s, unsigned char c)
{
	if (s->line_len < AP_LOGSCAN_SCAN_MAX)
		s->line[s->line_len++] = (char)c;
	else
		s->line_long = 1;
}

/* One decoded byte. */
static void
text_byte(struct ap_logscan *s, unsigned char c)
{
	int blank = c == ' ' || c == '\t' || c == '\f' || c == '\v';

	if (s->mode == MODE_JSON) {
		json_in(s, c);
		if (c == '\n')
			s->lineno++;
		s->last_nl = c == '\n';
		return;
	}
	if (c == '\n' && s->prev_cr) {
		s->prev_cr = 0;
		return;
	}
	s->prev_cr = c == '\r';
	if (c == '\n' || c == '\r') {
		if (s->mode == MODE_BRACKET) {
			/* "[" alone on its line: a JSON array */
			s->mode = MODE_JSON;
			json_in(s, '[');
			s->lineno++;
			return;
		}
		end_line(s);
		return;
	}
	if (s->mode == MODE_NONE && !blank) {
		if (s->line_cb != NULL) {
			s->mode = MODE_LINES;
		} else if (c == '{') {
			s->mode = MODE_JSON;
			json_in(s, c);
			return;
		}
		s->mode = c == '[' ? MODE_BRACKET : MODE_LINES;
	} else if (s->mode == MODE_BRACKET && !blank) {
		if (c == '{' || c == '[' || c == '"' || c == ']') {
			s->mode = MODE_JSON;
			json_in(s, '[');
			json_in(s, c);
			return;
		}
		s->mode = MODE_LINES;
	}
	if (!blank)
		s->nonblank = 1;
	line_byte(s, c);
}

/* A code point from UTF-16, as UTF-8 bytes. */
static void
text_cp(struct ap_logscan *s, unsigned int cp)
{
	if (cp < 0x80) {
		text_byte(s, (unsigned char)cp);
	} else if (cp < 0x800) {
		text_byte(s, (unsigned char)(0xc0 | (cp >> 6)));
		text_byte(s, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		text_byte(s, (unsigned char)(0xe0 | (cp >> 12)));
		text_byte(s, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		text_byte(s, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		text_byte(s, (unsigned char)(0xf0 | (cp >> 18)));
		text_byte(s, (unsigned char)(0x80 | ((cp >> 12) & 0x3f)));
		text_byte(s, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		text_byte(s, (unsigned char)(0x80 | (cp & 0x3f)));
	}
}

static void
utf16_unit(struct ap_logscan *s, unsigned int u)
{
	if (s->high != 0) {
		unsigned int hi = s->high;

		s->high = 0;
		if (u >= 0xdc00 && u <= 0xdfff) {
			text_cp(s, 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00));
			return;
		}
		text_cp(s, 0xfffd); /* a lone high surrogate */
	}
	if (u >= 0xd800 && u <= 0xdbff)
		s->high = u;
	else if (u >= 0xdc00 && u <= 0xdfff)
		text_cp(s, 0xfffd);
	else
		text_cp(s, u);
}

static void
raw_bytes(struct ap_logscan *s, const unsigned char *p, size_t n)
{
	size_t i;

	if (s->mode == MODE_STOP)
		return;
	if (s->enc == ENC_UTF8) {
		for (i = 0; i < n; i++)
			text_byte(s, p[i]);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!s->have_byte) {
			s->byte0 = p[i];
			s->have_byte = 1;
			continue;
		}
		s->have_byte = 0;
		utf16_unit(s, s->enc == ENC_UTF16LE ? (unsigned)s->byte0 | ((unsigned)p[i] << 8)
		                                    : ((unsigned)s->byte0 << 8) | p[i]);
	}
}

/* --- the head: encoding and the binary test ---------------------------- */

static void
start(struct ap_logscan *s)
{
	const unsigned char *h = s->head;
	size_t n = s->head_len, skip = 0, i, odd0 = 0, even0 = 0, bad = 0, k;

	s->started = 1;
	if (n >= 2 && h[0] == 0xff && h[1] == 0xfe) {
		s->enc = ENC_UTF16LE;
		skip = 2;
	} else if (n >= 2 && h[0] == 0xfe && h[1] == 0xff) {
		s->enc = ENC_UTF16BE;
		skip = 2;
	} else if (n >= 3 && h[0] == 0xef && h[1] == 0xbb && h[2] == 0xbf) {
		skip = 3;
	} else if (n >= 4) {
		/* UTF-16 without a BOM: ASCII text puts a NUL in every unit */
		for (i = 0; i + 1 < n; i += 2) {
			even0 += h[i] == 0;
			odd0 += h[i + 1] == 0;
		}
		if (odd0 * 10 >= (n / 2) * 4 && even0 * 20 < n / 2)
			s->enc = ENC_UTF16LE;
		else if (even0 * 10 >= (n / 2) * 4 && odd0 * 20 < n / 2)
			s->enc = ENC_UTF16BE;
	}
	s->res.encoding = s->enc == ENC_UTF16LE ? "UTF-16LE" :
	                  s->enc == ENC_UTF16BE ? "UTF-16BE" : "UTF-8";
	if (s->enc == ENC_UTF8 && s->line_cb == NULL) {
		/* not text: one byte in eight a NUL, a control or invalid UTF-8 */
		for (i = skip; i < n; i += k) {
			k = 1;
			if (h[i] == 0 || (h[i] < 0x20 && h[i] != '\t' && h[i] != '\n' &&
			                  h[i] != '\r' && h[i] != '\f' && h[i] != 0x1b) ||
			    h[i] == 0x7f)
				bad++;
			else if (h[i] >= 0x80 && (k = utf8_len(h + i, n - i)) == 0) {
				/* a character cut by the end of the head is not bad */
				if (!(n == HEAD_MAX && n - i < 4))
					bad++;
				k = 1;
			}
		}
		if (bad > 0 && bad * 8 >= n - skip) {
			s->mode = MODE_STOP;
			s->res.kind = AP_LOGSCAN_BINARY;
			for (i = 0, k = 0; i < 16 && i < n; i++)
				k += (size_t)snprintf(s->res.first + k, sizeof(s->res.first) - k,
				                      "%s%02x", i ? " " : "", h[i]);
			return;
		}
	}
	raw_bytes(s, h + skip, n - skip);
}

/* --- the API ----------------------------------------------------------- */

struct ap_logscan *
ap_logscan_new(void)
{
	struct ap_logscan *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->lineno = 1;
	s->res.kind = AP_LOGSCAN_EMPTY;
	s->res.encoding = "UTF-8";
	s->res.hits = s->hits;
	return s;
}

void
ap_logscan_free(struct ap_logscan *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_sniff; i++)
		free(s->sniff[i]);
	free(s);
}

int
ap_logscan_feed(struct ap_logscan *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t k;

	if (s->finished || len == 0 || buf == NULL)
		return s->mode == MODE_STOP;
	s->res.bytes += len;
	if (!s->started) {
		k = HEAD_MAX - s->head_len < len ? HEAD_MAX - s->head_len : len;
		memcpy(s->head + s->head_len, p, k);
		s->head_len += k;
		p += k;
		len -= k;
		if (s->head_len < HEAD_MAX)
			return 0;
		start(s);
	}
	raw_bytes(s, p, len);
	return s->mode == MODE_STOP;
}

const struct ap_logscan_result *
ap_logscan_finish(struct ap_logscan *s)
{
	struct ap_logscan_result *r = &s->res;

	if (s->finished)
		return r;
	if (!s->started)
		start(s);
	s->finished = 1;
	if (s->mode == MODE_STOP)
		return r;
	if (s->enc != ENC_UTF8 && (s->have_byte || s->high != 0))
		r->cut_line = s->lineno; /* ends inside a UTF-16 character */
	if (s->mode == MODE_BRACKET) {
		s->mode = MODE_JSON;
		json_in(s, '[');
	}
	if (s->mode == MODE_JSON) {
		if (!s->json_bad && !ap_logscan_json_done_(&s->js))
			r->cut_line = s->lineno;
		r->lines = s->last_nl ? s->lineno - 1 : s->lineno;
		ap_logscan_clean_(s->jfirst, s->jfirst_len, r->first, sizeof(r->first), NULL);
		r->kind = s->js.saw_targets ? AP_LOGSCAN_AGENTPUSH_JSON :
		          s->js.saw_error_key ? AP_LOGSCAN_ERRORS_JSON : AP_LOGSCAN_JSON;
		return r;
	}
	if (s->line_len > 0 || s->line_long) {
		if (s->nonblank && !s->prev_cr)
			r->cut_line = s->lineno; /* no newline at the end */
		end_line(s);
	}
	r->lines = s->lineno - 1;
	if (!s->kind_known)
		decide_kind(s);
	r->kind = s->mode == MODE_NONE && r->binary_lines == 0 ? AP_LOGSCAN_EMPTY : s->line_kind;
	return r;
}

int
ap_logscan_lines(const void *text, size_t len,
                 void (*fn)(const char *line, void *arg), void *arg)
{
	struct ap_logscan *s = ap_logscan_new();

	if (s == NULL)
		return AP_ENOMEM;
	s->line_cb = fn;
	s->cb_arg = arg;
	ap_logscan_feed(s, text, len);
	ap_logscan_finish(s);
	ap_logscan_free(s);
	return AP_OK;
}

int
ap_logscan_complete(const struct ap_logscan_result *r)
{
	switch (r->kind) {
	case AP_LOGSCAN_WINDOWS_LOG:
	case AP_LOGSCAN_LINUX_LOG:
	case AP_LOGSCAN_ERRORS_JSON:
	case AP_LOGSCAN_AGENTPUSH_TEXT:
	case AP_LOGSCAN_AGENTPUSH_JSON:
		break;
	default:
		return 0;
	}
	return r->cut_line == 0 && r->long_lines == 0 && r->binary_lines == 0 &&
	       r->json_bad_line == 0;
}

const char *
ap_logscan_kind_name(enum ap_logscan_kind kind)
{
	switch (kind) {
	case AP_LOGSCAN_EMPTY: return "empty";
	case AP_LOGSCAN_UNKNOWN: return "unknown";
	case AP_LOGSCAN_BINARY: return "binary";
	case AP_LOGSCAN_WINDOWS_LOG: return "windows-log";
	case AP_LOGSCAN_LINUX_LOG: return "linux-log";
	case AP_LOGSCAN_ERRORS_JSON: return "installer-errors-json";
	case AP_LOGSCAN_AGENTPUSH_TEXT: return "agentpush-text";
	case AP_LOGSCAN_AGENTPUSH_JSON: return "agentpush-json";
	case AP_LOGSCAN_JSON: return "json";
	}
	return "unknown";
}

int
ap_logscan_file(const char *path, struct ap_logscan **out, struct ap_ctx *ctx)
{
	struct ap_logscan *s = NULL;
	unsigned char *buf = NULL;
	int fd = -1, r;
	ssize_t n;

	*out = NULL;
	if ((s = ap_logscan_new()) == NULL || (buf = malloc(CHUNK)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "%s: out of memory", path);
		goto out;
	}
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ap_ctx_fail(ctx, AP_EIO, 0, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0 || ap_logscan_feed(s, buf, (size_t)n) != 0)
			break;
	}
	ap_logscan_finish(s);
	*out = s;
	s = NULL; /* transferred */
	r = AP_OK;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	free(buf);
	ap_logscan_free(s);
	return r;
}
