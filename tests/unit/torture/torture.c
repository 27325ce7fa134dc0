/*
 * torture.c - allocation-failure torture (curl's -t, SQLite's malloc fault
 * injection): runs each main path of the library with its Nth allocation
 * failing, for N = 1, 2, 3, ... until a run makes fewer than N allocations,
 * and checks every run: no crash (each run is a child process), a clean
 * outcome (success, or an error code with a message on the context), no
 * allocation left behind once the path has cleaned up, and for the store
 * a file that still passes PRAGMA integrity_check and still opens.
 *
 * The allocator is replaced here, in the test program only (glibc lets a
 * program replace malloc, calloc, realloc and free, and routes its own
 * internal calls through them); the library is the ordinary one.  Built
 * only without sanitizers: ASan has its own allocator.
 *
 *   torture [PATH-NAME...]      default: every path
 *   AP_TORTURE_MAX=N            stop after N (a bound for slow paths)
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agentpush/ctx.h"
#include "agentpush/inventory.h"
#include "agentpush/linux.h"
#include "agentpush/package.h"
#include "agentpush/report.h"
#include "agentpush/store.h"
#include "agentpush/target.h"
#include "agentpush/errors.h"

/* ---- the allocator ----------------------------------------------------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static long fail_at;         /* 0: never fail */
static long n_allocs;        /* allocations asked for since arming */
static long live;            /* allocations not yet freed since arming */
static int armed;
static int injected;         /* the failure happened */

/* Every block carries a header saying whether it was made while armed, so
 * that only those count as live (the C library's own caches do not). */
struct hdr { size_t tracked; size_t pad; };

static void *
track(void *raw, int counted)
{
	struct hdr *h = raw;

	if (h == NULL)
		return NULL;
	h->tracked = (size_t)counted;
	if (counted)
		live++;
	return h + 1;
}

static int
should_fail(void)
{
	if (!armed)
		return 0;
	n_allocs++;
	if (fail_at > 0 && n_allocs == fail_at) {
		injected = 1;
		return 1;
	}
	return 0;
}

void *
malloc(size_t n)
{
	if (should_fail())
		return NULL;
	if (n > SIZE_MAX - sizeof(struct hdr))
		return NULL;
	return track(__libc_malloc(n + sizeof(struct hdr)), armed);
}

void *
calloc(size_t a, size_t b)
{
	size_t n;

	if (should_fail())
		return NULL;
	if (b != 0 && a > (SIZE_MAX - sizeof(struct hdr)) / b)
		return NULL;
	n = a * b;
	return track(__libc_calloc(1, n + sizeof(struct hdr)), armed);
}

void
free(void *p)
{
	struct hdr *h;

	if (p == NULL)
		return;
	h = (struct hdr *)p - 1;
	if (h->tracked)
		live--;
	__libc_free(h);
}

void *
realloc(void *p, size_t n)
{
	struct hdr *h, *nh;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		free(p);
		return NULL;
	}
	if (should_fail())
		return NULL;
	h = (struct hdr *)p - 1;
	if ((nh = __libc_realloc(h, n + sizeof(struct hdr))) == NULL)
		return NULL;
	return nh + 1;   /* keeps its tracked flag */
}

/* Unused by the paths but part of a complete replacement. */
void *
reallocarray(void *p, size_t a, size_t b)
{
	if (b != 0 && a > SIZE_MAX / b) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, a * b);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	(void)align;
	(void)out;
	(void)n;
	return ENOMEM;   /* nothing on these paths aligns; make it loud */
}

void *
aligned_alloc(size_t align, size_t n)
{
	(void)align;
	(void)n;
	return NULL;
}

void *
memalign(size_t align, size_t n)
{
	(void)align;
	(void)n;
	return NULL;
}

size_t
malloc_usable_size(void *p)
{
	(void)p;
	return 0;
}

/* ---- the paths --------------------------------------------------------- */

static char workdir[64] = "/tmp/ap-torture-XXXXXX";

static const char inventory_text[] =
	"[web]\n"
	"web[1:3].example ansible_user=root\n"
	"198.18.0.9:2222 agentpush_staging_dir=/var/tmp/x\n"
	"[db]\n"
	"[2001:db8::1]:22 ansible_connection=ssh\n"
	"[all:vars]\n"
	"ansible_port=22\n";

