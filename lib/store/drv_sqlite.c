/*
 * drv_sqlite.c - the SQLite driver of the job store (drv.h).
 *
 * One file, one connection per store handle (used under the store's
 * mutex, hence SQLITE_OPEN_NOMUTEX); other processes are kept apart by
 * SQLite's own locks, waited for up to BUSY_TIMEOUT_MS.
 *
 * Durability.  The file is in WAL mode.  A call that records something
 * returns only after COMMIT returned, and a committed transaction in WAL
 * mode is in the -wal file, written with write(2) before COMMIT returns:
 * the kernel holds it even if this process is SIGKILLed the next
 * instant.  With synchronous=FULL the WAL is also fsync'ed at each commit,
 * so it survives a power cut too; that is the default here because it
 * costs little (docs/store.md has the measurement), and
 * AGENTPUSH_DB_SYNC=normal trades the power-cut guarantee for speed.
 *
 * Write transactions start with BEGIN IMMEDIATE so that a second process
 * waits for the write lock at the start rather than failing at COMMIT;
 * it also makes each write transaction exclusive, which is why the
 * @FOR_UPDATE@ and @SKIP_LOCKED@ tokens mean nothing here.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentpush/errors.h"
#include "drv.h"

#define BUSY_TIMEOUT_MS 10000
#define PATH_MAX_STORE 4096

/* The database clock in milliseconds (julianday('now') has them). */
#define SQLITE_NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"

struct drv_sqlite {
	struct drv base;
	sqlite3 *db;
};

#define DB(d) (((struct drv_sqlite *)(d))->db)
#define ST(s) ((sqlite3_stmt *)(s))

/* mkdir -p of the folders above path, each new one mode 0700. */
static int
make_parents(const char *path, struct ap_ctx *ctx)
{
	char dir[PATH_MAX_STORE];
	struct stat sb;
	size_t i, n = strlen(path);

	if (n >= sizeof(dir))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "job store path is longer than %zu bytes", sizeof(dir) - 1);
	memcpy(dir, path, n + 1);
	for (i = 1; i < n; i++) {
		if (dir[i] != '/')
			continue;
		dir[i] = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return ap_ctx_fail(ctx, AP_EIO, 0, "job store %s: cannot create folder %s: %s",
			                   path, dir, strerror(errno));
		if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
			return ap_ctx_fail(ctx, AP_EIO, 0, "job store %s: %s is not a folder",
			                   path, dir);
		dir[i] = '/';
	}
	return AP_OK;
}

/* Creates the file with mode 0600 when missing, so SQLite's -wal and -shm
 * files (which copy the database's mode) are private too. */
static int
create_file(const char *path, struct ap_ctx *ctx)
{
	struct stat sb;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return ap_ctx_fail(ctx, AP_EIO, 0, "job store %s: cannot open it: %s",
		                   path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return ap_ctx_fail(ctx, AP_EIO, 0, "job store %s: not a regular file", path);
	}
	close(fd);
	return AP_OK;
}

static int
pragma(sqlite3 *db, const char *path, const char *sql, const char *want,
       struct ap_ctx *ctx)
{
	sqlite3_stmt *s = NULL;
	int rc, r = AP_OK;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	if (want != NULL && (rc != SQLITE_ROW ||
	    sqlite3_column_text(s, 0) == NULL ||
	    strcmp((const char *)sqlite3_column_text(s, 0), want) != 0)) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "job store %s: cannot switch to %s mode", path, want);
		goto out;
	}
	goto out;
fail:
	if (sqlite3_errcode(db) == SQLITE_NOTADB)
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "job store %s: not a database (%s)", path,
		                sqlite3_errmsg(db));
	else
		r = ap_ctx_fail(ctx, sqlite3_errcode(db) == SQLITE_NOMEM ? AP_ENOMEM : AP_EIO, 0,
		                "job store %s: cannot set it up: %s", path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(s);
	return r;
}

static void
s_close(struct drv *d)
{
	if (d == NULL)
		return;
	sqlite3_close(DB(d));
	free(d);
}

