/*
 * store.c - the job store (store.h), once for every database: all its SQL
 * and logic, written against the driver interface of drv.h (drv_sqlite.c:
 * a file, the default; drv_pg.c: a PostgreSQL server shared by workers).
 *
 * One connection per handle, one mutex per handle.  Every call takes the
 * mutex for its whole duration, so the engine's worker threads may call in
 * at once and each transaction sees the store alone within this process;
 * other processes are kept apart by the database (SQLite's file locks,
 * BEGIN IMMEDIATE; PostgreSQL's row locks: the statements that read a row
 * before changing it lock it with @FOR_UPDATE@, and a claim skips rows
 * another worker is claiming with @SKIP_LOCKED@).
 *
 * Durability: every call that records something returns after COMMIT
 * returned (see drv_sqlite.c for the file's WAL and fsync; PostgreSQL
 * commits durably by default, synchronous_commit=on).
 *
 * Statements: every SQL text of the store is in sql_text[] below (and the
 * schema in migrations.c); each is prepared once per handle, on first use,
 * and reset after each use.  Each use counts as one round trip.
 *
 * Ownership: see store.h.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentpush/catalog.h"
#include "agentpush/store.h"
#include "drv.h"
#include "store_int.h"

/* S_TARGET_MOVE's write, without its WHERE (two statements share it). */
#define TARGET_MOVE \
	"UPDATE targets SET state = ?2, updated = ?3, attempts = attempts + ?4," \
	" note = CASE WHEN ?5 = 1 THEN ?6 ELSE note END," \
	" result_os = CASE WHEN ?5 = 1 THEN ?7 ELSE result_os END"

enum stmt_id {
	S_BEGIN, S_BEGIN_READ, S_VERSION_INSERT, S_COMMIT, S_ROLLBACK,
	S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
	S_JOB_INSERT, S_TARGET_INSERT, S_EVENT_INSERT, S_EVENT_INSERT2,
	S_TARGET_STATE, S_TARGET_GUARD, S_TARGET_MOVE, S_TARGET_MOVE_GUARDED, S_JOB_TOUCH,
	S_FINDINGS_DELETE, S_FINDING_INSERT, S_TARGET_SET_RESULT,
	S_JOB_SET_STATUS, S_JOBS_LIST, S_JOB_GET, S_JOB_COUNTS,
	S_TARGETS_LOAD, S_FINDINGS_LOAD, S_EVENTS_JOB, S_EVENTS_TARGET,
	S_JOB_CANCEL, S_EVENTS_AFTER,
	S_SECRET_GET, S_SECRET_PUT,
	S_AGENT_DELETE_MACHINE, S_AGENT_INSERT, S_AGENT_BEAT, S_AGENT_GET,
	S_AGENT_BY_ENROLLMENT, S_AGENTS_LIST, S_AGENT_FORGET,
	S_VKEY_GET, S_VKEY_INSERT, S_ACCOUNT_INSERT, S_ACCOUNT_GET,
	S_ACCOUNTS_LIST, S_ACCOUNT_SET_SECRET, S_ACCOUNT_REMOVE, S_ACCOUNT_REJECTED,
	S_ACCOUNTS_COUNT,
	S_CLAIM, S_LEASE_RENEW, S_LEASE_RELEASE, S_JOB_COMPLETE, S_JOB_STATUS,
	S_JOBS_COMPLETE,
	S_CRED_ENSURE, S_CRED_GET, S_CRED_TAKE,
	S_JOB_CANCELLED, S_CRED_PEEK, S_CRED_GOOD, S_CRED_REJECT, S_CRED_UNTRY,
	S_NOTIFY,       /* the driver's notify (drv.h) */
	S_COUNT_
};

/* Milliseconds since 1970 by the database's clock (store.h: leases are
 * compared with one clock, the database's, whoever the caller is). */
#define NOW_MS "@NOW_MS@"
#define NON_TERMINAL "('planned', 'connected', 'checked', 'copied', 'installed')"

/* Every statement of the backend.  Columns named in the order read. */
static const char *const sql_text[S_COUNT_] = {
	[S_BEGIN] = NULL,       /* the driver's begin_write */
	[S_BEGIN_READ] = NULL,  /* the driver's begin_read */
	[S_VERSION_INSERT] =
		"INSERT INTO schema_version (version, applied) VALUES (?1, ?2)",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT record",
	[S_RELEASE] = "RELEASE record",
	[S_ROLLBACK_TO] = "ROLLBACK TO record",
	[S_JOB_INSERT] =
		"INSERT INTO jobs (kind, status, created, updated, package,"
		" package_version, options_json) VALUES (?1, 'running', ?2, ?2,"
		" ?3, ?4, ?5) RETURNING id",
	[S_TARGET_INSERT] =
		"INSERT INTO targets (job_id, idx, spec, user_name, host, port, os,"
		" group_name, vars_json, state, updated) VALUES (?1, ?2, ?3, ?4,"
		" ?5, ?6, ?7, ?8, ?9, 'planned', ?10) RETURNING id",
	[S_EVENT_INSERT] =
		"INSERT INTO events (job_id, target_id, at, what, detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5)",
	/* two events of one target at once (a record of two moves), in
	 * this order */
	[S_EVENT_INSERT2] =
		"INSERT INTO events (job_id, target_id, at, what, detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5), (?1, ?2, ?3, ?4, ?6)",
	[S_TARGET_STATE] =
		"SELECT job_id, state, lease_owner FROM targets WHERE id = ?1 @FOR_UPDATE@",
	/* What S_TARGET_STATE checks, as a statement that fails (division
	 * by zero: DRV_ERR_GUARD) unless the target is still in state ?2 and
	 * (fencing on) still ?3's: sent unanswered in front of a record's
	 * writes when the handle knows the target (record_locked). */
	[S_TARGET_GUARD] =
		"SELECT 1 / (CASE WHEN state = ?2 AND (CAST(?3 AS TEXT) IS NULL"
		" OR lease_owner = ?3) THEN 1 ELSE 0 END) FROM targets WHERE id = ?1 @FOR_UPDATE@",
	/* A record's one write to its target: the state it ends in, the
	 * attempts counted with it and, when ?5 is 1, its result's note and
	 * OS (the findings' row, written with the terminal state). */
	[S_TARGET_MOVE] = TARGET_MOVE " WHERE id = ?1",
	/* The same with S_TARGET_GUARD's check in it (?8, ?9: its ?2, ?3),
	 * for a record that would send the guard: one statement less.  Only
	 * where division by zero is an error (PostgreSQL: guard_records);
	 * SQLite's NULL would skip the write silently. */
	[S_TARGET_MOVE_GUARDED] = TARGET_MOVE " WHERE id = ?1 AND 1 / (CASE WHEN state = ?8 AND (CAST(?9 AS TEXT) IS NULL"
		" OR lease_owner = ?9) THEN 1 ELSE 0 END) = 1",
	[S_JOB_TOUCH] = "UPDATE jobs SET updated = ?2 WHERE id = ?1",
	[S_FINDINGS_DELETE] = "DELETE FROM findings WHERE target_id = ?1",
	[S_FINDING_INSERT] =
		"INSERT INTO findings (target_id, seq, error_id, severity, message,"
		" evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_TARGET_SET_RESULT] =
		"UPDATE targets SET note = ?2, result_os = ?3, updated = ?4"
		" WHERE id = ?1",
	[S_JOB_SET_STATUS] =
		"UPDATE jobs SET status = ?2, updated = ?3 WHERE id = ?1",
	[S_JOBS_LIST] =
		"SELECT id, kind, status, created, updated, package,"
		" package_version, options_json, cancel_requested FROM jobs"
		" ORDER BY id DESC LIMIT ?1",
	[S_JOB_GET] =
		"SELECT id, kind, status, created, updated, package,"
		" package_version, options_json, cancel_requested FROM jobs"
		" WHERE id = ?1",
	[S_JOB_COUNTS] =
		"SELECT state, COUNT(*) FROM targets WHERE job_id = ?1"
		" GROUP BY state",
	[S_TARGETS_LOAD] =
		"SELECT id, idx, spec, user_name, host, port, os, group_name,"
		" vars_json, state, attempts, note, result_os, lease_gen FROM targets"
		" WHERE job_id = ?1 AND id BETWEEN ?2 AND ?3 ORDER BY idx",
	[S_FINDINGS_LOAD] =
		"SELECT error_id, severity, message, evidence FROM findings"
		" WHERE target_id = ?1 ORDER BY seq",
	[S_EVENTS_JOB] =
		"SELECT id, target_id, at, what, detail FROM events"
		" WHERE job_id = ?1 ORDER BY id",
	[S_EVENTS_TARGET] =
		"SELECT id, target_id, at, what, detail FROM events"
		" WHERE job_id = ?1 AND target_id = ?2 ORDER BY id",
	[S_JOB_CANCEL] =
		"UPDATE jobs SET cancel_requested = ?2, updated = ?2"
		" WHERE id = ?1 AND cancel_requested IS NULL",
	[S_EVENTS_AFTER] =
		"SELECT id, target_id, at, what, detail FROM events"
		" WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	[S_SECRET_GET] = "SELECT value FROM server_secrets WHERE name = ?1",
	[S_SECRET_PUT] =
		"INSERT INTO server_secrets (name, value, updated) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
		" updated = excluded.updated",
	[S_AGENT_DELETE_MACHINE] = "DELETE FROM agents WHERE machine_id = ?1",
	[S_AGENT_INSERT] =
		"INSERT INTO agents (uid, machine_id, hostname, os, kernel, version,"
		" health, address, enrollment, secret_hash, registered, heartbeat_s)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
	[S_AGENT_BEAT] =
		"UPDATE agents SET last_heartbeat = ?2, version = COALESCE(?3, version),"
		" health = COALESCE(?4, health), address = COALESCE(?5, address)"
		" WHERE uid = ?1",
	[S_AGENT_GET] =
		"SELECT id, uid, machine_id, hostname, os, kernel, version, health,"
		" address, enrollment, secret_hash, registered, last_heartbeat,"
		" heartbeat_s FROM agents WHERE uid = ?1",
	[S_AGENT_BY_ENROLLMENT] =
		"SELECT id, uid, machine_id, hostname, os, kernel, version, health,"
		" address, enrollment, secret_hash, registered, last_heartbeat,"
		" heartbeat_s FROM agents WHERE enrollment = ?1",
	[S_AGENTS_LIST] =
		"SELECT id, uid, machine_id, hostname, os, kernel, version, health,"
		" address, enrollment, secret_hash, registered, last_heartbeat,"
		" heartbeat_s FROM agents ORDER BY hostname, uid",
	[S_AGENT_FORGET] = "DELETE FROM agents WHERE uid = ?1",
	[S_VKEY_GET] =
		"SELECT version, kind, salt, opslimit, memlimit, key_check, created"
		" FROM vault_keys ORDER BY version DESC LIMIT 1",
	[S_VKEY_INSERT] =
		"INSERT INTO vault_keys (version, kind, salt, opslimit, memlimit,"
		" key_check, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_ACCOUNT_INSERT] =
		"INSERT INTO accounts (name, user_name, domain, kind, key_version,"
		" nonce, secret, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, '',"
		" '', ?6, ?6) RETURNING id",
	[S_ACCOUNT_GET] =
		"SELECT id, name, user_name, domain, kind, key_version, nonce, secret,"
		" created, updated, rejected_at, rejected_by FROM accounts"
		" WHERE name = ?1",
	[S_ACCOUNTS_LIST] =
		"SELECT id, name, user_name, domain, kind, key_version, nonce, secret,"
		" created, updated, rejected_at, rejected_by FROM accounts"
		" ORDER BY name",
	[S_ACCOUNT_SET_SECRET] =
		"UPDATE accounts SET key_version = ?2, nonce = ?3, secret = ?4,"
		" updated = ?5,"
		" rejected_at = CASE WHEN ?6 = 1 THEN NULL ELSE rejected_at END,"
		" rejected_by = CASE WHEN ?6 = 1 THEN NULL ELSE rejected_by END"
		" WHERE id = ?1",
	[S_ACCOUNT_REMOVE] = "DELETE FROM accounts WHERE name = ?1",
	[S_ACCOUNT_REJECTED] =
		"UPDATE accounts SET rejected_at = ?2, rejected_by = ?3"
		" WHERE id = ?1 AND rejected_at IS NULL",
	[S_ACCOUNTS_COUNT] = "SELECT COUNT(*) FROM accounts",
	/* One statement: picks and leases in one go, so two workers never
	 * get the same target (SQLite: under BEGIN IMMEDIATE).  A claim of
	 * one job (?4, a worker's refill) never takes back a lease of its
	 * own that expired: that host is still in the claimer's run. */
	[S_CLAIM] =
		"UPDATE targets SET lease_owner = ?1, lease_until = " NOW_MS " + ?2,"
		" lease_gen = lease_gen + 1"
		" WHERE id IN (SELECT t.id FROM targets t JOIN jobs j ON j.id = t.job_id"
		" WHERE j.status = 'running' AND t.state IN " NON_TERMINAL
		" AND (CAST(?4 AS BIGINT) = 0 OR t.job_id = ?4)"
		" AND (t.lease_owner IS NULL OR (t.lease_until < " NOW_MS
		" AND (CAST(?4 AS BIGINT) = 0 OR t.lease_owner <> ?1)))"
		" ORDER BY t.job_id, t.id LIMIT ?3 @SKIP_LOCKED@)"
		" RETURNING job_id, id, state, lease_gen",
	[S_LEASE_RENEW] =
		"UPDATE targets SET lease_until = " NOW_MS " + ?4"
		" WHERE lease_owner = ?1 AND id BETWEEN ?2 AND ?3 RETURNING id",
	[S_LEASE_RELEASE] =
		"UPDATE targets SET lease_owner = NULL, lease_until = NULL"
		" WHERE id = ?1 AND lease_owner = ?2",
	[S_JOB_COMPLETE] =
		"UPDATE jobs SET status = 'done', updated = ?2"
		" WHERE id = ?1 AND status = 'running' AND NOT EXISTS"
		" (SELECT 1 FROM targets WHERE job_id = ?1 AND state IN " NON_TERMINAL ")",
	[S_JOB_STATUS] = "SELECT status FROM jobs WHERE id = ?1",
	/* S_JOB_COMPLETE for every running job at once (RETURNING: SQLite
	 * 3.35 and PostgreSQL alike) */
	[S_JOBS_COMPLETE] =
		"UPDATE jobs SET status = 'done', updated = ?1"
		" WHERE status = 'running' AND NOT EXISTS"
		" (SELECT 1 FROM targets WHERE targets.job_id = jobs.id AND state IN " NON_TERMINAL ")"
		" RETURNING id",
	[S_CRED_ENSURE] =
		"INSERT INTO cred_gate (job_id, cred_key, state, updated)"
		" VALUES (?1, ?2, 'untried', ?3)"
		" ON CONFLICT (job_id, cred_key) DO NOTHING",
	[S_CRED_GET] =
		"SELECT state, owner, CASE WHEN until_ms IS NULL OR until_ms < " NOW_MS
		" THEN 1 ELSE 0 END, host FROM cred_gate"
		" WHERE job_id = ?1 AND cred_key = ?2 @FOR_UPDATE@",
	[S_CRED_TAKE] =
		"UPDATE cred_gate SET state = 'trying', owner = ?3,"
		" until_ms = " NOW_MS " + ?4, updated = ?5"
		" WHERE job_id = ?1 AND cred_key = ?2",
	/* The statements of the hot paths, one round trip each (a worker
	 * sends them for every host; docs/PERFORMANCE.md). */
	[S_JOB_CANCELLED] = "SELECT cancel_requested FROM jobs WHERE id = ?1",
	[S_CRED_PEEK] =
		"SELECT state, host FROM cred_gate WHERE job_id = ?1 AND cred_key = ?2",
	[S_CRED_GOOD] =
		"INSERT INTO cred_gate (job_id, cred_key, state, updated)"
		" VALUES (?1, ?2, 'good', ?3)"
		" ON CONFLICT (job_id, cred_key) DO UPDATE SET state = 'good',"
		" owner = NULL, until_ms = NULL, updated = excluded.updated"
		" WHERE cred_gate.state <> 'good' AND cred_gate.state <> 'rejected'",
	[S_CRED_REJECT] =
		"INSERT INTO cred_gate (job_id, cred_key, state, host, updated)"
		" VALUES (?1, ?2, 'rejected', ?3, ?4)"
		" ON CONFLICT (job_id, cred_key) DO UPDATE SET state = 'rejected',"
		" owner = NULL, until_ms = NULL, host = excluded.host,"
		" updated = excluded.updated WHERE cred_gate.state <> 'rejected'",
	[S_CRED_UNTRY] =
		"UPDATE cred_gate SET state = 'untried', owner = NULL, until_ms = NULL,"
		" updated = ?4 WHERE job_id = ?1 AND cred_key = ?2"
		" AND state = 'trying' AND owner = ?3",
	[S_NOTIFY] = NULL,      /* the driver's notify */
};

