/*
 * report.c - the report model: results per target, findings per result.
 *
 * Results are allocated one by one and the report keeps an array of
 * pointers, so a result pointer handed out by ap_report_add_target() stays
 * valid while more targets are added (the engine fills results from worker
 * threads while the list is complete; adding is done before the run).
 *
 * Findings are kept sorted by stage with an insertion that is stable for
 * equal stages, so the first error in the array is the one that stopped the
 * host and the renderings need no sorting.
 */
#include <stdlib.h>
#include <string.h>

#include "agentpush/report.h"

struct ap_report {
	struct ap_result **results;
	size_t n, cap;
};

struct ap_report *
ap_report_new(void)
{
	return calloc(1, sizeof(struct ap_report));
}

static void
result_free(struct ap_result *r)
{
	if (r == NULL)
		return;
	ap_result_reset(r);
	free(r->findings);
	free(r->target);
	free(r->host);
	free(r);
}

void
ap_result_reset(struct ap_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_findings; i++) {
		free(r->findings[i].message);
		free(r->findings[i].evidence);
	}
	r->n_findings = 0;
	free(r->note);
	r->note = NULL;
}

void
ap_report_free(struct ap_report *report)
{
	size_t i;

	if (report == NULL)
		return;
	for (i = 0; i < report->n; i++)
		result_free(report->results[i]);
	free(report->results);
	free(report);
}

struct ap_result *
ap_report_add_target(struct ap_report *report, const struct ap_target *t)
{
	struct ap_result *r = NULL;

	if (report == NULL || t == NULL)
		return NULL;
	if (report->n == report->cap) {
		size_t ncap = report->cap != 0 ? report->cap * 2 : 16;
		struct ap_result **np;

		np = reallocarray(report->results, ncap, sizeof(*np));
		if (np == NULL)
			return NULL;
		report->results = np;
		report->cap = ncap;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->os = t->os;
	if ((r->target = strdup(t->spec != NULL ? t->spec : "")) == NULL ||
	    (r->host = strdup(t->host != NULL ? t->host : "")) == NULL) {
		result_free(r);
		return NULL;
	}
	report->results[report->n++] = r;
	return r;
}

size_t
ap_report_count(const struct ap_report *report)
{
	return report != NULL ? report->n : 0;
}

struct ap_result *
ap_report_at(const struct ap_report *report, size_t i)
{
	return report != NULL && i < report->n ? report->results[i] : NULL;
}

static int
dup_or_null(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL)
		return AP_OK;
	if ((*out = strdup(s)) == NULL)
		return AP_ENOMEM;
	return AP_OK;
}

int
ap_result_add_sev(struct ap_result *r, int id, enum ap_severity sev,
                  const char *message, const char *evidence)
{
	const struct ap_catalog_entry *e = ap_catalog_find(id);
	struct ap_finding f = {0};
	size_t pos;

	if (r == NULL || e == NULL)
		return AP_EINVAL;
	if (r->n_findings == r->cap_findings) {
		size_t ncap = r->cap_findings != 0 ? r->cap_findings * 2 : 4;
		struct ap_finding *np;

		np = reallocarray(r->findings, ncap, sizeof(*np));
		if (np == NULL)
			return AP_ENOMEM;
		r->findings = np;
		r->cap_findings = ncap;
	}
	f.id = id;
	f.severity = sev;
	if (dup_or_null(message, &f.message) != AP_OK ||
	    dup_or_null(evidence, &f.evidence) != AP_OK) {
		free(f.message);
		free(f.evidence);
		return AP_ENOMEM;
	}
	/* Insert after every finding of the same or an earlier stage. */
	pos = r->n_findings;
	while (pos > 0) {
		const struct ap_catalog_entry *pe =
			ap_catalog_find(r->findings[pos - 1].id);

		if (pe != NULL && pe->stage <= e->stage)
			break;
		pos--;
	}
	memmove(&r->findings[pos + 1], &r->findings[pos],
	        (r->n_findings - pos) * sizeof(*r->findings));
	r->findings[pos] = f;
	r->n_findings++;
	return AP_OK;
}

int
ap_result_add(struct ap_result *r, int id, const char *message,
              const char *evidence)
{
	const struct ap_catalog_entry *e = ap_catalog_find(id);

	if (e == NULL)
		return AP_EINVAL;
	return ap_result_add_sev(r, id, e->severity, message, evidence);
}

int
ap_result_first_error(const struct ap_result *r)
{
	size_t i;

	if (r == NULL)
		return 0;
	for (i = 0; i < r->n_findings; i++)
		if (r->findings[i].severity == AP_SEV_ERROR)
			return r->findings[i].id;
	return 0;
}

int
ap_result_has(const struct ap_result *r, int id)
{
	size_t i;

	if (r == NULL)
		return 0;
	for (i = 0; i < r->n_findings; i++)
		if (r->findings[i].id == id)
			return 1;
	return 0;
}

int
ap_result_matches_ids(const struct ap_result *r, const int *ids, size_t n)
{
	size_t i, k;

	if (r == NULL || ids == NULL)
		return 0;
	for (i = 0; i < r->n_findings; i++)
		for (k = 0; k < n; k++)
			if (ap_catalog_id_matches(r->findings[i].id, ids[k]))
				return 1;
	return 0;
}

size_t
ap_report_keep_ids(struct ap_report *report, const int *ids, size_t n)
{
	size_t i, kept = 0;

	if (report == NULL)
		return 0;
	for (i = 0; i < report->n; i++) {
		if (ap_result_matches_ids(report->results[i], ids, n))
			report->results[kept++] = report->results[i];
		else
			result_free(report->results[i]);
	}
	report->n = kept;
	return kept;
}

int
ap_result_set_note(struct ap_result *r, const char *note)
{
	char *n = NULL;

	if (r == NULL)
		return AP_EINVAL;
	if (dup_or_null(note, &n) != AP_OK)
		return AP_ENOMEM;
	free(r->note);
	r->note = n;
	return AP_OK;
}

enum ap_status
ap_result_status(const struct ap_result *r)
{
	enum ap_status st = AP_STATUS_OK;
	size_t i;

	if (r == NULL)
		return AP_STATUS_OK;
	for (i = 0; i < r->n_findings; i++) {
		if (r->findings[i].severity == AP_SEV_ERROR)
			return AP_STATUS_FAILED;
		if (r->findings[i].severity == AP_SEV_WARNING)
			st = AP_STATUS_WARNING;
	}
	return st;
}

const char *
ap_status_name(enum ap_status st)
{
	switch (st) {
	case AP_STATUS_OK:
		return "ok";
	case AP_STATUS_WARNING:
		return "warning";
	case AP_STATUS_FAILED:
		return "failed";
	}
	return "failed";
}

void
ap_report_summary(const struct ap_report *report, struct ap_summary *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ap_report_count(report); i++) {
		switch (ap_result_status(report->results[i])) {
		case AP_STATUS_OK:
			out->ok++;
			break;
		case AP_STATUS_WARNING:
			out->warning++;
			break;
		case AP_STATUS_FAILED:
			out->failed++;
			break;
		}
	}
}

int
ap_report_exit_status(const struct ap_report *report)
{
	struct ap_summary s;

	ap_report_summary(report, &s);
	return s.failed > 0 ? 1 : 0;
}
