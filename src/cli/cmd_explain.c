/*
 * cmd_explain.c - "agentpush explain": shows what an ErrorID means and how to
 * fix it, from the catalog, in the user's language.
 *
 *   agentpush explain ID|NAME [--format text|json]
 *   agentpush explain --list [--format text|json]
 *   agentpush explain --log FILE [--format text|json]
 *   agentpush explain --help
 *
 * NAME is the symbolic name (LINUX_BAD_CREDENTIALS), case-insensitive, with or
 * without the AP_ERR_ prefix.  Exit status: 0 shown, 1 output failed, 2 bad
 * usage or unknown ErrorID (one line on stderr).  The rendering is the
 * library's (explain.h); this file only parses arguments and prints.
 *
 * --log reads an installer log, error file or agentpush output through the
 * library's reader (logscan.h) and prints each ErrorID found with its line
 * and the catalog's fix.  Its exit status follows check's: 0 read fully and
 * no error-severity ErrorID, 1 read fully and at least one, 2 bad usage or a
 * file that cannot be opened, 3 part of the file could not be read or its
 * format is unknown (what could be read is still shown, and why not the
 * rest).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <libintl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/catalog.h"
#include "agentpush/explain.h"
#include "agentpush/logscan.h"
#include "commands.h"

/* dgettext, not gettext: the program does not have to call textdomain(). */
#define _(s) dgettext("agentpush", s)

static void
usage(FILE *f)
{
	/* One msgid a line, so each stays whole and greppable. */
	fprintf(f, "%s\n", _("Usage: agentpush explain ID|NAME [--format text|json]"));
	fprintf(f, "%s\n", _("       agentpush explain --list [--format text|json]"));
	fprintf(f, "%s\n", _("       agentpush explain --log FILE [--format text|json]"));
	fprintf(f, "\n%s\n\n", _("Shows what an ErrorID means: its cause, the steps to fix it and the evidence agentpush shows."));
	fprintf(f, "%s\n", _("  -f, --format FORMAT  text (default) or json"));
	fprintf(f, "%s\n", _("  -l, --list           every ErrorID of the catalog"));
	fprintf(f, "%s\n", _("  -L, --log FILE       the ErrorIDs in an installer log or error file, or in agentpush output (- for standard input), each with its line and fix"));
	fprintf(f, "%s\n", _("  -h, --help           this help"));
	fprintf(f, "\n%s\n", _("Exit status with --log: 0 read fully, no error found; 1 read fully, errors found; 2 bad usage or the file cannot be opened; 3 part of the file could not be read or its format is unknown."));
}

/* Entry for a decimal id or a symbolic name; NULL when there is none. */
static const struct ap_catalog_entry *
lookup(const char *arg)
{
	char name[64];
	const char *p = arg;
	size_t i;

	if (isdigit((unsigned char)arg[0])) {
		char *end = NULL;
		long v;

		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
			return NULL;
		return ap_catalog_find((int)v);
	}
	if (strncasecmp(p, "AP_ERR_", 7) == 0)
		p += 7;
	for (i = 0; p[i] != '\0' && i < sizeof(name) - 1; i++)
		name[i] = (char)toupper((unsigned char)p[i]);
	if (p[i] != '\0')
		return NULL;
	name[i] = '\0';
	return ap_catalog_find_name(name);
}

/* --- explain --log ------------------------------------------------------ */

/* What could not be read, as text and JSON share it. */
struct unread {
	const char *reason;  /* stable, for JSON */
	unsigned long line;  /* 0: none */
	char msg[512];       /* translated, without the file name */
};

static const char *
kind_label(enum ap_logscan_kind k)
{
	switch (k) {
	case AP_LOGSCAN_WINDOWS_LOG: return _("Windows installer log");
	case AP_LOGSCAN_LINUX_LOG: return _("Linux install log");
	case AP_LOGSCAN_ERRORS_JSON: return _("installer error file (JSON)");
	case AP_LOGSCAN_AGENTPUSH_TEXT: return _("agentpush output (text)");
	case AP_LOGSCAN_AGENTPUSH_JSON: return _("agentpush output (JSON)");
	case AP_LOGSCAN_JSON: return _("JSON of an unknown format");
	case AP_LOGSCAN_BINARY: return _("not text");
	case AP_LOGSCAN_EMPTY: return _("empty");
	case AP_LOGSCAN_UNKNOWN: break;
	}
	return _("text of an unknown format");
}

