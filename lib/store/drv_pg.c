/*
 * drv_pg.c - the PostgreSQL driver of the job store (drv.h), over libpq.
 *
 * One connection per store handle, used under the store's mutex.  A
 * statement with parameters is prepared on the server once per
 * connection (PQprepare, on its first run) and then sent with
 * PQexecPrepared: one round trip per run, rows buffered in the PGresult.
 * A statement without parameters (BEGIN, COMMIT, SAVEPOINT...) goes as a
 * simple query, which also works in a transaction that an error aborted
 * (ROLLBACK TO a savepoint must).
 *
 * Deferred writes: inside a write transaction the store sends most of its
 * writes through ops->defer (BEGIN, the UPDATEs and INSERTs of a record,
 * COMMIT's predecessors).  They go out in libpq's pipeline mode without
 * waiting; the next statement whose result the store reads (a SELECT,
 * COMMIT, ROLLBACK) is sent behind them with one Sync, and one round trip
 * answers them all.  The first error among them is that step's error (the
 * server skips what follows an error until the Sync, and the store then
 * rolls the transaction back).  So a record's BEGIN, read, writes and
 * COMMIT cost two round trips, not six (docs/PERFORMANCE.md).
 *
 * Transactions: BEGIN is READ COMMITTED; the store locks the rows it
 * reads before changing them (@FOR_UPDATE@) and claims with FOR UPDATE
 * SKIP LOCKED, so workers never wait for each other's claims.
 *
 * A lost connection (server restarted, network cut): the failing call
 * returns AP_EIO with "connection lost: ..." and changes nothing more;
 * the open transaction, if any, is gone with the connection, and this
 * driver refuses to reconnect before the store's rollback has ended it
 * (so no statement of a half-done transaction runs on a new connection).
 * The next call reconnects (PQreset), at most once per backoff period
 * (250 ms doubling to 5 s, reset by a success), never sleeping: calls in
 * between fail at once with the same message.  TCP keepalives and
 * tcp_user_timeout bound how long a silent network cut can hang a call.
 *
 * Secrets: a URI may hold a password.  It is kept in this handle (libpq
 * needs it to reconnect) and never put in a message: every message names
 * the store by its redacted form (drv_redact_uri).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentpush/errors.h"
#include "drv.h"

#define PG_NOW_MS "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

struct drv_pg {
	struct drv base;
	PGconn *conn;
	char err[512];
	enum drv_err kind;
	int64_t changes;
	unsigned epoch;         /* +1 at each (re)connection */
	unsigned next_name;
	int broken;             /* the connection was lost */
	int tx;                 /* a transaction is open (as far as we sent) */
	int pipe;               /* in pipeline mode, with queued statements */
	int queued;             /* deferred statements sent, results unread */
	uint64_t round_trips;   /* waits for the server (ops->round_trips) */
	unsigned listen_epoch;  /* connection LISTENing (ops->listen), 0 none */
	uint64_t notices;       /* ops->notices: notices read, plus one per
	                         * failed read */
	struct timespec last_try;
	int backoff_ms;
};

struct drv_stmt {
	struct drv_pg *d;
	char name[24];
	char *sql;
	int nparams;
	char **vals;            /* nparams, malloc'd copies or NULL */
	unsigned epoch;         /* connection it is prepared on, 0 = none */
	PGresult *res;
	int ran, row, nrows;
};

#define PG(d) ((struct drv_pg *)(d))

/* One line of err from a libpq message (they end with newlines). */
static void
set_err(struct drv_pg *d, enum drv_err kind, const char *prefix, const char *msg)
{
	char *nl;

	snprintf(d->err, sizeof(d->err), "%s%s", prefix, msg != NULL && msg[0] != '\0' ? msg : "unknown error");
	while ((nl = strpbrk(d->err, "\r\n")) != NULL) {
		if (nl[1] == '\0') {
			*nl = '\0';
			break;
		}
		*nl = ' ';
	}
	d->kind = kind;
}

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

/* The connection is usable, or made so by a reconnection attempt when the
 * backoff allows one; 0, or AP_EIO with err set. */
