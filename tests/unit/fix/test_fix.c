/*
 * test_fix.c - `agentpush fix` planning (lib/fix/): which remedy answers
 * which finding, what is only printed, the privilege gate, --only, the
 * scripts' syntax (sh -n), the per-host setting copy, and the undo list
 * read back from a real SQLite store.  Applying runs against real sshd
 * hosts in tests/integration/fix/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentpush/fix.h"
#include "agentpush/store.h"

static struct ap_target
mk(const char *host, enum ap_os os)
{
	struct ap_target t;

	memset(&t, 0, sizeof(t));
	t.spec = (char *)host;
	t.host = (char *)host;
	t.os = os;
	return t;
}

/* Run options logging in as user (one at a time: a static). */
static const struct ap_run_opts *
as(const char *user)
{
	static struct ap_run_opts o;

	memset(&o, 0, sizeof(o));
	o.user = user;
	return &o;
}

/* Removes the store a test made in dir, and dir. */
static void
store_rm(const char *dir)
{
	const char *sfx[] = { "", "-wal", "-shm" };
	char path[300];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/jobs.db%s", dir, sfx[i]);
		unlink(path);
	}
	rmdir(dir);
}

static const struct ap_fix_remedy *
find(const struct ap_fix_host *h, int id)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->remedies[i].id == id)
			return &h->remedies[i];
	return NULL;
}

/* sh -n: the script parses (run nothing). */
static void
sh_parses(const char *script)
{
	FILE *p = popen("sh -n", "w");

	assert_non_null(p);
	fputs(script, p);
	assert_int_equal(pclose(p), 0);
}

static void
test_linux_plan(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_target t = mk("198.18.0.2", AP_OS_LINUX);
	struct ap_report *rep = ap_report_new();
	struct ap_result *res = ap_report_add_target(rep, &t);
	struct ap_fix_host h;
	const struct ap_fix_remedy *r;

	(void)state;
	assert_int_equal(ap_result_add(res, 800106, NULL, "subsystem request failed"), AP_OK);
	assert_int_equal(ap_result_add(res, 95524, NULL, "/var/tmp: 1000 KB free, 102400 KB needed"), AP_OK);
	assert_int_equal(ap_result_add(res, 95224, NULL, "/var/run/reboot-required exists"), AP_OK);
	assert_int_equal(ap_result_add(res, 95320, NULL, "/etc/fstab:1: /dev/sda1 /"), AP_OK);
	assert_int_equal(ap_result_add(res, 800206, NULL, "no modules"), AP_OK);
	assert_int_equal(ap_fix_plan(NULL, NULL, &t, AP_OS_LINUX, res, "j7-1", NULL, 0, &h, ctx), AP_OK);
	assert_int_equal(h.n, 5);

	r = find(&h, 800106);
	assert_non_null(r);
	assert_string_equal(r->name, "sftp-subsystem");
	assert_true(ap_fix_remedy_runs(r, 0));
	assert_false(r->privilege);
	assert_string_equal(r->evidence, "subsystem request failed");
	assert_non_null(strstr(r->commands, "cp -p \"$cfg\" \"$copy\""));
	assert_non_null(strstr(r->commands, "copy=/etc/ssh/sshd_config.agentpush-j7-1\n"));
	assert_non_null(strstr(r->commands, "\"$sshd\" -t -f \"$cfg\" || restore"));
	assert_non_null(strstr(r->commands, "reload_sshd || restore"));
	/* sshd -t comes before the reload */
	assert_true(strstr(r->commands, "\"$sshd\" -t -f") < strstr(r->commands, "reload_sshd ||"));
	assert_non_null(strstr(r->undo, "sshd_config.agentpush-j7-1"));
	sh_parses(r->commands);
	sh_parses(r->undo);

	r = find(&h, 95524);
	assert_non_null(r);
	assert_true(ap_fix_remedy_runs(r, 0));
	assert_string_equal(r->setting, "agentpush_staging_dir");
	assert_non_null(strstr(r->commands, "cur=/var/tmp\n"));
	assert_non_null(strstr(r->commands, "need=102400\n"));
	assert_null(strstr(r->commands, "rm "));
	assert_non_null(strstr(r->undo, "rmdir -- @SETTING@"));
	sh_parses(r->commands);

	r = find(&h, 95224);
	assert_non_null(r);
	assert_null(r->commands);
	assert_false(ap_fix_remedy_runs(r, 1));
	assert_non_null(strstr(r->advice, "restart"));
	r = find(&h, 95320);
	assert_non_null(strstr(r->advice, "GRUB or fstab"));
	assert_null(r->commands);
	r = find(&h, 800206);
	assert_non_null(strstr(r->advice, "agentpush explain"));
	ap_fix_host_clear(&h);

	/* --only 95108 takes 800106 (it refines 95108), nothing else */
	{
		int only[] = { 95108 };

		assert_int_equal(ap_fix_plan(NULL, NULL, &t, AP_OS_LINUX, res, "x", only, 1, &h, ctx), AP_OK);
		assert_int_equal(h.n, 1);
		assert_int_equal(h.remedies[0].id, 800106);
		ap_fix_host_clear(&h);
	}
	/* a bad tag would land in a path */
	assert_int_equal(ap_fix_plan(NULL, NULL, &t, AP_OS_LINUX, res, "a b", NULL, 0, &h, ctx), AP_EINVAL);
	assert_int_equal(ap_fix_plan(NULL, NULL, &t, AP_OS_LINUX, res, "../x/", NULL, 0, &h, ctx), AP_EINVAL);
	ap_report_free(rep);
	ap_ctx_free(ctx);
}

