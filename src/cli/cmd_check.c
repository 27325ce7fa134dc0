/*
 * cmd_check.c - "agentpush check" (diagnose, change nothing) and
 * "agentpush install" (check, copy, install, verify).
 *
 * Both parse the same options (options.c), run the library over the targets
 * and print the report as text or JSON on stdout.  Exit status: 0 every
 * target ok or warning, 1 at least one target failed, 2 usage or
 * configuration error (one line on stderr).
 */
#include <cJSON.h>
#include <libintl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/report.h"
#include "agentpush/run.h"
#include "agentpush/store.h"
#include "commands.h"
#include "options.h"
#include "progress.h"

#define _(s) dgettext("agentpush", s)

static int
run(int install, int argc, char **argv)
{
	struct cli_opts o;
	struct cli_progress prog;
	struct ap_ctx *ctx = NULL;
	struct ap_report *report = NULL;
	struct ap_store *store = NULL;
	char *out = NULL, *opts_json = NULL;
	enum cli_format format;
	int r, st, color;

	if ((st = cli_parse(install, argc, argv, &o)) != CLI_RUN)
		return st;
	format = o.format;
	color = cli_use_color(&o);
	st = 2;
	if ((ctx = ap_ctx_new()) == NULL || (report = ap_report_new()) == NULL ||
	    (opts_json = ap_run_options_json(&o.run)) == NULL) {
		fprintf(stderr, "agentpush %s: %s\n", o.cmd, _("out of memory"));
		goto out;
	}
	if (ap_store_open(o.db_path, &store, ctx) != AP_OK) {
		fprintf(stderr, "agentpush %s: %s\n", o.cmd, ap_ctx_errmsg(ctx));
		goto out;
	}
	o.run.store = store;
	o.run.options_json = opts_json;
	cli_progress_init(&prog, o.n_targets, format != CLI_FORMAT_JSON, stderr);
	o.run.progress = cli_progress_event;
	o.run.progress_ud = &prog;
	if (o.resume) {
		struct ap_job_info job;

		/* The progress total is the number of hosts still to do. */
		memset(&job, 0, sizeof(job));
		if (ap_store_job_get(store, o.run.job_id, &job, ctx) != AP_OK) {
			fprintf(stderr, "agentpush %s: %s\n", o.cmd, ap_ctx_errmsg(ctx));
			goto out;
		}
		prog.total = job.n_targets - job.n_state[AP_HOST_DONE] -
		             job.n_state[AP_HOST_FAILED] - job.n_state[AP_HOST_SKIPPED];
		ap_job_info_clear(&job);
		r = ap_run_resume(&o.run, report, ctx);
	} else if (install) {
		r = ap_run_install(&o.run, o.targets, o.n_targets, report, ctx);
	} else {
		r = ap_run_check(&o.run, o.targets, o.n_targets, report, ctx);
	}
	cli_progress_finish(&prog);
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
	ap_store_close(store);
	free(opts_json);
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

int
cmd_resume(int argc, char **argv)
{
	return run(CLI_CMD_RESUME, argc, argv);
}