struct record;

struct ap_store {
	struct drv *drv;
	int64_t last_id;        /* RETURNING id of the last INSERT (exec_stmt) */
	char *path;
	int version;
	pthread_mutex_t mu;
	struct drv_stmt *stmt[S_COUNT_];
	char *owner;            /* fencing (ap_store_set_owner), or NULL */
	uint64_t statements;    /* statements run, under mu */
	unsigned long db_errors; /* database errors so far (db_fail), under mu */
	/* group commit (ap_store_target_record): the queue of records
	 * waiting for the next transaction, and whether a leader is writing */
	pthread_mutex_t gmu;
	pthread_cond_t gcond;
	struct record *ghead, **gtail;
	int gleader;
	/* The job whose "updated" this handle last set, and the second it set
	 * (the first 19 characters of the timestamp), under mu: touch_jobs
	 * sets it at most once a second per job (docs/store.md). */
	int64_t touched_job;
	char touched_sec[20];
	/* Targets whose record this handle committed last, or which it
	 * claimed last (known_from_claims), and the job and state it left
	 * them in, by target id modulo the size (a collision evicts), under
	 * mu.  With a server (PostgreSQL) a record of a known
	 * target sends a guard instead of reading the target first: one
	 * round trip instead of two (record_locked).  Empty with SQLite, whose
	 * reads cost no round trip. */
	struct known_target {
		int64_t target_id;      /* 0: empty */
		int64_t job_id;
		enum ap_host_state state;
	} known[256];
	int guard_records;      /* whether records may use known[] */
	int64_t touch_pending;  /* the job of the batch being written, or 0 */
	/* A credential this handle saw GOOD (job and key), under mu: its
	 * ACCEPTED releases would change nothing (GOOD only ever becomes
	 * REJECTED, which ACCEPTED does not change either), so they are
	 * skipped.  With a server that sends notices (drv.h listen), when it
	 * was read (CLOCK_MONOTONIC ms) and the driver's notices() then:
	 * ap_store_cred_acquire answers GO from it without a round trip
	 * while no notice came since, for CRED_GOOD_MS at most. */
	int64_t good_job;
	char good_key[128];
	int64_t good_at_ms;     /* 0: not to be reused */
	uint64_t good_notices;
	/* The last cancel check (ap_store_job_cancelled), under mu: the job,
	 * when it was asked (CLOCK_MONOTONIC ms), the notices then
	 * (notice_mark) and the answer.  A cancel is never taken back, so a
	 * 1 is kept; a 0 for CANCEL_CHECK_MS, or with notices while none
	 * came, for CANCEL_NOTICED_MS. */
	int64_t cancel_job;
	int64_t cancel_at_ms;
	uint64_t cancel_notices;
	int cancel_seen;
};

static const char *const state_names[AP_HOST_STATE_COUNT_] = {
	"planned", "connected", "checked", "copied", "installed", "done",
	"failed", "skipped"
};

const char *
ap_host_state_name(enum ap_host_state s)
{
	if ((unsigned)s < AP_HOST_STATE_COUNT_)
		return state_names[s];
	return "unknown";
}

int
ap_host_state_terminal(enum ap_host_state s)
{
	return s == AP_HOST_DONE || s == AP_HOST_FAILED || s == AP_HOST_SKIPPED;
}

const char *
ap_job_kind_name(enum ap_job_kind k)
{
	return k == AP_JOB_INSTALL ? "install" : "check";
}

const char *
ap_job_status_name(enum ap_job_status s)
{
	return s == AP_JOB_DONE ? "done" : "running";
}

static int
state_parse(const char *s, enum ap_host_state *out)
{
	int i;

	for (i = 0; s != NULL && i < AP_HOST_STATE_COUNT_; i++) {
		if (strcmp(state_names[i], s) == 0) {
			*out = (enum ap_host_state)i;
			return 0;
		}
	}
	return -1;
}

static enum ap_severity
severity_parse(const char *s)
{
	if (s != NULL && strcmp(s, "warning") == 0)
		return AP_SEV_WARNING;
	if (s != NULL && strcmp(s, "info") == 0)
		return AP_SEV_INFO;
	return AP_SEV_ERROR;
}

int
ap_store_default_path(char *buf, size_t size, struct ap_ctx *ctx)
{
	const char *env = getenv("AGENTPUSH_DB"), *base = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (env != NULL && env[0] != '\0')
		n = snprintf(buf, size, "%s", env);
	else if (base != NULL && base[0] == '/')
		n = snprintf(buf, size, "%s/agentpush/jobs.db", base);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, size, "%s/.local/state/agentpush/jobs.db", home);
	else
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "cannot tell where the job store goes: set --db, AGENTPUSH_DB or HOME");
	if (n < 0 || (size_t)n >= size)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "the job store path is longer than %zu bytes", size - 1);
	return AP_OK;
}

/* "2026-01-02T03:04:05.123Z" into buf (at least 32 bytes). */
static void
now_iso(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", base, (int)(ts.tv_nsec / 1000000L) % 1000);
}

static int
db_fail(struct ap_store *st, struct ap_ctx *ctx, const char *what)
{
	enum drv_err k = st->drv->ops->errkind(st->drv);
	int rc = k == DRV_ERR_NOMEM ? AP_ENOMEM : k == DRV_ERR_UNIQUE ? AP_ECONFLICT : AP_EIO;

	st->db_errors++;
	return ap_ctx_fail(ctx, rc, 0, "job store %s: %s: %s", st->path, what,
	                   st->drv->ops->errmsg(st->drv));
}

/* The cached statement id, reset and unbound; NULL with ctx set on error.
 * Each use counts as one statement (ap_store_statements). */
static struct drv_stmt *
stmt(struct ap_store *st, enum stmt_id id, struct ap_ctx *ctx)
{
	struct drv_stmt *s = st->stmt[id];
	char *sql = NULL;

	if (s == NULL) {
		const char *text = id == S_BEGIN ? st->drv->ops->begin_write
		                 : id == S_BEGIN_READ ? st->drv->ops->begin_read
		                 : id == S_NOTIFY ? st->drv->ops->notify
		                 : sql_text[id];

		if ((sql = st->drv->ops->translate(text)) == NULL) {
			ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			return NULL;
		}
		if (st->drv->ops->prepare(st->drv, sql, &s) != AP_OK) {
			free(sql);
			db_fail(st, ctx, "cannot prepare a statement");
			return NULL;
		}
		free(sql);
		st->stmt[id] = s;
	}
	st->drv->ops->reset(s);
	st->statements++;
	return s;
}

static void
drv_reset(struct ap_store *st, struct drv_stmt *s)
{
	st->drv->ops->reset(s);
}

static int
drv_step(struct ap_store *st, struct drv_stmt *s)
{
	return st->drv->ops->step(s);
}

static void
drv_bind_int64(struct ap_store *st, struct drv_stmt *s, int i, int64_t v)
{
	st->drv->ops->bind_int64(s, i, v);
}

/* A failed bind (out of memory) shows at the step: the parameter is left
 * unbound and the driver reports it. */
static void
drv_bind_text(struct ap_store *st, struct drv_stmt *s, int i, const char *v)
{
	(void)st->drv->ops->bind_text(s, i, v);
}

static int64_t
drv_col_int64(struct ap_store *st, struct drv_stmt *s, int i)
{
	return st->drv->ops->col_int64(s, i);
}

static const char *
drv_col_text(struct ap_store *st, struct drv_stmt *s, int i)
{
	return st->drv->ops->col_text(s, i);
}

static int
drv_col_null(struct ap_store *st, struct drv_stmt *s, int i)
{
	return st->drv->ops->col_null(s, i);
}

/* Runs a statement; the first column of its first row (an INSERT's
 * RETURNING id) goes to st->last_id; other rows are ignored. */
static int
exec_stmt(struct ap_store *st, struct drv_stmt *s, struct ap_ctx *ctx,
          const char *what)
{
	int rc, first = 1;

	while ((rc = drv_step(st, s)) == DRV_ROW) {
		if (first)
			st->last_id = drv_col_int64(st, s, 0);
		first = 0;
	}
	drv_reset(st, s);
	if (rc != DRV_DONE)
		return db_fail(st, ctx, what);
	return AP_OK;
}

/*
 * Runs s, whose rows nobody reads.  Inside a write transaction the driver
 * may send it with the next statement whose result is read (drv.h, defer):
 * its error, if any, is then that statement's, and the caller's
 * transaction is rolled back as for any error.  Only for writes whose
 * failure fails the whole transaction anyway (the records of a batch).
 */
static int
exec_later(struct ap_store *st, struct drv_stmt *s, struct ap_ctx *ctx,
           const char *what)
{
	if (st->drv->ops->defer(s) != AP_OK)
		return db_fail(st, ctx, what);
	return AP_OK;
}

static int
simple(struct ap_store *st, enum stmt_id id, struct ap_ctx *ctx,
       const char *what)
{
	struct drv_stmt *s = stmt(st, id, ctx);

	if (s == NULL)
		return ap_ctx_rc(ctx);
	return exec_stmt(st, s, ctx, what);
}

/* BEGIN goes out with the transaction's first statement (exec_later). */
static int
begin(struct ap_store *st, int write, struct ap_ctx *ctx)
{
	struct drv_stmt *s = stmt(st, write ? S_BEGIN : S_BEGIN_READ, ctx);

	if (s == NULL)
		return ap_ctx_rc(ctx);
	return exec_later(st, s, ctx, "cannot start a transaction");
}

static int
commit(struct ap_store *st, struct ap_ctx *ctx)
{
	return simple(st, S_COMMIT, ctx, "cannot commit");
}

/* Inside a write transaction: a notice to every listening handle when it
 * commits (notice_mark); nothing without notices. */
static int
notify(struct ap_store *st, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;

	if (st->drv->ops->notify == NULL)
		return AP_OK;
	if ((s = stmt(st, S_NOTIFY, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	return exec_later(st, s, ctx, "cannot send a notice");
}

/* Resets every cached statement (one may have stopped half-way). */
static void
rollback_stmts(struct ap_store *st)
{
	int i;

	for (i = 0; i < S_COUNT_; i++)
		if (st->stmt[i] != NULL)
			st->drv->ops->reset(st->stmt[i]);
}

/* Undoes the open transaction, if any; keeps the error already on ctx. */
static void
rollback(struct ap_store *st)
{
	rollback_stmts(st);
	if (st->drv->ops->in_tx(st->drv))
		(void)st->drv->ops->exec_script(st->drv, "ROLLBACK");
}

static void
bind_text(struct ap_store *st, struct drv_stmt *s, int i, const char *v)
{
	drv_bind_text(st, s, i, v);
}

/* A copy of column i, NULL for SQL NULL; *oom set when out of memory. */
static char *
col_dup(struct ap_store *st, struct drv_stmt *s, int i, int *oom)
{
	const char *v = drv_col_text(st, s, i);
	char *d;

	if (v == NULL)
		return NULL;
	if ((d = strdup(v)) == NULL)
		*oom = 1;
	return d;
}

/* ---- opening and migrating ---- */

/* Runs a one-off statement (not cached): each row's first column text is
 * passed to fn. */
static int
oneoff(struct ap_store *st, const char *sql_in, void (*fn)(void *, const char *),
       void *ud, struct ap_ctx *ctx, const char *what)
{
	struct drv_stmt *s = NULL;
	char *sql = NULL;
	int rc, r = AP_OK;

	if ((sql = st->drv->ops->translate(sql_in)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	st->statements++;
	if (st->drv->ops->prepare(st->drv, sql, &s) != AP_OK) {
		free(sql);
		return db_fail(st, ctx, what);
	}
	free(sql);
	while ((rc = st->drv->ops->step(s)) == DRV_ROW)
		if (fn != NULL)
			fn(ud, st->drv->ops->col_text(s, 0));
	if (rc != DRV_DONE)
		r = db_fail(st, ctx, what);
	st->drv->ops->finalize(s);
	return r;
}

struct tables_seen {
	int has_version;
	int others;
};

static void
table_seen(void *ud, const char *name)
{
	struct tables_seen *t = ud;

	if (name != NULL && strcmp(name, "schema_version") == 0)
		t->has_version = 1;
	else
		t->others++;
}

static void
version_seen(void *ud, const char *v)
{
	*(int *)ud = v != NULL ? atoi(v) : 0;
}

/* Returns the version recorded in the store (0 for a new one) or < 0. */
static int
read_version(struct ap_store *st, int *version, struct ap_ctx *ctx)
{
	struct tables_seen t = { 0, 0 };
	int r;

	*version = 0;
	if ((r = oneoff(st, st->drv->ops->list_tables, table_seen, &t, ctx,
	                "cannot read the schema version")) != AP_OK)
		return r;
	if (!t.has_version) {
		if (t.others > 0)
			return ap_ctx_fail(ctx, AP_EINVAL, 0, "job store %s: this %s database holds other tables and is not an agentpush job store",
			                   st->path, st->drv->ops->name);
		return AP_OK;
	}
	return oneoff(st, "SELECT CAST(COALESCE(MAX(version), 0) AS TEXT) FROM schema_version",
	              version_seen, version, ctx, "cannot read the schema version");
}

/* Applies the missing migrations, each in its own transaction. */
static int
migrate(struct ap_store *st, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48], *script = NULL;
	int r, v = 0;

	if (ap_store_n_migrations != AP_STORE_SCHEMA_VERSION)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "store: %zu migrations for schema version %d",
		                   ap_store_n_migrations, AP_STORE_SCHEMA_VERSION);
	for (;;) {
		/* The write lock is taken before the version is read, so two
		 * processes opening a new store at once migrate it once. */
		if ((r = begin(st, 1, ctx)) != AP_OK)
			return r;
		if (st->drv->ops->lock_schema != NULL &&
		    (r = oneoff(st, st->drv->ops->lock_schema, NULL, NULL, ctx,
		                "cannot lock the schema")) != AP_OK)
			goto fail;
		if ((r = read_version(st, &v, ctx)) != AP_OK)
			goto fail;
		if (v > AP_STORE_SCHEMA_VERSION) {
			r = ap_ctx_fail(ctx, AP_EUNSUPP, 0, "job store %s: schema version %d is newer than this agentpush knows (%d): use a newer agentpush",
			                st->path, v, AP_STORE_SCHEMA_VERSION);
			goto fail;
		}
		if (v == AP_STORE_SCHEMA_VERSION)
			break;
		if ((script = st->drv->ops->translate_schema(ap_store_migrations[v])) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto fail;
		}
		st->statements++;
		if (st->drv->ops->exec_script(st->drv, script) != AP_OK) {
			r = ap_ctx_fail(ctx, AP_EIO, 0, "job store %s: migration to version %d failed: %s",
			                st->path, v + 1, st->drv->ops->errmsg(st->drv));
			goto fail;
		}
		free(script);
		script = NULL;
		now_iso(at, sizeof(at));
		if ((s = stmt(st, S_VERSION_INSERT, ctx)) == NULL) {
			r = ap_ctx_rc(ctx);
			goto fail;
		}
		drv_bind_int64(st, s, 1, v + 1);
		drv_bind_text(st, s, 2, at);
		if ((r = exec_stmt(st, s, ctx, "cannot record the schema version")) != AP_OK ||
		    (r = commit(st, ctx)) != AP_OK)
			goto fail;
	}
	st->version = v;
	return commit(st, ctx);
fail:
	free(script);
	rollback(st);
	return r;
}

int
ap_store_open(const char *path, struct ap_store **out, struct ap_ctx *ctx)
{
	struct ap_store *st = NULL;
	int r;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "job store: no path given");
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->gmu, NULL);
	pthread_cond_init(&st->gcond, NULL);
	st->gtail = &st->ghead;
	if ((r = drv_open(path, &st->drv, &st->path, ctx)) != AP_OK)
		goto out;
	st->guard_records = strcmp(st->drv->ops->name, "postgresql") == 0;
	if ((r = migrate(st, ctx)) != AP_OK)
		goto out;
	*out = st;
	st = NULL; /* transferred */
out:
	ap_store_close(st);
	return r;
}

void
ap_store_close(struct ap_store *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < S_COUNT_; i++)
		if (st->stmt[i] != NULL)
			st->drv->ops->finalize(st->stmt[i]);
	if (st->drv != NULL)
		st->drv->ops->close(st->drv);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->gmu);
	pthread_cond_destroy(&st->gcond);
	free(st->owner);
	free(st->path);
	free(st);
}