static void
test_linux_cases(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_target t = mk("198.18.0.2", AP_OS_LINUX);
	struct ap_var v[] = { { (char *)"agentpush_staging_dir", (char *)"/data/stage" } };
	struct ap_report *rep = ap_report_new();
	struct ap_result *res = NULL;
	struct ap_fix_host h;
	const struct ap_fix_remedy *r;

	(void)state;
	/* the install folder is full, not the staging one: advice only */
	res = ap_report_add_target(rep, &t);
	assert_int_equal(ap_result_add(res, 95524, NULL, "/opt/agentpush-agent: 5 KB free, 102400 KB needed"), AP_OK);
	assert_int_equal(ap_fix_plan(NULL, NULL, &t, AP_OS_LINUX, res, "x", NULL, 0, &h, ctx), AP_OK);
	assert_int_equal(h.n, 1);
	assert_null(h.remedies[0].commands);
	assert_non_null(strstr(h.remedies[0].advice, "deletes no data"));
	ap_fix_host_clear(&h);
	/* a host whose staging folder is a variable */
	t.vars = v;
	t.n_vars = 1;
	res = ap_report_add_target(rep, &t);
	assert_int_equal(ap_result_add(res, 95524, NULL, "/data/stage: 5 KB free, 4096 KB needed"), AP_OK);
	assert_int_equal(ap_fix_plan(as("bob"), NULL, &t, AP_OS_LINUX, res, "x", NULL, 0, &h, ctx), AP_OK);
	r = find(&h, 95524);
	assert_non_null(r->commands);
	assert_non_null(strstr(r->commands, "cur=/data/stage\n"));
	assert_non_null(strstr(r->commands, "install -d -m 0700 -o bob "));
	ap_fix_host_clear(&h);
	t.vars = NULL;
	t.n_vars = 0;

	/* a non-root account: a privilege change, run only when allowed */
	res = ap_report_add_target(rep, &t);
	assert_int_equal(ap_result_add(res, 95108, NULL,
	                               "uid=1001 (bob), not root; sudo is not installed"), AP_OK);
	assert_int_equal(ap_fix_plan(as("bob"), NULL, &t, AP_OS_LINUX, res, "x", NULL, 0, &h, ctx), AP_OK);
	r = find(&h, 95108);
	assert_true(r->privilege);
	assert_false(ap_fix_remedy_runs(r, 0));
	assert_true(ap_fix_remedy_runs(r, 1));
	assert_non_null(strstr(r->commands, "visudo -c -f"));
	assert_non_null(strstr(r->undo, "rm -f /etc/sudoers.d/agentpush-bob"));
	sh_parses(r->commands);
	ap_fix_host_clear(&h);
	/* a name that cannot go into a file name as it is: advice */
	assert_int_equal(ap_fix_plan(as("bob;reboot"), NULL, &t, AP_OS_LINUX, res, "x", NULL, 0, &h, ctx), AP_OK);
	assert_null(h.remedies[0].commands);
	ap_fix_host_clear(&h);
	/* a refused password: nothing to change on the host */
	res = ap_report_add_target(rep, &t);
	assert_int_equal(ap_result_add(res, 95108, NULL, "Permission denied (password)"), AP_OK);
	assert_int_equal(ap_fix_plan(as("bob"), NULL, &t, AP_OS_LINUX, res, "x", NULL, 0, &h, ctx), AP_OK);
	assert_null(h.remedies[0].commands);
	assert_non_null(strstr(h.remedies[0].advice, "password"));
	ap_fix_host_clear(&h);
	/* warnings get no remedy */
	res = ap_report_add_target(rep, &t);
	assert_int_equal(ap_result_add_sev(res, 800203, AP_SEV_WARNING, NULL, "no /proc/mounts"), AP_OK);
	assert_int_equal(ap_fix_plan(NULL, NULL, &t, AP_OS_LINUX, res, "x", NULL, 0, &h, ctx), AP_OK);
	assert_int_equal(h.n, 0);
	ap_fix_host_clear(&h);
	ap_report_free(rep);
	ap_ctx_free(ctx);
}