/* Each returns AP_OK or an AP_E* code; the caller checks the rest. */
static int
path_inventory(struct ap_ctx *ctx)
{
	struct ap_target *t = NULL;
	size_t n = 0;
	int r = ap_inventory_parse("fleet.ini", inventory_text, sizeof(inventory_text) - 1, &t, &n, ctx);

	ap_targets_free(t, n);
	return r;
}

static const char *facts_path;

static int
path_facts(struct ap_ctx *ctx)
{
	struct ap_linux_facts *f = NULL;
	char buf[65536];
	FILE *fp = NULL;
	size_t len;
	int r;

	if ((fp = fopen(facts_path, "re")) == NULL)
		return ap_ctx_fail(ctx, AP_EIO, 0, "cannot open %s", facts_path);
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	r = ap_linux_facts_parse(buf, len, &f, ctx);
	ap_linux_facts_free(f);
	return r;
}

static const char *package_path;

static int
path_manifest(struct ap_ctx *ctx)
{
	struct ap_package *p = NULL;
	int r = ap_package_open(package_path, &p, ctx);

	ap_package_free(p);
	return r;
}

static int
path_report(struct ap_ctx *ctx)
{
	struct ap_report *rep = ap_report_new();
	struct ap_target t;
	struct ap_result *res = NULL;
	char *json = NULL, *text = NULL;
	int r = AP_ENOMEM;

	memset(&t, 0, sizeof(t));
	if (rep == NULL)
		goto out;
	if (ap_target_parse("root@198.18.0.2:22", &t, ctx) != AP_OK) {
		r = ap_ctx_rc(ctx);
		goto out;
	}
	if ((res = ap_report_add_target(rep, &t)) == NULL ||
	    ap_result_add(res, AP_ERR_REGISTRATION_FAILED, NULL, "no registration within 120 s") != AP_OK ||
	    ap_result_add(res, 95117, "unreachable", "connect: timed out") != AP_OK ||
	    ap_result_set_note(res, "installed agentpush-agent 0.1.0") != AP_OK)
		goto out;
	if ((json = ap_report_to_json(rep)) == NULL || (text = ap_report_to_text(rep, 1)) == NULL)
		goto out;
	r = AP_OK;
out:
	if (r == AP_ENOMEM && ap_ctx_rc(ctx) == AP_OK)
		ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	free(json);
	free(text);
	ap_target_clear(&t);
	ap_report_free(rep);
	return r;
}

static char store_path[128];
static char template_path[128]; /* an up-to-date store, made once */
static const char *step = "";   /* the store path's call in progress */

/* A store made from nothing: the migrations (mostly SQLite parsing them). */
static int
path_store_create(struct ap_ctx *ctx)
{
	struct ap_store *st = NULL;
	int r;

	step = "ap_store_open (new file)";
	r = ap_store_open(store_path, &st, ctx);
	ap_store_close(st);
	return r;
}

/* An existing store: open, record a job and a host, finish it. */
static int
path_store(struct ap_ctx *ctx)
{
	struct ap_store *st = NULL;
	struct ap_target t[2];
	struct ap_report *rep = NULL;
	struct ap_result *res = NULL;
	enum ap_host_state states[] = { AP_HOST_CONNECTED, AP_HOST_CHECKED };
	int64_t job = 0, ids[2] = { 0, 0 };
	int r;

	memset(t, 0, sizeof(t));
	step = "ap_store_open";
	if ((r = ap_store_open(store_path, &st, ctx)) != AP_OK)
		goto out;
	step = "ap_target_parse";
	if ((r = ap_target_parse("root@198.18.0.2", &t[0], ctx)) != AP_OK ||
	    (r = ap_target_parse("198.18.0.3:2222", &t[1], ctx)) != AP_OK)
		goto out;
	step = "ap_store_job_create";
	if ((r = ap_store_job_create(st, AP_JOB_CHECK, NULL, NULL, "{}", t, 2, &job, ids, ctx)) != AP_OK)
		goto out;
	step = "report";
	if ((rep = ap_report_new()) == NULL || (res = ap_report_add_target(rep, &t[0])) == NULL ||
	    ap_result_add(res, 95117, NULL, "connect: timed out") != AP_OK) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	step = "ap_store_target_record";
	if ((r = ap_store_target_record(st, ids[0], 1, res, states, 2, "checked", ctx)) != AP_OK)
		goto out;
	step = "ap_store_job_set_status";
	r = ap_store_job_set_status(st, job, AP_JOB_DONE, ctx);
out:
	ap_report_free(rep);
	ap_target_clear(&t[0]);
	ap_target_clear(&t[1]);
	ap_store_close(st);
	return r;
}