static int
ensure_conn(struct drv_pg *d)
{
	if (!d->broken && PQstatus(d->conn) == CONNECTION_OK)
		return AP_OK;
	d->broken = 1;
	if (d->tx) {
		/* The transaction died with the connection: the store rolls
		 * back first; only then may a new connection be used. */
		if (d->kind != DRV_ERR_LOST)
			set_err(d, DRV_ERR_LOST, "connection lost: ", PQerrorMessage(d->conn));
		return AP_EIO;
	}
	if (d->backoff_ms > 0 && ms_since(&d->last_try) < d->backoff_ms) {
		d->kind = DRV_ERR_LOST;
		if (strstr(d->err, "connection lost") == NULL)
			set_err(d, DRV_ERR_LOST, "connection lost: ", PQerrorMessage(d->conn));
		return AP_EIO;
	}
	clock_gettime(CLOCK_MONOTONIC, &d->last_try);
	PQreset(d->conn);
	if (PQstatus(d->conn) != CONNECTION_OK) {
		d->backoff_ms = d->backoff_ms == 0 ? BACKOFF_MIN_MS
		              : d->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d->backoff_ms * 2;
		set_err(d, DRV_ERR_LOST, "connection lost, reconnecting failed: ", PQerrorMessage(d->conn));
		return AP_EIO;
	}
	d->broken = 0;
	d->backoff_ms = 0;
	d->epoch++;
	d->pipe = 0;
	d->queued = 0;
	return AP_OK;
}

/* Records the outcome of a failed result. */
static int
result_fail(struct drv_pg *d, PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(d->conn);

	if (PQstatus(d->conn) != CONNECTION_OK) {
		d->broken = 1;
		set_err(d, DRV_ERR_LOST, "connection lost: ", msg);
		return AP_EIO;
	}
	if (res == NULL && d->pipe) {
		set_err(d, DRV_ERR_OTHER, "", msg);
		return AP_EIO;
	}
	if (res == NULL) {
		set_err(d, DRV_ERR_NOMEM, "", "out of memory");
		return AP_ENOMEM;
	}
	set_err(d, state != NULL && strcmp(state, "23505") == 0 ? DRV_ERR_UNIQUE
	        : state != NULL && strcmp(state, "22012") == 0 ? DRV_ERR_GUARD
	        : DRV_ERR_OTHER, "", msg);
	return AP_EIO;
}

/* Whether a transaction is open, from the server's last word; kept as it
 * was when the connection is gone (then only the store's ROLLBACK ends
 * it, see ensure_conn). */
static void
sync_tx(struct drv_pg *d)
{
	if (!d->broken && PQstatus(d->conn) == CONNECTION_OK)
		d->tx = PQtransactionStatus(d->conn) != PQTRANS_IDLE;
}

static void
p_close(struct drv *d)
{
	if (d == NULL)
		return;
	PQfinish(PG(d)->conn);
	free(d);
}

static int
p_prepare(struct drv *dd, const char *sql, struct drv_stmt **out)
{
	struct drv_pg *d = PG(dd);
	struct drv_stmt *s = NULL;
	const char *p;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->sql = strdup(sql)) == NULL)
		goto oom;
	s->d = d;
	for (p = strchr(sql, '$'); p != NULL; p = strchr(p + 1, '$')) {
		int n = atoi(p + 1);

		if (n > s->nparams)
			s->nparams = n;
	}
	if (s->nparams > 0 && (s->vals = calloc((size_t)s->nparams, sizeof(*s->vals))) == NULL)
		goto oom;
	snprintf(s->name, sizeof(s->name), "ap%u", ++d->next_name);
	*out = s;
	return AP_OK;
oom:
	if (s != NULL)
		free(s->sql);
	free(s);
	set_err(d, DRV_ERR_NOMEM, "", "out of memory");
	return AP_ENOMEM;
}

static void
p_reset(struct drv_stmt *s)
{
	int i;

	PQclear(s->res);
	s->res = NULL;
	s->ran = 0;
	s->row = -1;
	s->nrows = 0;
	for (i = 0; i < s->nparams; i++) {
		free(s->vals[i]);
		s->vals[i] = NULL;
	}
}

