/*
 * cmd_fix.c - "agentpush fix": the remedies agentpush knows for what a check
 * found, shown as the exact commands, on which host and why, applied only
 * with consent, recorded in the job store, then a new check of the fixed
 * hosts; and "agentpush fix --undo JOB".
 *
 * The logic is lib/fix/ (fix.h); this file reads options (options.c, the
 * check's own, plus --job --only --dry-run --yes --allow-privilege-changes
 * --undo --fix-account), opens the --fix-account account from the vault,
 * asks, prints.  Consent: --yes; else, with a terminal on stdin,
 * y/N per host ("a" for this and every later host); without one, nothing
 * is applied and the exit status is 3.
 *
 * Exit status: 0 every fixed host checks ok (or nothing to fix, or
 * --dry-run), 1 a remedy failed or a host still fails, 2 usage or
 * configuration error, 3 nothing applied for want of consent.
 */
#include <libintl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentpush/catalog.h"
#include "agentpush/fix.h"
#include "agentpush/report.h"
#include "agentpush/run.h"
#include "agentpush/store.h"
#include "agentpush/vault.h"
#include "commands.h"
#include "options.h"
#include "progress.h"

#define _(s) dgettext("agentpush", s)

#define EXIT_NO_CONSENT 3

enum consent { ASK = 0, ALL, NONE };

/*
 * Prints text with each line indented by prefix.  Text from a host (its
 * output) is shown with control characters escaped, each line cut at 1 KB
 * (the store keeps what it wrote): a host never drives the terminal.
 */