struct path {
	const char *name;
	int (*run)(struct ap_ctx *ctx);
	int store;   /* 1: each run starts from a copy of the template store;
	              * 2: from no file; either way checked afterwards */
	long max;    /* 0: every N; else stop after this N (see below) */
};

/*
 * store_create stops after its first 1,500 allocations: a new file's
 * migrations make some 4,500, nearly all inside SQLite's parser of our
 * CREATE statements (SQLite's own malloc-failure tests cover those), and
 * each run costs a fresh file; every N of them took this test past its
 * limit on a loaded machine.  Our own code's allocations on that path come
 * first (path building, the handle, the driver) and are all covered; the
 * store path proper (open, job, record, status) runs on a copy of an
 * up-to-date store and is covered for every N.
 */
static const struct path paths[] = {
	{ "inventory", path_inventory, 0, 0 },
	{ "facts", path_facts, 0, 0 },
	{ "manifest", path_manifest, 0, 0 },
	{ "report", path_report, 0, 0 },
	{ "store", path_store, 1, 0 },
	{ "store_create", path_store_create, 2, 1500 },
};

/* Removes the store file and its WAL and SHM files; 0 on success. */
static int
store_remove(void)
{
	static const char *const ext[] = { "", "-wal", "-shm" };
	char p[160];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", store_path, ext[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

/* Copies the template store to store_path; 0 on success. */
static int
store_from_template(void)
{
	char buf[65536];
	ssize_t k;
	int in = -1, out = -1, r = -1;

	if ((in = open(template_path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (out = open(store_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		goto done;
	while ((k = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)k) != k)
			goto done;
	r = k == 0 ? 0 : -1;
done:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0)
		r = -1;
	return r;
}

/* ---- one run, in a child ------------------------------------------------ */

enum { CHILD_OK = 0, CHILD_CLEAN_ERROR = 10, CHILD_NO_INJECTION = 20,
       CHILD_BAD_ERROR = 30, CHILD_LEAK = 40 };

static int
child(const struct path *p, long n)
{
	struct ap_ctx *ctx = ap_ctx_new();
	int r;

	if (ctx == NULL)
		return CHILD_BAD_ERROR;
	live = 0;
	n_allocs = 0;
	injected = 0;
	fail_at = n;
	armed = 1;
	r = p->run(ctx);
	armed = 0;
	if (r != AP_OK && (r >= 0 || ap_ctx_errmsg(ctx)[0] == '\0')) {
		fprintf(stderr, "torture %s #%ld: failed with %d and no message (in %s)\n", p->name, n, r, step);
		return CHILD_BAD_ERROR;
	}
	/* SQLite keeps its own page cache and mutexes: let it go first. */
	sqlite3_shutdown();
	if (live != 0) {
		fprintf(stderr, "torture %s #%ld: %ld allocation(s) not freed (returned %d: %s)\n",
		        p->name, n, live, r, ap_ctx_errmsg(ctx));
		return CHILD_LEAK;
	}
	ap_ctx_free(ctx);
	if (!injected)
		return CHILD_NO_INJECTION;
	return r == AP_OK ? CHILD_OK : CHILD_CLEAN_ERROR;
}

/* After a store run: the file, if any, is sound and opens. */
static int
store_sound(long n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	struct ap_store *st = NULL;
	struct ap_ctx *ctx = ap_ctx_new();
	int ok = 0;

	if (access(store_path, F_OK) != 0) {
		ok = 1;   /* never created: fine */
		goto out;
	}
	if (sqlite3_open_v2(store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
		fprintf(stderr, "torture store #%ld: integrity_check failed: %s\n", n,
		        db != NULL ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	/* no read transaction of ours in the way of the store's own open */
	sqlite3_finalize(s);
	s = NULL;
	sqlite3_close(db);
	db = NULL;
	if (ap_store_open(store_path, &st, ctx) != AP_OK) {
		fprintf(stderr, "torture store #%ld: the store no longer opens: %s\n", n, ap_ctx_errmsg(ctx));
		goto out;
	}
	ok = 1;
out:
	ap_store_close(st);
	sqlite3_finalize(s);
	sqlite3_close(db);
	ap_ctx_free(ctx);
	return ok;
}

static int
torture(const struct path *p, long max)
{
	long n;
	pid_t pid;
	int st, code, fails = 0, errors = 0, oks = 0;

	for (n = 1; n <= max; n++) {
		if (p->max > 0 && n > p->max)
			break;
		/* every run from the same start: each N tests one failure */
		if (p->store && (store_remove() != 0 ||
		                 (p->store == 1 && store_from_template() != 0))) {
			perror("torture: preparing the store file");
			return 1;
		}
		fflush(stderr);
		if ((pid = fork()) < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(child(p, n));
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st)) {
			fprintf(stderr, "torture %s #%ld: crashed (signal %d)\n", p->name, n,
			        WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			fails++;
			continue;
		}
		code = WEXITSTATUS(st);
		if (code == CHILD_NO_INJECTION) {
			printf("%s: %ld allocations, each failed in turn: %d clean errors, %d recovered, %d bad\n",
			       p->name, n - 1, errors, oks, fails);
			return fails;
		}
		if (code == CHILD_CLEAN_ERROR)
			errors++;
		else if (code == CHILD_OK)
			oks++;
		else
			fails++;
		if (p->store && !store_sound(n))
			fails++;
	}
	printf("%s: stopped at %ld: %d clean errors, %d recovered, %d bad\n",
	       p->name, n - 1, errors, oks, fails);
	return fails;
}

int
main(int argc, char **argv)
{
	const char *src = getenv("AP_SOURCE_ROOT");
	const char *maxs = getenv("AP_TORTURE_MAX");
	long max = maxs != NULL ? atol(maxs) : 100000;
	static char facts[4096];
	size_t i;
	int fails = 0, j, ran = 0;

	package_path = getenv("AP_INSTALL_PACKAGE");
	if (src == NULL || package_path == NULL) {
		fprintf(stderr, "torture: AP_SOURCE_ROOT and AP_INSTALL_PACKAGE must be set (meson test does)\n");
		return 2;
	}
	snprintf(facts, sizeof(facts), "%s/tests/unit/linux/facts/debian12-healthy.facts", src);
	facts_path = facts;
	/* on tmpfs when there is one: each run's fsyncs cost nothing there */
	if (access("/dev/shm", W_OK) == 0)
		memcpy(workdir, "/dev/shm/ap-torture-XXXXXX", sizeof("/dev/shm/ap-torture-XXXXXX"));
	if (mkdtemp(workdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(store_path, sizeof(store_path), "%s/jobs.db", workdir);
	snprintf(template_path, sizeof(template_path), "%s/template.db", workdir);
	{
		/* made here, with no failure injected (only children inject) */
		struct ap_ctx *ctx = ap_ctx_new();
		struct ap_store *st = NULL;

		if (ctx == NULL || ap_store_open(template_path, &st, ctx) != AP_OK) {
			fprintf(stderr, "torture: cannot make the template store: %s\n",
			        ctx != NULL ? ap_ctx_errmsg(ctx) : "out of memory");
			return 2;
		}
		ap_store_close(st);
		ap_ctx_free(ctx);
	}
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int want = argc < 2;

		for (j = 1; j < argc; j++)
			if (strcmp(argv[j], paths[i].name) == 0)
				want = 1;
		if (!want)
			continue;
		ran++;
		fails += torture(&paths[i], max);
	}
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
		if (system(cmd) != 0)
			fprintf(stderr, "torture: cannot remove %s\n", workdir);
	}
	if (ran == 0) {
		fprintf(stderr, "torture: no such path\n");
		return 2;
	}
	printf("%d bad run(s)\n", fails);
	return fails == 0 ? 0 : 1;
}
