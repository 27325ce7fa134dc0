/*
 * cmd_jobs.c - "agentpush jobs" (list the job store's jobs) and
 * "agentpush show JOB" (one job's report, as check or install printed it).
 *
 *   agentpush jobs [--db PATH] [--limit N] [--format text|json]
 *   agentpush show JOB [--db PATH] [--format text|json] [--events]
 *                      [--id ID[,ID...]]
 *
 * show prints the report rebuilt by ap_store_job_report() through the same
 * renderers as check, so its JSON is check's contract, with fields added:
 * "job" (what `jobs` says of it), with --events "events", with --id
 * "filter".  --id keeps the targets with a finding of one of the IDs or of
 * an ID refining one (ap_report_keep_ids()), so a search by the product's
 * number finds agentpush's narrower ones too.
 * Exit status: jobs 0, or 2 on a usage or store error; show 0 every target
 * shown ok, 1 a target shown failed, 2 usage error, unreadable store or no
 * such job (one line on stderr).
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <libintl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/jobjson.h"
#include "agentpush/report.h"
#include "agentpush/store.h"
#include "commands.h"
#include "options.h"

#define _(s) dgettext("agentpush", s)

static int
use_color(const struct cli_store_opts *so)
{
	struct cli_opts o;

	memset(&o, 0, sizeof(o));
	o.no_color = so->no_color;
	return cli_use_color(&o);
}

/* "5 targets: 3 done, 1 failed, 1 planned" into buf. */
static void
state_summary(const struct ap_job_info *j, char *buf, size_t size)
{
	size_t len;
	int i, first = 1;

	snprintf(buf, size, dngettext("agentpush", "%zu target", "%zu targets", j->n_targets),
	         j->n_targets);
	for (i = 0; i < AP_HOST_STATE_COUNT_; i++) {
		if (j->n_state[i] == 0)
			continue;
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s%zu %s", first ? ": " : ", ", j->n_state[i],
		         ap_host_state_name((enum ap_host_state)i));
		first = 0;
	}
}

static int
print_out(const char *cmd, const char *s)
{
	fputs(s, stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "agentpush %s: %s\n", cmd, _("cannot write the output"));
		return -1;
	}
	return 0;
}

int
cmd_jobs(int argc, char **argv)
{
	struct cli_store_opts o;
	struct ap_ctx *ctx = NULL;
	struct ap_store *st = NULL;
	struct ap_job_info *jobs = NULL;
	cJSON *root = NULL, *arr, *obj;
	char *json = NULL, sum[256];
	size_t n = 0, i;
	int r = 2;

	if ((r = cli_parse_store(0, argc, argv, &o)) != CLI_RUN)
		return r;
	r = 2;
	if ((ctx = ap_ctx_new()) == NULL) {
		fprintf(stderr, "agentpush jobs: %s\n", _("out of memory"));
		goto out;
	}
	if (ap_store_open(o.db_path, &st, ctx) != AP_OK ||
	    ap_store_jobs_list(st, o.limit, &jobs, &n, ctx) != AP_OK) {
		fprintf(stderr, "agentpush jobs: %s\n", ap_ctx_errmsg(ctx));
		goto out;
	}
	if (o.format == CLI_FORMAT_JSON) {
		if ((root = cJSON_CreateObject()) == NULL ||
		    (arr = cJSON_AddArrayToObject(root, "jobs")) == NULL)
			goto oom;
		for (i = 0; i < n; i++) {
			if ((obj = cJSON_CreateObject()) == NULL)
				goto oom;
			cJSON_AddItemToArray(arr, obj);
			if (ap_job_info_to_json(&jobs[i], obj) != 0)
				goto oom;
		}
		if ((json = cJSON_PrintUnformatted(root)) == NULL)
			goto oom;
		if (print_out("jobs", json) != 0 || print_out("jobs", "\n") != 0)
			goto out;
		r = 0;
		goto out;
	}
	if (n == 0)
		printf(_("No job in %s.\n"), ap_store_location(st));
	for (i = 0; i < n; i++) {
		state_summary(&jobs[i], sum, sizeof(sum));
		printf("%-6" PRId64 " %-8s %-8s %s  %s\n", jobs[i].id,
		       ap_job_kind_name(jobs[i].kind), ap_job_status_name(jobs[i].status),
		       jobs[i].created != NULL ? jobs[i].created : "", sum);
	}
	r = print_out("jobs", "") != 0 ? 2 : 0;
	goto out;
oom:
	fprintf(stderr, "agentpush jobs: %s\n", _("out of memory"));
out:
	cJSON_Delete(root);
	free(json);
	ap_store_jobs_free(jobs, n);
	ap_store_close(st);
	ap_ctx_free(ctx);
	cli_store_opts_clear(&o);
	return r;
}

