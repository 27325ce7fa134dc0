/*
 * cmd_explain.c - "agentpush explain": shows what an ErrorID means and how to
 * fix it, from the catalog, in the user's language.
 *
 *   agentpush explain ID|NAME [--format text|json]
 *   agentpush explain --list [--format text|json]
 *   agentpush explain --help
 *
 * NAME is the symbolic name (LINUX_BAD_CREDENTIALS), case-insensitive, with or
 * without the AP_ERR_ prefix.  Exit status: 0 shown, 1 output failed, 2 bad
 * usage or unknown ErrorID (one line on stderr).  The rendering is the
 * library's (explain.h); this file only parses arguments and prints.
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
#include "commands.h"

/* dgettext, not gettext: the program does not have to call textdomain(). */
#define _(s) dgettext("agentpush", s)

static void
usage(FILE *f)
{
	/* One msgid a line, so each stays whole and greppable. */
	fprintf(f, "%s\n", _("Usage: agentpush explain ID|NAME [--format text|json]"));
	fprintf(f, "%s\n", _("       agentpush explain --list [--format text|json]"));
	fprintf(f, "\n%s\n\n", _("Shows what an ErrorID means: its cause, the steps to fix it and the evidence agentpush shows."));
	fprintf(f, "%s\n", _("  -f, --format FORMAT  text (default) or json"));
	fprintf(f, "%s\n", _("  -l, --list           every ErrorID of the catalog"));
	fprintf(f, "%s\n", _("  -h, --help           this help"));
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

int
cmd_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "list",   no_argument,       NULL, 'l' },
		{ "help",   no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum ap_explain_format fmt = AP_EXPLAIN_TEXT;
	const struct ap_catalog_entry *e = NULL;
	const char *arg = NULL;
	char *out = NULL;
	int list = 0, c, r = 2;

	optind = 0; /* GNU: rescan from argv[1] even if main used getopt */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:lh", longopts, NULL)) != -1) {
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
