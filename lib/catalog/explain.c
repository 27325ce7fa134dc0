/*
 * explain.c - renders catalog entries as text or JSON (see explain.h).
 *
 * Text is built in an open_memstream() buffer, so there is no size to guess
 * and no sprintf; JSON through cJSON.  Labels are msgids marked with _() so
 * xgettext finds them (po/POTFILES lists this file); _() here translates in
 * the "agentpush" domain through ap_tr(), like every catalog field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/explain.h"

#define _(s) ap_tr(s)
#define N_(s) s

/* Display names of the stages for people; JSON uses ap_stage_name(). */
static const char *const stage_titles[AP_STAGE_COUNT_] = {
	N_("connectivity"), N_("credentials"), N_("sharing"),
	N_("remote management"), N_("operating system"), N_("disks and boot"),
	N_("free space"), N_("copy"), N_("installation"), N_("registration")
};

static const char *
stage_title(enum ap_stage stage)
{
	return (unsigned)stage < AP_STAGE_COUNT_ ? _(stage_titles[stage]) : "?";
}

static const char *
platform_title(enum ap_platform platform)
{
	switch (platform) {
	case AP_PLATFORM_ANY:     return _("any");
	case AP_PLATFORM_LINUX:   return "Linux";
	case AP_PLATFORM_WINDOWS: return "Windows";
	}
	return "?";
}

static const char *
severity_title(enum ap_severity sev)
{
	switch (sev) {
	case AP_SEV_ERROR:   return _("error");
	case AP_SEV_WARNING: return _("warning");
	case AP_SEV_INFO:    return _("information");
	}
	return "?";
}

/* Writes s with each line indented by prefix; numbered when number != 0. */
static void
put_lines(FILE *f, const char *s, int number)
{
	const char *p = s;
	int n = 0;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (len > 0) {
			if (number)
				fprintf(f, "  %d. %.*s\n", ++n, (int)len, p);
			else
				fprintf(f, "  %.*s\n", (int)len, p);
		}
		p += len;
		if (*p == '\n')
			p++;
	}
}

/*
 * The entries refining e, in a malloc'd array (*out, *n); *out stays NULL
 * when there are none.  Returns 0, or -1 when memory runs out.
 */
static int
refiners(const struct ap_catalog_entry *e, const struct ap_catalog_entry ***out,
         size_t *n)
{
	*out = NULL;
	*n = ap_catalog_refined_by(e->id, NULL, 0);
	if (*n == 0)
		return 0;
	if ((*out = calloc(*n, sizeof(**out))) == NULL)
		return -1;
	ap_catalog_refined_by(e->id, *out, *n);
	return 0;
}

/* The two directions of refines: the product ID this entry narrows (and how
 * it differs), or the agentpush IDs that narrow this one. */
static int
put_refines_text(FILE *f, const struct ap_catalog_entry *e)
{
	const struct ap_catalog_entry *t = ap_catalog_find(e->refines);
	const struct ap_catalog_entry **subs = NULL;
	size_t i, n = 0;

	if (t != NULL)
		fprintf(f, _("Refines: %d %s (the product's ErrorID)\n"), t->id, t->name);
	if (refiners(e, &subs, &n) != 0)
		return -1;
	if (n > 0) {
		fprintf(f, "%s", _("Refined by:"));
		for (i = 0; i < n; i++)
			fprintf(f, "%s %d %s", i > 0 ? "," : "", subs[i]->id, subs[i]->name);
		fputc('\n', f);
	}
	free(subs);
	if (t != NULL && e->refines_when != NULL) {
		fputc('\n', f);
		fprintf(f, _("How it differs from %d:\n"), t->id);
		put_lines(f, ap_tr(e->refines_when), 0);
	}
	return 0;
}

static int
put_entry_text(FILE *f, const struct ap_catalog_entry *e)
{
	fprintf(f, "%d %s: %s\n", e->id, e->name, ap_tr(e->title));
	fprintf(f, "%s %s\n", _("Stage:"), stage_title(e->stage));
	fprintf(f, "%s %s\n", _("Platform:"), platform_title(e->platform));
	fprintf(f, "%s %s\n", _("Severity:"), severity_title(e->severity));
	if (e->vss_error != 0)
		fprintf(f, "%s %ld (0x%08lX)\n", _("VSS error:"), e->vss_error,
		        (unsigned long)e->vss_error & 0xffffffffUL);
	if (e->exit_code >= 0)
		fprintf(f, "%s %d\n", _("Installer exit code:"), e->exit_code);
	if (put_refines_text(f, e) != 0)
		return -1;
	fprintf(f, "\n%s\n", _("Cause:"));
	put_lines(f, ap_tr(e->cause), 0);
	fprintf(f, "\n%s\n", _("Remediation:"));
	put_lines(f, ap_tr(e->remediation), 1);
	fprintf(f, "\n%s\n", _("Evidence:"));
	put_lines(f, ap_tr(e->evidence), 0);
	return 0;
}

/* Closes the memstream; returns its buffer, or NULL (and frees it) on error. */
static char *
close_text(FILE *f, char **buf)
{
	char *r = NULL;
	int failed = ferror(f);

	if (fclose(f) != 0 || failed) {
		free(*buf);
		*buf = NULL;
		return NULL;
	}
	r = *buf;
	*buf = NULL; /* transferred */
	return r;
}