static void
p_finalize(struct drv_stmt *s)
{
	if (s == NULL)
		return;
	p_reset(s);
	/* The server forgets prepared statements with the connection. */
	free(s->vals);
	free(s->sql);
	free(s);
}

static int
p_bind_text(struct drv_stmt *s, int i, const char *v)
{
	if (i < 1 || i > s->nparams)
		return AP_EINVAL;
	free(s->vals[i - 1]);
	s->vals[i - 1] = NULL;
	if (v != NULL && (s->vals[i - 1] = strdup(v)) == NULL)
		return AP_ENOMEM;
	return AP_OK;
}

static void
p_bind_int64(struct drv_stmt *s, int i, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	(void)p_bind_text(s, i, buf);
}

/* Prepares s on this connection when it is not yet; outside pipeline mode
 * (the caller drained it).  0, or < 0 with err set. */
static int
prepare_now(struct drv_pg *d, struct drv_stmt *s)
{
	PGresult *res = NULL;
	int r = AP_OK;

	if (s->nparams == 0 || s->epoch == d->epoch)
		return AP_OK;
	d->round_trips++;
	res = PQprepare(d->conn, s->name, s->sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		r = result_fail(d, res);
		sync_tx(d);
	} else {
		s->epoch = d->epoch;
	}
	PQclear(res);
	return r;
}

static int pipe_drain(struct drv_pg *d, struct drv_stmt *last, PGresult **last_res);

/*
 * Sends s (bound) in pipeline mode, entering it when needed.  A statement
 * not yet prepared on this connection is prepared first, outside the
 * pipeline (what was queued is drained before: once per statement and
 * connection).
 */
static int
pipe_send(struct drv_pg *d, struct drv_stmt *s)
{
	int ok, r;

	if ((r = ensure_conn(d)) != AP_OK)
		return r;
	if (s->nparams > 0 && s->epoch != d->epoch &&
	    ((r = pipe_drain(d, NULL, NULL)) != AP_OK || (r = prepare_now(d, s)) != AP_OK))
		return r;
	if (!d->pipe) {
		if (PQenterPipelineMode(d->conn) != 1)
			return result_fail(d, NULL);
		d->pipe = 1;
	}
	if (s->nparams == 0)
		ok = PQsendQueryParams(d->conn, s->sql, 0, NULL, NULL, NULL, NULL, 0);
	else
		ok = PQsendQueryPrepared(d->conn, s->name, s->nparams,
		                         (const char *const *)s->vals, NULL, NULL, 0);
	return ok == 1 ? AP_OK : result_fail(d, NULL);
}

/*
 * Ends the pipeline: a Sync after what was sent, then every result read.
 * With last (sent after the deferred ones), its result becomes last->res
 * (PGRES_COMMAND_OK or TUPLES_OK) unless a deferred statement failed
 * first.  Leaves pipeline mode.  0, or the first error (err set).
 */
static int
pipe_drain(struct drv_pg *d, struct drv_stmt *last, PGresult **last_res)
{
	int want = d->queued + (last != NULL), idx = 0, r = AP_OK, nulls = 0, lost = 0;
	PGresult *res = NULL, *failed = NULL;
	ExecStatusType st;

	if (!d->pipe)
		return AP_OK;
	d->round_trips++;
	if (PQpipelineSync(d->conn) != 1) {
		lost = 1;
		goto out;
	}
	for (;;) {
		if ((res = PQgetResult(d->conn)) == NULL) {
			/* the end of one statement's results */
			if (PQstatus(d->conn) != CONNECTION_OK || ++nulls > want + 1) {
				lost = 1;
				goto out;
			}
			idx++;
			continue;
		}
		st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if ((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) &&
		    last != NULL && idx == want - 1 && failed == NULL) {
			*last_res = res;
			continue;
		}
		/* the first error is the answer; judged once the connection's
		 * fate is known (a server shutting down sends one, then closes) */
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
		    st != PGRES_PIPELINE_ABORTED && failed == NULL) {
			failed = res;
			continue;
		}
		PQclear(res);
	}
	if (PQexitPipelineMode(d->conn) != 1)
		lost = 1;
