/*
 * test_store.c - the job store (store.h): open and migrate, jobs and
 * targets, state transitions, results, events, listing, report rebuild,
 * many threads at once, and a SIGKILLed writer that loses nothing.  On
 * SQLite by default; with AP_TEST_STORE (a postgresql:// URI, pg_run.sh)
 * the tests that do not handle the SQLite file itself run on that store.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentpush/errors.h"
#include "agentpush/store.h"
#include "store_fixture.h"

struct fx {
	char dir[64];
	char path[128];
	struct store_fixture sf;        /* AP_TEST_STORE: another backend */
	const char *loc;                /* what ap_store_open() gets */
	struct ap_ctx *ctx;
	struct ap_store *st;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ap-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/a/b/jobs.db", f->dir);
	f->ctx = ap_ctx_new();
	assert_non_null(f->ctx);
	f->loc = f->path;
	if (getenv("AP_TEST_STORE") != NULL) {
		assert_int_equal(store_fixture_new(&f->sf), 0);
		f->loc = f->sf.location;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	ap_store_close(f->st);
	ap_ctx_free(f->ctx);
	store_fixture_free(&f->sf);
	/* rm -r without a shell: the tree is ours and shallow. */
	snprintf(cmd, sizeof(cmd), "%s/a/b/jobs.db-wal", f->dir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/a/b/jobs.db-shm", f->dir);
	unlink(cmd);
	unlink(f->path);
	snprintf(cmd, sizeof(cmd), "%s/a/b", f->dir);
	rmdir(cmd);
	snprintf(cmd, sizeof(cmd), "%s/a", f->dir);
	rmdir(cmd);
	snprintf(cmd, sizeof(cmd), "%s/file", f->dir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/garbage.db", f->dir);
	unlink(cmd);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
open_store(struct fx *f)
{
	int r = ap_store_open(f->loc, &f->st, f->ctx);

	if (r != AP_OK)
		fail_msg("open: %s", ap_ctx_errmsg(f->ctx));
}

static void
reopen(struct fx *f)
{
	ap_store_close(f->st);
	f->st = NULL;
	open_store(f);
}

/* n targets "root@198.18.0.<i+1>:22", the first with a group and vars. */
static struct ap_target *
make_targets(size_t n)
{
	struct ap_target *t = calloc(n, sizeof(*t));
	char spec[64];
	size_t i;

	assert_non_null(t);
	for (i = 0; i < n; i++) {
		snprintf(spec, sizeof(spec), "root@198.18.%zu.%zu:22", i / 250, i % 250 + 1);
		assert_int_equal(ap_target_parse(spec, &t[i], NULL), AP_OK);
	}
	if (n > 0) {
		t[0].group = strdup("web");
		t[0].vars = calloc(2, sizeof(*t[0].vars));
		t[0].vars[0].key = strdup("ansible_user");
		t[0].vars[0].value = strdup("root");
		t[0].vars[1].key = strdup("zone");
		t[0].vars[1].value = strdup("eu \"west\"");
		t[0].n_vars = 2;
		t[0].os = AP_OS_LINUX;
	}
	return t;
}

static int64_t
create_job(struct fx *f, enum ap_job_kind kind, size_t n, int64_t *tids)
{
	struct ap_target *t = make_targets(n);
	int64_t job = 0;

	assert_int_equal(ap_store_job_create(f->st, kind, kind == AP_JOB_INSTALL ? "/tmp/agent.tar.gz" : NULL,
	                                     kind == AP_JOB_INSTALL ? "0.1.0" : NULL,
	                                     "{\"parallel\":32}", t, n, &job, tids, f->ctx), AP_OK);
	assert_true(job > 0);
	ap_targets_free(t, n);
	return job;
}

static void
set_state_ok(struct fx *f, int64_t tid, enum ap_host_state s)
{
	if (ap_store_target_set_state(f->st, tid, s, NULL, f->ctx) != AP_OK)
		fail_msg("set_state %s: %s", ap_host_state_name(s), ap_ctx_errmsg(f->ctx));
}

/* ---- open and migrate ---- */

static void
test_open_fresh_and_reopen(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	char dir[128];

	open_store(f);
	assert_int_equal(ap_store_schema_version(f->st), AP_STORE_SCHEMA_VERSION);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/a/b", f->dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	create_job(f, AP_JOB_CHECK, 2, NULL);
	reopen(f);
	assert_int_equal(ap_store_schema_version(f->st), AP_STORE_SCHEMA_VERSION);
	{
		struct ap_job_info *jobs = NULL;
		size_t n = 0;

		assert_int_equal(ap_store_jobs_list(f->st, 0, &jobs, &n, f->ctx), AP_OK);
		assert_int_equal(n, 1);
		ap_store_jobs_free(jobs, n);
	}
}

static void
test_open_newer_refused(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = NULL;

	open_store(f);
	ap_store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 'x')", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_not_equal(ap_store_open(f->path, &f->st, f->ctx), AP_OK);
	assert_null(f->st);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), f->path));
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "newer"));
	assert_null(strchr(ap_ctx_errmsg(f->ctx), '\n'));
}

static void
test_open_garbage_refused(void **state)
{
	struct fx *f = *state;
	char path[128];
	char junk[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	memset(junk, 'x', sizeof(junk));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_not_equal(ap_store_open(path, &f->st, f->ctx), AP_OK);
	assert_null(f->st);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), path));
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "not a database"));
	assert_null(strchr(ap_ctx_errmsg(f->ctx), '\n'));
}

static void
test_open_foreign_db_refused(void **state)
{
	struct fx *f = *state;
	char path[128];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE mine (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_not_equal(ap_store_open(path, &f->st, f->ctx), AP_OK);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "not an agentpush job store"));
}

static void
test_open_unwritable_dir(void **state)
{
	struct fx *f = *state;
	char file[128], path[160];
	int fd;

	/* A parent that is a file fails for root too. */
	snprintf(file, sizeof(file), "%s/file", f->dir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/sub/jobs.db", file);
	assert_int_not_equal(ap_store_open(path, &f->st, f->ctx), AP_OK);
	assert_null(f->st);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), path));
	assert_int_not_equal(ap_store_open("", &f->st, f->ctx), AP_OK);
	if (geteuid() != 0) {
		char ro[128];

		snprintf(ro, sizeof(ro), "%s/a", f->dir);
		assert_int_equal(mkdir(ro, 0500), 0);
		assert_int_not_equal(ap_store_open(f->path, &f->st, f->ctx), AP_OK);
		assert_non_null(strstr(ap_ctx_errmsg(f->ctx), f->path));
		chmod(ro, 0700);
	}
}