/* Fills u[] (room for 6) with what r says could not be read; returns how many. */
static size_t
unread_list(const struct ap_logscan_result *r, struct unread *u)
{
	size_t n = 0;

	switch (r->kind) {
	case AP_LOGSCAN_EMPTY:
		u[n].reason = "empty";
		snprintf(u[n++].msg, sizeof(u[0].msg), "%s", _("the file is empty: there is nothing to read"));
		break;
	case AP_LOGSCAN_BINARY:
		u[n].reason = "not_text";
		snprintf(u[n++].msg, sizeof(u[0].msg), _("not text (first bytes: %s): nothing was read"), r->first);
		break;
	case AP_LOGSCAN_UNKNOWN:
		u[n].reason = "unknown_format";
		snprintf(u[n++].msg, sizeof(u[0].msg), _("not a log format agentpush knows (first line: %s): only ErrorID and EP codes were searched"), r->first);
		break;
	case AP_LOGSCAN_JSON:
		u[n].reason = "unknown_format";
		snprintf(u[n++].msg, sizeof(u[0].msg), _("JSON, but not a format agentpush knows (first line: %s): only ErrorID and ErrorCode members were searched"), r->first);
		break;
	default:
		break;
	}
	if (r->json_bad_line != 0) {
		u[n].reason = "invalid_json";
		u[n].line = r->json_bad_line;
		snprintf(u[n++].msg, sizeof(u[0].msg), _("line %lu is not valid JSON (%s): the rest of the file was not read"),
		         r->json_bad_line, r->json_bad_what != NULL ? ap_tr(r->json_bad_what) : "?");
	}
	if (r->cut_line != 0) {
		u[n].reason = "cut_off";
		u[n].line = r->cut_line;
		snprintf(u[n++].msg, sizeof(u[0].msg), _("line %lu is cut off: the file ends mid-record"), r->cut_line);
	}
	if (r->long_lines != 0) {
		u[n].reason = "long_lines";
		u[n].line = r->long_first;
		snprintf(u[n++].msg, sizeof(u[0].msg),
		         dngettext("agentpush", "%lu line is longer than %d bytes (line %lu): only its start was searched",
		                   "%lu lines are longer than %d bytes (the first is line %lu): only their start was searched",
		                   r->long_lines),
		         r->long_lines, AP_LOGSCAN_SCAN_MAX, r->long_first);
	}
	if (r->binary_lines != 0) {
		u[n].reason = "binary_lines";
		u[n].line = r->binary_first;
		snprintf(u[n++].msg, sizeof(u[0].msg),
		         dngettext("agentpush", "%lu line holds binary data (line %lu): it was not searched",
		                   "%lu lines hold binary data (the first is line %lu): they were not searched",
		                   r->binary_lines),
		         r->binary_lines, r->binary_first);
	}
	if (r->ids_dropped != 0) {
		u[n].reason = "too_many_ids";
		snprintf(u[n++].msg, sizeof(u[0].msg), _("more than %d different ErrorIDs: %lu later finds are not shown"),
		         AP_LOGSCAN_IDS_MAX, r->ids_dropped);
	}
	return n;
}

/* The file name as shown: control characters as '?'. */
static void
clean_name(const char *path, char *out, size_t n)
{
	size_t i;

	for (i = 0; path[i] != '\0' && i + 1 < n; i++)
		out[i] = (unsigned char)path[i] < 0x20 || path[i] == 0x7f ? '?' : path[i];
	out[i] = '\0';
}

