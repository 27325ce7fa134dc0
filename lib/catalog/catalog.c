/*
 * catalog.c - look-ups over the generated ErrorID table (see catalog.h).
 *
 * The table is sorted by id at generation time, so find() is a binary search.
 */
#include <libintl.h>
#include <stdlib.h>
#include <string.h>

#include "ap_config.h"
#include "catalog_table.h"

static int
cmp_id(const void *key, const void *elem)
{
	int id = *(const int *)key;
	const struct ap_catalog_entry *e = elem;

	return (id > e->id) - (id < e->id);
}

const struct ap_catalog_entry *
ap_catalog_find(int id)
{
	return bsearch(&id, ap_catalog_table, ap_catalog_table_size,
	               sizeof(ap_catalog_table[0]), cmp_id);
}

const struct ap_catalog_entry *
ap_catalog_find_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < ap_catalog_table_size; i++)
		if (strcmp(ap_catalog_table[i].name, name) == 0)
			return &ap_catalog_table[i];
	return NULL;
}

size_t
ap_catalog_count(void)
{
	return ap_catalog_table_size;
}

const struct ap_catalog_entry *
ap_catalog_at(size_t i)
{
	return i < ap_catalog_table_size ? &ap_catalog_table[i] : NULL;
}

size_t
ap_catalog_refined_by(int id, const struct ap_catalog_entry **out, size_t n)
{
	size_t i, k = 0;

	/* A linear walk: the table is small and this runs per explain or per
	 * search, never per finding. */
	for (i = 0; i < ap_catalog_table_size; i++) {
		if (ap_catalog_table[i].refines != id || id == 0)
			continue;
		if (out != NULL && k < n)
			out[k] = &ap_catalog_table[i];
		k++;
	}
	return k;
}

int
ap_catalog_id_matches(int id, int wanted)
{
	const struct ap_catalog_entry *e = NULL;

	if (id == wanted)
		return 1;
	e = ap_catalog_find(id);
	return e != NULL && e->refines != 0 && e->refines == wanted;
}

const struct ap_catalog_entry *
ap_catalog_find_vss(long vss_error, int exit_code)
{
	const struct ap_catalog_entry *by_exit = NULL;
	size_t i;

	for (i = 0; i < ap_catalog_table_size; i++) {
		const struct ap_catalog_entry *e = &ap_catalog_table[i];

		if (strncmp(e->name, "VSS_", 4) != 0 || e->exit_code < 0)
			continue;
		if (e->exit_code == exit_code && e->vss_error == vss_error)
			return e;
		if (e->exit_code == exit_code && e->vss_error == 0 && by_exit == NULL)
			by_exit = e;
	}
	return by_exit != NULL ? by_exit : ap_catalog_find(AP_ERR_VSS_OTHER);
}

const char *
ap_stage_name(enum ap_stage stage)
{
	static const char *const names[AP_STAGE_COUNT_] = {
		"connectivity", "credentials", "sharing", "management", "os",
		"disk", "space", "copy", "install", "registration"
	};

	return (unsigned)stage < AP_STAGE_COUNT_ ? names[stage] : "unknown";
}

const char *
ap_platform_name(enum ap_platform platform)
{
	switch (platform) {
	case AP_PLATFORM_ANY:     return "any";
	case AP_PLATFORM_LINUX:   return "linux";
	case AP_PLATFORM_WINDOWS: return "windows";
	}
	return "unknown";
}

const char *
ap_severity_name(enum ap_severity sev)
{
	switch (sev) {
	case AP_SEV_ERROR:   return "error";
	case AP_SEV_WARNING: return "warning";
	case AP_SEV_INFO:    return "info";
	}
	return "unknown";
}

const char *
ap_tr(const char *msgid)
{
	if (msgid == NULL || msgid[0] == '\0')
		return "";
	return dgettext("agentpush", msgid);
}

void
ap_i18n_init(const char *localedir)
{
	bindtextdomain("agentpush", localedir != NULL ? localedir : AP_LOCALEDIR);
	bind_textdomain_codeset("agentpush", "UTF-8");
}