char *
ap_store_location_for(const char *location)
{
	if (location == NULL)
		return NULL;
	return drv_is_uri(location) ? drv_redact_uri(location) : strdup(location);
}

const char *
ap_store_location(const struct ap_store *st)
{
	return st != NULL && st->path != NULL ? st->path : "";
}

int
ap_store_schema_version(struct ap_store *st)
{
	return st != NULL ? st->version : 0;
}

/* ---- writing ---- */

/* Whether an inventory variable may hold a secret (ansible_password,
 * ansible_ssh_pass, ansible_become_password...): never stored. */
static int
var_secret(const char *key)
{
	return key != NULL && (strstr(key, "pass") != NULL || strstr(key, "pwd") != NULL ||
	                       strstr(key, "secret") != NULL);
}

static char *
vars_json(const struct ap_target *t)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;
	size_t i;

	if (o == NULL)
		return NULL;
	for (i = 0; i < t->n_vars; i++)
		if (!var_secret(t->vars[i].key) && cJSON_AddStringToObject(o, t->vars[i].key != NULL ? t->vars[i].key : "",
		                            t->vars[i].value != NULL ? t->vars[i].value : "") == NULL)
			goto out;
	s = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return s;
}

static int
event_insert(struct ap_store *st, int64_t job_id, int64_t target_id,
             const char *at, const char *what, const char *detail,
             struct ap_ctx *ctx)
{
	struct drv_stmt *s = stmt(st, S_EVENT_INSERT, ctx);

	if (s == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, job_id);
	if (target_id > 0)
		drv_bind_int64(st, s, 2, target_id);
	drv_bind_text(st, s, 3, at);
	bind_text(st, s, 4, what);
	bind_text(st, s, 5, detail != NULL ? detail : "");
	return exec_later(st, s, ctx, "cannot record an event");
}

static int
touch_job(struct ap_store *st, int64_t job_id, const char *at,
          struct ap_ctx *ctx)
{
	struct drv_stmt *s = stmt(st, S_JOB_TOUCH, ctx);

	if (s == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, job_id);
	drv_bind_text(st, s, 2, at);
	return exec_later(st, s, ctx, "cannot update the job");
}

int
ap_store_job_create(struct ap_store *st, enum ap_job_kind kind,
                    const char *package, const char *package_version,
                    const char *options_json,
                    const struct ap_target *targets, size_t n,
                    int64_t *job_id, int64_t *target_ids,
                    struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48], *vars = NULL;
	int64_t jid;
	size_t i;
	int r;

	if (st == NULL || (targets == NULL && n > 0) || job_id == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_create: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, S_JOB_INSERT, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_text(st, s, 1, ap_job_kind_name(kind));
	drv_bind_text(st, s, 2, at);
	bind_text(st, s, 3, package);
	bind_text(st, s, 4, package_version);
	bind_text(st, s, 5, options_json != NULL ? options_json : "{}");
	if ((r = exec_stmt(st, s, ctx, "cannot create the job")) != AP_OK)
		goto fail;
	jid = st->last_id;
	for (i = 0; i < n; i++) {
		const struct ap_target *t = &targets[i];

		if ((vars = vars_json(t)) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto fail;
		}
		if ((s = stmt(st, S_TARGET_INSERT, ctx)) == NULL) {
			r = ap_ctx_rc(ctx);
			goto fail;
		}
		drv_bind_int64(st, s, 1, jid);
		drv_bind_int64(st, s, 2, (int64_t)i);
		bind_text(st, s, 3, t->spec != NULL ? t->spec : "");
		bind_text(st, s, 4, t->user);
		bind_text(st, s, 5, t->host != NULL ? t->host : "");
		drv_bind_int64(st, s, 6, t->port);
		drv_bind_text(st, s, 7, ap_os_name(t->os));
		bind_text(st, s, 8, t->group);
		bind_text(st, s, 9, vars);
		drv_bind_text(st, s, 10, at);
		r = exec_stmt(st, s, ctx, "cannot add a target");
		free(vars);
		vars = NULL;
		if (r != AP_OK)
			goto fail;
		if (target_ids != NULL)
			target_ids[i] = st->last_id;
	}
	if ((r = event_insert(st, jid, 0, at, "created", ap_job_kind_name(kind), ctx)) != AP_OK ||
	    (r = commit(st, ctx)) != AP_OK)
		goto fail;
	*job_id = jid;
	goto out;
fail:
	rollback(st);
out:
	free(vars);   /* a target's, when its statement could not be had */
	pthread_mutex_unlock(&st->mu);
	return r;
}

/*
 * Fencing (store.h): with an owner set on the handle, a write to a target
 * is allowed only while the target's lease is that owner's.
 */
static int
fence(struct ap_store *st, int64_t target_id, const char *lease_owner,
      struct ap_ctx *ctx)
{
	if (st->owner == NULL)
		return AP_OK;
	if (lease_owner == NULL)
		return ap_ctx_fail(ctx, AP_ECONFLICT, 0, "target %" PRId64 ": this worker (%s) no longer holds its lease (released)",
		                   target_id, st->owner);
	if (strcmp(lease_owner, st->owner) != 0)
		return ap_ctx_fail(ctx, AP_ECONFLICT, 0, "target %" PRId64 ": its lease passed to another worker (%s)",
		                   target_id, lease_owner);
	return AP_OK;
}

/* Reads the target's job and state inside the open transaction; with
 * fencing on, fails with AP_ECONFLICT when the lease is not ours. */
static int
target_state(struct ap_store *st, int64_t target_id, int64_t *job_id,
             enum ap_host_state *state, struct ap_ctx *ctx)
{
	struct drv_stmt *s = stmt(st, S_TARGET_STATE, ctx);
	int rc, r;

	if (s == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, target_id);
	rc = drv_step(st, s);
	if (rc == DRV_DONE) {
		drv_reset(st, s);
		return ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "job store %s: no target %" PRId64,
		                   st->path, target_id);
	}
	if (rc != DRV_ROW) {
		drv_reset(st, s);
		return db_fail(st, ctx, "cannot read a target");
	}
	*job_id = drv_col_int64(st, s, 0);
	if (state_parse(drv_col_text(st, s, 1), state) != 0) {
		drv_reset(st, s);
		return ap_ctx_fail(ctx, AP_EPROTO, 0, "job store %s: target %" PRId64 " has an unknown state",
		                   st->path, target_id);
	}
	r = fence(st, target_id, drv_col_text(st, s, 2), ctx);
	drv_reset(st, s);
	return r;
}

/*
 * Whether a target may move from `from` to `to`: forward only, FAILED and
 * SKIPPED from any non-terminal state, nothing out of a terminal state.
 * Staying in the same non-terminal state is allowed (a retry records it
 * again).
 */
static int
move_allowed(enum ap_host_state from, enum ap_host_state to)
{
	if (ap_host_state_terminal(from))
		return 0;
	if (to == AP_HOST_FAILED || to == AP_HOST_SKIPPED)
		return 1;
	return to >= from;
}

/* A move's event detail: "FROM -> TO", and ": NOTE" when there is one. */
static void
move_detail(char *buf, size_t size, enum ap_host_state from,
            enum ap_host_state to, const char *note)
{
	if (note != NULL && note[0] != '\0')
		snprintf(buf, size, "%s -> %s: %s", ap_host_state_name(from),
		         ap_host_state_name(to), note);
	else
		snprintf(buf, size, "%s -> %s", ap_host_state_name(from),
		         ap_host_state_name(to));
}

/*
 * Inside the open transaction: a record's history.  One "state" event per
 * move, from the state *from (updated to the last), note on the last; two
 * moves in one statement.  The caller checked that the moves are allowed
 * (record_locked checks a record's moves before its first write).
 */
static int
moves_locked(struct ap_store *st, int64_t target_id, int64_t job_id,
             enum ap_host_state *from, const enum ap_host_state *states,
             size_t n, const char *note, const char *at, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char detail[512], detail2[512];
	size_t i = 0;
	int r;

	for (; i < n; i += n - i >= 2 ? 2 : 1) {
		move_detail(detail, sizeof(detail), *from, states[i],
		            i + 1 == n ? note : NULL);
		if (n - i < 2) {
			if ((r = event_insert(st, job_id, target_id, at, "state", detail, ctx)) != AP_OK)
				return r;
			*from = states[i];
			continue;
		}
		move_detail(detail2, sizeof(detail2), states[i], states[i + 1],
		            i + 2 == n ? note : NULL);
		if ((s = stmt(st, S_EVENT_INSERT2, ctx)) == NULL)
			return ap_ctx_rc(ctx);
		drv_bind_int64(st, s, 1, job_id);
		drv_bind_int64(st, s, 2, target_id);
		drv_bind_text(st, s, 3, at);
		drv_bind_text(st, s, 4, "state");
		bind_text(st, s, 5, detail);
		bind_text(st, s, 6, detail2);
		if ((r = exec_later(st, s, ctx, "cannot record an event")) != AP_OK)
			return r;
		*from = states[i + 1];
	}
	return AP_OK;
}

/* Sends S_TARGET_GUARD for target_id in state (record_locked). */
static int
guard_send(struct ap_store *st, int64_t target_id, enum ap_host_state state,
           struct ap_ctx *ctx)
{
	struct drv_stmt *s = stmt(st, S_TARGET_GUARD, ctx);

	if (s == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, target_id);
	drv_bind_text(st, s, 2, ap_host_state_name(state));
	bind_text(st, s, 3, st->owner);
	return exec_later(st, s, ctx, "cannot check a target");
}

/*
 * Inside the open transaction: a record's one write to its target's row:
 * the state it ends in (state), attempts more attempts and, with res, the
 * result's note and OS.  guarded: the row's state must still be guard_state
 * (and fencing on, its lease the handle's owner's), checked in the same
 * statement (S_TARGET_MOVE_GUARDED).  A record with nothing to write to
 * the row still sends its guard and result alone.
 */