/* Adds the steps of a remediation text to arr, one string a non-empty line. */
static int
add_steps(cJSON *arr, const char *s)
{
	const char *p = s;
	char *line = NULL;
	int r = -1;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (len > 0) {
			if ((line = strndup(p, len)) == NULL)
				goto out;
			if (!cJSON_AddItemToArray(arr, cJSON_CreateString(line)))
				goto out;
			free(line);
			line = NULL;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	r = 0;
out:
	free(line);
	return r;
}

/* "refines" and "refines_when", or "refined_by": only the ones that apply,
 * so an entry without either keeps the shape it always had. */
static int
add_refines_json(cJSON *o, const struct ap_catalog_entry *e)
{
	const struct ap_catalog_entry **subs = NULL;
	cJSON *arr = NULL;
	size_t i, n = 0;
	int r = -1;

	if (e->refines != 0 &&
	    cJSON_AddNumberToObject(o, "refines", e->refines) == NULL)
		goto out;
	if (e->refines != 0 && e->refines_when != NULL &&
	    cJSON_AddStringToObject(o, "refines_when", ap_tr(e->refines_when)) == NULL)
		goto out;
	if (refiners(e, &subs, &n) != 0)
		goto out;
	if (n > 0 && (arr = cJSON_AddArrayToObject(o, "refined_by")) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if (!cJSON_AddItemToArray(arr, cJSON_CreateNumber(subs[i]->id)))
			goto out;
	r = 0;
out:
	free(subs);
	return r;
}

cJSON *
ap_explain_entry_json(const struct ap_catalog_entry *e)
{
	cJSON *o = NULL, *steps = NULL;

	if (e == NULL || (o = cJSON_CreateObject()) == NULL)
		return NULL;
	if (cJSON_AddNumberToObject(o, "id", e->id) == NULL ||
	    cJSON_AddStringToObject(o, "name", e->name) == NULL ||
	    cJSON_AddStringToObject(o, "stage", ap_stage_name(e->stage)) == NULL ||
	    cJSON_AddStringToObject(o, "platform", ap_platform_name(e->platform)) == NULL ||
	    cJSON_AddStringToObject(o, "severity", ap_severity_name(e->severity)) == NULL ||
	    cJSON_AddStringToObject(o, "title", ap_tr(e->title)) == NULL ||
	    cJSON_AddStringToObject(o, "cause", ap_tr(e->cause)) == NULL ||
	    (steps = cJSON_AddArrayToObject(o, "remediation")) == NULL ||
	    add_steps(steps, ap_tr(e->remediation)) != 0 ||
	    cJSON_AddStringToObject(o, "evidence", ap_tr(e->evidence)) == NULL)
		goto fail;
	if (e->vss_error != 0 &&
	    cJSON_AddNumberToObject(o, "vss_error", (double)e->vss_error) == NULL)
		goto fail;
	if (e->exit_code >= 0 &&
	    cJSON_AddNumberToObject(o, "exit_code", e->exit_code) == NULL)
		goto fail;
	if (add_refines_json(o, e) != 0)
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* Prints json into a malloc'd string ending with a newline; deletes json. */
static char *
json_to_string(cJSON *json)
{
	char *printed = NULL, *r = NULL;
	size_t len;

	if (json == NULL)
		return NULL;
	if ((printed = cJSON_Print(json)) == NULL)
		goto out;
	len = strlen(printed);
	if ((r = malloc(len + 2)) == NULL)
		goto out;
	memcpy(r, printed, len);
	r[len] = '\n';
	r[len + 1] = '\0';
out:
	cJSON_free(printed);
	cJSON_Delete(json);
	return r;
}

char *
ap_explain_entry(const struct ap_catalog_entry *e, enum ap_explain_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;

	if (e == NULL)
		return NULL;
	if (fmt == AP_EXPLAIN_JSON)
		return json_to_string(ap_explain_entry_json(e));
	if (fmt != AP_EXPLAIN_TEXT || (f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	if (put_entry_text(f, e) != 0) {
		fclose(f);
		free(buf);
		return NULL;
	}
	return close_text(f, &buf);
}

char *
ap_explain_list(enum ap_explain_format fmt)
{
	cJSON *root = NULL, *arr = NULL;
	char *buf = NULL;
	size_t i, len = 0;
	FILE *f = NULL;

	if (fmt == AP_EXPLAIN_JSON) {
		if ((root = cJSON_CreateObject()) == NULL ||
		    cJSON_AddNumberToObject(root, "count", (double)ap_catalog_count()) == NULL ||
		    (arr = cJSON_AddArrayToObject(root, "errors")) == NULL)
			goto fail;
		for (i = 0; i < ap_catalog_count(); i++)
			if (!cJSON_AddItemToArray(arr, ap_explain_entry_json(ap_catalog_at(i))))
				goto fail;
		return json_to_string(root);
	}
	if (fmt != AP_EXPLAIN_TEXT || (f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	for (i = 0; i < ap_catalog_count(); i++) {
		const struct ap_catalog_entry *e = ap_catalog_at(i);

		fprintf(f, "%-6d  %-29s  %-7s  %-7s  %s\n", e->id, e->name,
		        ap_severity_name(e->severity), ap_platform_name(e->platform),
		        ap_tr(e->title));
	}
	return close_text(f, &buf);
fail:
	cJSON_Delete(root);
	return NULL;
}

int
ap_explain_format_parse(const char *s, enum ap_explain_format *fmt)
{
	if (s != NULL && strcmp(s, "text") == 0)
		*fmt = AP_EXPLAIN_TEXT;
	else if (s != NULL && strcmp(s, "json") == 0)
		*fmt = AP_EXPLAIN_JSON;
	else
		return -1;
	return 0;
}