/*
 * The Windows channel of each remedy: 95105 over WinRM as the check's
 * account; 95517 and 95519 as another admin account only (printed without
 * one, or when it is the check's own login); 95103 always printed.
 */
static void
test_windows_channels(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_target t = mk("198.18.0.10", AP_OS_WINDOWS);
	struct ap_report *rep = ap_report_new();
	struct ap_result *res = ap_report_add_target(rep, &t);
	struct ap_run_account adm = { 0, "admin", "Administrator", NULL, "not-a-secret", NULL, NULL };
	struct ap_run_account self = { 0, "self", "HOST7\\BACKUP", NULL, "not-a-secret", NULL, NULL };
	struct ap_fix_host h;
	const struct ap_fix_remedy *r;
	size_t i;

	(void)state;
	assert_int_equal(ap_result_add(res, 95517, NULL, "ADMIN$: NT_STATUS_ACCESS_DENIED"), AP_OK);
	assert_int_equal(ap_result_add(res, 95105, NULL, "port 445 filtered"), AP_OK);
	assert_int_equal(ap_result_add(res, 95103, NULL, "port 5986 filtered"), AP_OK);
	assert_int_equal(ap_result_add(res, 95519, NULL, "NT_STATUS_ACCOUNT_DISABLED"), AP_OK);
	/* no admin account: only 95105 runs (as the check's account) */
	assert_int_equal(ap_fix_plan(as(".\\backup"), NULL, &t, AP_OS_WINDOWS, res, "x", NULL, 0, &h, ctx), AP_OK);
	assert_int_equal(h.n, 4);
	for (i = 0; i < h.n; i++) {
		assert_string_equal(h.remedies[i].shell, "powershell");
		assert_non_null(h.remedies[i].commands);
		assert_non_null(h.remedies[i].undo);
		assert_false(h.remedies[i].as_admin);
		assert_int_equal(ap_fix_remedy_runs(&h.remedies[i], 1), h.remedies[i].id == 95105);
		if (h.remedies[i].id != 95105)
			assert_non_null(strstr(h.remedies[i].advice, "PowerShell"));
	}
	assert_null(find(&h, 95105)->advice);
	assert_non_null(strstr(find(&h, 95103)->advice, "WinRM itself is blocked"));
	assert_non_null(strstr(find(&h, 95519)->advice, "--fix-account"));
	assert_non_null(strstr(find(&h, 95517)->advice, "--fix-account"));
	r = find(&h, 95517);
	assert_true(r->privilege);
	assert_non_null(strstr(r->commands, "LocalAccountTokenFilterPolicy -PropertyType DWord -Value 1"));
	assert_non_null(strstr(find(&h, 95105)->commands, "$g = '@FirewallAPI.dll,-28502'\n"));
	assert_non_null(strstr(find(&h, 95105)->commands, "\tEnable-NetFirewallRule -Group $g -ErrorAction Stop\n"));
	assert_non_null(strstr(find(&h, 95105)->undo, "Disable-NetFirewallRule -Group $g"));
	assert_non_null(strstr(find(&h, 95103)->commands, "$g = '@FirewallAPI.dll,-30267'\n"));
	r = find(&h, 95519);
	assert_non_null(strstr(r->commands, "net user backup /active:yes\n"));
	assert_non_null(strstr(r->undo, "net user backup /active:no\n"));
	ap_fix_host_clear(&h);
	/* another administrator: 95517 and 95519 run as it */
	assert_int_equal(ap_fix_plan(as(".\\backup"), &adm, &t, AP_OS_WINDOWS, res, "x", NULL, 0, &h, ctx), AP_OK);
	for (i = 0; i < h.n; i++) {
		r = &h.remedies[i];
		assert_int_equal(ap_fix_remedy_runs(r, 1), r->id != 95103);
		assert_int_equal(ap_fix_remedy_runs(r, 0), r->id == 95105);  /* privilege gate */
		assert_int_equal(r->as_admin, r->id == 95517 || r->id == 95519);
	}
	ap_fix_host_clear(&h);
	/* the admin account is the check's own login (another spelling): printed */
	assert_int_equal(ap_fix_plan(as(".\\backup"), &self, &t, AP_OS_WINDOWS, res, "x", NULL, 0, &h, ctx), AP_OK);
	assert_false(ap_fix_remedy_runs(find(&h, 95519), 1));
	assert_non_null(strstr(find(&h, 95519)->advice, "own login"));
	ap_fix_host_clear(&h);
	/* a domain account is enabled in AD, not on the host */
	assert_int_equal(ap_fix_plan(as("CORP\\backup"), &adm, &t, AP_OS_WINDOWS, res, "x", NULL, 0, &h, ctx), AP_OK);
	assert_null(find(&h, 95519)->commands);
	assert_non_null(strstr(find(&h, 95519)->advice, "Active Directory"));
	ap_fix_host_clear(&h);
	ap_report_free(rep);
	ap_ctx_free(ctx);
}

