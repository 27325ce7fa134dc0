/*
 * run.c - runs check or install over many targets (run.h).
 *
 * A fixed pool of threads, no more than --parallel and no more than there
 * are targets, takes targets in order from a shared index.  Each target's
 * result was created up front on the calling thread, so the report itself is
 * never modified concurrently: a worker writes only into its own result.
 * Nothing is forked per host.
 *
 * This is the first engine; the fleet engine (job store, resume, per-stage
 * state machine) replaces the pool loop while keeping these entry points.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/linux.h"
#include "agentpush/package.h"
#include "check_int.h"

/* Worker stacks: libssh and the rules need little; keep RSS per host small. */
#define WORKER_STACK_SIZE (512 * 1024)

struct pool {
	const struct ap_run *run;
	const struct ap_target *targets;
	struct ap_result **results;
	size_t n;
	size_t next;          /* next target to take; under lock */
	int failed_rc;        /* first local failure; under lock */
	char failed_msg[512];
	pthread_mutex_t lock;
};

static void
host_dispatch(const struct ap_run *run, const struct ap_target *t,
              struct ap_result *res, struct ap_ctx *ctx, int *rc)
{
	*rc = ap_linux_host_run(run, t, res, ctx);
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	struct ap_ctx *ctx = NULL;
	size_t i = 0;
	int rc = 0;

	if ((ctx = ap_ctx_new()) == NULL) {
		pthread_mutex_lock(&p->lock);
		if (p->failed_rc == 0) {
			p->failed_rc = AP_ENOMEM;
			snprintf(p->failed_msg, sizeof(p->failed_msg), "out of memory");
		}
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (p->failed_rc != 0 || p->next >= p->n) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->lock);

		ap_ctx_clear(ctx);
		host_dispatch(p->run, &p->targets[i], p->results[i], ctx, &rc);
		if (rc < 0) {
			pthread_mutex_lock(&p->lock);
			if (p->failed_rc == 0) {
				p->failed_rc = rc;
				snprintf(p->failed_msg, sizeof(p->failed_msg), "%s: %s",
				         p->targets[i].spec, ap_ctx_errmsg(ctx));
			}
			pthread_mutex_unlock(&p->lock);
		}
	}
	ap_ctx_free(ctx);
	return NULL;
}

static int
run_pool(const struct ap_run *run, const struct ap_target *targets, size_t n,
         struct ap_report *report, struct ap_ctx *ctx)
{
	struct pool p;
	pthread_t *threads = NULL;
	pthread_attr_t attr;
	size_t i = 0, n_threads = 0, started = 0;
	int parallel = run->opts->parallel > 0 ? run->opts->parallel
	                                       : AP_DEFAULT_PARALLEL;
	int r = AP_OK;

	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lock, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
	p.run = run;
	p.targets = targets;
	p.n = n;
	if (n == 0)
		goto out;
	if ((p.results = calloc(n, sizeof(*p.results))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((p.results[i] = ap_report_add_target(report, &targets[i])) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
	}
	n_threads = (size_t)parallel < n ? (size_t)parallel : n;
	if ((threads = calloc(n_threads, sizeof(*threads))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	for (started = 0; started < n_threads; started++)
		if (pthread_create(&threads[started], &attr, worker, &p) != 0)
			break;
	if (started == 0) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "cannot start a worker thread");
		goto out;
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (p.failed_rc != 0)
		r = ap_ctx_fail(ctx, p.failed_rc, 0, "%s", p.failed_msg);
out:
	free(threads);
	free(p.results);
	pthread_attr_destroy(&attr);
	pthread_mutex_destroy(&p.lock);
	return r;
}

/* Windows targets come with their own pipeline; until then, say so up front. */
static int
refuse_unsupported(const struct ap_run_opts *opts, const struct ap_target *targets,
                   size_t n, struct ap_ctx *ctx)
{
	size_t i = 0;

	for (i = 0; i < n; i++) {
		enum ap_os os = targets[i].os != AP_OS_AUTO ? targets[i].os : opts->os;

		if (os == AP_OS_WINDOWS)
			return ap_ctx_fail(ctx, AP_EUNSUPP, 0,
			    "target '%s': Windows targets are not supported by this build yet",
			    targets[i].spec);
	}
	return AP_OK;
}

static int
run_common(const struct ap_run_opts *opts, const struct ap_target *targets,
           size_t n, struct ap_report *report, int install, struct ap_ctx *ctx)
{
	struct ap_run run;
	int r = AP_OK;

	memset(&run, 0, sizeof(run));
	run.opts = opts;
	run.install = install;
	if ((r = refuse_unsupported(opts, targets, n, ctx)) != AP_OK)
		goto out;
	if (install) {
		if (opts->package_path == NULL) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "install needs a package (--package PATH)");
			goto out;
		}
		if ((r = ap_package_open(opts->package_path, &run.pkg, ctx)) != AP_OK)
			goto out;
	}
	if ((r = ap_linux_matrix_builtin(&run.matrix, ctx)) != AP_OK)
		goto out;
	if ((run.gate = ap_credgate_new()) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	r = run_pool(&run, targets, n, report, ctx);
out:
	ap_credgate_free(run.gate);
	ap_linux_matrix_free(run.matrix);
	ap_package_free(run.pkg);
	return r;
}

int
ap_run_check(struct ap_run_opts *opts, const struct ap_target *targets,
             size_t n_targets, struct ap_report *report, struct ap_ctx *ctx)
{
	return run_common(opts, targets, n_targets, report, 0, ctx);
}

int
ap_run_install(struct ap_run_opts *opts, const struct ap_target *targets,
               size_t n_targets, struct ap_report *report, struct ap_ctx *ctx)
{
	return run_common(opts, targets, n_targets, report, 1, ctx);
}
