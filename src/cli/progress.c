/*
 * progress.c - what a person watching a long run sees on stderr.
 *
 * On a terminal: one status line redrawn in place, at most every 100 ms:
 * hosts per state, failures so far with their ErrorIDs, the rate and an
 * estimate of the time left.  Not on a terminal (a log file, CI): one plain
 * line per host when it reaches a terminal state, so a log shows progress
 * without control characters.  With --format json nothing is printed: stdout
 * holds exactly one document and stderr stays quiet.
 *
 * The engine calls cli_progress_event() from worker threads, but serialises
 * the calls (engine.c holds its lock around the callback), so this file
 * needs no lock of its own.
 */
#include <libintl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentpush/run.h"
#include "agentpush/store.h"
#include "progress.h"

#define _(s) dgettext("agentpush", s)
#define REDRAW_NS 100000000LL
#define TOP_ERRORS 4

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
cli_progress_init(struct cli_progress *p, size_t total, int enabled, FILE *out)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->total = total;
	p->enabled = enabled && total > 0;
	p->tty = p->enabled && isatty(fileno(out));
	p->started_ns = now_ns();
}

static void
count_error(struct cli_progress *p, int id)
{
	size_t i;

	for (i = 0; i < p->n_errors; i++) {
		if (p->errors[i].id == id) {
			p->errors[i].count++;
			return;
		}
	}
	if (p->n_errors < CLI_PROGRESS_MAX_IDS) {
		p->errors[p->n_errors].id = id;
		p->errors[p->n_errors].count = 1;
		p->n_errors++;
	}
}

static void
draw(struct cli_progress *p)
{
	char line[512];
	double secs = (double)(now_ns() - p->started_ns) / 1e9;
	double rate = secs > 0.05 ? (double)p->finished / secs : 0.0;
	size_t i, shown = 0;
	int n;

	n = snprintf(line, sizeof(line), _("%zu/%zu done: %zu ok, %zu failed, %zu in flight"),
	             p->finished, p->total, p->ok, p->failed, p->in_flight);
	for (i = 0; i < p->n_errors && shown < TOP_ERRORS && n > 0 && (size_t)n < sizeof(line); i++, shown++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%d x%zu",
		              shown == 0 ? " [" : ", ", p->errors[i].id, p->errors[i].count);
	if (shown > 0 && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, "]");
	if (rate > 0 && n > 0 && (size_t)n < sizeof(line)) {
		double left = (double)(p->total - p->finished) / rate;

		n += snprintf(line + n, sizeof(line) - (size_t)n, _(", %.1f hosts/s, about %.0f s left"),
		              rate, left);
	}
	fprintf(p->out, "\r\033[K%s", line);
	fflush(p->out);
	p->drawn = 1;
}

void
cli_progress_event(void *ud, const struct ap_run_event *ev)
{
	struct cli_progress *p = ud;
	long long t;

	if (!p->enabled)
		return;
	if (ev->state == AP_HOST_PLANNED && ev->attempt == 1) {
		p->in_flight++;
	} else if (ap_host_state_terminal((enum ap_host_state)ev->state)) {
		if (p->in_flight > 0)
			p->in_flight--;
		p->finished++;
		if (ev->state == AP_HOST_DONE) {
			p->ok++;
		} else {
			p->failed++;
			if (ev->error_id != 0)
				count_error(p, ev->error_id);
		}
		if (!p->tty) {
			if (ev->error_id != 0)
				fprintf(p->out, "[%zu/%zu] %s: %s (%d)\n", p->finished, p->total,
				        ev->target->spec, ap_host_state_name((enum ap_host_state)ev->state),
				        ev->error_id);
			else
				fprintf(p->out, "[%zu/%zu] %s: %s\n", p->finished, p->total,
				        ev->target->spec, ap_host_state_name((enum ap_host_state)ev->state));
			return;
		}
	}
	if (!p->tty)
		return;
	t = now_ns();
	if (p->finished == p->total || t - p->last_draw_ns >= REDRAW_NS) {
		p->last_draw_ns = t;
		draw(p);
	}
}

void
cli_progress_finish(struct cli_progress *p)
{
	if (p->tty && p->drawn) {
		fputs("\r\033[K", p->out);
		fflush(p->out);
	}
}