/* ---- jobs, targets, states ---- */

static void
test_job_create(void **state)
{
	struct fx *f = *state;
	struct ap_job_target *t = NULL;
	struct ap_job_info job;
	int64_t tids[3], j;
	size_t n = 0;

	open_store(f);
	j = create_job(f, AP_JOB_INSTALL, 3, tids);
	assert_true(tids[0] > 0 && tids[1] > tids[0] && tids[2] > tids[1]);
	assert_int_equal(ap_store_job_get(f->st, j, &job, f->ctx), AP_OK);
	assert_int_equal(job.id, j);
	assert_int_equal(job.kind, AP_JOB_INSTALL);
	assert_int_equal(job.status, AP_JOB_RUNNING);
	assert_string_equal(job.package, "/tmp/agent.tar.gz");
	assert_string_equal(job.package_version, "0.1.0");
	assert_string_equal(job.options_json, "{\"parallel\":32}");
	assert_int_equal(job.n_targets, 3);
	assert_int_equal(job.n_state[AP_HOST_PLANNED], 3);
	assert_non_null(strchr(job.created, 'T'));
	ap_job_info_clear(&job);

	assert_int_equal(ap_store_job_targets(f->st, j, &t, &n, f->ctx), AP_OK);
	assert_int_equal(n, 3);
	assert_int_equal(t[0].id, tids[0]);
	assert_int_equal(t[2].index, 2);
	assert_string_equal(t[0].target.spec, "root@198.18.0.1:22");
	assert_string_equal(t[0].target.user, "root");
	assert_string_equal(t[0].target.host, "198.18.0.1");
	assert_int_equal(t[0].target.port, 22);
	assert_int_equal(t[0].target.os, AP_OS_LINUX);
	assert_string_equal(t[0].target.group, "web");
	assert_int_equal(t[0].target.n_vars, 2);
	assert_string_equal(t[0].target.vars[1].key, "zone");
	assert_string_equal(t[0].target.vars[1].value, "eu \"west\"");
	assert_null(t[1].target.group);
	assert_int_equal(t[1].state, AP_HOST_PLANNED);
	assert_int_equal(t[1].attempts, 0);
	ap_store_targets_free(t, n);

	assert_int_equal(ap_store_job_get(f->st, j + 100, &job, f->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_store_job_targets(f->st, j + 100, &t, &n, f->ctx), AP_ENOTFOUND);
}

static void
test_transitions(void **state)
{
	struct fx *f = *state;
	struct ap_job_target *t = NULL;
	int64_t tids[4];
	size_t n = 0;

	open_store(f);
	create_job(f, AP_JOB_INSTALL, 4, tids);
	set_state_ok(f, tids[0], AP_HOST_CONNECTED);
	set_state_ok(f, tids[0], AP_HOST_CHECKED);
	/* backwards */
	assert_int_equal(ap_store_target_set_state(f->st, tids[0], AP_HOST_CONNECTED, NULL, f->ctx), AP_EINTERNAL);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "checked to connected"));
	set_state_ok(f, tids[0], AP_HOST_COPIED);
	set_state_ok(f, tids[0], AP_HOST_INSTALLED);
	set_state_ok(f, tids[0], AP_HOST_DONE);
	/* out of a terminal state, even to FAILED */
	assert_int_equal(ap_store_target_set_state(f->st, tids[0], AP_HOST_FAILED, NULL, f->ctx), AP_EINTERNAL);
	assert_int_equal(ap_store_target_set_state(f->st, tids[0], AP_HOST_DONE, NULL, f->ctx), AP_EINTERNAL);
	/* FAILED and SKIPPED from any non-terminal state */
	set_state_ok(f, tids[1], AP_HOST_CONNECTED);
	set_state_ok(f, tids[1], AP_HOST_FAILED);
	assert_int_equal(ap_store_target_set_state(f->st, tids[1], AP_HOST_SKIPPED, NULL, f->ctx), AP_EINTERNAL);
	set_state_ok(f, tids[2], AP_HOST_SKIPPED);
	assert_int_equal(ap_store_target_set_state(f->st, tids[2], AP_HOST_CONNECTED, NULL, f->ctx), AP_EINTERNAL);
	/* unknown target */
	assert_int_equal(ap_store_target_set_state(f->st, 99999, AP_HOST_CONNECTED, NULL, f->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_store_target_attempt(f->st, 99999, f->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_store_target_attempt(f->st, tids[3], f->ctx), AP_OK);
	assert_int_equal(ap_store_target_attempt(f->st, tids[3], f->ctx), AP_OK);

	reopen(f);
	assert_int_equal(ap_store_job_targets(f->st, 1, &t, &n, f->ctx), AP_OK);
	assert_int_equal(n, 4);
	assert_int_equal(t[0].state, AP_HOST_DONE);
	assert_int_equal(t[1].state, AP_HOST_FAILED);
	assert_int_equal(t[2].state, AP_HOST_SKIPPED);
	assert_int_equal(t[3].state, AP_HOST_PLANNED);
	assert_int_equal(t[3].attempts, 2);
	ap_store_targets_free(t, n);
}

static void
test_result_round_trip(void **state)
{
	struct fx *f = *state;
	struct ap_report *rep = ap_report_new(), *back = ap_report_new();
	struct ap_target *t = make_targets(1);
	struct ap_result *res, *got;
	int64_t tids[2], j;

	open_store(f);
	j = create_job(f, AP_JOB_INSTALL, 2, tids);
	res = ap_report_add_target(rep, &t[0]);
	res->os = AP_OS_LINUX;
	/* Added out of stage order: the report sorts them; the store keeps them. */
	assert_int_equal(ap_result_add_sev(res, AP_ERR_LINUX_BAD_CREDENTIALS, AP_SEV_ERROR, "rejected", "Permission denied (password)."), AP_OK);
	assert_int_equal(ap_result_add_sev(res, AP_ERR_RESTART_PENDING, AP_SEV_WARNING, NULL, "slow"), AP_OK);
	assert_int_equal(ap_result_set_note(res, "nothing installed"), AP_OK);
	set_state_ok(f, tids[0], AP_HOST_FAILED);
	assert_int_equal(ap_store_target_set_result(f->st, tids[0], res, f->ctx), AP_OK);
	/* Replacing keeps only the new ones. */
	assert_int_equal(ap_store_target_set_result(f->st, tids[0], res, f->ctx), AP_OK);
	set_state_ok(f, tids[1], AP_HOST_CONNECTED);
	set_state_ok(f, tids[1], AP_HOST_COPIED);

	reopen(f);
	assert_int_equal(ap_store_job_report(f->st, j, back, f->ctx), AP_OK);
	assert_int_equal(ap_report_count(back), 2);
	got = ap_report_at(back, 0);
	assert_string_equal(got->target, "root@198.18.0.1:22");
	assert_string_equal(got->host, "198.18.0.1");
	assert_int_equal(got->os, AP_OS_LINUX);
	assert_int_equal(got->n_findings, 2);
	assert_int_equal(got->findings[0].id, res->findings[0].id);
	assert_int_equal(got->findings[1].id, res->findings[1].id);
	assert_int_equal(got->findings[0].severity, res->findings[0].severity);
	assert_int_equal(got->findings[1].severity, res->findings[1].severity);
	assert_string_equal(got->findings[1].evidence, res->findings[1].evidence);
	assert_string_equal(got->note, "nothing installed");
	assert_int_equal(ap_result_status(got), AP_STATUS_FAILED);
	/* The interrupted target: no finding, a note saying how to resume. */
	got = ap_report_at(back, 1);
	assert_int_equal(got->n_findings, 0);
	assert_non_null(strstr(got->note, "interrupted at copied"));
	assert_non_null(strstr(got->note, "agentpush resume 1"));
	{
		char *a = ap_report_to_json(rep), *b = NULL;
		struct ap_report *one = ap_report_new();
		struct ap_result *r1 = ap_report_add_target(one, &t[0]);
		size_t i;

		/* The first target's JSON equals the original's. */
		got = ap_report_at(back, 0);
		r1->os = got->os;
		for (i = 0; i < got->n_findings; i++)
			ap_result_add_sev(r1, got->findings[i].id, got->findings[i].severity,
			                  got->findings[i].message, got->findings[i].evidence);
		ap_result_set_note(r1, got->note);
		b = ap_report_to_json(one);
		assert_string_equal(a, b);
		free(a);
		free(b);
		ap_report_free(one);
	}
	assert_int_equal(ap_store_job_report(f->st, j + 7, back, f->ctx), AP_EINVAL); /* not empty */
	ap_report_free(rep);
	ap_report_free(back);
	ap_targets_free(t, 1);
}

/* A worker's share: only the claimed targets, in index order, whatever
 * order the ids come in; ids of another job or of nothing are left out. */
static void
test_load_some(void **state)
{
	struct fx *f = *state;
	struct ap_report *back = ap_report_new(), *rep = ap_report_new();
	struct ap_target *mt = make_targets(1);
	struct ap_job_target *t = NULL;
	struct ap_result *res = NULL;
	int64_t tids[6], other[2], j, ids[4];
	size_t n = 0;

	open_store(f);
	j = create_job(f, AP_JOB_CHECK, 6, tids);
	(void)create_job(f, AP_JOB_CHECK, 2, other);
	res = ap_report_add_target(rep, &mt[0]);
	assert_non_null(res);
	assert_int_equal(ap_result_add_sev(res, AP_ERR_RESTART_PENDING, AP_SEV_WARNING, NULL, "slow"), AP_OK);
	set_state_ok(f, tids[4], AP_HOST_FAILED);
	assert_int_equal(ap_store_target_set_result(f->st, tids[4], res, f->ctx), AP_OK);
	ids[0] = tids[4];
	ids[1] = other[0];
	ids[2] = tids[1];
	ids[3] = tids[5] + 1000;
	assert_int_equal(ap_store_job_targets_in(f->st, j, ids, 4, &t, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(t[0].id, tids[1]);
	assert_int_equal(t[1].id, tids[4]);
	assert_int_equal(t[1].state, AP_HOST_FAILED);
	ap_store_targets_free(t, n);
	assert_int_equal(ap_store_job_report_in(f->st, j, ids, 4, back, f->ctx), AP_OK);
	assert_int_equal(ap_report_count(back), 2);
	assert_string_equal(ap_report_at(back, 0)->host, "198.18.0.2");
	assert_int_equal(ap_report_at(back, 1)->n_findings, 1);
	assert_int_equal(ap_report_at(back, 1)->findings[0].id, AP_ERR_RESTART_PENDING);
	/* none asked: none loaded */
	assert_int_equal(ap_store_job_targets_in(f->st, j, NULL, 0, &t, &n, f->ctx), AP_OK);
	assert_int_equal(n, 0);
	ap_store_targets_free(t, n);
	ap_report_free(rep);
	ap_targets_free(mt, 1);
	ap_report_free(back);
}

static void
test_events(void **state)
{
	struct fx *f = *state;
	struct ap_job_event *ev = NULL;
	int64_t tids[2], j;
	size_t n = 0, i;

	open_store(f);
	j = create_job(f, AP_JOB_CHECK, 2, tids);
	assert_int_equal(ap_store_target_set_state(f->st, tids[0], AP_HOST_CONNECTED, "ssh 198.18.0.1:22", f->ctx), AP_OK);
	set_state_ok(f, tids[1], AP_HOST_CONNECTED);
	assert_int_equal(ap_store_event(f->st, j, 0, "resume", "by test", f->ctx), AP_OK);
	set_state_ok(f, tids[0], AP_HOST_CHECKED);
	set_state_ok(f, tids[0], AP_HOST_DONE);
	assert_int_equal(ap_store_job_set_status(f->st, j, AP_JOB_DONE, f->ctx), AP_OK);
	assert_int_equal(ap_store_job_set_status(f->st, j + 5, AP_JOB_DONE, f->ctx), AP_ENOTFOUND);

	assert_int_equal(ap_store_job_events(f->st, j, 0, &ev, &n, f->ctx), AP_OK);
	/* created, 2 x connected, resume, checked, done, status */
	assert_int_equal(n, 7);
	assert_string_equal(ev[0].what, "created");
	assert_int_equal(ev[0].target_id, 0);
	assert_string_equal(ev[1].what, "state");
	assert_int_equal(ev[1].target_id, tids[0]);
	assert_string_equal(ev[1].detail, "planned -> connected: ssh 198.18.0.1:22");
	assert_string_equal(ev[2].detail, "planned -> connected");
	assert_string_equal(ev[3].what, "resume");
	assert_string_equal(ev[5].detail, "checked -> done");
	assert_string_equal(ev[6].what, "status");
	for (i = 0; i < n; i++) {
		/* 2026-01-02T03:04:05.123Z */
		assert_int_equal(strlen(ev[i].at), 24);
		assert_int_equal(ev[i].at[19], '.');
		assert_int_equal(ev[i].at[23], 'Z');
		if (i > 0) {
			assert_true(ev[i].id > ev[i - 1].id);
			assert_true(strcmp(ev[i].at, ev[i - 1].at) >= 0);
		}
	}
	ap_store_events_free(ev, n);
	assert_int_equal(ap_store_job_events(f->st, j, tids[1], &ev, &n, f->ctx), AP_OK);
	assert_int_equal(n, 1);
	ap_store_events_free(ev, n);
	{
		struct ap_job_info job;

		assert_int_equal(ap_store_job_get(f->st, j, &job, f->ctx), AP_OK);
		assert_int_equal(job.status, AP_JOB_DONE);
		assert_int_equal(job.n_state[AP_HOST_DONE], 1);
		assert_int_equal(job.n_state[AP_HOST_CONNECTED], 1);
		ap_job_info_clear(&job);
	}
}

static void
test_jobs_list(void **state)
{
	struct fx *f = *state;
	struct ap_job_info *jobs = NULL;
	size_t n = 0;
	int64_t ids[5];
	int i;

	open_store(f);
	assert_int_equal(ap_store_jobs_list(f->st, 0, &jobs, &n, f->ctx), AP_OK);
	assert_int_equal(n, 0);
	ap_store_jobs_free(jobs, n);
	for (i = 0; i < 5; i++)
		ids[i] = create_job(f, i % 2 ? AP_JOB_INSTALL : AP_JOB_CHECK, (size_t)i, NULL);
	assert_int_equal(ap_store_jobs_list(f->st, 0, &jobs, &n, f->ctx), AP_OK);
	assert_int_equal(n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(jobs[i].id, ids[4 - i]);
		assert_int_equal(jobs[i].n_targets, (size_t)(4 - i));
	}
	assert_int_equal(jobs[0].kind, AP_JOB_CHECK);
	assert_null(jobs[0].package);
	ap_store_jobs_free(jobs, n);
	assert_int_equal(ap_store_jobs_list(f->st, 2, &jobs, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(jobs[1].id, ids[3]);
	ap_store_jobs_free(jobs, n);
}

/* options_json is stored as given: the caller leaves secrets out, and what
 * it puts in comes back byte for byte. */
static void
test_options_round_trip(void **state)
{
	struct fx *f = *state;
	const char *opts = "{\"user\":\"admin\",\"parallel\":200,\"note\":\"\\u00e9t\\u00e9\"}";
	const char *secret = "S3cret-Never-Stored";
	struct ap_target *t = make_targets(1);
	struct ap_job_info job;
	int64_t j = 0;
	char buf[65536];
	ssize_t k;
	int fd;

	open_store(f);
	assert_int_equal(ap_store_job_create(f->st, AP_JOB_CHECK, NULL, NULL, opts, t, 1, &j, NULL, f->ctx), AP_OK);
	assert_int_equal(ap_store_job_get(f->st, j, &job, f->ctx), AP_OK);
	assert_string_equal(job.options_json, opts);
	ap_job_info_clear(&job);
	ap_store_close(f->st);
	f->st = NULL;
	/* The password the caller held never reached the file. */
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		assert_null(memmem(buf, (size_t)k, secret, strlen(secret)));
	close(fd);
	ap_targets_free(t, 1);
}

/* ---- threads ---- */

#define CT_TARGETS 200
#define CT_THREADS 32

struct ct_arg {
	struct ap_store *st;
	int64_t *tids;
	int idx;
	int errors;
	int refused;
};

static void *
ct_worker(void *p)
{
	static const enum ap_host_state path[] = {
		AP_HOST_CONNECTED, AP_HOST_CHECKED, AP_HOST_COPIED,
		AP_HOST_INSTALLED, AP_HOST_DONE
	};
	struct ct_arg *a = p;
	struct ap_ctx *ctx = ap_ctx_new();
	size_t i, k;

	for (i = (size_t)a->idx; i < CT_TARGETS; i += CT_THREADS) {
		if (ap_store_target_attempt(a->st, a->tids[i], ctx) != AP_OK)
			a->errors++;
		for (k = 0; k < sizeof(path) / sizeof(path[0]); k++) {
			/* every seventh host fails after copying */
			enum ap_host_state s = (i % 7 == 0 && path[k] == AP_HOST_INSTALLED)
				? AP_HOST_FAILED : path[k];

			if (ap_store_target_set_state(a->st, a->tids[i], s, NULL, ctx) != AP_OK)
				a->errors++;
			if (s == AP_HOST_FAILED)
				break;
		}
		/* A refused move (out of a terminal state), written in the
		 * same group commit as other threads' records, is undone
		 * alone: the counts below find every other record. */
		if (ap_store_target_set_state(a->st, a->tids[i], AP_HOST_CONNECTED,
		                              NULL, ctx) == AP_EINTERNAL)
			a->refused++;
		ap_ctx_clear(ctx);
	}
	ap_ctx_free(ctx);
	return NULL;
}

static void
test_threads(void **state)
{
	struct fx *f = *state;
	static int64_t tids[CT_TARGETS];
	struct ct_arg args[CT_THREADS];
	pthread_t th[CT_THREADS];
	struct ap_job_target *t = NULL;
	struct ap_job_event *ev = NULL;
	struct timespec t0, t1;
	size_t n = 0, i, nev = 0;
	int64_t j;
	double ms;
	int k;

	open_store(f);
	j = create_job(f, AP_JOB_INSTALL, CT_TARGETS, tids);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (k = 0; k < CT_THREADS; k++) {
		args[k] = (struct ct_arg){ f->st, tids, k, 0, 0 };
		assert_int_equal(pthread_create(&th[k], NULL, ct_worker, &args[k]), 0);
	}
	for (k = 0; k < CT_THREADS; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(args[k].errors, 0);
		assert_int_equal(args[k].refused, (CT_TARGETS - k + CT_THREADS - 1) / CT_THREADS);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("store: %d targets x 6 transitions (and a refused one) from %d threads: %.0f ms (%s)\n",
	              CT_TARGETS, CT_THREADS, ms,
	              getenv("AGENTPUSH_DB_SYNC") != NULL ? getenv("AGENTPUSH_DB_SYNC") : "full");
	assert_int_equal(ap_store_job_targets(f->st, j, &t, &n, f->ctx), AP_OK);
	assert_int_equal(n, CT_TARGETS);
	for (i = 0; i < n; i++) {
		assert_int_equal(t[i].state, i % 7 == 0 ? AP_HOST_FAILED : AP_HOST_DONE);
		assert_int_equal(t[i].attempts, 1);
	}
	ap_store_targets_free(t, n);
	assert_int_equal(ap_store_job_events(f->st, j, 0, &ev, &n, f->ctx), AP_OK);
	for (i = 0; i < n; i++)
		nev += strcmp(ev[i].what, "state") == 0;
	/* 29 hosts (i % 7 == 0) fail after 4 states, the others take 5 */
	assert_int_equal(nev, 29 * 4 + (CT_TARGETS - 29) * 5);
	ap_store_events_free(ev, n);
}

/* ---- crash durability ---- */

/*
 * The child records transitions and reports each one on a pipe only after
 * set_state returned; it dies by SIGKILL (its own, right after a return, or
 * the parent's, at a random moment).  Every transition reported must be in
 * the file the parent reopens.
 */
static void
crash_child(const char *path, const int64_t *tids, size_t n, int wfd,
            int self_kill_after)
{
	static const enum ap_host_state path_states[] = {
		AP_HOST_CONNECTED, AP_HOST_CHECKED, AP_HOST_COPIED,
		AP_HOST_INSTALLED, AP_HOST_DONE
	};
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_store *st = NULL;
	int done = 0;
	size_t k, i;

	if (ap_store_open(path, &st, ctx) != AP_OK)
		_exit(3);
	for (k = 0; k < 5; k++) {
		for (i = 0; i < n; i++) {
			unsigned char rec[2] = { (unsigned char)i, (unsigned char)path_states[k] };

			if (ap_store_target_set_state(st, tids[i], path_states[k], NULL, ctx) != AP_OK)
				_exit(4);
			if (write(wfd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
				_exit(5);
			if (++done == self_kill_after)
				kill(getpid(), SIGKILL);
		}
	}
	_exit(0);
}

static void
crash_round(struct fx *f, int self_kill_after, long parent_kill_us)
{
	enum ap_host_state want[50];
	struct ap_job_target *t = NULL;
	unsigned char rec[2];
	int64_t tids[50], j;
	int fds[2], status = 0;
	size_t n = 0, i;
	pid_t pid;

	j = create_job(f, AP_JOB_INSTALL, 50, tids);
	ap_store_close(f->st); /* the child opens its own */
	f->st = NULL;
	for (i = 0; i < 50; i++)
		want[i] = AP_HOST_PLANNED;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_child(f->loc, tids, 50, fds[1], self_kill_after);
	}
	close(fds[1]);
	if (parent_kill_us > 0) {
		usleep((useconds_t)parent_kill_us);
		kill(pid, SIGKILL);
	}
	while (read(fds[0], rec, sizeof(rec)) == (ssize_t)sizeof(rec))
		want[rec[0]] = (enum ap_host_state)rec[1];
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (parent_kill_us == 0 || WIFSIGNALED(status))
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	open_store(f);
	assert_int_equal(ap_store_job_targets(f->st, j, &t, &n, f->ctx), AP_OK);
	assert_int_equal(n, 50);
	for (i = 0; i < n; i++) {
		/* At most the one transition in flight may be there too. */
		if (t[i].state != want[i] && t[i].state != want[i] + 1)
			fail_msg("target %zu: stored %s, acknowledged %s", i,
			         ap_host_state_name(t[i].state), ap_host_state_name(want[i]));
	}
	if (self_kill_after > 0)
		for (i = 0; i < n; i++)
			assert_int_equal(t[i].state, want[i]);
	ap_store_targets_free(t, n);
}

static void
test_crash_durability(void **state)
{
	struct fx *f = *state;
	int round;

	open_store(f);
	crash_round(f, 137, 0);
	srand((unsigned)time(NULL));
	for (round = 0; round < 5; round++)
		crash_round(f, 0, 2000 + rand() % 30000);
}

/* ---- schema 2: cancel, events after, secrets, agents ---- */

static void
test_cancel(void **state)
{
	struct fx *f = *state;
	struct ap_job_event *ev = NULL;
	struct ap_job_info job;
	int64_t j, done_job;
	size_t n = 0;

	struct ap_store *other = NULL;
	struct timespec pause = { 1, 100 * 1000000L };

	open_store(f);
	j = create_job(f, AP_JOB_CHECK, 2, NULL);
	assert_int_equal(ap_store_open(f->loc, &other, f->ctx), AP_OK);
	assert_int_equal(ap_store_job_cancelled(other, j, f->ctx), 0);
	assert_int_equal(ap_store_job_cancelled(f->st, j, f->ctx), 0);
	assert_int_equal(ap_store_job_cancel(f->st, j, f->ctx), AP_OK);
	/* another handle (a worker) sees it within a second (store.h) */
	nanosleep(&pause, NULL);
	assert_int_equal(ap_store_job_cancelled(other, j, f->ctx), 1);
	ap_store_close(other);
	assert_int_equal(ap_store_job_cancel(f->st, j, f->ctx), AP_OK); /* idempotent */
	assert_int_equal(ap_store_job_cancelled(f->st, j, f->ctx), 1);
	assert_int_equal(ap_store_job_cancel(f->st, j + 99, f->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_store_job_cancelled(f->st, j + 99, f->ctx), AP_ENOTFOUND);
	/* one "cancel" event, however often it was asked */
	assert_int_equal(ap_store_job_events(f->st, j, 0, &ev, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(ev[1].what, "cancel");
	ap_store_events_free(ev, n);
	/* durable: a reopened store still knows */
	reopen(f);
	assert_int_equal(ap_store_job_get(f->st, j, &job, f->ctx), AP_OK);
	assert_int_equal(job.cancelled, 1);
	ap_job_info_clear(&job);

	done_job = create_job(f, AP_JOB_CHECK, 1, NULL);
	assert_int_equal(ap_store_job_set_status(f->st, done_job, AP_JOB_DONE, f->ctx), AP_OK);
	assert_int_equal(ap_store_job_cancel(f->st, done_job, f->ctx), AP_ECONFLICT);
	assert_int_equal(ap_store_job_cancelled(f->st, done_job, f->ctx), 0);
}

static void
test_events_after(void **state)
{
	struct fx *f = *state;
	struct ap_job_event *ev = NULL, *all = NULL;
	int64_t tids[3], j, other;
	size_t n = 0, n_all = 0;

	open_store(f);
	j = create_job(f, AP_JOB_CHECK, 3, tids);
	other = create_job(f, AP_JOB_CHECK, 1, NULL);
	set_state_ok(f, tids[0], AP_HOST_CONNECTED);
	set_state_ok(f, tids[1], AP_HOST_CONNECTED);
	assert_int_equal(ap_store_event(f->st, other, 0, "note", "other job", f->ctx), AP_OK);
	set_state_ok(f, tids[2], AP_HOST_CONNECTED);
	assert_int_equal(ap_store_job_events(f->st, j, 0, &all, &n_all, f->ctx), AP_OK);
	assert_int_equal(n_all, 4);

	assert_int_equal(ap_store_job_events_after(f->st, j, 0, 0, &ev, &n, f->ctx), AP_OK);
	assert_int_equal(n, n_all);
	ap_store_events_free(ev, n);
	/* after the second: the last two, never the other job's */
	assert_int_equal(ap_store_job_events_after(f->st, j, all[1].id, 0, &ev, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ev[0].id, all[2].id);
	assert_int_equal(ev[1].target_id, tids[2]);
	ap_store_events_free(ev, n);
	/* a limit */
	assert_int_equal(ap_store_job_events_after(f->st, j, 0, 1, &ev, &n, f->ctx), AP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].id, all[0].id);
	ap_store_events_free(ev, n);
	/* past the end: none */
	assert_int_equal(ap_store_job_events_after(f->st, j, all[3].id, 0, &ev, &n, f->ctx), AP_OK);
	assert_int_equal(n, 0);
	assert_null(ev);
	assert_int_equal(ap_store_job_events_after(f->st, j + 99, 0, 0, &ev, &n, f->ctx), AP_ENOTFOUND);
	ap_store_events_free(all, n_all);
}

static void
test_secrets(void **state)
{
	struct fx *f = *state;
	char *v = NULL;

	open_store(f);
	assert_int_equal(ap_store_secret_get(f->st, "admin_token", &v, f->ctx), AP_ENOTFOUND);
	assert_null(v);
	assert_int_equal(ap_store_secret_put(f->st, "admin_token", "aa11", f->ctx), AP_OK);
	assert_int_equal(ap_store_secret_put(f->st, "registration_passphrase", "$argon2id$x", f->ctx), AP_OK);
	assert_int_equal(ap_store_secret_put(f->st, "admin_token", "bb22", f->ctx), AP_OK);
	reopen(f);
	assert_int_equal(ap_store_secret_get(f->st, "admin_token", &v, f->ctx), AP_OK);
	assert_string_equal(v, "bb22");
	free(v);
	assert_int_equal(ap_store_secret_get(f->st, "registration_passphrase", &v, f->ctx), AP_OK);
	assert_string_equal(v, "$argon2id$x");
	free(v);
}

static void
fill_agent(struct ap_agent *a, const char *uid, const char *machine,
           const char *host, const char *enrollment)
{
	memset(a, 0, sizeof(*a));
	a->uid = (char *)uid;
	a->machine_id = (char *)machine;
	a->hostname = (char *)host;
	a->os = (char *)"Debian GNU/Linux 12";
	a->kernel = (char *)"6.1.0";
	a->version = (char *)"0.1.0";
	a->health = (char *)"ok";
	a->address = (char *)"198.18.0.2";
	a->enrollment = (char *)enrollment;
	a->secret_hash = (char *)"cafe";
	a->heartbeat_s = 60;
}

static void
test_agents(void **state)
{
	struct fx *f = *state;
	struct ap_agent a, got, *list = NULL;
	struct ap_agent_beat beats[3];
	int64_t id1 = 0, id2 = 0, id3 = 0;
	size_t n = 0;

	open_store(f);
	fill_agent(&a, "ag-0000000000000001", "m1", "web2", "e1");
	assert_int_equal(ap_store_agent_register(f->st, &a, &id1, f->ctx), AP_OK);
	fill_agent(&a, "ag-0000000000000002", "m2", "web1", NULL);
	assert_int_equal(ap_store_agent_register(f->st, &a, &id2, f->ctx), AP_OK);
	assert_true(id1 > 0 && id2 > id1);
	fill_agent(&a, "ag-0000000000000003", "m3", "db1", "e3");
	a.heartbeat_s = 0;
	assert_int_equal(ap_store_agent_register(f->st, &a, &id3, f->ctx), AP_EINVAL);

	assert_int_equal(ap_store_agent_get(f->st, "ag-0000000000000001", &got, f->ctx), AP_OK);
	assert_string_equal(got.machine_id, "m1");
	assert_string_equal(got.hostname, "web2");
	assert_string_equal(got.enrollment, "e1");
	assert_string_equal(got.secret_hash, "cafe");
	assert_int_equal(got.heartbeat_s, 60);
	assert_non_null(got.registered);
	assert_null(got.last_heartbeat);
	ap_agent_clear(&got);
	assert_int_equal(ap_store_agent_by_enrollment(f->st, "e1", &got, f->ctx), AP_OK);
	assert_string_equal(got.uid, "ag-0000000000000001");
	ap_agent_clear(&got);
	assert_int_equal(ap_store_agent_by_enrollment(f->st, "nope", &got, f->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_store_agent_get(f->st, "ag-ffff", &got, f->ctx), AP_ENOTFOUND);

	/* heartbeats in one batch; an unknown uid is ignored; NULL keeps */
	memset(beats, 0, sizeof(beats));
	beats[0] = (struct ap_agent_beat){ "ag-0000000000000001", "2026-12-05T01:00:00.000Z", "0.2.0", "degraded", "198.18.0.9" };
	beats[1] = (struct ap_agent_beat){ "ag-unknown", "2026-12-05T01:00:00.000Z", NULL, NULL, NULL };
	beats[2] = (struct ap_agent_beat){ "ag-0000000000000002", "2026-12-05T01:00:01.000Z", NULL, NULL, NULL };
	assert_int_equal(ap_store_agent_beats(f->st, beats, 3, f->ctx), AP_OK);
	assert_int_equal(ap_store_agent_get(f->st, "ag-0000000000000001", &got, f->ctx), AP_OK);
	assert_string_equal(got.last_heartbeat, "2026-12-05T01:00:00.000Z");
	assert_string_equal(got.version, "0.2.0");
	assert_string_equal(got.health, "degraded");
	assert_string_equal(got.address, "198.18.0.9");
	ap_agent_clear(&got);
	assert_int_equal(ap_store_agent_get(f->st, "ag-0000000000000002", &got, f->ctx), AP_OK);
	assert_string_equal(got.version, "0.1.0");
	assert_string_equal(got.last_heartbeat, "2026-12-05T01:00:01.000Z");
	ap_agent_clear(&got);

	/* ordered by host name */
	assert_int_equal(ap_store_agents_list(f->st, &list, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].hostname, "web1");
	assert_string_equal(list[1].hostname, "web2");
	ap_store_agents_free(list, n);

	/* the same machine registers again: one row, the new uid */
	fill_agent(&a, "ag-0000000000000004", "m1", "web2", "e4");
	assert_int_equal(ap_store_agent_register(f->st, &a, &id3, f->ctx), AP_OK);
	assert_int_equal(ap_store_agent_get(f->st, "ag-0000000000000001", &got, f->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_store_agents_list(f->st, &list, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	ap_store_agents_free(list, n);

	assert_int_equal(ap_store_agent_forget(f->st, "ag-0000000000000004", f->ctx), AP_OK);
	assert_int_equal(ap_store_agent_forget(f->st, "ag-0000000000000004", f->ctx), AP_ENOTFOUND);
	reopen(f);
	assert_int_equal(ap_store_agents_list(f->st, &list, &n, f->ctx), AP_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].uid, "ag-0000000000000002");
	ap_store_agents_free(list, n);
}

/* SQL taking a store back to schema 3 (the release before workers): what
 * migration 3 -> 4 added, removed. */
#define DOWN_TO_3 \
	"DROP TABLE cred_gate; DROP INDEX jobs_status;" \
	" ALTER TABLE targets DROP COLUMN lease_owner;" \
	" ALTER TABLE targets DROP COLUMN lease_until;" \
	" ALTER TABLE targets DROP COLUMN lease_gen;" \
	" DELETE FROM schema_version WHERE version >= 4;"

/* A store written by schema 1 (the text of migration 0, as released) is
 * migrated to 2 on open, its jobs intact. */
static void
test_migrate_from_1(void **state)
{
	struct fx *f = *state;
	struct ap_job_info job;
	sqlite3 *db = NULL;
	int64_t j;

	open_store(f);
	j = create_job(f, AP_JOB_CHECK, 2, NULL);
	ap_store_close(f->st);
	f->st = NULL;
	/* Take it back to version 1 the way a schema-1 build left it. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, DOWN_TO_3
		" DROP TABLE accounts; DROP TABLE vault_keys;"
		" DROP TABLE agents; DROP TABLE server_secrets;"
		" ALTER TABLE jobs DROP COLUMN cancel_requested;"
		" DELETE FROM schema_version WHERE version >= 2;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	open_store(f);
	assert_int_equal(ap_store_schema_version(f->st), AP_STORE_SCHEMA_VERSION);
	assert_int_equal(ap_store_job_get(f->st, j, &job, f->ctx), AP_OK);
	assert_int_equal(job.n_targets, 2);
	assert_int_equal(job.cancelled, 0);
	ap_job_info_clear(&job);
	assert_int_equal(ap_store_job_cancel(f->st, j, f->ctx), AP_OK);
}

/* ---- schema 3: the credential vault's rows ---- */

/* A stand-in for lib/vault's sealing: "n<id>" and "s<id>". */
static int
fake_seal(void *ud, int64_t id, char **nonce, char **secret, struct ap_ctx *ctx)
{
	char buf[32];

	(void)ctx;
	*(int64_t *)ud = id;
	snprintf(buf, sizeof(buf), "n%" PRId64, id);
	*nonce = strdup(buf);
	snprintf(buf, sizeof(buf), "s%" PRId64, id);
	*secret = strdup(buf);
	return AP_OK;
}

static int
failing_seal(void *ud, int64_t id, char **nonce, char **secret, struct ap_ctx *ctx)
{
	(void)ud;
	(void)id;
	*nonce = *secret = NULL;
	return ap_ctx_fail(ctx, AP_EINVAL, 0, "no");
}

static void
test_accounts(void **state)
{
	struct fx *f = *state;
	struct ap_vault_key_row k, got;
	struct ap_account a, one, *list = NULL;
	int64_t seen = 0, id = 0;
	size_t n = 0;

	open_store(f);
	assert_int_equal(ap_store_vault_key_get(f->st, &got, f->ctx), AP_ENOTFOUND);
	memset(&k, 0, sizeof(k));
	k.version = 1;
	k.kind = (char *)"file";
	k.key_check = (char *)"c1";
	assert_int_equal(ap_store_vault_key_init(f->st, &k, f->ctx), AP_OK);
	assert_int_equal(ap_store_vault_key_init(f->st, &k, f->ctx), AP_ECONFLICT);

	memset(&a, 0, sizeof(a));
	a.name = (char *)"web";
	a.user = (char *)"deploy";
	a.kind = (char *)"linux";
	a.key_version = 1;
	assert_int_equal(ap_store_account_add(f->st, &a, fake_seal, &seen, &id, f->ctx), AP_OK);
	assert_true(id > 0);
	assert_int_equal(seen, id);   /* sealed with its own row id */
	assert_int_equal(ap_store_account_add(f->st, &a, fake_seal, &seen, NULL, f->ctx), AP_ECONFLICT);
	/* a seal that fails leaves no row behind */
	a.name = (char *)"dc";
	a.domain = (char *)"CORP";
	a.kind = (char *)"windows";
	assert_int_equal(ap_store_account_add(f->st, &a, failing_seal, NULL, NULL, f->ctx), AP_EINVAL);
	assert_int_equal(ap_store_account_get(f->st, "dc", &one, f->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_store_account_add(f->st, &a, fake_seal, &seen, NULL, f->ctx), AP_OK);

	reopen(f);
	assert_int_equal(ap_store_vault_key_get(f->st, &got, f->ctx), AP_OK);
	assert_int_equal(got.version, 1);
	assert_string_equal(got.kind, "file");
	assert_string_equal(got.key_check, "c1");
	assert_null(got.salt);
	ap_vault_key_row_clear(&got);
	assert_int_equal(ap_store_account_get(f->st, "web", &one, f->ctx), AP_OK);
	assert_int_equal(one.id, id);
	assert_string_equal(one.user, "deploy");
	assert_null(one.domain);
	assert_string_equal(one.kind, "linux");
	assert_string_equal(one.secret + 1, one.nonce + 1);
	assert_null(one.rejected_at);
	ap_account_clear(&one);

	/* refused: marked once (the first refusal stays), cleared by a new secret */
	assert_int_equal(ap_store_account_mark_rejected(f->st, id, "198.18.0.1", f->ctx), AP_OK);
	assert_int_equal(ap_store_account_mark_rejected(f->st, id, "198.18.0.2", f->ctx), AP_OK);
	assert_int_equal(ap_store_account_get(f->st, "web", &one, f->ctx), AP_OK);
	assert_non_null(one.rejected_at);
	assert_string_equal(one.rejected_by, "198.18.0.1");
	ap_account_clear(&one);

	assert_int_equal(ap_store_accounts_list(f->st, &list, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "dc");
	assert_string_equal(list[0].domain, "CORP");
	assert_string_equal(list[1].name, "web");

	/* rekey: version 2, every account resealed, a refusal kept */
	k.version = 3;
	assert_int_equal(ap_store_vault_rekey(f->st, &k, list, n, f->ctx), AP_ECONFLICT);
	k.version = 2;
	assert_int_equal(ap_store_vault_rekey(f->st, &k, list, 1, f->ctx), AP_ECONFLICT);
	free(list[0].secret);
	list[0].secret = strdup("resealed");
	assert_int_equal(ap_store_vault_rekey(f->st, &k, list, n, f->ctx), AP_OK);
	ap_store_accounts_free(list, n);
	assert_int_equal(ap_store_vault_key_get(f->st, &got, f->ctx), AP_OK);
	assert_int_equal(got.version, 2);
	ap_vault_key_row_clear(&got);
	assert_int_equal(ap_store_account_get(f->st, "dc", &one, f->ctx), AP_OK);
	assert_int_equal(one.key_version, 2);
	assert_string_equal(one.secret, "resealed");
	ap_account_clear(&one);
	assert_int_equal(ap_store_account_get(f->st, "web", &one, f->ctx), AP_OK);
	assert_non_null(one.rejected_at);

	assert_int_equal(ap_store_account_set_secret(f->st, id, 2, "nn", "ss", f->ctx), AP_OK);
	ap_account_clear(&one);
	assert_int_equal(ap_store_account_get(f->st, "web", &one, f->ctx), AP_OK);
	assert_null(one.rejected_at);
	assert_null(one.rejected_by);
	assert_string_equal(one.secret, "ss");
	ap_account_clear(&one);

	assert_int_equal(ap_store_account_remove(f->st, "web", f->ctx), AP_OK);
	assert_int_equal(ap_store_account_remove(f->st, "web", f->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_store_account_set_secret(f->st, id, 2, "nn", "ss", f->ctx), AP_ECONFLICT);
}

/* Inventory variables that may hold a password are not stored. */
static void
test_vars_no_secret(void **state)
{
	struct fx *f = *state;
	struct ap_target *t = make_targets(1);
	struct ap_job_target *got = NULL;
	int64_t job = 0;
	size_t n = 0, i;
	char buf[400];

	t[0].vars = realloc(t[0].vars, 4 * sizeof(*t[0].vars));
	t[0].vars[2].key = strdup("ansible_password");
	t[0].vars[2].value = strdup("Canary-Inv-Pw-1");
	t[0].vars[3].key = strdup("ansible_become_pass");
	t[0].vars[3].value = strdup("Canary-Inv-Pw-1");
	t[0].n_vars = 4;
	open_store(f);
	assert_int_equal(ap_store_job_create(f->st, AP_JOB_CHECK, NULL, NULL, "{}", t, 1,
	                                     &job, NULL, f->ctx), AP_OK);
	ap_targets_free(t, 1);
	assert_int_equal(ap_store_job_targets(f->st, job, &got, &n, f->ctx), AP_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].target.n_vars, 2);
	for (i = 0; i < got[0].target.n_vars; i++)
		assert_null(strstr(got[0].target.vars[i].key, "pass"));
	ap_store_targets_free(got, n);
	ap_store_close(f->st);
	f->st = NULL;
	/* nor in the file or its WAL */
	snprintf(buf, sizeof(buf), "grep -qaF Canary-Inv-Pw-1 %s %s-wal 2>/dev/null", f->path, f->path);
	assert_int_not_equal(system(buf), 0);
}

/* A store of the current release (schema 2, as released) opens and is
 * migrated to 3, its jobs, agents and secrets intact. */
static void
test_migrate_from_2(void **state)
{
	struct fx *f = *state;
	struct ap_job_info job;
	struct ap_account one;
	sqlite3 *db = NULL;
	char *v = NULL;
	int64_t j;

	open_store(f);
	j = create_job(f, AP_JOB_INSTALL, 3, NULL);
	assert_int_equal(ap_store_secret_put(f->st, "admin_token", "aa11", f->ctx), AP_OK);
	ap_store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, DOWN_TO_3
		" DROP TABLE accounts; DROP TABLE vault_keys;"
		" DELETE FROM schema_version WHERE version = 3;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	open_store(f);
	assert_int_equal(ap_store_schema_version(f->st), AP_STORE_SCHEMA_VERSION);
	assert_int_equal(ap_store_job_get(f->st, j, &job, f->ctx), AP_OK);
	assert_int_equal(job.n_targets, 3);
	ap_job_info_clear(&job);
	assert_int_equal(ap_store_secret_get(f->st, "admin_token", &v, f->ctx), AP_OK);
	assert_string_equal(v, "aa11");
	free(v);
	assert_int_equal(ap_store_account_get(f->st, "web", &one, f->ctx), AP_ENOTFOUND);
}

/* A store of schema 3 (the current release) opens and is migrated to 4:
 * its targets keep their states and get a free lease (generation 0, so
 * the first claim makes it 1), and a worker can claim them. */
static void
test_migrate_from_3(void **state)
{
	struct fx *f = *state;
	struct ap_claim *c = NULL;
	sqlite3 *db = NULL;
	int64_t j, tids[3];
	size_t n = 0;

	open_store(f);
	j = create_job(f, AP_JOB_INSTALL, 3, tids);
	set_state_ok(f, tids[0], AP_HOST_CONNECTED);
	set_state_ok(f, tids[1], AP_HOST_DONE);
	ap_store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, DOWN_TO_3, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	open_store(f);
	assert_int_equal(ap_store_schema_version(f->st), 4);
	assert_int_equal(ap_store_claim(f->st, "w1", 60000, 10, &c, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].job_id, j);
	assert_int_equal(c[0].target_id, tids[0]);
	assert_int_equal(c[0].state, AP_HOST_CONNECTED);
	assert_int_equal(c[0].lease_gen, 1);
	assert_int_equal(c[1].target_id, tids[2]);
	assert_int_equal(c[1].state, AP_HOST_PLANNED);
	ap_store_claims_free(c, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_fresh_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_newer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_garbage_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_foreign_db_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_unwritable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_some, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_durability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vars_no_secret, setup, teardown),
	};

	/* Another backend (AP_TEST_STORE, see store_fixture.h): the tests
	 * that do not read or forge the SQLite file itself. */
	const struct CMUnitTest shared[] = {
		cmocka_unit_test_setup_teardown(test_job_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_some, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_durability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
	};

	if (getenv("AP_TEST_STORE") != NULL)
		return cmocka_run_group_tests(shared, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
