/*
 * progress.h - live progress of a run on stderr (see progress.c).
 *
 * Ownership: the struct is the caller's (usually on the stack); nothing in it
 * is allocated.
 */
#ifndef AP_CLI_PROGRESS_H
#define AP_CLI_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#include "agentpush/run.h"

#define CLI_PROGRESS_MAX_IDS 16

struct cli_progress {
	FILE *out;
	size_t total, finished, ok, failed, in_flight;
	struct {
		int id;
		size_t count;
	} errors[CLI_PROGRESS_MAX_IDS];
	size_t n_errors;
	long long started_ns, last_draw_ns;
	int enabled, tty, drawn;
};

/* enabled: 0 for --format json (nothing at all is printed). */
void cli_progress_init(struct cli_progress *p, size_t total, int enabled, FILE *out);
/* The ap_run_progress_fn to hand the engine, with ud = p. */
void cli_progress_event(void *ud, const struct ap_run_event *ev);
/* Clears the status line before the report is printed. */
void cli_progress_finish(struct cli_progress *p);

#endif
