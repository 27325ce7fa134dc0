/*
 * job_json.c - stored jobs as JSON (jobjson.h), shared by the CLI's jobs and
 * show and by the configuration server's job routes.
 */
#include <stdlib.h>

#include "agentpush/jobjson.h"

int
ap_job_info_to_json(const struct ap_job_info *j, cJSON *obj)
{
	cJSON *states = NULL;
	int i;

	if (cJSON_AddNumberToObject(obj, "id", (double)j->id) == NULL ||
	    cJSON_AddStringToObject(obj, "kind", ap_job_kind_name(j->kind)) == NULL ||
	    cJSON_AddStringToObject(obj, "status", ap_job_status_name(j->status)) == NULL ||
	    cJSON_AddStringToObject(obj, "created", j->created != NULL ? j->created : "") == NULL ||
	    cJSON_AddStringToObject(obj, "updated", j->updated != NULL ? j->updated : "") == NULL ||
	    cJSON_AddStringToObject(obj, "package", j->package != NULL ? j->package : "") == NULL ||
	    cJSON_AddStringToObject(obj, "package_version",
	                            j->package_version != NULL ? j->package_version : "") == NULL ||
	    cJSON_AddNumberToObject(obj, "targets", (double)j->n_targets) == NULL ||
	    (states = cJSON_AddObjectToObject(obj, "states")) == NULL)
		return -1;
	for (i = 0; i < AP_HOST_STATE_COUNT_; i++)
		if (cJSON_AddNumberToObject(states, ap_host_state_name((enum ap_host_state)i),
		                            (double)j->n_state[i]) == NULL)
			return -1;
	if (j->cancelled && cJSON_AddBoolToObject(obj, "cancelled", 1) == NULL)
		return -1;
	return 0;
}

const char *
ap_job_target_spec(const struct ap_job_target *t, size_t n, int64_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].id == id)
			return t[i].target.spec;
	return "?";
}

/* "filter": {"ids": [...], "shown": N, "targets": N} */
static int
filter_to_json(const int *ids, size_t n_ids, size_t shown, size_t total,
               cJSON *root)
{
	cJSON *obj = NULL, *arr = NULL;
	size_t i;

	if ((obj = cJSON_AddObjectToObject(root, "filter")) == NULL ||
	    (arr = cJSON_AddArrayToObject(obj, "ids")) == NULL)
		return -1;
	for (i = 0; i < n_ids; i++)
		if (!cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i])))
			return -1;
	if (cJSON_AddNumberToObject(obj, "shown", (double)shown) == NULL ||
	    cJSON_AddNumberToObject(obj, "targets", (double)total) == NULL)
		return -1;
	return 0;
}

cJSON *
ap_job_show_json(const struct ap_report *report, const struct ap_job_info *job,
                 const struct ap_job_event *ev, size_t n_ev,
                 const struct ap_job_target *t, size_t n_t,
                 const int *ids, size_t n_ids, size_t total)
{
	char *base = ap_report_to_json(report);
	cJSON *root = NULL, *obj = NULL, *arr = NULL, *e = NULL;
	size_t i;

	if (base == NULL || (root = cJSON_Parse(base)) == NULL)
		goto fail;
	if ((obj = cJSON_AddObjectToObject(root, "job")) == NULL ||
	    ap_job_info_to_json(job, obj) != 0)
		goto fail;
	if (n_ids > 0 && filter_to_json(ids, n_ids, ap_report_count(report), total, root) != 0)
		goto fail;
	if (ev != NULL || n_ev > 0) {
		if ((arr = cJSON_AddArrayToObject(root, "events")) == NULL)
			goto fail;
		for (i = 0; i < n_ev; i++) {
			if ((e = cJSON_CreateObject()) == NULL)
				goto fail;
			cJSON_AddItemToArray(arr, e);
			if (cJSON_AddStringToObject(e, "at", ev[i].at) == NULL ||
			    cJSON_AddStringToObject(e, "target", ev[i].target_id != 0
			        ? ap_job_target_spec(t, n_t, ev[i].target_id) : "") == NULL ||
			    cJSON_AddStringToObject(e, "what", ev[i].what) == NULL ||
			    cJSON_AddStringToObject(e, "detail", ev[i].detail) == NULL)
				goto fail;
		}
	}
	free(base);
	return root;
fail:
	cJSON_Delete(root);
	free(base);
	return NULL;
}
