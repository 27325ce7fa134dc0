/*
 * jobjson.h - a stored job as JSON: the objects `agentpush jobs --format
 * json` and `agentpush show --format json` print, which the configuration
 * server's API returns too (docs/api.md), built once here so both say the
 * same thing.
 *
 * Ownership: every cJSON * returned is the caller's (cJSON_Delete); inputs
 * are borrowed for the call.
 */
#ifndef AGENTPUSH_JOBJSON_H
#define AGENTPUSH_JOBJSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "agentpush/report.h"
#include "agentpush/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Adds the job's fields to obj: id, kind, status, created, updated,
 * package, package_version, targets, states {state: count}, and
 * "cancelled": true once a cancel was requested.  0, or -1 out of memory.
 */
int ap_job_info_to_json(const struct ap_job_info *job, cJSON *obj);

/*
 * show's document: the report's JSON (check's contract) plus "job"; with
 * events (n_ev may be 0 with events non-NULL for an empty list) an "events"
 * array naming each event's target by its spec from t; with n_ids > 0 a
 * "filter" {"ids", "shown", "targets": total}.  NULL when out of memory.
 */
cJSON *ap_job_show_json(const struct ap_report *report,
                        const struct ap_job_info *job,
                        const struct ap_job_event *ev, size_t n_ev,
                        const struct ap_job_target *t, size_t n_t,
                        const int *ids, size_t n_ids, size_t total);

/* The spec of the target with store id id among t, or "?". */
const char *ap_job_target_spec(const struct ap_job_target *t, size_t n,
                               int64_t id);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_JOBJSON_H */
