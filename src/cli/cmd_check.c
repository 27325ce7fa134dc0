/*
 * cmd_check.c - "agentpush check" (diagnose, change nothing) and
 * "agentpush install" (check, copy, install, verify).
 *
 * Both parse the same options (options.c), run the library over the targets
 * and print the report as text or JSON on stdout.  Exit status: 0 every
 * target ok or warning, 1 at least one target failed, 2 usage or
 * configuration error (one line on stderr).
 */
#include <libintl.h>
#include <stdio.h>
#include <stdlib.h>

#include "agentpush/report.h"
#include "agentpush/run.h"
#include "commands.h"
#include "options.h"

#define _(s) dgettext("agentpush", s)

static int
run(int install, int argc, char **argv)
{
	struct cli_opts o;
	struct ap_ctx *ctx = NULL;
	struct ap_report *report = NULL;
	char *out = NULL;
	enum cli_format format;
	int r, st, color;

	if ((st = cli_parse(install, argc, argv, &o)) != CLI_RUN)
		return st;
	format = o.format;
	color = cli_use_color(&o);
	st = 2;
	if ((ctx = ap_ctx_new()) == NULL || (report = ap_report_new()) == NULL) {
		fprintf(stderr, "agentpush %s: %s\n", o.cmd, _("out of memory"));
		goto out;
	}
	if (install)
		r = ap_run_install(&o.run, o.targets, o.n_targets, report, ctx);
	else
		r = ap_run_check(&o.run, o.targets, o.n_targets, report, ctx);
	/* The password is not needed any more: wipe it now, not at exit. */
	cli_opts_clear(&o);
	if (r != AP_OK) {
		fprintf(stderr, "agentpush %s: %s\n", o.cmd, ap_ctx_errmsg(ctx));
		goto out;
	}
	if (format == CLI_FORMAT_JSON)
		out = ap_report_to_json(report);
	else
		out = ap_report_to_text(report, color);
	if (out == NULL) {
		fprintf(stderr, "agentpush %s: %s\n", o.cmd, _("out of memory"));
		goto out;
	}
	fputs(out, stdout);
	if (format == CLI_FORMAT_JSON)
		fputc('\n', stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "agentpush %s: %s\n", o.cmd, _("cannot write the output"));
		goto out;
	}
	st = ap_report_exit_status(report);
out:
	cli_opts_clear(&o);
	free(out);
	ap_report_free(report);
	ap_ctx_free(ctx);
	return st;
}

int
cmd_check(int argc, char **argv)
{
	return run(0, argc, argv);
}

int
cmd_install(int argc, char **argv)
{
	return run(1, argc, argv);
}