static int
log_text(FILE *f, const char *name, const struct ap_logscan_result *r,
         const struct unread *u, size_t n_u)
{
	size_t i;

	fprintf(f, dngettext("agentpush", "%s: %s, %s, %lu line\n", "%s: %s, %s, %lu lines\n", r->lines),
	        name, kind_label(r->kind), r->encoding, r->lines);
	for (i = 0; i < r->n_hits; i++) {
		const struct ap_logscan_hit *h = &r->hits[i];
		const char *p, *nl;
		int step = 0;

		if (h->entry != NULL)
			fprintf(f, "%s:%lu: %d %s\n", name, h->line, h->id, ap_tr(h->entry->title));
		else
			fprintf(f, _("%s:%lu: %d (not in agentpush's catalog)\n"), name, h->line, h->id);
		fprintf(f, _("    line: %s%s\n"), h->text, h->text_cut ? "..." : "");
		if (h->count > 1)
			fprintf(f, dngettext("agentpush", "    found %lu time, the last on line %lu\n",
			                     "    found %lu times, the last on line %lu\n", h->count),
			        h->count, h->last_line);
		if (h->entry == NULL)
			continue;
		fprintf(f, "    %s\n", _("fix:"));
		for (p = ap_tr(h->entry->remediation); *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
			nl = strchr(p, '\n');
			if (nl == NULL)
				nl = p + strlen(p);
			if (nl > p)
				fprintf(f, "      %d. %.*s\n", ++step, (int)(nl - p), p);
		}
	}
	if (r->n_hits == 0)
		fprintf(f, _("%s: no ErrorID found\n"), name);
	else
		fprintf(f, dngettext("agentpush", "%s: %zu ErrorID found\n", "%s: %zu ErrorIDs found\n", r->n_hits),
		        name, r->n_hits);
	for (i = 0; i < n_u; i++)
		fprintf(f, "%s: %s\n", name, u[i].msg);
	return 0;
}

static char *
log_json(const char *path, const struct ap_logscan_result *r,
         const struct unread *u, size_t n_u)
{
	cJSON *root = cJSON_CreateObject(), *arr, *o;
	char *out = NULL;
	size_t i;

	if (root == NULL ||
	    cJSON_AddStringToObject(root, "file", path) == NULL ||
	    cJSON_AddStringToObject(root, "kind", ap_logscan_kind_name(r->kind)) == NULL ||
	    cJSON_AddStringToObject(root, "encoding", r->encoding) == NULL ||
	    cJSON_AddNumberToObject(root, "lines", (double)r->lines) == NULL ||
	    cJSON_AddNumberToObject(root, "bytes", (double)r->bytes) == NULL ||
	    cJSON_AddBoolToObject(root, "complete", ap_logscan_complete(r)) == NULL ||
	    (arr = cJSON_AddArrayToObject(root, "errors")) == NULL)
		goto out;
	for (i = 0; i < r->n_hits; i++) {
		const struct ap_logscan_hit *h = &r->hits[i];

		o = h->entry != NULL ? ap_explain_entry_json(h->entry) : cJSON_CreateObject();
		if (o == NULL)
			goto out;
		cJSON_AddItemToArray(arr, o);
		if ((h->entry == NULL && cJSON_AddNumberToObject(o, "id", h->id) == NULL) ||
		    cJSON_AddBoolToObject(o, "in_catalog", h->entry != NULL) == NULL ||
		    cJSON_AddNumberToObject(o, "line", (double)h->line) == NULL ||
		    cJSON_AddNumberToObject(o, "last_line", (double)h->last_line) == NULL ||
		    cJSON_AddNumberToObject(o, "count", (double)h->count) == NULL ||
		    cJSON_AddStringToObject(o, "line_text", h->text) == NULL ||
		    cJSON_AddBoolToObject(o, "line_text_cut", h->text_cut) == NULL)
			goto out;
	}
	if ((arr = cJSON_AddArrayToObject(root, "unread")) == NULL)
		goto out;
	for (i = 0; i < n_u; i++) {
		if ((o = cJSON_CreateObject()) == NULL)
			goto out;
		cJSON_AddItemToArray(arr, o);
		if (cJSON_AddStringToObject(o, "reason", u[i].reason) == NULL ||
		    (u[i].line != 0 && cJSON_AddNumberToObject(o, "line", (double)u[i].line) == NULL) ||
		    cJSON_AddStringToObject(o, "message", u[i].msg) == NULL)
			goto out;
	}
	out = cJSON_Print(root);
out:
	cJSON_Delete(root);
	return out;
}