static void
print_block(const char *prefix, const char *text, int from_host)
{
	const char *p = text, *nl = NULL;
	char line[1100], q[1100];
	size_t n;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (!from_host) {
			printf("%s%.*s\n", prefix, (int)n, p);
		} else {
			snprintf(line, sizeof(line), "%.*s", (int)(n < 1024 ? n : 1024), p);
			ap_target_quote(line, q, sizeof(q));
			printf("%s%s%s\n", prefix, q, n > 1024 ? "..." : "");
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
}

/* Prints the plan of one host; returns how many remedies would run. */
static size_t
print_plan(const struct ap_fix_host *h, const struct ap_run_account *admin, int allow_priv)
{
	const struct ap_catalog_entry *e = NULL;
	size_t i, runs = 0;
	char ev[1100];

	for (i = 0; i < h->n; i++) {
		const struct ap_fix_remedy *r = &h->remedies[i];

		e = ap_catalog_find(r->id);
		printf("%s  %d %s\n", h->target->spec, r->id, r->name);
		ap_target_quote(r->evidence, ev, sizeof(ev));  /* from the host */
		printf(_("  why: %d %s; evidence: %s\n"), r->id, e != NULL ? _(e->title) : "",
		       ev[0] ? ev : "-");
		if (r->commands != NULL) {
			if (r->remote && h->os == AP_OS_WINDOWS && r->as_admin && admin != NULL)
				printf(_("  runs on %s over WinRM as %s, the --fix-account account %s (%s):\n"),
				       h->target->host, admin->user, admin->name, r->shell);
			else if (r->remote && h->os == AP_OS_WINDOWS)
				printf(_("  runs on %s over WinRM as the check's account (%s):\n"), h->target->host, r->shell);
			else if (r->remote)
				printf(_("  runs as root on %s (%s):\n"), h->target->host, r->shell);
			else
				printf(_("  to run on %s (%s):\n"), h->target->host, r->shell);
			print_block("    | ", r->commands, 0);
			if (r->undo != NULL) {
				printf("%s\n", _("  undo:"));
				print_block("    | ", r->undo, 0);
			}
		}
		if (r->privilege && r->commands != NULL && r->remote)
			printf("%s\n", allow_priv ? _("  a privilege change: applied (--allow-privilege-changes)")
			                          : _("  a privilege change: shown only; applied with --allow-privilege-changes"));
		if (r->advice != NULL)
			printf(_("  not applied by agentpush: %s\n"), _(r->advice));
		runs += ap_fix_remedy_runs(r, allow_priv);
	}
	return runs;
}

/*
 * Asks on the terminal whether to apply what was shown for host; "a"
 * answers yes for every later host too (*c becomes ALL).
 */
static int
ask(const char *host, enum consent *c)
{
	char line[64];

	if (*c == ALL)
		return 1;
	if (*c == NONE)
		return 0;
	printf(_("Apply these changes on %s? [y/N/a] "), host);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	if (line[0] == 'a' || line[0] == 'A') {
		*c = ALL;
		return 1;
	}
	return line[0] == 'y' || line[0] == 'Y';
}

/* The consent to start with: --yes, a terminal to ask on, or none. */
static enum consent
first_consent(const struct cli_opts *o)
{
	if (o->yes)
		return ALL;
	return isatty(STDIN_FILENO) ? ASK : NONE;
}

/* Prints the outcome of one remedy (undo 0) or undo (1); returns 1 when it
 * failed. */
static int
print_outcome(const char *spec, int id, const char *name, const struct ap_fix_outcome *oc,
              int undo)
{
	if (!oc->tried)
		return 0;
	if (oc->ok && undo)
		printf(_("undone on %s: %d %s\n"), spec, id, name);
	else if (oc->ok)
		printf(_("applied on %s: %d %s\n"), spec, id, name);
	else
		printf(_("FAILED on %s: %d %s: %s\n"), spec, id, name, oc->error != NULL ? oc->error : "");
	if (oc->output != NULL)
		print_block("    > ", oc->output, 1);
	return !oc->ok;
}

/* The admin account of a run: a vault account opened for it. */
struct admin {
	struct ap_vault *vault;
	struct ap_vault_account va;
	struct ap_run_account acct;  /* points into va */
	int open;
};

/*
 * Opens the vault account name (--fix-account, or the one an undo's fixes
 * ran as) into a; a Windows account only.  0, or -1 after a message.
 */
static int
admin_open(struct cli_opts *o, struct ap_store *store, const char *name, struct admin *a,
           struct ap_ctx *ctx)
{
	char key_path[4096 + 16];

	if (ap_vault_key_path(o->db_path, key_path, sizeof(key_path), ctx) != AP_OK ||
	    ap_vault_open(store, key_path, o->vault_passfile, 0, &a->vault, ctx) != AP_OK ||
	    ap_vault_account_open(a->vault, name, &a->va, ctx) != AP_OK) {
		fprintf(stderr, "agentpush fix: --fix-account %s: %s\n", name, ap_ctx_errmsg(ctx));
		return -1;
	}
	a->open = 1;
	if (a->va.row.kind == NULL || strcmp(a->va.row.kind, "windows") != 0) {
		fprintf(stderr, _("agentpush fix: --fix-account %s: not a Windows account (see 'agentpush accounts list')\n"),
		        name);
		return -1;
	}
	a->acct.id = a->va.row.id;
	a->acct.name = a->va.row.name;
	a->acct.user = a->va.row.user;
	a->acct.domain = a->va.row.domain;
	a->acct.password = a->va.password->data;
	return 0;
}

static void
admin_close(struct admin *a)
{
	if (a->open)
		ap_vault_account_clear(&a->va);
	ap_vault_close(a->vault);
	memset(a, 0, sizeof(*a));
}

static int
undo(struct cli_opts *o, struct ap_store *store, struct ap_ctx *ctx)
{
	struct ap_fix_undo *u = NULL;
	struct ap_job_target *jt = NULL;
	struct ap_fix_outcome *oc = NULL;
	enum consent c = first_consent(o);
	struct admin adm;
	const char *need = o->fix_account;
	size_t n = 0, n_jt = 0, i, k, m;
	int st = 2, failed = 0, refused = 0;

	memset(&adm, 0, sizeof(adm));
	if (ap_fix_undo_list(store, o->undo_job, &u, &n, ctx) != AP_OK ||
	    ap_store_job_targets(store, o->undo_job, &jt, &n_jt, ctx) != AP_OK) {
		fprintf(stderr, "agentpush fix: %s\n", ap_ctx_errmsg(ctx));
		goto out;
	}
	if (n == 0) {
		printf(_("job %lld: no applied remedy left to undo\n"), o->undo_job);
		st = 0;
		goto out;
	}
	if ((oc = calloc(n, sizeof(*oc))) == NULL) {
		fprintf(stderr, "agentpush fix: %s\n", _("out of memory"));
		goto out;
	}
	/* Windows fixes made as an admin account are undone as it: the one
	 * recorded, unless --fix-account names another (then those fail) */
	for (k = 0; k < n && need == NULL; k++)
		need = u[k].account;
	if (need != NULL && !o->dry_run && admin_open(o, store, need, &adm, ctx) != 0)
		goto out;
	/* per host, in the list's order (newest first) */
	for (i = 0; i < n_jt; i++) {
		const struct ap_target *t = &jt[i].target;
		struct ap_fix_undo *mine = NULL;

		for (k = 0, m = 0; k < n; k++)
			m += u[k].target_id == jt[i].id;
		if (m == 0)
			continue;
		if ((mine = calloc(m, sizeof(*mine))) == NULL) {
			fprintf(stderr, "agentpush fix: %s\n", _("out of memory"));
			goto out;
		}
		for (k = 0, m = 0; k < n; k++)
			if (u[k].target_id == jt[i].id)
				mine[m++] = u[k];  /* borrowed: freed with u */
		for (k = 0; k < m; k++) {
			printf(_("%s  undo %d %s (fix event %lld)\n"), t->spec, mine[k].id, mine[k].name,
			       (long long)mine[k].event_id);
			print_block("    | ", mine[k].undo, 0);
		}
		if (o->dry_run || !ask(t->spec, &c)) {
			refused += !o->dry_run;
			free(mine);
			continue;
		}
		if (ap_fix_undo_run(&o->run, adm.open ? &adm.acct : NULL, t, mine, m, store,
		                    o->undo_job, oc, ctx) != AP_OK) {
			printf(_("FAILED on %s: %s\n"), t->spec, ap_ctx_errmsg(ctx));
			ap_ctx_clear(ctx);
			failed = 1;
		}
		for (k = 0; k < m; k++) {
			failed |= print_outcome(t->spec, mine[k].id, mine[k].name, &oc[k], 1);
			ap_fix_outcome_clear(&oc[k]);
		}
		free(mine);
	}
	if (o->dry_run) {
		printf("%s\n", _("dry run: nothing was undone"));
		st = 0;
	} else if (refused > 0 && c == NONE) {
		printf("%s\n", _("nothing undone: give --yes, or run fix --undo on a terminal to answer"));
		st = EXIT_NO_CONSENT;
	} else {
		st = failed ? 1 : 0;
	}
out:
	admin_close(&adm);
	free(oc);
	ap_fix_undo_free(u, n);
	ap_store_targets_free(jt, n_jt);
	return st;
}

/* options.h.  One line on stderr per host: a change of folder is never silent. */
int
cli_fix_settings(struct cli_opts *o, struct ap_store *store, struct ap_ctx *ctx)
{
	struct ap_fix_setting *f = NULL;
	size_t n = 0, i;
	int r = ap_fix_settings_apply(store, o->targets, o->n_targets, &f, &n, ctx);

	if (r != AP_OK)
		return r;
	for (i = 0; i < n; i++)
		fprintf(stderr, _("agentpush %s: %s: %s=%s, as agentpush fix recorded it in job %lld\n"),
		        o->cmd, o->targets[f[i].index].spec, f[i].key, f[i].value, (long long)f[i].job_id);
	free(f);
	return AP_OK;
}

/*
 * Loads the check job's targets and report (--job), or runs a new check of
 * the command's targets first (its job then holds the fix's events).
 */
static int
load_or_check(struct cli_opts *o, struct ap_store *store, struct ap_report *report,
              struct ap_job_target **jt, size_t *n_jt, struct ap_ctx *ctx)
{
	struct cli_progress prog;
	struct ap_job_info job;
	char *text = NULL;
	int r;

	memset(&job, 0, sizeof(job));
	if (o->fix_job != 0) {
		o->run.job_id = o->fix_job;
		if ((r = ap_store_job_get(store, o->fix_job, &job, ctx)) != AP_OK)
			return r;
		r = job.kind == AP_JOB_CHECK ? AP_OK
		                             : ap_ctx_fail(ctx, AP_EINVAL, 0, _("job %lld is an install job: fix takes a check job"),
		                                           o->fix_job);
		ap_job_info_clear(&job);
		if (r != AP_OK || (r = ap_store_job_report(store, o->fix_job, report, ctx)) != AP_OK)
			return r;
		return ap_store_job_targets(store, o->fix_job, jt, n_jt, ctx);
	}
	if ((r = cli_fix_settings(o, store, ctx)) != AP_OK)
		return r;
	cli_progress_init(&prog, o->n_targets, 1, stderr);
	o->run.progress = cli_progress_event;
	o->run.progress_ud = &prog;
	r = ap_run_check(&o->run, o->targets, o->n_targets, report, ctx);
	cli_progress_finish(&prog);
	o->run.progress = NULL;
	if (r != AP_OK)
		return r;
	if ((text = ap_report_to_text(report, 0)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "%s", _("out of memory"));
	printf(_("check (job %lld):\n"), (long long)o->run.job_id);
	fputs(text, stdout);
	printf("\n");
	free(text);
	return ap_store_job_targets(store, o->run.job_id, jt, n_jt, ctx);
}

/* Checks again the hosts of fixed[0..n) and prints the report; its exit
 * status, or 2. */
static int
recheck(struct cli_opts *o, struct ap_target *fixed, size_t n, struct ap_ctx *ctx)
{
	struct ap_report *report = ap_report_new();
	char *text = NULL;
	int st = 2;

	o->run.job_id = 0;
	if (report == NULL || ap_run_check(&o->run, fixed, n, report, ctx) != AP_OK) {
		fprintf(stderr, "agentpush fix: %s\n", report == NULL ? _("out of memory") : ap_ctx_errmsg(ctx));
		goto out;
	}
	if ((text = ap_report_to_text(report, cli_use_color(o))) == NULL) {
		fprintf(stderr, "agentpush fix: %s\n", _("out of memory"));
		goto out;
	}
	printf(_("\ncheck after fix (job %lld):\n"), (long long)o->run.job_id);
	fputs(text, stdout);
	st = ap_report_exit_status(report);
out:
	free(text);
	ap_report_free(report);
	return st;
}

static int
fix(struct cli_opts *o, struct ap_store *store, struct ap_ctx *ctx)
{
	struct ap_report *report = ap_report_new();
	struct ap_job_target *jt = NULL;
	struct ap_fix_host *plans = NULL;
	struct ap_fix_outcome *oc = NULL;
	struct ap_target *fixed = NULL;
	enum consent c = first_consent(o);
	struct admin adm;
	const struct ap_run_account *admin = NULL;
	size_t n_jt = 0, i, k, n_fixed = 0, runs = 0, failed_hosts = 0, unfixable = 0;
	int64_t job;
	char tag[64];
	int st = 2, failed = 0, refused = 0, rc, any_ok;

	memset(&adm, 0, sizeof(adm));
	if (report == NULL) {
		fprintf(stderr, "agentpush fix: %s\n", _("out of memory"));
		goto out;
	}
	if (o->fix_account != NULL) {
		if (admin_open(o, store, o->fix_account, &adm, ctx) != 0)
			goto out;
		admin = &adm.acct;
	}
	if (load_or_check(o, store, report, &jt, &n_jt, ctx) != AP_OK) {
		fprintf(stderr, "agentpush fix: %s\n", ap_ctx_errmsg(ctx));
		goto out;
	}
	job = o->run.job_id;
	if (n_jt != ap_report_count(report)) {
		fprintf(stderr, "agentpush fix: %s\n", _("the job's targets and report disagree"));
		goto out;
	}
	/* names the copies kept on the hosts (sshd_config.agentpush-TAG) */
	snprintf(tag, sizeof(tag), "j%lld-%lld", (long long)job, (long long)time(NULL));
	if ((plans = calloc(n_jt + 1, sizeof(*plans))) == NULL ||
	    (fixed = calloc(n_jt + 1, sizeof(*fixed))) == NULL) {
		fprintf(stderr, "agentpush fix: %s\n", _("out of memory"));
		goto out;
	}
	for (i = 0; i < n_jt; i++) {
		const struct ap_result *res = ap_report_at(report, i);

		if (ap_result_status(res) != AP_STATUS_FAILED)
			continue;
		failed_hosts++;
		if (ap_fix_plan(&o->run, admin, &jt[i].target,
		                res->os != AP_OS_AUTO ? res->os : jt[i].target.os,
		                res, tag, o->only, o->n_only, &plans[i], ctx) != AP_OK) {
			fprintf(stderr, "agentpush fix: %s\n", ap_ctx_errmsg(ctx));
			goto out;
		}
		plans[i].target_id = jt[i].id;
		runs += print_plan(&plans[i], admin, o->allow_priv);
		for (k = 0; k < plans[i].n; k++)
			unfixable += !ap_fix_remedy_runs(&plans[i].remedies[k], o->allow_priv);
	}
	if (failed_hosts == 0) {
		printf("%s\n", _("no failed host: nothing to fix"));
		st = 0;
		goto out;
	}
	if (runs == 0) {
		printf("%s\n", _("nothing agentpush can apply: the advice above is for a person"));
		st = 1;
		goto out;
	}
	if (o->dry_run) {
		printf("%s\n", _("dry run: nothing was applied"));
		st = 0;
		goto out;
	}
	for (i = 0; i < n_jt; i++) {
		struct ap_fix_host *h = &plans[i];
		const char *key = NULL, *value = NULL;
		size_t todo = 0;

		for (k = 0; k < h->n; k++)
			todo += ap_fix_remedy_runs(&h->remedies[k], o->allow_priv);
		if (todo == 0)
			continue;
		if (!ask(jt[i].target.spec, &c)) {
			refused++;
			continue;
		}
		free(oc);
		if ((oc = calloc(h->n, sizeof(*oc))) == NULL) {
			fprintf(stderr, "agentpush fix: %s\n", _("out of memory"));
			goto out;
		}
		rc = ap_fix_apply(&o->run, admin, h, o->allow_priv, store, job, oc, ctx);
		if (rc == AP_ENOMEM || (rc != AP_OK && rc != AP_EREMOTE && rc != AP_EUNSUPP)) {
			fprintf(stderr, "agentpush fix: %s\n", ap_ctx_errmsg(ctx));
			goto out;
		}
		if (rc != AP_OK) {
			printf(_("FAILED on %s: %s\n"), jt[i].target.spec, ap_ctx_errmsg(ctx));
			ap_ctx_clear(ctx);
			failed = 1;
			continue;
		}
		for (k = 0, any_ok = 0; k < h->n; k++) {
			failed |= print_outcome(jt[i].target.spec, h->remedies[k].id, h->remedies[k].name, &oc[k], 0);
			any_ok |= oc[k].ok;
			if (oc[k].ok && h->remedies[k].setting != NULL && oc[k].setting_value != NULL) {
				key = h->remedies[k].setting;
				value = oc[k].setting_value;
				printf(_("  %s now uses %s=%s (recorded in job %lld: later check and install runs use it)\n"),
				       jt[i].target.spec, key, value, (long long)job);
			}
		}
		/* only a host something was fixed on is checked again */
		if (any_ok && ap_fix_target_with(&jt[i].target, key, value, &fixed[n_fixed], ctx) != AP_OK) {
			fprintf(stderr, "agentpush fix: %s\n", ap_ctx_errmsg(ctx));
			goto out;
		}
		n_fixed += any_ok;
		for (k = 0; k < h->n; k++)
			ap_fix_outcome_clear(&oc[k]);
	}
	if (n_fixed == 0 && !failed && refused > 0 && c == NONE) {
		printf("%s\n", _("nothing applied: give --yes, or run fix on a terminal to answer"));
		st = EXIT_NO_CONSENT;
		goto out;
	}
	st = n_fixed > 0 ? recheck(o, fixed, n_fixed, ctx) : 1;
	if (st == 0 && (failed || refused > 0 || unfixable > 0))
		st = 1;
out:
	admin_close(&adm);
	for (i = 0; plans != NULL && i < n_jt; i++)
		ap_fix_host_clear(&plans[i]);
	free(oc);
	free(plans);
	ap_targets_free(fixed, n_fixed);
	ap_store_targets_free(jt, n_jt);
	ap_report_free(report);
	return st;
}

int
cmd_fix(int argc, char **argv)
{
	struct cli_opts o;
	struct ap_ctx *ctx = NULL;
	struct ap_store *store = NULL;
	char *opts_json = NULL;
	int st;

	if ((st = cli_parse(CLI_CMD_FIX, argc, argv, &o)) != CLI_RUN)
		return st;
	st = 2;
	if ((ctx = ap_ctx_new()) == NULL || (opts_json = ap_run_options_json(&o.run)) == NULL) {
		fprintf(stderr, "agentpush fix: %s\n", _("out of memory"));
		goto out;
	}
	if (ap_store_open(o.db_path, &store, ctx) != AP_OK) {
		fprintf(stderr, "agentpush fix: %s\n", ap_ctx_errmsg(ctx));
		goto out;
	}
	o.run.store = store;
	o.run.options_json = opts_json;
	/* without targets, the accounts are those the stored job's targets name */
	o.run.job_id = o.undo_job != 0 ? o.undo_job : o.fix_job;
	if (cli_accounts_load(&o, store) != CLI_RUN)
		goto out;
	st = o.undo_job != 0 ? undo(&o, store, ctx) : fix(&o, store, ctx);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "agentpush fix: %s\n", _("cannot write the output"));
		st = 2;
	}
out:
	cli_opts_clear(&o);
	ap_store_close(store);
	free(opts_json);
	ap_ctx_free(ctx);
	return st;
}