static int
s_prepare(struct drv *d, const char *sql, struct drv_stmt **out)
{
	sqlite3_stmt *s = NULL;

	*out = NULL;
	if (sqlite3_prepare_v3(DB(d), sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return sqlite3_errcode(DB(d)) == SQLITE_NOMEM ? AP_ENOMEM : AP_EIO;
	*out = (struct drv_stmt *)s;
	return AP_OK;
}

static void
s_finalize(struct drv_stmt *s)
{
	sqlite3_finalize(ST(s));
}

static void
s_reset(struct drv_stmt *s)
{
	sqlite3_reset(ST(s));
	sqlite3_clear_bindings(ST(s));
}

static void
s_bind_int64(struct drv_stmt *s, int i, int64_t v)
{
	sqlite3_bind_int64(ST(s), i, (sqlite3_int64)v);
}

static int
s_bind_text(struct drv_stmt *s, int i, const char *v)
{
	int rc = v != NULL ? sqlite3_bind_text(ST(s), i, v, -1, SQLITE_TRANSIENT)
	                   : sqlite3_bind_null(ST(s), i);

	return rc == SQLITE_OK ? AP_OK : AP_ENOMEM;
}

static int
s_step(struct drv_stmt *s)
{
	int rc = sqlite3_step(ST(s));

	if (rc == SQLITE_ROW)
		return DRV_ROW;
	if (rc == SQLITE_DONE)
		return DRV_DONE;
	return rc == SQLITE_NOMEM ? AP_ENOMEM : AP_EIO;
}

static int64_t
s_col_int64(struct drv_stmt *s, int i)
{
	return sqlite3_column_int64(ST(s), i);
}

static const char *
s_col_text(struct drv_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(ST(s), i);
}

static int
s_col_null(struct drv_stmt *s, int i)
{
	return sqlite3_column_type(ST(s), i) == SQLITE_NULL;
}

static int64_t
s_changes(struct drv *d)
{
	return sqlite3_changes(DB(d));
}

static int
s_in_tx(struct drv *d)
{
	return !sqlite3_get_autocommit(DB(d));
}

static int
s_exec_script(struct drv *d, const char *sql)
{
	int rc = sqlite3_exec(DB(d), sql, NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		return AP_OK;
	return rc == SQLITE_NOMEM ? AP_ENOMEM : AP_EIO;
}

static const char *
s_errmsg(struct drv *d)
{
	return sqlite3_errmsg(DB(d));
}

static enum drv_err
s_errkind(struct drv *d)
{
	int x = sqlite3_extended_errcode(DB(d));

	if (x == SQLITE_CONSTRAINT_UNIQUE || x == SQLITE_CONSTRAINT_PRIMARYKEY)
		return DRV_ERR_UNIQUE;
	if ((x & 0xff) == SQLITE_NOMEM)
		return DRV_ERR_NOMEM;
	if ((x & 0xff) == SQLITE_NOTADB)
		return DRV_ERR_NOTADB;
	return DRV_ERR_OTHER;
}

static char *
s_translate(const char *sql)
{
	return drv_translate_tokens(sql, SQLITE_NOW_MS, "", "", 0);
}

static char *
s_translate_schema(const char *sql)
{
	return strdup(sql);  /* the migrations are written in SQLite's dialect */
}

/* No server to wait for: deferring would gain nothing. */
static int
s_defer(struct drv_stmt *s)
{
	int r;

	while ((r = s_step(s)) == DRV_ROW)
		;
	s_reset(s);
	return r < 0 ? r : AP_OK;
}

static const struct drv_ops sqlite_ops = {
	.name = "sqlite",
	.begin_write = "BEGIN IMMEDIATE",
	.begin_read = "BEGIN",
	.lock_schema = NULL,      /* BEGIN IMMEDIATE already excludes others */
	.list_tables = "SELECT name FROM sqlite_master WHERE type = 'table'"
	               " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
	.close = s_close,
	.prepare = s_prepare,
	.finalize = s_finalize,
	.reset = s_reset,
	.bind_int64 = s_bind_int64,
	.bind_text = s_bind_text,
	.step = s_step,
	.defer = s_defer,
	.col_int64 = s_col_int64,
	.col_text = s_col_text,
	.col_null = s_col_null,
	.changes = s_changes,
	.in_tx = s_in_tx,
	.exec_script = s_exec_script,
	.errmsg = s_errmsg,
	.errkind = s_errkind,
	.translate = s_translate,
	.translate_schema = s_translate_schema,
};

int
drv_sqlite_open(const char *path, struct drv **out, struct ap_ctx *ctx)
{
	struct drv_sqlite *d = NULL;
	const char *sync = getenv("AGENTPUSH_DB_SYNC");
	int r;

	*out = NULL;
	if ((r = make_parents(path, ctx)) != AP_OK ||
	    (r = create_file(path, ctx)) != AP_OK)
		return r;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	d->base.ops = &sqlite_ops;
	/* NOMUTEX: the store's mutex serialises every use of the connection. */
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		r = d->db != NULL
			? ap_ctx_fail(ctx, AP_EIO, 0, "job store %s: cannot open it: %s", path,
			              sqlite3_errmsg(d->db))
			: ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
	if ((r = pragma(d->db, path, "PRAGMA journal_mode=WAL", "wal", ctx)) != AP_OK ||
	    (r = pragma(d->db, path, sync != NULL && strcmp(sync, "normal") == 0
	                    ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL",
	                NULL, ctx)) != AP_OK ||
	    (r = pragma(d->db, path, "PRAGMA foreign_keys=ON", NULL, ctx)) != AP_OK)
		goto fail;
	*out = &d->base;
	return AP_OK;
fail:
	s_close(&d->base);
	return r;
}
