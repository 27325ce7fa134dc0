/*
 * report.h - what a run found, per target, and its two renderings.
 *
 * A report holds one result per target; each result holds findings, each
 * naming a catalog ErrorID with the evidence that proves it.  Findings are
 * kept in stage order (catalog.h); the first finding of severity error is the
 * cause that stopped the host.  A target's status is derived: failed when it
 * has an error, warning when it has a warning, ok otherwise.
 *
 * JSON contract (stable, see docs/cli.md):
 *   {"targets":[{"target":"root@198.18.1.2:22","host":"198.18.1.2",
 *     "os":"linux","status":"ok|warning|failed",
 *     "errors":[{"id":95108,"name":"...","severity":"error|warning",
 *       "stage":"credentials","title":"...","message":"...",
 *       "remediation":"...","evidence":"..."}]}],
 *    "summary":{"ok":0,"warning":0,"failed":1}}
 * A finding whose ErrorID refines a product ID (catalog.h) adds
 * "refines":95108 (800106's case); other findings have no such field.
 *
 * The library never prints: renderers return a malloc'd string that the
 * caller prints and frees.  Evidence and messages must never contain a
 * secret; callers redact before they add a finding.
 *
 * Ownership: the report owns its results and their findings; strings passed
 * in are copied.  Pointers returned by ap_report_add_target() stay valid
 * until the report is freed (results are stored in separately allocated
 * blocks, so adding more targets does not move them).
 */
#ifndef AGENTPUSH_REPORT_H
#define AGENTPUSH_REPORT_H

#include <stddef.h>

#include "agentpush/catalog.h"
#include "agentpush/ctx.h"
#include "agentpush/target.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ap_status {
	AP_STATUS_OK = 0,
	AP_STATUS_WARNING,
	AP_STATUS_FAILED
};

struct ap_finding {
	int id;                    /* catalog ErrorID */
	enum ap_severity severity; /* the catalog default unless overridden */
	char *message;             /* this occurrence, one line; may be NULL */
	char *evidence;            /* what proves it (quoted lines, values) */
};

struct ap_result {
	char *target;       /* as given */
	char *host;
	enum ap_os os;      /* as detected, or as asked */
	char *note;         /* optional one-line outcome, e.g. "installed 1.2.0" */
	struct ap_finding *findings;
	size_t n_findings;
	size_t cap_findings;
};

struct ap_report;

/* A new empty report, or NULL when out of memory. */
struct ap_report *ap_report_new(void);
void ap_report_free(struct ap_report *report);

/* Adds a result for target t; returns it, or NULL when out of memory. */
struct ap_result *ap_report_add_target(struct ap_report *report,
                                       const struct ap_target *t);
size_t ap_report_count(const struct ap_report *report);
struct ap_result *ap_report_at(const struct ap_report *report, size_t i);

/*
 * Adds a finding with the catalog's default severity; message and evidence
 * may be NULL.  Keeps findings in stage order (stable for equal stages).
 * Returns AP_OK, AP_ENOMEM, or AP_EINVAL when id is not in the catalog.
 */
int ap_result_add(struct ap_result *r, int id, const char *message,
                  const char *evidence);
/* The same with an explicit severity (e.g. 95309 as an error). */
int ap_result_add_sev(struct ap_result *r, int id, enum ap_severity sev,
                      const char *message, const char *evidence);
/* Whether r already holds a finding with this id. */
int ap_result_has(const struct ap_result *r, int id);
/* The id of r's first finding of severity error, or 0 when it has none. */
int ap_result_first_error(const struct ap_result *r);
/* Drops every finding and the note of r, keeping its target: for a retry. */
void ap_result_reset(struct ap_result *r);
/* Sets the one-line outcome note (copied). */
int ap_result_set_note(struct ap_result *r, const char *note);

enum ap_status ap_result_status(const struct ap_result *r);
const char *ap_status_name(enum ap_status st);

struct ap_summary {
	size_t ok, warning, failed;
};
void ap_report_summary(const struct ap_report *report, struct ap_summary *out);

/*
 * Renders the report.  JSON follows the contract above, with text fields
 * translated under the current locale.  Text is for people: one line per
 * target, remediation under each failure, a summary line; colour only when
 * color is non-zero.  Return a malloc'd NUL-terminated string, or NULL when
 * out of memory.
 */
char *ap_report_to_json(const struct ap_report *report);
char *ap_report_to_text(const struct ap_report *report, int color);

/*
 * Whether r holds a finding that answers a search for one of the n ErrorIDs
 * in ids: the same ID, or an ID refining it (ap_catalog_id_matches()).
 * 0 when r is NULL or n is 0.
 */
int ap_result_matches_ids(const struct ap_result *r, const int *ids, size_t n);

/*
 * Keeps only the results for which ap_result_matches_ids() holds, in their
 * order, and frees the others.  A kept result keeps all its findings, so its
 * status and the error that stopped it stay what they were.  Pointers to
 * kept results stay valid; pointers to dropped ones do not.  Returns the
 * number of results kept (0 when report is NULL).
 */
size_t ap_report_keep_ids(struct ap_report *report, const int *ids, size_t n);

/* Exit status for a finished run: 0 all ok or warning, 1 any failed. */
int ap_report_exit_status(const struct ap_report *report);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_REPORT_H */