/* show --format json (jobjson.h); total: the job's targets before --id. */
static char *
show_json(const struct ap_report *report, const struct ap_job_info *job,
          const struct ap_job_event *ev, size_t n_ev,
          const struct ap_job_target *t, size_t n_t,
          const struct cli_store_opts *o, size_t total)
{
	cJSON *root = ap_job_show_json(report, job, o->events ? ev : NULL,
	                               o->events ? n_ev : 0, t, n_t, o->ids,
	                               o->n_ids, total);
	char *s = root != NULL ? cJSON_PrintUnformatted(root) : NULL;

	cJSON_Delete(root);
	return s;
}

int
cmd_show(int argc, char **argv)
{
	struct cli_store_opts o;
	struct ap_ctx *ctx = NULL;
	struct ap_store *st = NULL;
	struct ap_report *report = NULL;
	struct ap_job_info job;
	struct ap_job_event *ev = NULL;
	struct ap_job_target *t = NULL;
	size_t n_ev = 0, n_t = 0, i, total;
	char *text = NULL;
	int r;

	memset(&job, 0, sizeof(job));
	if ((r = cli_parse_store(1, argc, argv, &o)) != CLI_RUN)
		return r;
	r = 2;
	if ((ctx = ap_ctx_new()) == NULL || (report = ap_report_new()) == NULL) {
		fprintf(stderr, "agentpush show: %s\n", _("out of memory"));
		goto out;
	}
	if (ap_store_open(o.db_path, &st, ctx) != AP_OK ||
	    ap_store_job_get(st, o.job_id, &job, ctx) != AP_OK ||
	    ap_store_job_report(st, o.job_id, report, ctx) != AP_OK ||
	    (o.events && (ap_store_job_events(st, o.job_id, 0, &ev, &n_ev, ctx) != AP_OK ||
	                  ap_store_job_targets(st, o.job_id, &t, &n_t, ctx) != AP_OK))) {
		fprintf(stderr, "agentpush show: %s\n", ap_ctx_errmsg(ctx));
		goto out;
	}
	total = ap_report_count(report);
	if (o.n_ids > 0)
		ap_report_keep_ids(report, o.ids, o.n_ids);
	if (o.format == CLI_FORMAT_JSON) {
		if ((text = show_json(report, &job, ev, n_ev, t, n_t, &o, total)) == NULL) {
			fprintf(stderr, "agentpush show: %s\n", _("out of memory"));
			goto out;
		}
		if (print_out("show", text) != 0 || print_out("show", "\n") != 0)
			goto out;
		r = ap_report_exit_status(report);
		goto out;
	}
	printf(_("job %" PRId64 ": %s %s, created %s, updated %s\n"), job.id,
	       ap_job_kind_name(job.kind), ap_job_status_name(job.status),
	       job.created != NULL ? job.created : "", job.updated != NULL ? job.updated : "");
	if (job.package != NULL)
		printf(_("package: %s %s\n"), job.package,
		       job.package_version != NULL ? job.package_version : "");
	if (o.n_ids > 0) {
		char ids[256] = ""; /* a very long list is cut short here, not in JSON */

		for (i = 0; i < o.n_ids; i++) {
			size_t len = strlen(ids);

			snprintf(ids + len, sizeof(ids) - len, "%s%d", i > 0 ? "," : "", o.ids[i]);
		}
		printf(dngettext("agentpush", "targets with ErrorID %s or an ErrorID refining it: %zu of %zu\n",
		                 "targets with one of the ErrorIDs %s or an ErrorID refining one: %zu of %zu\n",
		                 o.n_ids),
		       ids, ap_report_count(report), total);
	}
	if ((text = ap_report_to_text(report, use_color(&o))) == NULL) {
		fprintf(stderr, "agentpush show: %s\n", _("out of memory"));
		goto out;
	}
	fputs(text, stdout);
	if (o.events) {
		printf("\n%s\n", _("Events:"));
		for (i = 0; i < n_ev; i++) {
			char detail[512];

			/* A note may quote a remote host: no control characters. */
			ap_target_quote(ev[i].detail, detail, sizeof(detail));
			printf("  %s  %-24s %-8s %s\n", ev[i].at,
			       ev[i].target_id != 0 ? ap_job_target_spec(t, n_t, ev[i].target_id) : "-",
			       ev[i].what, detail);
		}
	}
	if (print_out("show", "") != 0)
		goto out;
	r = ap_report_exit_status(report);
out:
	free(text);
	ap_store_events_free(ev, n_ev);
	ap_store_targets_free(t, n_t);
	ap_job_info_clear(&job);
	ap_report_free(report);
	ap_store_close(st);
	ap_ctx_free(ctx);
	cli_store_opts_clear(&o);
	return r;
}
