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
#include "agentpush/server.h"
#include "agentpush/store.h"
#include "commands.h"
#include "options.h"
#include "progress.h"

#define _(s) dgettext("agentpush", s)

/*
 * For resume: the number of hosts still to do (the progress total), the
 * job's --account (o->stored_account), and an install job's registration
 * settings as it was started with them (its options), unless --server was
 * given again.  *server is malloc'd.
 */
static int
resume_info(struct cli_opts *o, struct ap_store *store, size_t *todo,
            char **server, struct ap_ctx *ctx)
{
	struct ap_job_info job;
	cJSON *opts = NULL, *v = NULL;
	int r;

	memset(&job, 0, sizeof(job));
	if ((r = ap_store_job_get(store, o->run.job_id, &job, ctx)) != AP_OK)
		return r;
	*todo = job.n_targets - job.n_state[AP_HOST_DONE] -
	        job.n_state[AP_HOST_FAILED] - job.n_state[AP_HOST_SKIPPED];
	if (job.options_json != NULL && (opts = cJSON_Parse(job.options_json)) != NULL &&
	    cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(opts, "account"))) {
		if ((o->stored_account = strdup(v->valuestring)) == NULL)
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "%s", _("out of memory"));
		o->run.account = o->stored_account;
	}
	if (job.kind == AP_JOB_INSTALL && o->run.agent_server == NULL && opts != NULL) {
		v = cJSON_GetObjectItemCaseSensitive(opts, "server");
		if (cJSON_IsString(v) && (*server = strdup(v->valuestring)) == NULL)
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "%s", _("out of memory"));
		o->run.agent_server = *server;
		v = cJSON_GetObjectItemCaseSensitive(opts, "register_timeout");
		if (*server != NULL && o->run.register_timeout_s == 0 && cJSON_IsNumber(v) &&
		    v->valuedouble >= 1 && v->valuedouble <= 86400)
			o->run.register_timeout_s = (int)v->valuedouble;
	}
	cJSON_Delete(opts);
	ap_job_info_clear(&job);
	return r;
}

static int
run(int install, int argc, char **argv)
{
	struct cli_opts o;
	struct cli_progress prog;
	struct ap_ctx *ctx = NULL;
	struct ap_report *report = NULL;
	struct ap_store *store = NULL;
	char *out = NULL, *opts_json = NULL, *reg_pass = NULL, *reg_pin = NULL;
	char *job_server = NULL;
	size_t resume_total = 0;
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
	if (o.resume && resume_info(&o, store, &resume_total, &job_server, ctx) != AP_OK) {
		fprintf(stderr, "agentpush %s: %s\n", o.cmd, ap_ctx_errmsg(ctx));
		goto out;
	}
	if (cli_accounts_load(&o, store) != CLI_RUN)
		goto out;
	if (!o.resume && cli_fix_settings(&o, store, ctx) != AP_OK) {
		fprintf(stderr, "agentpush %s: %s\n", o.cmd, ap_ctx_errmsg(ctx));
		goto out;
	}
	/* install --server: the agents register with the server of this store. */
	if (o.run.agent_server != NULL) {
		if (ap_server_enroll_load(store, o.state_dir, o.db_path, o.run.agent_server,
		                          &reg_pass, &reg_pin, ctx) != AP_OK) {
			fprintf(stderr, "agentpush %s: --server: %s\n", o.cmd, ap_ctx_errmsg(ctx));
			goto out;
		}
		o.run.agent_passphrase = reg_pass;
		o.run.agent_pin = reg_pin;
	}
	cli_progress_init(&prog, o.n_targets, format != CLI_FORMAT_JSON, stderr);
	o.run.progress = cli_progress_event;
	o.run.progress_ud = &prog;
	if (o.submit) {
		/* The workers run it (worker.h); nothing is touched here. */
		if ((r = ap_run_plan(&o.run, install, o.targets, o.n_targets, ctx)) == AP_OK) {
			if (format == CLI_FORMAT_JSON)
				printf("{\"job_id\":%lld,\"targets\":%zu}\n", (long long)o.run.job_id,
				       o.n_targets);
			else
				printf(_("job %lld submitted: %zu targets, for 'agentpush worker' to run\n"),
				       (long long)o.run.job_id, o.n_targets);
			st = fflush(stdout) == 0 ? 0 : 2;
		} else {
			fprintf(stderr, "agentpush %s: %s\n", o.cmd, ap_ctx_errmsg(ctx));
		}
		goto out;
	}
	if (o.resume) {
		prog.total = resume_total;
		r = ap_run_resume(&o.run, report, ctx);
	} else if (install) {
		r = ap_run_install(&o.run, o.targets, o.n_targets, report, ctx);
	} else {
		r = ap_run_check(&o.run, o.targets, o.n_targets, report, ctx);
	}
	cli_progress_finish(&prog);
	/* The password is not needed any more: wipe it now, not at exit. */
	cli_opts_clear(&o);
	ap_server_enroll_free(reg_pass, reg_pin);
	reg_pass = reg_pin = NULL;
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
	free(job_server);
	ap_server_enroll_free(reg_pass, reg_pin);
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