static void
test_target_with(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_target t = mk("198.18.0.2", AP_OS_LINUX), c;
	struct ap_var v[] = { { (char *)"a", (char *)"1" }, { (char *)"agentpush_staging_dir", (char *)"/old" } };

	(void)state;
	t.user = (char *)"root";
	t.port = 2222;
	assert_int_equal(ap_fix_target_with(&t, "agentpush_staging_dir", "/opt/s", &c, ctx), AP_OK);
	assert_int_equal(c.n_vars, 1);
	assert_string_equal(c.vars[0].value, "/opt/s");
	assert_string_equal(c.user, "root");
	assert_int_equal(c.port, 2222);
	ap_target_clear(&c);
	t.vars = v;
	t.n_vars = 2;
	assert_int_equal(ap_fix_target_with(&t, "agentpush_staging_dir", "/opt/s", &c, ctx), AP_OK);
	assert_int_equal(c.n_vars, 2);
	assert_string_equal(c.vars[0].value, "1");
	assert_string_equal(c.vars[1].value, "/opt/s");
	ap_target_clear(&c);
	assert_int_equal(ap_fix_target_with(&t, NULL, NULL, &c, ctx), AP_OK);
	assert_int_equal(c.n_vars, 2);
	assert_string_equal(c.vars[1].value, "/old");
	ap_target_clear(&c);
	ap_ctx_free(ctx);
}

/* The undo list from events a fix run left: only successful fixes with an
 * undo, not undone yet, newest first. */