static int
row_locked(struct ap_store *st, int64_t target_id, int moved,
           enum ap_host_state state, int attempts, const struct ap_result *res,
           int guarded, enum ap_host_state guard_state, const char *at,
           struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int r;

	if (!moved && attempts == 0) {
		if (guarded && (r = guard_send(st, target_id, guard_state, ctx)) != AP_OK)
			return r;
		if (res == NULL)
			return AP_OK;
		if ((s = stmt(st, S_TARGET_SET_RESULT, ctx)) == NULL)
			return ap_ctx_rc(ctx);
		drv_bind_int64(st, s, 1, target_id);
		bind_text(st, s, 2, res->note);
		drv_bind_text(st, s, 3, ap_os_name(res->os));
		drv_bind_text(st, s, 4, at);
		return exec_later(st, s, ctx, "cannot record the result");
	}
	if ((s = stmt(st, guarded ? S_TARGET_MOVE_GUARDED : S_TARGET_MOVE, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, target_id);
	drv_bind_text(st, s, 2, ap_host_state_name(state));
	drv_bind_text(st, s, 3, at);
	drv_bind_int64(st, s, 4, attempts);
	drv_bind_int64(st, s, 5, res != NULL);
	bind_text(st, s, 6, res != NULL ? res->note : NULL);
	bind_text(st, s, 7, res != NULL ? ap_os_name(res->os) : NULL);
	if (guarded) {
		drv_bind_text(st, s, 8, ap_host_state_name(guard_state));
		bind_text(st, s, 9, st->owner);
	}
	return exec_later(st, s, ctx, guarded ? "cannot check and record a state"
	                                      : "cannot record a state");
}

/* Inside the open transaction: replaces the findings with res's, with an
 * event each, and the note's event (the note and OS go on the row with the
 * record's state: row_locked()). */
static int
result_locked(struct ap_store *st, int64_t target_id, int64_t job_id,
              const struct ap_result *res, const char *at, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char detail[64];
	size_t i;
	int r;

	if ((s = stmt(st, S_FINDINGS_DELETE, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, target_id);
	if ((r = exec_later(st, s, ctx, "cannot replace the findings")) != AP_OK)
		return r;
	for (i = 0; i < res->n_findings; i++) {
		const struct ap_finding *f = &res->findings[i];

		if ((s = stmt(st, S_FINDING_INSERT, ctx)) == NULL)
			return ap_ctx_rc(ctx);
		drv_bind_int64(st, s, 1, target_id);
		drv_bind_int64(st, s, 2, (int64_t)i);
		drv_bind_int64(st, s, 3, f->id);
		drv_bind_text(st, s, 4, ap_severity_name(f->severity));
		bind_text(st, s, 5, f->message);
		bind_text(st, s, 6, f->evidence);
		if ((r = exec_later(st, s, ctx, "cannot record a finding")) != AP_OK)
			return r;
		snprintf(detail, sizeof(detail), "%d %s", f->id, ap_severity_name(f->severity));
		if ((r = event_insert(st, job_id, target_id, at, "finding", detail, ctx)) != AP_OK)
			return r;
	}
	if (res->note != NULL && res->note[0] != '\0' &&
	    (r = event_insert(st, job_id, target_id, at, "note", res->note, ctx)) != AP_OK)
		return r;
	return AP_OK;
}

/*
 * Group commit.  A record is one call's worth of ap_store_target_record();
 * the calling thread owns it (on its stack) and waits until it is done.
 * Records queued while a transaction is being committed go together into
 * the next one: the first waiter that finds no leader becomes the leader,
 * takes the whole queue, writes every record in one transaction (each in
 * its own savepoint, so a refused move undoes only its own record), commits
 * (one fsync with synchronous=FULL) and only then marks each record done.
 * So every call still returns only after its own record is durable, as
 * store.h promises; what changes is that 32 workers reaching a state at
 * about the same moment share one fsync instead of queueing for 32.
 */
struct record {
	int64_t target_id;
	int attempts;
	const struct ap_result *res;
	const enum ap_host_state *states;
	size_t n_states;
	const char *note;
	struct ap_ctx *ctx;     /* the caller's: errors of this record go here */
	char at[48];
	int r;                  /* result, valid once done */
	int wrote;              /* record_locked began writing (see there) */
	int64_t job_id;         /* the target's job, set by record_locked */
	enum ap_host_state final; /* its state once written (record_locked) */
	int done;               /* under gmu */
	struct record *next;    /* queue link, under gmu */
};

/*
 * Inside the open transaction: writes one record's statements (the job's
 * "updated" is touched by the caller, see touch_jobs).  Everything that can
 * refuse the record (no such target, a lease not ours, a move not allowed)
 * is checked before its first write and sets rec->wrote only after: a
 * refusal with no database error leaves the transaction as it was, so the
 * other records of the batch go on without a savepoint each.
 */
static struct known_target *
known_slot(struct ap_store *st, int64_t target_id)
{
	size_t n = sizeof(st->known) / sizeof(st->known[0]);

	return &st->known[(uint64_t)target_id % n];
}

/* Remembers that target_id is in job_id and state (with a server only:
 * known[] is empty with SQLite). */
static void
known_set(struct ap_store *st, int64_t target_id, int64_t job_id,
          enum ap_host_state state)
{
	struct known_target *k = known_slot(st, target_id);

	if (!st->guard_records)
		return;
	k->target_id = target_id;
	k->job_id = job_id;
	k->state = state;
}

/*
 * Inside the open transaction: the target's job and state, and fencing, as
 * target_state() does, but without waiting for the server when the handle
 * committed the target's last record (known[]): then *guarded is set, the
 * record's write to the row carries the guard (row_locked()), and the
 * transaction fails with DRV_ERR_GUARD if the target moved or its lease
 * passed on since; commit_batch() then writes the batch again the careful
 * way.
 */
static int
target_state_known(struct ap_store *st, int64_t target_id, int use_known,
                   int64_t *job_id, enum ap_host_state *state, int *guarded,
                   struct ap_ctx *ctx)
{
	struct known_target *k = known_slot(st, target_id);

	*guarded = 0;
	if (!use_known || !st->guard_records || k->target_id != target_id)
		return target_state(st, target_id, job_id, state, ctx);
	*job_id = k->job_id;
	*state = k->state;
	*guarded = 1;
	return AP_OK;
}

static int
record_locked(struct ap_store *st, struct record *rec, int use_known)
{
	enum ap_host_state from = AP_HOST_PLANNED, known = AP_HOST_PLANNED, to;
	struct ap_ctx *ctx = rec->ctx;
	int64_t job_id = 0;
	size_t i;
	int r, guarded = 0;

	r = target_state_known(st, rec->target_id, use_known, &job_id, &from,
	                       &guarded, ctx);
	if (r != AP_OK)
		return r;
	rec->job_id = job_id;
	for (to = from, i = 0; i < rec->n_states; to = rec->states[i], i++)
		if (!move_allowed(to, rec->states[i]))
			return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "job store: target %" PRId64 " cannot move from %s to %s",
			                   rec->target_id, ap_host_state_name(to),
			                   ap_host_state_name(rec->states[i]));
	rec->wrote = 1;
	/* Findings before the moves: a terminal state always has them. */
	if (rec->res != NULL &&
	    (r = result_locked(st, rec->target_id, job_id, rec->res, rec->at, ctx)) != AP_OK)
		return r;
	known = from;
	r = moves_locked(st, rec->target_id, job_id, &from, rec->states, rec->n_states,
	                 rec->note, rec->at, ctx);
	if (r != AP_OK)
		return r;
	r = row_locked(st, rec->target_id, rec->n_states > 0, from, rec->attempts,
	               rec->res, guarded, known, rec->at, ctx);
	if (r != AP_OK)
		return r;
	rec->final = from;
	return AP_OK;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Touches the job of every record that went in, once each, in job id
 * order, after all the target rows.  With PostgreSQL each row stays
 * locked until COMMIT: two workers' batches locking jobs in the order of
 * their records could each wait for the other's job (a deadlock); in one
 * order, last, they cannot.
 */
static int
touch_jobs(struct ap_store *st, struct record *batch, struct ap_ctx *ctx)
{
	int64_t stack_ids[64], *ids = stack_ids;
	struct record *rec = NULL;
	size_t n = 0, cap = 0, i;
	int r = AP_OK;

	for (rec = batch; rec != NULL; rec = rec->next)
		cap++;
	if (cap > sizeof(stack_ids) / sizeof(stack_ids[0]) &&
	    (ids = calloc(cap, sizeof(*ids))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	for (rec = batch; rec != NULL; rec = rec->next)
		if (rec->r == AP_OK && rec->job_id > 0)
			ids[n++] = rec->job_id;
	qsort(ids, n, sizeof(*ids), cmp_i64);
	st->touch_pending = n > 0 && ids[0] == ids[n - 1] ? ids[0] : 0;
	for (i = 0; i < n && r == AP_OK; i++) {
		if (i > 0 && ids[i] == ids[i - 1])
			continue;
		/* once a second is enough for "updated", and saves a worker
		 * one statement on most of its records */
		if (ids[i] == st->touched_job &&
		    strncmp(batch->at, st->touched_sec, sizeof(st->touched_sec) - 1) == 0)
			continue;
		r = touch_job(st, ids[i], batch->at, ctx);
	}
	if (ids != stack_ids)
		free(ids);
	return r;
}

/* After the batch's commit: the job touch_jobs saw alone in it is the one
 * whose "updated" is now this second's. */
static void
touched_jobs(struct ap_store *st, const struct record *batch)
{
	if (st->touch_pending <= 0)
		return;
	st->touched_job = st->touch_pending;
	memcpy(st->touched_sec, batch->at, sizeof(st->touched_sec) - 1);
	st->touched_sec[sizeof(st->touched_sec) - 1] = '\0';
}

/*
 * After a failure inside the batch: when the whole transaction is gone
 * (SQLite rolls back by itself on some I/O and memory errors) or cannot be
 * brought back to the savepoint, every record written before it is lost
 * too, and is failed with the same message.
 */
static void
fail_batch(struct record *batch, const struct record *cause)
{
	const char *msg = ap_ctx_errmsg(cause->ctx);
	struct record *b = NULL;

	if (msg[0] == '\0')
		msg = "job store: the transaction failed";
	for (b = batch; b != NULL; b = b->next)
		if (b != cause && b->r == AP_OK)
			b->r = ap_ctx_fail(b->ctx, cause->r != AP_OK ? cause->r : AP_EIO,
			                   0, "%s", msg);
}

/*
 * One try of commit_batch() (use_known: records of known targets send a
 * guard, target_state_known).  Returns 1 when a guard failed: nothing was
 * written, the records' results are to be thrown away and the batch tried
 * again without guards; else 0, each record's result set.  Called with mu.
 */
static int
commit_batch_try(struct ap_store *st, struct record *batch, int use_known)
{
	struct record *rec = NULL;
	unsigned long db_errors;
	int r, guard = 0, committed = 0;

	for (rec = batch; rec != NULL; rec = rec->next) {
		rec->r = AP_OK;
		rec->wrote = 0;
	}
	if ((r = begin(st, 1, batch->ctx)) != AP_OK) {
		batch->r = r;
		fail_batch(batch, batch);
		goto out;
	}
	for (rec = batch; rec != NULL; rec = rec->next) {
		db_errors = st->db_errors;
		if ((rec->r = record_locked(st, rec, use_known)) != AP_OK &&
		    (rec->wrote || st->db_errors != db_errors))
			goto abort;
	}
	if ((r = touch_jobs(st, batch, batch->ctx)) != AP_OK) {
		rec = batch;
		rec->r = r;
		goto abort;
	}
	if ((r = commit(st, batch->ctx)) != AP_OK) {
		guard = st->drv->ops->errkind(st->drv) == DRV_ERR_GUARD;
		for (rec = batch; rec != NULL; rec = rec->next)
			if (rec->r == AP_OK) {
				rec->r = r;
				fail_batch(batch, rec);
				break;
			}
		rollback(st);
		goto out;
	}
	touched_jobs(st, batch);
	for (rec = batch; rec != NULL; rec = rec->next)
		if (rec->r == AP_OK)
			known_set(st, rec->target_id, rec->job_id, rec->final);
	committed = 1;
	goto out;
abort:
	/* a guard's error comes back with the first read after it */
	guard = st->drv->ops->errkind(st->drv) == DRV_ERR_GUARD;
	fail_batch(batch, rec);
	rollback(st);
out:
	if (!committed)
		for (rec = batch; rec != NULL; rec = rec->next)
			known_slot(st, rec->target_id)->target_id = 0;
	return guard;
}

/*
 * The leader's work: the whole batch in one transaction.  A record refused
 * before its first write (record_locked) fails alone; a database error, or
 * a failure once a record began writing, takes the whole batch with it.
 * A failed guard (a known target moved or changed hands meanwhile) is no
 * error: the batch is written again, each target read first.
 */
static void
commit_batch(struct ap_store *st, struct record *batch)
{
	struct record *rec = NULL;

	pthread_mutex_lock(&st->mu);
	if (commit_batch_try(st, batch, 1)) {
		st->db_errors--;   /* counted by db_fail, but no database error */
		for (rec = batch; rec != NULL; rec = rec->next)
			ap_ctx_clear(rec->ctx);
		(void)commit_batch_try(st, batch, 0);
	}
	pthread_mutex_unlock(&st->mu);
}

int
ap_store_target_record(struct ap_store *st, int64_t target_id, int attempts,
                       const struct ap_result *res,
                       const enum ap_host_state *states, size_t n_states,
                       const char *note, struct ap_ctx *ctx)
{
	struct record rec, *batch = NULL, *b = NULL, *next = NULL;
	size_t i;

	if (st == NULL || attempts < 0 || (n_states > 0 && states == NULL))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: record: bad arguments");
	for (i = 0; i < n_states; i++)
		if ((unsigned)states[i] >= AP_HOST_STATE_COUNT_)
			return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: record: bad state");
	memset(&rec, 0, sizeof(rec));
	rec.target_id = target_id;
	rec.attempts = attempts;
	rec.res = res;
	rec.states = states;
	rec.n_states = n_states;
	rec.note = note;
	rec.ctx = ctx;
	now_iso(rec.at, sizeof(rec.at));

	pthread_mutex_lock(&st->gmu);
	*st->gtail = &rec;
	st->gtail = &rec.next;
	while (!rec.done) {
		if (st->gleader) {
			pthread_cond_wait(&st->gcond, &st->gmu);
			continue;
		}
		st->gleader = 1;
		batch = st->ghead;
		st->ghead = NULL;
		st->gtail = &st->ghead;
		pthread_mutex_unlock(&st->gmu);
		commit_batch(st, batch);
		pthread_mutex_lock(&st->gmu);
		/* A record's owner may return as soon as it sees done: read
		 * the link first. */
		for (b = batch; b != NULL; b = next) {
			next = b->next;
			b->done = 1;
		}
		st->gleader = 0;
		pthread_cond_broadcast(&st->gcond);
	}
	pthread_mutex_unlock(&st->gmu);
	return rec.r;
}

int
ap_store_target_set_state(struct ap_store *st, int64_t target_id,
                          enum ap_host_state state, const char *note,
                          struct ap_ctx *ctx)
{
	return ap_store_target_record(st, target_id, 0, NULL, &state, 1, note, ctx);
}

int
ap_store_target_attempt(struct ap_store *st, int64_t target_id,
                        struct ap_ctx *ctx)
{
	return ap_store_target_record(st, target_id, 1, NULL, NULL, 0, NULL, ctx);
}

int
ap_store_target_set_result(struct ap_store *st, int64_t target_id,
                           const struct ap_result *res, struct ap_ctx *ctx)
{
	if (res == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: set_result: bad arguments");
	return ap_store_target_record(st, target_id, 0, res, NULL, 0, NULL, ctx);
}

int
ap_store_event(struct ap_store *st, int64_t job_id, int64_t target_id,
               const char *what, const char *detail, struct ap_ctx *ctx)
{
	enum ap_host_state hs = AP_HOST_PLANNED;
	int64_t tjob = 0;
	char at[48];
	int r;

	if (st == NULL || what == NULL || what[0] == '\0')
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: event: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if (st->owner == NULL || target_id <= 0) {
		/* One statement, so one implicit transaction. */
		r = event_insert(st, job_id, target_id, at, what, detail, ctx);
		goto out;
	}
	/* Fenced: the lease check and the insert in one transaction. */
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((r = target_state(st, target_id, &tjob, &hs, ctx)) != AP_OK ||
	    (r = event_insert(st, job_id, target_id, at, what, detail, ctx)) != AP_OK ||
	    (r = commit(st, ctx)) != AP_OK)
		rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_job_set_status(struct ap_store *st, int64_t job_id,
                        enum ap_job_status status, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48];
	int r;

	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: set_status: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, S_JOB_SET_STATUS, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_int64(st, s, 1, job_id);
	drv_bind_text(st, s, 2, ap_job_status_name(status));
	drv_bind_text(st, s, 3, at);
	if ((r = exec_stmt(st, s, ctx, "cannot update the job")) != AP_OK)
		goto fail;
	if (st->drv->ops->changes(st->drv) == 0) {
		r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "job store %s: no job %" PRId64, st->path, job_id);
		goto fail;
	}
	if ((r = event_insert(st, job_id, 0, at, "status", ap_job_status_name(status), ctx)) != AP_OK ||
	    (r = commit(st, ctx)) != AP_OK)
		goto fail;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* ---- reading ---- */

void
ap_job_info_clear(struct ap_job_info *job)
{
	if (job == NULL)
		return;
	free(job->created);
	free(job->updated);
	free(job->package);
	free(job->package_version);
	free(job->options_json);
	memset(job, 0, sizeof(*job));
}

void
ap_store_jobs_free(struct ap_job_info *jobs, size_t n)
{
	size_t i;

	for (i = 0; jobs != NULL && i < n; i++)
		ap_job_info_clear(&jobs[i]);
	free(jobs);
}

/* Fills job from a row of S_JOBS_LIST or S_JOB_GET, then counts states. */
static int
job_row(struct ap_store *st, struct drv_stmt *s, struct ap_job_info *job,
        struct ap_ctx *ctx)
{
	struct drv_stmt *c = NULL;
	const char *k;
	int oom = 0, rc;

	memset(job, 0, sizeof(*job));
	job->id = drv_col_int64(st, s, 0);
	k = drv_col_text(st, s, 1);
	job->kind = k != NULL && strcmp(k, "install") == 0 ? AP_JOB_INSTALL : AP_JOB_CHECK;
	k = drv_col_text(st, s, 2);
	job->status = k != NULL && strcmp(k, "done") == 0 ? AP_JOB_DONE : AP_JOB_RUNNING;
	job->created = col_dup(st, s, 3, &oom);
	job->updated = col_dup(st, s, 4, &oom);
	job->package = col_dup(st, s, 5, &oom);
	job->package_version = col_dup(st, s, 6, &oom);
	job->options_json = col_dup(st, s, 7, &oom);
	job->cancelled = !drv_col_null(st, s, 8);
	if (oom)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if ((c = stmt(st, S_JOB_COUNTS, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, c, 1, job->id);
	while ((rc = drv_step(st, c)) == DRV_ROW) {
		enum ap_host_state hs;
		size_t cnt = (size_t)drv_col_int64(st, c, 1);

		if (state_parse(drv_col_text(st, c, 0), &hs) == 0)
			job->n_state[hs] += cnt;
		job->n_targets += cnt;
	}
	drv_reset(st, c);
	if (rc != DRV_DONE)
		return db_fail(st, ctx, "cannot count the targets");
	return AP_OK;
}

int
ap_store_jobs_list(struct ap_store *st, size_t limit,
                   struct ap_job_info **out, size_t *n, struct ap_ctx *ctx)
{
	struct ap_job_info *jobs = NULL, *nj;
	struct drv_stmt *s = NULL;
	size_t cnt = 0, cap = 0;
	int r, rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: jobs_list: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 0, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, S_JOBS_LIST, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_int64(st, s, 1, limit == 0 || limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	while ((rc = drv_step(st, s)) == DRV_ROW) {
		if (cnt == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			if ((nj = reallocarray(jobs, cap, sizeof(*jobs))) == NULL) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto fail;
			}
			jobs = nj;
		}
		/* job_row uses another statement; s keeps its place. */
		r = job_row(st, s, &jobs[cnt], ctx);
		cnt++;
		if (r != AP_OK)
			goto fail;
	}
	if (rc != DRV_DONE) {
		r = db_fail(st, ctx, "cannot list the jobs");
		goto fail;
	}
	drv_reset(st, s);
	if ((r = commit(st, ctx)) != AP_OK)
		goto fail;
	*out = jobs;
	*n = cnt;
	jobs = NULL; /* transferred */
	goto out;
fail:
	rollback(st);
	ap_store_jobs_free(jobs, cnt);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* Loads one job inside the caller's transaction. */
static int
job_get(struct ap_store *st, int64_t job_id, struct ap_job_info *out,
        struct ap_ctx *ctx)
{
	struct drv_stmt *s = stmt(st, S_JOB_GET, ctx);
	int rc, r;

	if (s == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, job_id);
	rc = drv_step(st, s);
	if (rc == DRV_DONE) {
		drv_reset(st, s);
		return ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "no job %" PRId64 " in %s", job_id, st->path);
	}
	if (rc != DRV_ROW) {
		drv_reset(st, s);
		return db_fail(st, ctx, "cannot read the job");
	}
	r = job_row(st, s, out, ctx);
	drv_reset(st, s);
	if (r != AP_OK)
		ap_job_info_clear(out);
	return r;
}

int
ap_store_job_get(struct ap_store *st, int64_t job_id, struct ap_job_info *out,
                 struct ap_ctx *ctx)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_get: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 0, ctx)) == AP_OK) {
		r = job_get(st, job_id, out, ctx);
		if (r == AP_OK && (r = commit(st, ctx)) != AP_OK)
			ap_job_info_clear(out);
		if (r != AP_OK)
			rollback(st);
	}
	pthread_mutex_unlock(&st->mu);
	return r;
}

void
ap_store_targets_free(struct ap_job_target *t, size_t n)
{
	size_t i;

	for (i = 0; t != NULL && i < n; i++)
		ap_target_clear(&t[i].target);
	free(t);
}

/* A stored target with what the report needs besides struct ap_job_target. */
struct trow {
	struct ap_job_target jt;
	char *note;
	enum ap_os result_os;
	int has_result_os;
};

static void
trows_free(struct trow *rows, size_t n)
{
	size_t i;

	for (i = 0; rows != NULL && i < n; i++) {
		ap_target_clear(&rows[i].jt.target);
		free(rows[i].note);
	}
	free(rows);
}

static int
vars_parse(const char *json, struct ap_target *t)
{
	cJSON *o = NULL, *it;
	size_t n = 0;
	int r = -1;

	if (json == NULL || (o = cJSON_Parse(json)) == NULL || !cJSON_IsObject(o))
		goto out;
	n = (size_t)cJSON_GetArraySize(o);
	if (n == 0) {
		r = 0;
		goto out;
	}
	if ((t->vars = calloc(n, sizeof(*t->vars))) == NULL)
		goto out;
	cJSON_ArrayForEach(it, o) {
		struct ap_var *v = &t->vars[t->n_vars];

		if (!cJSON_IsString(it) || t->n_vars == n)
			goto out;
		if ((v->key = strdup(it->string)) == NULL ||
		    (v->value = strdup(it->valuestring)) == NULL) {
			free(v->key);
			v->key = NULL;
			goto out;
		}
		t->n_vars++;
	}
	r = 0;
out:
	cJSON_Delete(o);
	return r;
}

/* Loads the job's targets in index order inside the caller's transaction. */
/*
 * A set of target ids (a worker's claims): the range the load asks the
 * database for, and the ids it keeps of it.  Claims come in id order, so
 * the range is close to the set; a far-off id costs rows, never a wrong
 * answer.
 */
struct idset {
	int64_t *ids;           /* sorted, owned */
	size_t n;
	int64_t lo, hi;
};

/* 0, or AP_ENOMEM with ctx set. */
static int
idset_init(struct idset *set, const int64_t *ids, size_t n, struct ap_ctx *ctx)
{
	memset(set, 0, sizeof(*set));
	if (n == 0) {
		set->lo = 1;    /* an empty range: nothing */
		return AP_OK;
	}
	if ((set->ids = calloc(n, sizeof(*ids))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	memcpy(set->ids, ids, n * sizeof(*ids));
	qsort(set->ids, n, sizeof(*ids), cmp_i64);
	set->n = n;
	set->lo = set->ids[0];
	set->hi = set->ids[n - 1];
	return AP_OK;
}

/* Whether id is in set; every id is in no set (NULL). */
static int
idset_has(const struct idset *set, int64_t id)
{
	return set == NULL || bsearch(&id, set->ids, set->n, sizeof(id), cmp_i64) != NULL;
}

static int
trows_load(struct ap_store *st, int64_t job_id, const struct idset *only,
           struct trow **out, size_t *n, struct ap_ctx *ctx)
{
	struct trow *rows = NULL, *nr;
	struct drv_stmt *s = NULL;
	size_t cnt = 0, cap = 0;
	int rc, r = AP_OK;

	*out = NULL;
	*n = 0;
	if ((s = stmt(st, S_TARGETS_LOAD, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, job_id);
	drv_bind_int64(st, s, 2, only != NULL ? only->lo : INT64_MIN);
	drv_bind_int64(st, s, 3, only != NULL ? only->hi : INT64_MAX);
	while ((rc = drv_step(st, s)) == DRV_ROW) {
		struct trow *w;
		int oom = 0;

		if (!idset_has(only, drv_col_int64(st, s, 0)))
			continue;

		if (cnt == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			if ((nr = reallocarray(rows, cap, sizeof(*rows))) == NULL) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto out;
			}
			rows = nr;
		}
		w = &rows[cnt++];
		memset(w, 0, sizeof(*w));
		w->jt.id = drv_col_int64(st, s, 0);
		w->jt.index = (size_t)drv_col_int64(st, s, 1);
		w->jt.target.spec = col_dup(st, s, 2, &oom);
		w->jt.target.user = col_dup(st, s, 3, &oom);
		w->jt.target.host = col_dup(st, s, 4, &oom);
		w->jt.target.port = (int)drv_col_int64(st, s, 5);
		if (ap_os_parse(drv_col_text(st, s, 6), &w->jt.target.os) != AP_OK)
			w->jt.target.os = AP_OS_AUTO;
		w->jt.target.group = col_dup(st, s, 7, &oom);
		if (vars_parse(drv_col_text(st, s, 8), &w->jt.target) != 0 && !oom) {
			r = ap_ctx_fail(ctx, AP_EPROTO, 0, "job store %s: target %" PRId64 " has unreadable variables",
			                st->path, w->jt.id);
			goto out;
		}
		if (state_parse(drv_col_text(st, s, 9), &w->jt.state) != 0) {
			r = ap_ctx_fail(ctx, AP_EPROTO, 0, "job store %s: target %" PRId64 " has an unknown state",
			                st->path, w->jt.id);
			goto out;
		}
		w->jt.attempts = (int)drv_col_int64(st, s, 10);
		w->note = col_dup(st, s, 11, &oom);
		w->has_result_os = !drv_col_null(st, s, 12) &&
			ap_os_parse(drv_col_text(st, s, 12), &w->result_os) == AP_OK;
		w->jt.lease_gen = drv_col_int64(st, s, 13);
		if (oom) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
	}
	if (rc != DRV_DONE) {
		r = db_fail(st, ctx, "cannot read the targets");
		goto out;
	}
	*out = rows;
	*n = cnt;
	rows = NULL; /* transferred */
out:
	drv_reset(st, s);
	trows_free(rows, cnt);
	return r;
}

static int
job_targets(struct ap_store *st, int64_t job_id, const struct idset *only,
            struct ap_job_target **out, size_t *n, struct ap_ctx *ctx)
{
	struct ap_job_info job;
	struct ap_job_target *t = NULL;
	struct trow *rows = NULL;
	size_t cnt = 0, i;
	int r;

	*out = NULL;
	*n = 0;
	memset(&job, 0, sizeof(job));
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_targets: bad arguments");
	pthread_mutex_lock(&st->mu);
	if (only != NULL) {
		/* One statement: its own snapshot, one round trip (a worker's
		 * share and each refill); the claims came from the job, so
		 * whether it exists is not asked. */
		if ((r = trows_load(st, job_id, only, &rows, &cnt, ctx)) != AP_OK)
			goto out;
	} else if ((r = begin(st, 0, ctx)) != AP_OK) {
		goto out;
	} else if ((r = job_get(st, job_id, &job, ctx)) != AP_OK ||
	           (r = trows_load(st, job_id, only, &rows, &cnt, ctx)) != AP_OK ||
	           (r = commit(st, ctx)) != AP_OK) {
		rollback(st);
		goto out;
	}
	if (cnt > 0 && (t = calloc(cnt, sizeof(*t))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < cnt; i++) {
		t[i] = rows[i].jt; /* strings transferred */
		memset(&rows[i].jt, 0, sizeof(rows[i].jt));
	}
	*out = t;
	*n = cnt;
out:
	pthread_mutex_unlock(&st->mu);
	ap_job_info_clear(&job);
	trows_free(rows, cnt);
	return r;
}

int
ap_store_job_targets(struct ap_store *st, int64_t job_id,
                     struct ap_job_target **out, size_t *n,
                     struct ap_ctx *ctx)
{
	return job_targets(st, job_id, NULL, out, n, ctx);
}

int
ap_store_job_targets_in(struct ap_store *st, int64_t job_id, const int64_t *ids,
                        size_t n_ids, struct ap_job_target **out, size_t *n,
                        struct ap_ctx *ctx)
{
	struct idset set;
	int r;

	*out = NULL;
	*n = 0;
	if (ids == NULL && n_ids > 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_targets: bad arguments");
	if ((r = idset_init(&set, ids, n_ids, ctx)) != AP_OK)
		return r;
	r = job_targets(st, job_id, &set, out, n, ctx);
	free(set.ids);
	return r;
}

/* Adds the stored findings of target_id to res. */
static int
findings_load(struct ap_store *st, int64_t target_id, struct ap_result *res,
              struct ap_ctx *ctx)
{
	struct drv_stmt *s = stmt(st, S_FINDINGS_LOAD, ctx);
	int rc, r = AP_OK;

	if (s == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, target_id);
	while ((rc = drv_step(st, s)) == DRV_ROW) {
		int id = (int)drv_col_int64(st, s, 0);

		r = ap_result_add_sev(res, id,
		                      severity_parse(drv_col_text(st, s, 1)),
		                      drv_col_text(st, s, 2),
		                      drv_col_text(st, s, 3));
		if (r == AP_EINVAL) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "job store %s: ErrorID %d of target %" PRId64 " is not in this agentpush's catalog",
			                st->path, id, target_id);
			goto out;
		}
		if (r != AP_OK) {
			r = ap_ctx_fail(ctx, r, 0, "out of memory");
			goto out;
		}
	}
	if (rc != DRV_DONE)
		r = db_fail(st, ctx, "cannot read the findings");
out:
	drv_reset(st, s);
	return r;
}

static int
job_report(struct ap_store *st, int64_t job_id, const struct idset *only,
           struct ap_report *report, struct ap_ctx *ctx)
{
	struct ap_job_info job;
	struct trow *rows = NULL;
	size_t cnt = 0, i;
	char note[160];
	int r;

	memset(&job, 0, sizeof(job));
	if (st == NULL || report == NULL || ap_report_count(report) != 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_report: bad arguments");
	pthread_mutex_lock(&st->mu);
	/* One read transaction: a consistent snapshot while a run writes. */
	if ((r = begin(st, 0, ctx)) != AP_OK)
		goto out;
	if ((r = job_get(st, job_id, &job, ctx)) != AP_OK ||
	    (r = trows_load(st, job_id, only, &rows, &cnt, ctx)) != AP_OK)
		goto fail;
	for (i = 0; i < cnt; i++) {
		struct ap_result *res = ap_report_add_target(report, &rows[i].jt.target);

		if (res == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto fail;
		}
		if (rows[i].has_result_os)
			res->os = rows[i].result_os;
		if (!ap_host_state_terminal(rows[i].jt.state)) {
			snprintf(note, sizeof(note), ap_tr("interrupted at %s (resume with: agentpush resume %" PRId64 ")"),
			         ap_host_state_name(rows[i].jt.state), job_id);
			if (ap_result_set_note(res, note) != AP_OK) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto fail;
			}
			continue;
		}
		if ((r = findings_load(st, rows[i].jt.id, res, ctx)) != AP_OK)
			goto fail;
		if (rows[i].note != NULL && ap_result_set_note(res, rows[i].note) != AP_OK) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto fail;
		}
	}
	if ((r = commit(st, ctx)) != AP_OK)
		goto fail;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	ap_job_info_clear(&job);
	trows_free(rows, cnt);
	return r;
}

int
ap_store_job_report(struct ap_store *st, int64_t job_id,
                    struct ap_report *report, struct ap_ctx *ctx)
{
	return job_report(st, job_id, NULL, report, ctx);
}

int
ap_store_job_report_in(struct ap_store *st, int64_t job_id, const int64_t *ids,
                       size_t n_ids, struct ap_report *report, struct ap_ctx *ctx)
{
	struct idset set;
	int r;

	if (ids == NULL && n_ids > 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_report: bad arguments");
	if ((r = idset_init(&set, ids, n_ids, ctx)) != AP_OK)
		return r;
	r = job_report(st, job_id, &set, report, ctx);
	free(set.ids);
	return r;
}

void
ap_store_events_free(struct ap_job_event *ev, size_t n)
{
	size_t i;

	for (i = 0; ev != NULL && i < n; i++) {
		free(ev[i].at);
		free(ev[i].what);
		free(ev[i].detail);
	}
	free(ev);
}

/* Reads the rows of a bound events statement into out and n. */
static int
events_read(struct ap_store *st, struct drv_stmt *s, struct ap_job_event **out,
            size_t *n, struct ap_ctx *ctx)
{
	struct ap_job_event *ev = NULL, *ne = NULL;
	size_t cnt = 0, cap = 0;
	int rc, r = AP_OK;

	while ((rc = drv_step(st, s)) == DRV_ROW) {
		int oom = 0;

		if (cnt == cap) {
			cap = cap != 0 ? cap * 2 : 32;
			if ((ne = reallocarray(ev, cap, sizeof(*ev))) == NULL) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto fail;
			}
			ev = ne;
		}
		memset(&ev[cnt], 0, sizeof(ev[cnt]));
		ev[cnt].id = drv_col_int64(st, s, 0);
		ev[cnt].target_id = drv_col_int64(st, s, 1); /* NULL reads as 0 */
		ev[cnt].at = col_dup(st, s, 2, &oom);
		ev[cnt].what = col_dup(st, s, 3, &oom);
		ev[cnt].detail = col_dup(st, s, 4, &oom);
		cnt++;
		if (oom) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto fail;
		}
	}
	drv_reset(st, s);
	if (rc != DRV_DONE) {
		r = db_fail(st, ctx, "cannot read the events");
		goto fail;
	}
	*out = ev;
	*n = cnt;
	return AP_OK;
fail:
	ap_store_events_free(ev, cnt);
	return r;
}

int
ap_store_job_events(struct ap_store *st, int64_t job_id, int64_t target_id,
                    struct ap_job_event **out, size_t *n, struct ap_ctx *ctx)
{
	struct ap_job_event *ev = NULL;
	struct ap_job_info job;
	struct drv_stmt *s = NULL;
	size_t cnt = 0;
	int r;

	*out = NULL;
	*n = 0;
	memset(&job, 0, sizeof(job));
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_events: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 0, ctx)) != AP_OK)
		goto out;
	if ((r = job_get(st, job_id, &job, ctx)) != AP_OK)
		goto fail;
	if ((s = stmt(st, target_id > 0 ? S_EVENTS_TARGET : S_EVENTS_JOB, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_int64(st, s, 1, job_id);
	if (target_id > 0)
		drv_bind_int64(st, s, 2, target_id);
	if ((r = events_read(st, s, &ev, &cnt, ctx)) != AP_OK)
		goto fail;
	if ((r = commit(st, ctx)) != AP_OK)
		goto fail;
	*out = ev;
	*n = cnt;
	ev = NULL; /* transferred */
	goto out;
fail:
	rollback(st);
	ap_store_events_free(ev, cnt);
out:
	pthread_mutex_unlock(&st->mu);
	ap_job_info_clear(&job);
	return r;
}

/* ---- job control (schema 2) ---- */

int
ap_store_job_cancel(struct ap_store *st, int64_t job_id, struct ap_ctx *ctx)
{
	struct ap_job_info job;
	struct drv_stmt *s = NULL;
	char at[48];
	int r;

	memset(&job, 0, sizeof(job));
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_cancel: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((r = job_get(st, job_id, &job, ctx)) != AP_OK)
		goto fail;
	if (job.status == AP_JOB_DONE) {
		r = ap_ctx_fail(ctx, AP_ECONFLICT, 0, "job %" PRId64 " is done: there is nothing left to cancel", job_id);
		goto fail;
	}
	if (job.cancelled) {            /* asked twice: the first one holds */
		r = commit(st, ctx);
		goto out;
	}
	if ((s = stmt(st, S_JOB_CANCEL, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_int64(st, s, 1, job_id);
	drv_bind_text(st, s, 2, at);
	if ((r = exec_stmt(st, s, ctx, "cannot record the cancel request")) != AP_OK ||
	    (r = event_insert(st, job_id, 0, at, "cancel", "cancel requested", ctx)) != AP_OK ||
	    (r = notify(st, ctx)) != AP_OK ||
	    (r = commit(st, ctx)) != AP_OK)
		goto fail;
	st->cancel_job = job_id;        /* this handle sees it at once */
	st->cancel_seen = 1;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	ap_job_info_clear(&job);
	return r;
}

/* How long a "not cancelled" answer is reused: the engine asks before
 * every host, and a worker starts its 25 hosts within a few ms. */
#define CANCEL_CHECK_MS 1000

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Notices (drv.h): with a server that sends them, a handle may reuse an
 * answer it read (a credential good, a job not cancelled) while no notice
 * came in since, because every change that would make such an answer
 * wrong commits with one (S_NOTIFY).  notice_mark() subscribes the handle
 * (once per connection) and gives the count to keep with an answer read
 * after it: a change committed after the read then sends a notice that
 * ends the reuse.  noticed_since() says whether any came since a mark,
 * reading what the server sent without waiting; always 1 without
 * notices.  Both called with mu.
 */
static int
notice_mark(struct ap_store *st, uint64_t *mark, struct ap_ctx *ctx)
{
	*mark = 0;
	if (st->drv->ops->listen == NULL)
		return AP_OK;
	if (st->drv->ops->listen(st->drv) != AP_OK)
		return db_fail(st, ctx, "cannot listen for notices");
	*mark = st->drv->ops->notices(st->drv);
	return AP_OK;
}

static int
noticed_since(struct ap_store *st, uint64_t mark)
{
	return st->drv->ops->notices == NULL || st->drv->ops->notices(st->drv) != mark;
}

/* How long a "not cancelled" is reused when no notice came (above): a
 * notice ends it sooner; this bounds what a notice lost some unforeseen
 * way could cost. */
#define CANCEL_NOTICED_MS 10000

/* One statement, at most once a second per job and handle; with notices,
 * again only after one came (a cancel sends one), or after 10 s. */
int
ap_store_job_cancelled(struct ap_store *st, int64_t job_id, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int64_t now = mono_ms();
	uint64_t mark = 0;
	int r, rc;

	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_cancelled: bad arguments");
	pthread_mutex_lock(&st->mu);
	if (st->cancel_job == job_id && job_id != 0 &&
	    (st->cancel_seen || now - st->cancel_at_ms < CANCEL_CHECK_MS ||
	     (now - st->cancel_at_ms < CANCEL_NOTICED_MS &&
	      !noticed_since(st, st->cancel_notices)))) {
		r = st->cancel_seen;
		goto out;
	}
	if ((r = notice_mark(st, &mark, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, S_JOB_CANCELLED, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	drv_bind_int64(st, s, 1, job_id);
	rc = drv_step(st, s);
	if (rc == DRV_ROW) {
		r = drv_col_null(st, s, 0) ? 0 : 1;
		st->cancel_job = job_id;
		st->cancel_at_ms = now;
		st->cancel_notices = mark;
		st->cancel_seen = r;
	}
	else if (rc == DRV_DONE)
		r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "no job %" PRId64 " in %s", job_id, st->path);
	else
		r = db_fail(st, ctx, "cannot read the job");
	drv_reset(st, s);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_job_events_after(struct ap_store *st, int64_t job_id, int64_t after_id,
                          size_t limit, struct ap_job_event **out, size_t *n,
                          struct ap_ctx *ctx)
{
	struct ap_job_info job;
	struct drv_stmt *s = NULL;
	int r;

	*out = NULL;
	*n = 0;
	memset(&job, 0, sizeof(job));
	if (st == NULL || after_id < 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_events_after: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 0, ctx)) != AP_OK)
		goto out;
	if ((r = job_get(st, job_id, &job, ctx)) != AP_OK)
		goto fail;
	if ((s = stmt(st, S_EVENTS_AFTER, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_int64(st, s, 1, job_id);
	drv_bind_int64(st, s, 2, after_id);
	drv_bind_int64(st, s, 3, limit > 0 && limit < INT64_MAX ? (int64_t)limit : INT64_MAX);
	if ((r = events_read(st, s, out, n, ctx)) != AP_OK)
		goto fail;
	if ((r = commit(st, ctx)) != AP_OK) {
		ap_store_events_free(*out, *n);
		*out = NULL;
		*n = 0;
		goto fail;
	}
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	ap_job_info_clear(&job);
	return r;
}

/* ---- server secrets (schema 2) ---- */

int
ap_store_secret_get(struct ap_store *st, const char *name, char **value,
                    struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int r = AP_OK, rc, oom = 0;

	*value = NULL;
	if (st == NULL || name == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: secret_get: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, S_SECRET_GET, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	bind_text(st, s, 1, name);
	rc = drv_step(st, s);
	if (rc == DRV_ROW) {
		*value = col_dup(st, s, 0, &oom);
		if (oom || *value == NULL)
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	} else if (rc == DRV_DONE) {
		r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "job store %s: no server secret named %s", st->path, name);
	} else {
		r = db_fail(st, ctx, "cannot read a server secret");
	}
	drv_reset(st, s);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_secret_put(struct ap_store *st, const char *name, const char *value,
                    struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48];
	int r;

	if (st == NULL || name == NULL || value == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: secret_put: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, S_SECRET_PUT, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	bind_text(st, s, 1, name);
	bind_text(st, s, 2, value);
	bind_text(st, s, 3, at);
	r = exec_stmt(st, s, ctx, "cannot write a server secret");
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* ---- agents (schema 2) ---- */

void
ap_agent_clear(struct ap_agent *a)
{
	if (a == NULL)
		return;
	free(a->uid);
	free(a->machine_id);
	free(a->hostname);
	free(a->os);
	free(a->kernel);
	free(a->version);
	free(a->health);
	free(a->address);
	free(a->enrollment);
	free(a->secret_hash);
	free(a->registered);
	free(a->last_heartbeat);
	memset(a, 0, sizeof(*a));
}

void
ap_store_agents_free(struct ap_agent *a, size_t n)
{
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		ap_agent_clear(&a[i]);
	free(a);
}

/* Fills a from a row of the S_AGENT_GET column list. */
static int
agent_row(struct ap_store *st, struct drv_stmt *s, struct ap_agent *a, struct ap_ctx *ctx)
{
	int oom = 0;

	memset(a, 0, sizeof(*a));
	a->id = drv_col_int64(st, s, 0);
	a->uid = col_dup(st, s, 1, &oom);
	a->machine_id = col_dup(st, s, 2, &oom);
	a->hostname = col_dup(st, s, 3, &oom);
	a->os = col_dup(st, s, 4, &oom);
	a->kernel = col_dup(st, s, 5, &oom);
	a->version = col_dup(st, s, 6, &oom);
	a->health = col_dup(st, s, 7, &oom);
	a->address = col_dup(st, s, 8, &oom);
	a->enrollment = col_dup(st, s, 9, &oom);
	a->secret_hash = col_dup(st, s, 10, &oom);
	a->registered = col_dup(st, s, 11, &oom);
	a->last_heartbeat = col_dup(st, s, 12, &oom);
	a->heartbeat_s = (int)drv_col_int64(st, s, 13);
	if (oom) {
		ap_agent_clear(a);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	return AP_OK;
}

int
ap_store_agent_register(struct ap_store *st, const struct ap_agent *a,
                        int64_t *id_out, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48];
	int r;

	if (st == NULL || a == NULL || a->uid == NULL || a->machine_id == NULL ||
	    a->hostname == NULL || a->secret_hash == NULL || a->heartbeat_s <= 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: agent_register: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	/* A reinstalled host registers again: its old row (and old secret)
	 * goes, so one machine is one agent. */
	if ((s = stmt(st, S_AGENT_DELETE_MACHINE, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	bind_text(st, s, 1, a->machine_id);
	if ((r = exec_stmt(st, s, ctx, "cannot replace the agent")) != AP_OK)
		goto fail;
	if ((s = stmt(st, S_AGENT_INSERT, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	bind_text(st, s, 1, a->uid);
	bind_text(st, s, 2, a->machine_id);
	bind_text(st, s, 3, a->hostname);
	bind_text(st, s, 4, a->os);
	bind_text(st, s, 5, a->kernel);
	bind_text(st, s, 6, a->version);
	bind_text(st, s, 7, a->health);
	bind_text(st, s, 8, a->address);
	bind_text(st, s, 9, a->enrollment);
	bind_text(st, s, 10, a->secret_hash);
	bind_text(st, s, 11, at);
	drv_bind_int64(st, s, 12, a->heartbeat_s);
	if ((r = exec_stmt(st, s, ctx, "cannot record the agent")) != AP_OK)
		goto fail;
	if (id_out != NULL)
		*id_out = st->last_id;
	if ((r = commit(st, ctx)) != AP_OK)
		goto fail;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_agent_beats(struct ap_store *st, const struct ap_agent_beat *beats,
                     size_t n, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	size_t i;
	int r;

	if (st == NULL || (beats == NULL && n > 0))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: agent_beats: bad arguments");
	if (n == 0)
		return AP_OK;
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (beats[i].uid == NULL || beats[i].at == NULL) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "store: agent_beats: beat %zu has no uid or time", i);
			goto fail;
		}
		if ((s = stmt(st, S_AGENT_BEAT, ctx)) == NULL) {
			r = ap_ctx_rc(ctx);
			goto fail;
		}
		bind_text(st, s, 1, beats[i].uid);
		bind_text(st, s, 2, beats[i].at);
		bind_text(st, s, 3, beats[i].version);
		bind_text(st, s, 4, beats[i].health);
		bind_text(st, s, 5, beats[i].address);
		if ((r = exec_stmt(st, s, ctx, "cannot record a heartbeat")) != AP_OK)
			goto fail;
	}
	if ((r = commit(st, ctx)) != AP_OK)
		goto fail;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* One agent by the text key of statement id (uid or enrollment). */
static int
agent_get_by(struct ap_store *st, enum stmt_id id, const char *key,
             struct ap_agent *out, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int r, rc;

	memset(out, 0, sizeof(*out));
	if (st == NULL || key == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: agent_get: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, id, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	bind_text(st, s, 1, key);
	rc = drv_step(st, s);
	if (rc == DRV_ROW)
		r = agent_row(st, s, out, ctx);
	else if (rc == DRV_DONE)
		r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "no agent %s in %s", key, st->path);
	else
		r = db_fail(st, ctx, "cannot read the agent");
	drv_reset(st, s);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_agent_get(struct ap_store *st, const char *uid, struct ap_agent *out,
                   struct ap_ctx *ctx)
{
	return agent_get_by(st, S_AGENT_GET, uid, out, ctx);
}

int
ap_store_agent_by_enrollment(struct ap_store *st, const char *enrollment,
                             struct ap_agent *out, struct ap_ctx *ctx)
{
	return agent_get_by(st, S_AGENT_BY_ENROLLMENT, enrollment, out, ctx);
}

int
ap_store_agents_list(struct ap_store *st, struct ap_agent **out, size_t *n,
                     struct ap_ctx *ctx)
{
	struct ap_agent *a = NULL, *na = NULL;
	struct drv_stmt *s = NULL;
	size_t cnt = 0, cap = 0;
	int r = AP_OK, rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: agents_list: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, S_AGENTS_LIST, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	while ((rc = drv_step(st, s)) == DRV_ROW) {
		if (cnt == cap) {
			cap = cap != 0 ? cap * 2 : 64;
			if ((na = reallocarray(a, cap, sizeof(*a))) == NULL) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto out;
			}
			a = na;
		}
		if ((r = agent_row(st, s, &a[cnt], ctx)) != AP_OK)
			goto out;
		cnt++;
	}
	if (rc != DRV_DONE) {
		r = db_fail(st, ctx, "cannot list the agents");
		goto out;
	}
	*out = a;
	*n = cnt;
	a = NULL;   /* transferred */
	cnt = 0;
out:
	if (s != NULL)
		drv_reset(st, s);
	pthread_mutex_unlock(&st->mu);
	ap_store_agents_free(a, cnt);
	return r;
}

int
ap_store_agent_forget(struct ap_store *st, const char *uid, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int r;

	if (st == NULL || uid == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: agent_forget: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, S_AGENT_FORGET, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	bind_text(st, s, 1, uid);
	if ((r = exec_stmt(st, s, ctx, "cannot forget the agent")) != AP_OK)
		goto out;
	if (st->drv->ops->changes(st->drv) == 0)
		r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "no agent %s in %s", uid, st->path);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* ---- credential vault (schema 3) ---- */

void
ap_vault_key_row_clear(struct ap_vault_key_row *k)
{
	if (k == NULL)
		return;
	free(k->kind);
	free(k->salt);
	free(k->key_check);
	free(k->created);
	memset(k, 0, sizeof(*k));
}

void
ap_account_clear(struct ap_account *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->user);
	free(a->domain);
	free(a->kind);
	free(a->nonce);
	free(a->secret);
	free(a->created);
	free(a->updated);
	free(a->rejected_at);
	free(a->rejected_by);
	memset(a, 0, sizeof(*a));
}

void
ap_store_accounts_free(struct ap_account *a, size_t n)
{
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		ap_account_clear(&a[i]);
	free(a);
}

int
ap_store_vault_key_get(struct ap_store *st, struct ap_vault_key_row *out,
                       struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int r = AP_OK, rc, oom = 0;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: vault_key_get: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, S_VKEY_GET, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	rc = drv_step(st, s);
	if (rc == DRV_ROW) {
		out->version = (int)drv_col_int64(st, s, 0);
		out->kind = col_dup(st, s, 1, &oom);
		out->salt = col_dup(st, s, 2, &oom);
		out->opslimit = drv_col_int64(st, s, 3);
		out->memlimit = drv_col_int64(st, s, 4);
		out->key_check = col_dup(st, s, 5, &oom);
		out->created = col_dup(st, s, 6, &oom);
		if (oom || out->kind == NULL || out->key_check == NULL) {
			ap_vault_key_row_clear(out);
			r = oom ? ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory")
			        : ap_ctx_fail(ctx, AP_EINVAL, 0, "job store %s: the vault key row is damaged", st->path);
		}
	} else if (rc == DRV_DONE) {
		r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "job store %s: the vault has no key yet", st->path);
	} else {
		r = db_fail(st, ctx, "cannot read the vault key");
	}
	drv_reset(st, s);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* Inserts key row k; called in a write transaction. */
static int
vkey_insert(struct ap_store *st, const struct ap_vault_key_row *k, const char *at,
            struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;

	if ((s = stmt(st, S_VKEY_INSERT, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, k->version);
	bind_text(st, s, 2, k->kind);
	bind_text(st, s, 3, k->salt);
	drv_bind_int64(st, s, 4, k->opslimit);
	drv_bind_int64(st, s, 5, k->memlimit);
	bind_text(st, s, 6, k->key_check);
	bind_text(st, s, 7, at);
	return exec_stmt(st, s, ctx, "cannot record the vault key");
}

/* The newest key version (0: none) in *v; in a transaction. */
static int
vkey_version(struct ap_store *st, int *v, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int rc;

	*v = 0;
	if ((s = stmt(st, S_VKEY_GET, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	rc = drv_step(st, s);
	if (rc == DRV_ROW)
		*v = (int)drv_col_int64(st, s, 0);
	drv_reset(st, s);
	if (rc != DRV_ROW && rc != DRV_DONE)
		return db_fail(st, ctx, "cannot read the vault key");
	return AP_OK;
}

int
ap_store_vault_key_init(struct ap_store *st, const struct ap_vault_key_row *k,
                        struct ap_ctx *ctx)
{
	char at[48];
	int r, v = 0;

	if (st == NULL || k == NULL || k->version != 1 || k->kind == NULL || k->key_check == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: vault_key_init: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((r = vkey_version(st, &v, ctx)) != AP_OK)
		goto fail;
	if (v != 0) {
		r = ap_ctx_fail(ctx, AP_ECONFLICT, 0, "job store %s: the vault has a key already", st->path);
		goto fail;
	}
	if ((r = vkey_insert(st, k, at, ctx)) != AP_OK || (r = commit(st, ctx)) != AP_OK)
		goto fail;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* Writes the sealed secret of account id (a new password: new_password 1
 * forgets a refusal; a rekey keeps it); in a write transaction. */
static int
account_seal(struct ap_store *st, int64_t id, int key_version, const char *nonce,
             const char *secret, int new_password, const char *at,
             struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int r;

	if ((s = stmt(st, S_ACCOUNT_SET_SECRET, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, id);
	drv_bind_int64(st, s, 2, key_version);
	bind_text(st, s, 3, nonce);
	bind_text(st, s, 4, secret);
	bind_text(st, s, 5, at);
	drv_bind_int64(st, s, 6, new_password);
	if ((r = exec_stmt(st, s, ctx, "cannot write the account's secret")) != AP_OK)
		return r;
	if (st->drv->ops->changes(st->drv) != 1)
		return ap_ctx_fail(ctx, AP_ECONFLICT, 0, "job store %s: account %" PRId64 " is gone", st->path, id);
	return AP_OK;
}

int
ap_store_account_add(struct ap_store *st, const struct ap_account *a,
                     ap_store_seal_fn seal, void *ud, int64_t *id_out,
                     struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48], *nonce = NULL, *secret = NULL;
	int64_t id;
	int r;

	if (st == NULL || a == NULL || a->name == NULL || a->user == NULL ||
	    a->kind == NULL || seal == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: account_add: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, S_ACCOUNT_INSERT, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	bind_text(st, s, 1, a->name);
	bind_text(st, s, 2, a->user);
	bind_text(st, s, 3, a->domain);
	bind_text(st, s, 4, a->kind);
	drv_bind_int64(st, s, 5, a->key_version);
	bind_text(st, s, 6, at);
	if ((r = exec_stmt(st, s, ctx, "cannot add the account")) != AP_OK) {
		if (r == AP_ECONFLICT)
			r = ap_ctx_fail(ctx, AP_ECONFLICT, 0, "there is an account named %s already", a->name);
		goto fail;
	}
	id = st->last_id;
	if ((r = seal(ud, id, &nonce, &secret, ctx)) != AP_OK ||
	    (r = account_seal(st, id, a->key_version, nonce, secret, 1, at, ctx)) != AP_OK ||
	    (r = commit(st, ctx)) != AP_OK)
		goto fail;
	if (id_out != NULL)
		*id_out = id;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	free(nonce);
	free(secret);
	return r;
}

/* Fills a from a row of the S_ACCOUNT_GET column list. */
static int
account_row(struct ap_store *st, struct drv_stmt *s, struct ap_account *a, struct ap_ctx *ctx)
{
	int oom = 0;

	memset(a, 0, sizeof(*a));
	a->id = drv_col_int64(st, s, 0);
	a->name = col_dup(st, s, 1, &oom);
	a->user = col_dup(st, s, 2, &oom);
	a->domain = col_dup(st, s, 3, &oom);
	a->kind = col_dup(st, s, 4, &oom);
	a->key_version = (int)drv_col_int64(st, s, 5);
	a->nonce = col_dup(st, s, 6, &oom);
	a->secret = col_dup(st, s, 7, &oom);
	a->created = col_dup(st, s, 8, &oom);
	a->updated = col_dup(st, s, 9, &oom);
	a->rejected_at = col_dup(st, s, 10, &oom);
	a->rejected_by = col_dup(st, s, 11, &oom);
	if (oom) {
		ap_account_clear(a);
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	return AP_OK;
}

int
ap_store_account_get(struct ap_store *st, const char *name,
                     struct ap_account *out, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int r, rc;

	memset(out, 0, sizeof(*out));
	if (st == NULL || name == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: account_get: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, S_ACCOUNT_GET, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	bind_text(st, s, 1, name);
	rc = drv_step(st, s);
	if (rc == DRV_ROW)
		r = account_row(st, s, out, ctx);
	else if (rc == DRV_DONE)
		r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "no account named %s (see 'agentpush accounts list')", name);
	else
		r = db_fail(st, ctx, "cannot read the account");
	drv_reset(st, s);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* Every account, in a transaction or not (the caller holds the mutex). */
static int
accounts_read(struct ap_store *st, struct ap_account **out, size_t *n,
              struct ap_ctx *ctx)
{
	struct ap_account *a = NULL, *na = NULL;
	struct drv_stmt *s = NULL;
	size_t cnt = 0, cap = 0;
	int r = AP_OK, rc;

	*out = NULL;
	*n = 0;
	if ((s = stmt(st, S_ACCOUNTS_LIST, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	while ((rc = drv_step(st, s)) == DRV_ROW) {
		if (cnt == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			if ((na = reallocarray(a, cap, sizeof(*a))) == NULL) {
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto out;
			}
			a = na;
		}
		if ((r = account_row(st, s, &a[cnt], ctx)) != AP_OK)
			goto out;
		cnt++;
	}
	if (rc != DRV_DONE) {
		r = db_fail(st, ctx, "cannot list the accounts");
		goto out;
	}
	*out = a;
	*n = cnt;
	a = NULL;   /* transferred */
	cnt = 0;
out:
	drv_reset(st, s);
	ap_store_accounts_free(a, cnt);
	return r;
}

int
ap_store_accounts_list(struct ap_store *st, struct ap_account **out, size_t *n,
                       struct ap_ctx *ctx)
{
	int r;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: accounts_list: bad arguments");
	pthread_mutex_lock(&st->mu);
	r = accounts_read(st, out, n, ctx);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_account_set_secret(struct ap_store *st, int64_t id, int key_version,
                            const char *nonce, const char *secret,
                            struct ap_ctx *ctx)
{
	char at[48];
	int r;

	if (st == NULL || nonce == NULL || secret == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: account_set_secret: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	r = account_seal(st, id, key_version, nonce, secret, 1, at, ctx);
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_account_remove(struct ap_store *st, const char *name, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int r;

	if (st == NULL || name == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: account_remove: bad arguments");
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, S_ACCOUNT_REMOVE, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	bind_text(st, s, 1, name);
	if ((r = exec_stmt(st, s, ctx, "cannot remove the account")) != AP_OK)
		goto out;
	if (st->drv->ops->changes(st->drv) == 0)
		r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "no account named %s (see 'agentpush accounts list')", name);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_account_mark_rejected(struct ap_store *st, int64_t id, const char *host,
                               struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48];
	int r;

	if (st == NULL || host == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: account_mark_rejected: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((s = stmt(st, S_ACCOUNT_REJECTED, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	drv_bind_int64(st, s, 1, id);
	bind_text(st, s, 2, at);
	bind_text(st, s, 3, host);
	r = exec_stmt(st, s, ctx, "cannot mark the account refused");
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_vault_rekey(struct ap_store *st, const struct ap_vault_key_row *k,
                     const struct ap_account *accounts, size_t n,
                     struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48];
	size_t i;
	int r, v = 0, rc;

	if (st == NULL || k == NULL || k->kind == NULL || k->key_check == NULL ||
	    (accounts == NULL && n > 0))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: vault_rekey: bad arguments");
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((r = vkey_version(st, &v, ctx)) != AP_OK)
		goto fail;
	if ((s = stmt(st, S_ACCOUNTS_COUNT, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	rc = drv_step(st, s);
	if (rc != DRV_ROW) {
		r = db_fail(st, ctx, "cannot count the accounts");
		goto fail;
	}
	if (v != k->version - 1 || drv_col_int64(st, s, 0) != (int64_t)n) {
		drv_reset(st, s);
		r = ap_ctx_fail(ctx, AP_ECONFLICT, 0, "job store %s: the vault changed during the rekey: run it again", st->path);
		goto fail;
	}
	drv_reset(st, s);
	if ((r = vkey_insert(st, k, at, ctx)) != AP_OK)
		goto fail;
	for (i = 0; i < n; i++)
		if ((r = account_seal(st, accounts[i].id, k->version, accounts[i].nonce,
		                      accounts[i].secret, 0, at, ctx)) != AP_OK)
			goto fail;
	if ((r = commit(st, ctx)) != AP_OK)
		goto fail;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* ---- workers: leases, fencing, credential gate (schema 4) ---- */

static int
claim_cmp(const void *a, const void *b)
{
	const struct ap_claim *x = a, *y = b;

	if (x->job_id != y->job_id)
		return x->job_id < y->job_id ? -1 : 1;
	return x->target_id < y->target_id ? -1 : x->target_id > y->target_id;
}

/*
 * After a claim by the handle's own owner: the claimed targets are known
 * (record_locked), so even a target's first record here sends a guard
 * instead of reading the target first.  The claim itself is what the
 * guard would check: this owner's lease, and the state it returned.
 */
static void
known_from_claims(struct ap_store *st, const char *owner,
                  const struct ap_claim *c, size_t n)
{
	size_t i;

	if (st->owner == NULL || strcmp(st->owner, owner) != 0)
		return;
	for (i = 0; i < n; i++)
		known_set(st, c[i].target_id, c[i].job_id, c[i].state);
}

void
ap_store_claims_free(struct ap_claim *c, size_t n)
{
	(void)n; /* no strings inside: kept for symmetry with the other _free */
	free(c);
}

int
ap_store_claim(struct ap_store *st, const char *owner, int lease_ms, size_t max,
               struct ap_claim **out, size_t *n, struct ap_ctx *ctx)
{
	return ap_store_claim_job(st, owner, lease_ms, 0, max, out, n, ctx);
}

int
ap_store_claim_job(struct ap_store *st, const char *owner, int lease_ms,
                   int64_t job_id, size_t max, struct ap_claim **out, size_t *n,
                   struct ap_ctx *ctx)
{
	struct ap_claim *c = NULL;
	struct drv_stmt *s = NULL;
	size_t cnt = 0;
	int r = AP_OK, rc;

	*out = NULL;
	*n = 0;
	if (st == NULL || owner == NULL || owner[0] == '\0' || lease_ms <= 0 || job_id < 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: claim: bad arguments");
	if (max == 0)
		return AP_OK;
	if (max > INT32_MAX)
		max = INT32_MAX;
	if ((c = calloc(max, sizeof(*c))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	pthread_mutex_lock(&st->mu);
	/* On a server the claim is one statement in a transaction of its
	 * own: one round trip.  SQLite's BEGIN IMMEDIATE costs nothing. */
	if (!st->guard_records && (r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, S_CLAIM, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	bind_text(st, s, 1, owner);
	drv_bind_int64(st, s, 2, lease_ms);
	drv_bind_int64(st, s, 3, (int64_t)max);
	drv_bind_int64(st, s, 4, job_id);
	while ((rc = drv_step(st, s)) == DRV_ROW && cnt < max) {
		c[cnt].job_id = drv_col_int64(st, s, 0);
		c[cnt].target_id = drv_col_int64(st, s, 1);
		if (state_parse(drv_col_text(st, s, 2), &c[cnt].state) != 0) {
			r = ap_ctx_fail(ctx, AP_EPROTO, 0, "job store %s: target %" PRId64 " has an unknown state",
			                st->path, c[cnt].target_id);
			goto fail;
		}
		c[cnt].lease_gen = drv_col_int64(st, s, 3);
		cnt++;
	}
	if (rc != DRV_DONE && rc != DRV_ROW) {
		r = db_fail(st, ctx, "cannot claim targets");
		goto fail;
	}
	drv_reset(st, s);
	if (!st->guard_records && (r = commit(st, ctx)) != AP_OK)
		goto fail;
	/* RETURNING gives no order: sort as the contract says. */
	qsort(c, cnt, sizeof(*c), claim_cmp);
	known_from_claims(st, owner, c, cnt);
	/* nothing claimed: *out stays NULL (a polling worker gets that
	 * every second and frees nothing) */
	if (cnt > 0) {
		*out = c;
		c = NULL; /* transferred */
	}
	*n = cnt;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	free(c);
	return r;
}

int
ap_store_lease_renew(struct ap_store *st, const char *owner, int lease_ms,
                     const int64_t *target_ids, size_t n, int *held,
                     struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	struct idset set;
	int64_t id;
	size_t i;
	int r, rc;

	if (st == NULL || owner == NULL || lease_ms <= 0 ||
	    (n > 0 && (target_ids == NULL || held == NULL)))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: lease_renew: bad arguments");
	if (n == 0)
		return AP_OK;
	if ((r = idset_init(&set, target_ids, n, ctx)) != AP_OK)
		return r;
	for (i = 0; i < n; i++)
		held[i] = 0;
	pthread_mutex_lock(&st->mu);
	/* One statement over the ids' range (store.h); what it renewed comes
	 * back, and each id asked for is held when it is among them. */
	if ((s = stmt(st, S_LEASE_RENEW, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	bind_text(st, s, 1, owner);
	drv_bind_int64(st, s, 2, set.lo);
	drv_bind_int64(st, s, 3, set.hi);
	drv_bind_int64(st, s, 4, lease_ms);
	while ((rc = drv_step(st, s)) == DRV_ROW) {
		id = drv_col_int64(st, s, 0);
		for (i = 0; i < n; i++)
			if (target_ids[i] == id)
				held[i] = 1;
	}
	drv_reset(st, s);
	if (rc != DRV_DONE) {
		for (i = 0; i < n; i++)
			held[i] = 0;
		r = db_fail(st, ctx, "cannot renew the leases");
	}
out:
	pthread_mutex_unlock(&st->mu);
	free(set.ids);
	return r;
}

int
ap_store_lease_release(struct ap_store *st, const char *owner,
                       const int64_t *target_ids, size_t n, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	size_t i;
	int r;

	if (st == NULL || owner == NULL || (n > 0 && target_ids == NULL))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: lease_release: bad arguments");
	if (n == 0)
		return AP_OK;
	pthread_mutex_lock(&st->mu);
	/* one transaction: with PostgreSQL one round trip for the batch */
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if ((s = stmt(st, S_LEASE_RELEASE, ctx)) == NULL) {
			r = ap_ctx_rc(ctx);
			goto fail;
		}
		drv_bind_int64(st, s, 1, target_ids[i]);
		bind_text(st, s, 2, owner);
		if ((r = exec_later(st, s, ctx, "cannot release a lease")) != AP_OK)
			goto fail;
	}
	if ((r = commit(st, ctx)) == AP_OK)
		goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_set_owner(struct ap_store *st, const char *owner, struct ap_ctx *ctx)
{
	char *copy = NULL;

	if (st == NULL || (owner != NULL && owner[0] == '\0'))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: set_owner: bad arguments");
	if (owner != NULL && (copy = strdup(owner)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	pthread_mutex_lock(&st->mu);
	free(st->owner);
	st->owner = copy;
	pthread_mutex_unlock(&st->mu);
	return AP_OK;
}

int
ap_store_job_complete_if_done(struct ap_store *st, int64_t job_id, int *done,
                              struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	const char *status;
	char at[48];
	int r, rc;

	if (st == NULL || done == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: job_complete_if_done: bad arguments");
	*done = 0;
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, S_JOB_COMPLETE, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_int64(st, s, 1, job_id);
	drv_bind_text(st, s, 2, at);
	if ((r = exec_stmt(st, s, ctx, "cannot complete the job")) != AP_OK)
		goto fail;
	if (st->drv->ops->changes(st->drv) > 0) {
		*done = 1;
		if ((r = event_insert(st, job_id, 0, at, "status", "done", ctx)) != AP_OK)
			goto fail;
	} else {
		if ((s = stmt(st, S_JOB_STATUS, ctx)) == NULL) {
			r = ap_ctx_rc(ctx);
			goto fail;
		}
		drv_bind_int64(st, s, 1, job_id);
		rc = drv_step(st, s);
		if (rc == DRV_DONE) {
			drv_reset(st, s);
			r = ap_ctx_fail(ctx, AP_ENOTFOUND, 0, "no job %" PRId64 " in %s", job_id, st->path);
			goto fail;
		}
		if (rc != DRV_ROW) {
			r = db_fail(st, ctx, "cannot read the job");
			goto fail;
		}
		status = drv_col_text(st, s, 0);
		*done = status != NULL && strcmp(status, "done") == 0;
		drv_reset(st, s);
	}
	if ((r = commit(st, ctx)) != AP_OK) {
		*done = 0;
		goto fail;
	}
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

int
ap_store_jobs_complete_finished(struct ap_store *st, size_t *n_done,
                                struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	int64_t *ids = NULL, *more = NULL;
	size_t n = 0, cap = 0, i;
	char at[48];
	int r, rc;

	if (st == NULL || n_done == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: jobs_complete_finished: bad arguments");
	*n_done = 0;
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, S_JOBS_COMPLETE, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_text(st, s, 1, at);
	/* the ids first: the events go in once the UPDATE has finished */
	while ((rc = drv_step(st, s)) == DRV_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((more = reallocarray(ids, cap, sizeof(*ids))) == NULL) {
				drv_reset(st, s);
				r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
				goto fail;
			}
			ids = more;
		}
		ids[n++] = drv_col_int64(st, s, 0);
	}
	if (rc != DRV_DONE) {
		r = db_fail(st, ctx, "cannot complete finished jobs");
		drv_reset(st, s);
		goto fail;
	}
	drv_reset(st, s);
	for (i = 0; i < n; i++)
		if ((r = event_insert(st, ids[i], 0, at, "status", "done", ctx)) != AP_OK)
			goto fail;
	if ((r = commit(st, ctx)) != AP_OK)
		goto fail;
	*n_done = n;
	goto out;
fail:
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	free(ids);
	return r;
}

/* The gate row of (job, key) as it is, outside any transaction: state
 * ("" when there is none yet) and the host that rejected it. */
static int
cred_peek(struct ap_store *st, int64_t job_id, const char *key, char *state,
          size_t ssize, char *host, size_t hsize, struct ap_ctx *ctx)
{
	struct drv_stmt *s = stmt(st, S_CRED_PEEK, ctx);
	const char *v;
	int rc;

	state[0] = '\0';
	if (s == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, job_id);
	bind_text(st, s, 2, key);
	rc = drv_step(st, s);
	if (rc == DRV_ROW) {
		v = drv_col_text(st, s, 0);
		snprintf(state, ssize, "%s", v != NULL ? v : "");
		v = drv_col_text(st, s, 1);
		snprintf(host, hsize, "%s", v != NULL ? v : "?");
	}
	drv_reset(st, s);
	if (rc != DRV_ROW && rc != DRV_DONE)
		return db_fail(st, ctx, "cannot read a credential");
	return AP_OK;
}

/* The gate row of (job, key), created UNTRIED when missing, inside the
 * open write transaction.  state, owner and host are copied into the
 * buffers; *expired = 1 when no hold or its deadline passed. */
static int
cred_row(struct ap_store *st, int64_t job_id, const char *key, const char *at,
         char *state, size_t ssize, char *owner, size_t osize, int *expired,
         char *host, size_t hsize, struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	const char *v;
	int r, rc;

	if ((s = stmt(st, S_CRED_ENSURE, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, job_id);
	bind_text(st, s, 2, key);
	drv_bind_text(st, s, 3, at);
	if ((r = exec_stmt(st, s, ctx, "cannot record a credential")) != AP_OK)
		return r;
	if ((s = stmt(st, S_CRED_GET, ctx)) == NULL)
		return ap_ctx_rc(ctx);
	drv_bind_int64(st, s, 1, job_id);
	bind_text(st, s, 2, key);
	if ((rc = drv_step(st, s)) != DRV_ROW) {
		r = db_fail(st, ctx, "cannot read a credential");
		drv_reset(st, s);
		return r;
	}
	v = drv_col_text(st, s, 0);
	snprintf(state, ssize, "%s", v != NULL ? v : "");
	v = drv_col_text(st, s, 1);
	snprintf(owner, osize, "%s", v != NULL ? v : "");
	*expired = (int)drv_col_int64(st, s, 2) != 0;
	v = drv_col_text(st, s, 3);
	if (host != NULL && hsize > 0)
		snprintf(host, hsize, "%s", v != NULL ? v : "?");
	drv_reset(st, s);
	return AP_OK;
}

/*
 * How long a credential seen good is trusted without asking again, when no
 * notice came (drv.h): notices end it sooner, within the time the server
 * takes to send one; this bounds what a notice lost some unforeseen way
 * could cost.
 */
#define CRED_GOOD_MS 5000

/*
 * Whether this handle may answer GO for (job, key) without asking the
 * server: it saw the credential good less than CRED_GOOD_MS ago, and
 * since then no worker rejected a credential (a notice would have come)
 * and the connection stayed up.  The notices are read here, without
 * waiting, so a rejection committed before this call and already sent is
 * seen.  A peek would answer no better: its answer too is as old as the
 * login that follows it.  Called with mu.
 */
static int
cred_good_cached(struct ap_store *st, int64_t job_id, const char *key)
{
	if (st->drv->ops->notices == NULL || st->good_at_ms == 0 ||
	    st->good_job != job_id || strcmp(st->good_key, key) != 0)
		return 0;
	if (mono_ms() - st->good_at_ms >= CRED_GOOD_MS ||
	    noticed_since(st, st->good_notices)) {
		st->good_at_ms = 0;
		return 0;
	}
	return 1;
}

int
ap_store_cred_acquire(struct ap_store *st, int64_t job_id, const char *key,
                      const char *host, const char *owner, int lease_ms,
                      enum ap_store_cred_verdict *verdict, char *rejected_by,
                      size_t size, struct ap_ctx *ctx)
{
	char at[48], state[16], holder[256], by[256];
	struct drv_stmt *s = NULL;
	uint64_t notices = 0;
	int64_t peek_ms = 0;
	int r, expired = 0;

	(void)host; /* the gate is per job and credential, not per host */
	if (st == NULL || key == NULL || owner == NULL || owner[0] == '\0' ||
	    lease_ms <= 0 || verdict == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: cred_acquire: bad arguments");
	*verdict = AP_STORE_CRED_WAIT;
	if (rejected_by != NULL && size > 0)
		rejected_by[0] = '\0';
	now_iso(at, sizeof(at));
	pthread_mutex_lock(&st->mu);
	if (cred_good_cached(st, job_id, key)) {
		*verdict = AP_STORE_CRED_GO;
		r = AP_OK;
		goto out;
	}
	/* before the read: a rejection committed after it sends a notice */
	if ((r = notice_mark(st, &notices, ctx)) != AP_OK)
		goto out;
	peek_ms = mono_ms();
	/* The answer for every host but a job's first few: a credential
	 * already proven good or rejected, read in one statement.  Neither
	 * needs the row lock: rejected is final, and good only ever becomes
	 * rejected, which a locked read would not see any sooner. */
	if ((r = cred_peek(st, job_id, key, state, sizeof(state), by, sizeof(by), ctx)) != AP_OK)
		goto out;
	if (strcmp(state, "good") == 0 && strlen(key) < sizeof(st->good_key)) {
		st->good_job = job_id;
		memcpy(st->good_key, key, strlen(key) + 1);
		st->good_at_ms = peek_ms;
		st->good_notices = notices;
	}
	if (strcmp(state, "good") == 0 || strcmp(state, "rejected") == 0)
		goto decided;
	if ((r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((r = cred_row(st, job_id, key, at, state, sizeof(state), holder, sizeof(holder),
	                  &expired, by, sizeof(by), ctx)) != AP_OK)
		goto fail;
decided:
	if (strcmp(state, "good") == 0) {
		*verdict = AP_STORE_CRED_GO;
	} else if (strcmp(state, "rejected") == 0) {
		*verdict = AP_STORE_CRED_BLOCKED;
		if (rejected_by != NULL && size > 0)
			snprintf(rejected_by, size, "%s", by);
	} else if (strcmp(state, "trying") == 0 && !expired && strcmp(holder, owner) != 0) {
		*verdict = AP_STORE_CRED_WAIT;
	} else {
		/* untried, or a try whose holder died or is us: ours now */
		if ((s = stmt(st, S_CRED_TAKE, ctx)) == NULL) {
			r = ap_ctx_rc(ctx);
			goto fail;
		}
		drv_bind_int64(st, s, 1, job_id);
		bind_text(st, s, 2, key);
		bind_text(st, s, 3, owner);
		drv_bind_int64(st, s, 4, lease_ms);
		drv_bind_text(st, s, 5, at);
		if ((r = exec_stmt(st, s, ctx, "cannot record a credential")) != AP_OK)
			goto fail;
		*verdict = AP_STORE_CRED_GO;
	}
	if (st->drv->ops->in_tx(st->drv) && (r = commit(st, ctx)) != AP_OK)
		goto fail;
	goto out;
fail:
	*verdict = AP_STORE_CRED_WAIT;
	rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

/*
 * One statement whatever the outcome, no transaction: each is a single
 * conditional write, so it is atomic by itself.  Accepted makes the gate
 * good unless it is rejected; rejected is final and keeps the first host
 * that refused; unknown gives the try back only when it is still ours.
 */
int
ap_store_cred_release(struct ap_store *st, int64_t job_id, const char *key,
                      const char *host, const char *owner, int outcome,
                      struct ap_ctx *ctx)
{
	struct drv_stmt *s = NULL;
	char at[48];
	int r, with_notice;

	if (st == NULL || key == NULL || owner == NULL ||
	    outcome < AP_STORE_CRED_ACCEPTED || outcome > AP_STORE_CRED_UNKNOWN)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "store: cred_release: bad arguments");
	now_iso(at, sizeof(at));
	/* A rejection and its notice commit together: every handle that
	 * reuses a good answer (cred_good_cached) hears of it. */
	with_notice = outcome == AP_STORE_CRED_REJECTED && st->drv->ops->notify != NULL;
	pthread_mutex_lock(&st->mu);
	if (outcome == AP_STORE_CRED_ACCEPTED && st->good_job == job_id &&
	    strcmp(st->good_key, key) == 0) {
		r = AP_OK;
		goto out;
	}
	if (with_notice && (r = begin(st, 1, ctx)) != AP_OK)
		goto out;
	if ((s = stmt(st, outcome == AP_STORE_CRED_ACCEPTED ? S_CRED_GOOD
	              : outcome == AP_STORE_CRED_REJECTED ? S_CRED_REJECT
	              : S_CRED_UNTRY, ctx)) == NULL) {
		r = ap_ctx_rc(ctx);
		goto fail;
	}
	drv_bind_int64(st, s, 1, job_id);
	bind_text(st, s, 2, key);
	if (outcome == AP_STORE_CRED_ACCEPTED) {
		drv_bind_text(st, s, 3, at);
	} else {
		drv_bind_text(st, s, 3, outcome == AP_STORE_CRED_REJECTED
		              ? (host != NULL ? host : "?") : owner);
		drv_bind_text(st, s, 4, at);
	}
	if (!with_notice) {
		r = exec_stmt(st, s, ctx, "cannot record a credential");
		goto out;
	}
	if ((r = exec_later(st, s, ctx, "cannot record a credential")) != AP_OK)
		goto fail;
	if ((r = notify(st, ctx)) == AP_OK && (r = commit(st, ctx)) == AP_OK)
		goto out;
fail:
	if (with_notice)
		rollback(st);
out:
	pthread_mutex_unlock(&st->mu);
	return r;
}

uint64_t
ap_store_statements(const struct ap_store *st)
{
	uint64_t n;

	if (st == NULL)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&st->mu);
	n = st->statements;
	pthread_mutex_unlock((pthread_mutex_t *)&st->mu);
	return n;
}

uint64_t
ap_store_round_trips(const struct ap_store *st)
{
	uint64_t n;

	if (st == NULL)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&st->mu);
	n = st->drv->ops->round_trips != NULL ? st->drv->ops->round_trips(st->drv)
	    : st->statements;
	pthread_mutex_unlock((pthread_mutex_t *)&st->mu);
	return n;
}