out:
	if (failed != NULL)
		r = result_fail(d, failed);
	else if (lost)
		r = result_fail(d, NULL);
	PQclear(failed);
	if (r != AP_OK && last_res != NULL && *last_res != NULL) {
		PQclear(*last_res);
		*last_res = NULL;
	}
	if (PQstatus(d->conn) != CONNECTION_OK)
		d->broken = 1;
	d->pipe = 0;
	d->queued = 0;
	sync_tx(d);
	return r;
}

static int p_step(struct drv_stmt *s);

/* ops->defer: queued inside a write transaction (and BEGIN itself),
 * run at once otherwise. */
static int
p_defer(struct drv_stmt *s)
{
	struct drv_pg *d = s->d;
	int begin = strncmp(s->sql, "BEGIN", 5) == 0, r;

	if (!d->tx && !begin) {
		r = p_step(s);
		p_reset(s);
		return r < 0 ? r : AP_OK;
	}
	if ((r = pipe_send(d, s)) != AP_OK)
		return r;
	d->queued++;
	if (begin)
		d->tx = 1;
	p_reset(s);
	return AP_OK;
}

static int
p_step(struct drv_stmt *s)
{
	struct drv_pg *d = s->d;
	PGresult *res = NULL;
	ExecStatusType st;
	int r;

	if (!s->ran && d->pipe) {
		/* behind the deferred statements, in the same round trip */
		if ((r = pipe_send(d, s)) != AP_OK)
			return r;
		if ((r = pipe_drain(d, s, &res)) != AP_OK) {
			/* a ROLLBACK after the failure still has to run */
			if (strncmp(s->sql, "ROLLBACK", 8) != 0 || d->broken)
				return r;
			res = NULL;
		}
		if (res != NULL) {
			st = PQresultStatus(res);
			goto ran;
		}
	}
	if (!s->ran) {
		if ((r = ensure_conn(d)) != AP_OK)
			return r;
		d->round_trips++;
		if (s->nparams == 0) {
			res = PQexec(d->conn, s->sql);
		} else {
			if ((r = prepare_now(d, s)) != AP_OK)
				return r;
			res = PQexecPrepared(d->conn, s->name, s->nparams,
			                     (const char *const *)s->vals, NULL, NULL, 0);
		}
		st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			r = result_fail(d, res);
			PQclear(res);
			sync_tx(d);
			return r;
		}
ran:
		sync_tx(d);
		d->changes = strtoll(PQcmdTuples(res), NULL, 10);
		s->res = res;
		s->nrows = st == PGRES_TUPLES_OK ? PQntuples(res) : 0;
		s->row = -1;
		s->ran = 1;
	}
	if (s->row + 1 < s->nrows) {
		s->row++;
		return DRV_ROW;
	}
	s->row = s->nrows;
	return DRV_DONE;
}

static const char *
p_col_text(struct drv_stmt *s, int i)
{
	if (s->res == NULL || s->row < 0 || s->row >= s->nrows || i >= PQnfields(s->res) ||
	    PQgetisnull(s->res, s->row, i))
		return NULL;
	return PQgetvalue(s->res, s->row, i);
}

static int64_t
p_col_int64(struct drv_stmt *s, int i)
{
	const char *v = p_col_text(s, i);

	return v != NULL ? strtoll(v, NULL, 10) : 0;
}

static int
p_col_null(struct drv_stmt *s, int i)
{
	return p_col_text(s, i) == NULL;
}

static int64_t
p_changes(struct drv *d)
{
	return PG(d)->changes;
}

static int
p_in_tx(struct drv *dd)
{
	struct drv_pg *d = PG(dd);

	if (d->broken || PQstatus(d->conn) != CONNECTION_OK)
		return d->tx;
	return PQtransactionStatus(d->conn) != PQTRANS_IDLE;
}