static void
test_undo_list(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_store *st = NULL;
	struct ap_target t = mk("198.18.0.2", AP_OS_LINUX);
	struct ap_fix_undo *u = NULL;
	struct ap_job_event *ev = NULL;
	char dir[] = "/tmp/test_fix.XXXXXX", path[300], line[300];
	int64_t job, tid;
	size_t n = 0, n_ev = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(ap_store_open(path, &st, ctx), AP_OK);
	assert_int_equal(ap_store_job_create(st, AP_JOB_CHECK, NULL, NULL, "{}", &t, 1, &job, &tid, ctx), AP_OK);
	assert_int_equal(ap_store_event(st, job, tid, "fix",
	                                "{\"remedy\":\"sftp-subsystem\",\"id\":800106,\"undo\":\"u1\",\"ok\":true}", ctx), AP_OK);
	assert_int_equal(ap_store_event(st, job, tid, "fix",
	                                "{\"remedy\":\"staging-folder\",\"id\":95524,\"undo\":\"u2\",\"ok\":false}", ctx), AP_OK);
	assert_int_equal(ap_store_event(st, job, tid, "fix",
	                                "{\"remedy\":\"sudo-rights\",\"id\":95108,\"undo\":\"u3\",\"ok\":true}", ctx), AP_OK);
	assert_int_equal(ap_store_event(st, job, tid, "fix", "not json", ctx), AP_OK);
	assert_int_equal(ap_fix_undo_list(st, job, &u, &n, ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(u[0].undo, "u3");
	assert_string_equal(u[1].undo, "u1");
	assert_int_equal(u[1].id, 800106);
	assert_int_equal(u[1].target_id, tid);
	/* u3 undone, then u1 tried and failed: only u1 is left */
	snprintf(line, sizeof(line), "{\"fix_event\":%lld,\"ok\":true}", (long long)u[0].event_id);
	assert_int_equal(ap_store_event(st, job, tid, "undo", line, ctx), AP_OK);
	snprintf(line, sizeof(line), "{\"fix_event\":%lld,\"ok\":false}", (long long)u[1].event_id);
	assert_int_equal(ap_store_event(st, job, tid, "undo", line, ctx), AP_OK);
	ap_fix_undo_free(u, n);
	assert_int_equal(ap_fix_undo_list(st, job, &u, &n, ctx), AP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(u[0].undo, "u1");
	ap_fix_undo_free(u, n);
	/* no such job */
	assert_int_equal(ap_fix_undo_list(st, job + 1, &u, &n, ctx), AP_ENOTFOUND);
	assert_int_equal(n, 0);
	assert_int_equal(ap_store_job_events(st, job, 0, &ev, &n_ev, ctx), AP_OK);
	ap_store_events_free(ev, n_ev);
	ap_store_close(st);
	store_rm(dir);
	ap_ctx_free(ctx);
}

/* A staging folder a fix chose is given to later runs of the same host,
 * until the fix is undone; a host's own variable wins. */
static void
test_settings(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_store *st = NULL;
	struct ap_target t = mk("198.18.0.2", AP_OS_LINUX), later[3];
	struct ap_fix_setting *found = NULL;
	struct ap_var own = { (char *)"agentpush_staging_dir", (char *)"/mine" };
	char dir[] = "/tmp/test_fix.XXXXXX", path[300], line[300];
	int64_t job, tid, fix_ev = 0;
	size_t n = 0, i, n_ev = 0;
	struct ap_job_event *ev = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(ap_store_open(path, &st, ctx), AP_OK);
	assert_int_equal(ap_store_job_create(st, AP_JOB_CHECK, NULL, NULL, "{}", &t, 1, &job, &tid, ctx), AP_OK);
	assert_int_equal(ap_store_event(st, job, tid, "fix",
	                                "{\"remedy\":\"staging-folder\",\"id\":95524,\"undo\":\"rmdir\",\"ok\":true,"
	                                "\"setting\":{\"agentpush_staging_dir\":\"/opt/agentpush-staging\"}}", ctx), AP_OK);
	for (i = 0; i < 3; i++) {
		memset(&later[i], 0, sizeof(later[i]));
		assert_int_equal(ap_target_parse(i == 1 ? "root@198.18.0.3" : "root@198.18.0.2", &later[i], ctx), AP_OK);
	}
	later[2].vars = calloc(1, sizeof(*later[2].vars));
	later[2].vars[0].key = strdup(own.key);
	later[2].vars[0].value = strdup(own.value);
	later[2].n_vars = 1;
	assert_int_equal(ap_fix_settings_apply(st, later, 3, &found, &n, ctx), AP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(found[0].index, 0);
	assert_int_equal(found[0].job_id, job);
	assert_string_equal(found[0].value, "/opt/agentpush-staging");
	assert_int_equal(later[0].n_vars, 1);
	assert_string_equal(later[0].vars[0].value, "/opt/agentpush-staging");
	assert_int_equal(later[1].n_vars, 0);
	assert_string_equal(later[2].vars[0].value, "/mine");
	free(found);
	for (i = 0; i < 3; i++)
		ap_target_clear(&later[i]);
	/* undone: no longer given */
	assert_int_equal(ap_store_job_events(st, job, 0, &ev, &n_ev, ctx), AP_OK);
	for (i = 0; i < n_ev; i++)
		if (strcmp(ev[i].what, "fix") == 0)
			fix_ev = ev[i].id;
	ap_store_events_free(ev, n_ev);
	snprintf(line, sizeof(line), "{\"fix_event\":%lld,\"ok\":true}", (long long)fix_ev);
	assert_int_equal(ap_store_event(st, job, tid, "undo", line, ctx), AP_OK);
	memset(&later[0], 0, sizeof(later[0]));
	assert_int_equal(ap_target_parse("198.18.0.2", &later[0], ctx), AP_OK);
	assert_int_equal(ap_fix_settings_apply(st, later, 1, &found, &n, ctx), AP_OK);
	assert_int_equal(n, 0);
	assert_null(found);
	assert_int_equal(later[0].n_vars, 0);
	ap_target_clear(&later[0]);
	ap_store_close(st);
	store_rm(dir);
	ap_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linux_plan),
		cmocka_unit_test(test_linux_cases),
		cmocka_unit_test(test_windows_channels),
		cmocka_unit_test(test_target_with),
		cmocka_unit_test(test_undo_list),
		cmocka_unit_test(test_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