/* agentpush explain --log PATH: see the top of this file for the exit status. */
static int
explain_log(const char *path, enum ap_explain_format fmt)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_logscan *s = NULL;
	const struct ap_logscan_result *r;
	struct unread u[8];
	char name[1024], *js = NULL;
	size_t n_u, i;
	int rc = 2, errors = 0;

	if (ctx == NULL) {
		fprintf(stderr, _("agentpush explain: out of memory\n"));
		return 1;
	}
	clean_name(path, name, sizeof(name));
	if (ap_logscan_file(path, &s, ctx) != AP_OK) {
		fprintf(stderr, "agentpush explain: %s\n", ap_ctx_errmsg(ctx));
		rc = ap_ctx_rc(ctx) == AP_ENOMEM ? 1 : 2;
		goto out;
	}
	r = ap_logscan_finish(s);
	memset(u, 0, sizeof(u));
	n_u = unread_list(r, u);
	for (i = 0; i < r->n_hits; i++)
		if (r->hits[i].entry == NULL || r->hits[i].entry->severity == AP_SEV_ERROR)
			errors = 1;
	if (fmt == AP_EXPLAIN_JSON) {
		if ((js = log_json(path, r, u, n_u)) == NULL) {
			fprintf(stderr, _("agentpush explain: out of memory\n"));
			rc = 1;
			goto out;
		}
		fprintf(stdout, "%s\n", js);
	} else {
		log_text(stdout, name, r, u, n_u);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, _("agentpush explain: cannot write the output\n"));
		rc = 1;
		goto out;
	}
	rc = !ap_logscan_complete(r) ? 3 : errors ? 1 : 0;
out:
	free(js);
	ap_logscan_free(s);
	ap_ctx_free(ctx);
	return rc;
}

int
cmd_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "list",   no_argument,       NULL, 'l' },
		{ "log",    required_argument, NULL, 'L' },
		{ "help",   no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum ap_explain_format fmt = AP_EXPLAIN_TEXT;
	const struct ap_catalog_entry *e = NULL;
	const char *arg = NULL, *log = NULL;
	char *out = NULL;
	int list = 0, c, r = 2;

	optind = 0; /* GNU: rescan from argv[1] even if main used getopt */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:lL:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (ap_explain_format_parse(optarg, &fmt) != 0) {
				fprintf(stderr, _("agentpush explain: unknown format '%s' (use text or json)\n"), optarg);
				goto out;
			}
			break;
		case 'l':
			list = 1;
			break;
		case 'L':
			log = optarg;
			break;
		case 'h':
			usage(stdout);
			r = 0;
			goto out;
		case ':':
			fprintf(stderr, _("agentpush explain: option '%s' needs a value\n"), argv[optind - 1]);
			goto out;
		default:
			fprintf(stderr, _("agentpush explain: unknown option '%s' (see 'agentpush explain --help')\n"), argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc)
		arg = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, _("agentpush explain: unexpected argument '%s' (see 'agentpush explain --help')\n"), argv[optind]);
		goto out;
	}
	if (log != NULL && (list || arg != NULL)) {
		fprintf(stderr, _("agentpush explain: give --log FILE alone, without --list or an ErrorID\n"));
		goto out;
	}
	if (log != NULL) {
		r = explain_log(log, fmt);
		goto out;
	}
	if (list && arg != NULL) {
		fprintf(stderr, _("agentpush explain: give either --list or an ErrorID, not both\n"));
		goto out;
	}
	if (!list && arg == NULL) {
		fprintf(stderr, _("agentpush explain: no ErrorID given (see 'agentpush explain --help')\n"));
		goto out;
	}
	if (list) {
		out = ap_explain_list(fmt);
	} else {
		if ((e = lookup(arg)) == NULL) {
			fprintf(stderr, _("agentpush explain: no ErrorID %s in the catalog (see 'agentpush explain --list')\n"), arg);
			goto out;
		}
		out = ap_explain_entry(e, fmt);
	}
	if (out == NULL) {
		fprintf(stderr, _("agentpush explain: out of memory\n"));
		r = 1;
		goto out;
	}
	if (fputs(out, stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, _("agentpush explain: cannot write the output\n"));
		r = 1;
		goto out;
	}
	r = 0;
out:
	free(out);
	return r;
}
