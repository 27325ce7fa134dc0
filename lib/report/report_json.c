/*
 * report_json.c - the JSON rendering of a report (contract in report.h and
 * docs/cli.md).  Built with cJSON so every string is escaped correctly,
 * whatever a remote host put in the evidence.
 *
 * Missing message or evidence is rendered as "" so consumers never meet
 * null.  Title and remediation come from the catalog entry, translated under
 * the current locale; the message and evidence are taken as recorded.
 * "refines" (the product ID an agentpush ID narrows) is the one field that
 * is left out rather than empty: it was added later, and a number has no
 * "" to stand for "none", so old consumers see exactly the old objects.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "agentpush/report.h"

static cJSON *
finding_json(const struct ap_finding *f)
{
	const struct ap_catalog_entry *e = ap_catalog_find(f->id);
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	if (cJSON_AddNumberToObject(o, "id", f->id) == NULL ||
	    cJSON_AddStringToObject(o, "name", e != NULL ? e->name : "") == NULL ||
	    cJSON_AddStringToObject(o, "severity",
	                            ap_severity_name(f->severity)) == NULL ||
	    cJSON_AddStringToObject(o, "stage",
	                            e != NULL ? ap_stage_name(e->stage) : "") == NULL ||
	    cJSON_AddStringToObject(o, "title",
	                            e != NULL ? ap_tr(e->title) : "") == NULL ||
	    cJSON_AddStringToObject(o, "message",
	                            f->message != NULL ? f->message : "") == NULL ||
	    cJSON_AddStringToObject(o, "remediation",
	                            e != NULL ? ap_tr(e->remediation) : "") == NULL ||
	    cJSON_AddStringToObject(o, "evidence",
	                            f->evidence != NULL ? f->evidence : "") == NULL ||
	    (e != NULL && e->refines != 0 &&
	     cJSON_AddNumberToObject(o, "refines", e->refines) == NULL)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *
result_json(const struct ap_result *r)
{
	cJSON *o = cJSON_CreateObject(), *errs, *f;
	size_t i;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "target", r->target) == NULL ||
	    cJSON_AddStringToObject(o, "host", r->host) == NULL ||
	    cJSON_AddStringToObject(o, "os", ap_os_name(r->os)) == NULL ||
	    cJSON_AddStringToObject(o, "status",
	                            ap_status_name(ap_result_status(r))) == NULL ||
	    /* the outcome line the text report shows ("installed ... 0.1.0") */
	    cJSON_AddStringToObject(o, "note", r->note != NULL ? r->note : "") == NULL ||
	    (errs = cJSON_AddArrayToObject(o, "errors")) == NULL)
		goto fail;
	for (i = 0; i < r->n_findings; i++) {
		if ((f = finding_json(&r->findings[i])) == NULL)
			goto fail;
		cJSON_AddItemToArray(errs, f);
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

char *
ap_report_to_json(const struct ap_report *report)
{
	cJSON *root = cJSON_CreateObject(), *targets, *sum, *t;
	struct ap_summary s;
	char *out = NULL;
	size_t i;

	if (root == NULL)
		return NULL;
	if ((targets = cJSON_AddArrayToObject(root, "targets")) == NULL)
		goto out;
	for (i = 0; i < ap_report_count(report); i++) {
		if ((t = result_json(ap_report_at(report, i))) == NULL)
			goto out;
		cJSON_AddItemToArray(targets, t);
	}
	ap_report_summary(report, &s);
	if ((sum = cJSON_AddObjectToObject(root, "summary")) == NULL ||
	    cJSON_AddNumberToObject(sum, "ok", (double)s.ok) == NULL ||
	    cJSON_AddNumberToObject(sum, "warning", (double)s.warning) == NULL ||
	    cJSON_AddNumberToObject(sum, "failed", (double)s.failed) == NULL)
		goto out;
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return out;
}