static int
p_exec_script(struct drv *dd, const char *sql)
{
	struct drv_pg *d = PG(dd);
	PGresult *res = NULL;
	int r;

	/* what was deferred goes first; before a ROLLBACK its error is moot */
	if (d->pipe && (r = pipe_drain(d, NULL, NULL)) != AP_OK && strcmp(sql, "ROLLBACK") != 0)
		return r;
	d->round_trips++;
	if (strcmp(sql, "ROLLBACK") == 0 && (d->broken || PQstatus(d->conn) != CONNECTION_OK)) {
		d->tx = 0;      /* gone with the connection */
		d->broken = 1;
		return AP_EIO;
	}
	if ((r = ensure_conn(d)) != AP_OK)
		return r;
	res = PQexec(d->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = result_fail(d, res);
		PQclear(res);
		sync_tx(d);
		if (strcmp(sql, "ROLLBACK") == 0)
			d->tx = 0;
		return r;
	}
	PQclear(res);
	sync_tx(d);
	return AP_OK;
}

static const char *
p_errmsg(struct drv *d)
{
	return PG(d)->err;
}

static enum drv_err
p_errkind(struct drv *d)
{
	return PG(d)->kind;
}

static char *
p_translate(const char *sql)
{
	return drv_translate_tokens(sql, PG_NOW_MS, "FOR UPDATE", "FOR UPDATE OF t SKIP LOCKED", 1);
}

/* Replaces every whole word `from` outside quotes by `to` (malloc'd). */
static char *
replace_word(const char *in, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	const char *p;
	char *out = NULL, *o;

	for (p = strstr(in, from); p != NULL; p = strstr(p + fl, from))
		n++;
	if ((out = malloc(strlen(in) + n * (tl > fl ? tl - fl : 0) + 1)) == NULL)
		return NULL;
	for (o = out, p = in; *p != '\0';) {
		int word = strncmp(p, from, fl) == 0 &&
		           (p == in || !(p[-1] == '_' || (p[-1] >= 'A' && p[-1] <= 'Z'))) &&
		           !(p[fl] == '_' || (p[fl] >= 'A' && p[fl] <= 'Z'));

		if (word) {
			memcpy(o, to, tl);
			o += tl;
			p += fl;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static char *
p_translate_schema(const char *sql)
{
	char *a = replace_word(sql, "INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
	char *b = a != NULL ? replace_word(a, "INTEGER", "BIGINT") : NULL;

	free(a);
	return b;
}

static uint64_t
p_round_trips(struct drv *d)
{
	return PG(d)->round_trips;
}

/*
 * The channel of notices (ops->notify): a worker reuses a credential it
 * saw good, or a job it saw not cancelled, and asks again as soon as a
 * notice comes in on this channel (store.c notice_mark).
 */
#define NOTICE_CHANNEL "agentpush"

static int
p_listen(struct drv *dd)
{
	struct drv_pg *d = PG(dd);
	PGresult *res = NULL;
	int r;

	if (d->listen_epoch == d->epoch && !d->broken)
		return AP_OK;
	if ((r = ensure_conn(d)) != AP_OK)
		return r;
	if (d->tx || d->pipe) {
		set_err(d, DRV_ERR_OTHER, "", "LISTEN inside a transaction");
		return AP_EINTERNAL;
	}
	res = PQexec(d->conn, "LISTEN " NOTICE_CHANNEL);
	d->round_trips++;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		r = result_fail(d, res);
		PQclear(res);
		return r;
	}
	PQclear(res);
	d->listen_epoch = d->epoch;
	return AP_OK;
}

static uint64_t
p_notices(struct drv *dd)
{
	struct drv_pg *d = PG(dd);
	PGnotify *n = NULL;

	/* A broken connection may have lost notices: count that as one. */
	if (d->broken || PQstatus(d->conn) != CONNECTION_OK ||
	    PQconsumeInput(d->conn) == 0)
		d->notices++;
	while ((n = PQnotifies(d->conn)) != NULL) {
		d->notices++;
		PQfreemem(n);
	}
	return d->notices + ((uint64_t)d->epoch << 40);
}

static const struct drv_ops pg_ops = {
	.name = "postgresql",
	.begin_write = "BEGIN",
	.begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	/* Two workers starting at once on an empty database: one migrates,
	 * the other waits and then finds the schema current. */
	.lock_schema = "SELECT pg_advisory_xact_lock(7206151408)",
	.list_tables = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
	.close = p_close,
	.prepare = p_prepare,
	.finalize = p_finalize,
	.reset = p_reset,
	.bind_int64 = p_bind_int64,
	.bind_text = p_bind_text,
	.step = p_step,
	.defer = p_defer,
	.col_int64 = p_col_int64,
	.col_text = p_col_text,
	.col_null = p_col_null,
	.changes = p_changes,
	.in_tx = p_in_tx,
	.exec_script = p_exec_script,
	.errmsg = p_errmsg,
	.errkind = p_errkind,
	.translate = p_translate,
	.translate_schema = p_translate_schema,
	.round_trips = p_round_trips,
	.notify = "SELECT pg_notify('" NOTICE_CHANNEL "', '')",
	.listen = p_listen,
	.notices = p_notices,
};

/* Replaces each occurrence of w (n bytes) in msg by "***". */
static void
scrub_word(char *msg, size_t size, const char *w, size_t n)
{
	char *p;

	while ((p = memmem(msg, strlen(msg), w, n)) != NULL) {
		size_t tail = strlen(p + n);

		if ((size_t)(p - msg) + 3 + tail + 1 > size)
			tail = size - (size_t)(p - msg) - 4;
		memmove(p + 3, p + n, tail);
		memcpy(p, "***", 3);
		p[3 + tail] = '\0';
	}
}

/* Removes from msg what libpq may have echoed of a password in uri (the
 * user information's, or a password= parameter's): libpq parses a URI
 * whose password was not percent-encoded into other fields (a port...)
 * and names them in its message.  Each piece between URI delimiters of 3
 * bytes or more is replaced. */
static void
scrub_password(char *msg, size_t size, const char *uri)
{
	const char *auth = strstr(uri, "://"), *at = NULL, *colon = NULL, *p, *end;

	if (auth == NULL)
		return;
	auth += 3;
	for (p = auth; *p != '\0' && *p != '?'; p++)
		if (*p == '@')
			at = p;
	if (at != NULL)
		colon = memchr(auth, ':', (size_t)(at - auth));
	for (p = colon != NULL ? colon + 1 : NULL; p != NULL && p < at; p = end + 1) {
		end = p + strcspn(p, "/@:?#&=");
		if (end > at)
			end = at;
		if (end - p >= 3)
			scrub_word(msg, size, p, (size_t)(end - p));
	}
	if ((p = strstr(uri, "password=")) != NULL) {
		p += 9;
		end = p + strcspn(p, "&");
		if (end - p >= 3)
			scrub_word(msg, size, p, (size_t)(end - p));
	}
}

static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int
drv_pg_open(const char *uri, const char *display, struct drv **out,
            struct ap_ctx *ctx)
{
	/* The URI first (expand_dbname), then what we add: a bounded connect
	 * and keepalives, so a dead server or a cut network fails a call in
	 * seconds instead of hanging a worker. */
	const char *const keys[] = {
		"dbname", "connect_timeout", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"application_name", NULL
	};
	const char *const vals[] = {
		uri, "5", "1", "10", "5", "3", "15000", "agentpush", NULL
	};
	struct drv_pg *d = NULL;
	int r;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	d->base.ops = &pg_ops;
	d->epoch = 1;
	d->conn = PQconnectdbParams(keys, vals, 1);
	if (d->conn == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto fail;
	}
	if (PQstatus(d->conn) != CONNECTION_OK) {
		set_err(d, DRV_ERR_OTHER, "", PQerrorMessage(d->conn));
		scrub_password(d->err, sizeof(d->err), uri);
		r = ap_ctx_fail(ctx, AP_EIO, 0, "job store %s: cannot connect: %s", display, d->err);
		goto fail;
	}
	/* No notices on stderr: a library never prints. */
	PQsetNoticeProcessor(d->conn, quiet, NULL);
	*out = &d->base;
	return AP_OK;
fail:
	p_close(&d->base);
	return r;
}
