/*
 * catalog.h - the ErrorID catalog.
 *
 * Every condition agentpush can report has one entry: a numeric ErrorID, a
 * stable symbolic name, the stage of a push it belongs to, the platform, the
 * default severity, and (translatable) title, cause, remediation and the
 * evidence it expects.  The one source of truth is lib/catalog/errors.toml;
 * the C table, the AP_ERR_* constants (agentpush/errors.h, generated),
 * docs/errors.md and the translation template are all generated from it.
 *
 * IDs below 100000 are the product's own ErrorIDs and keep its numbers.  IDs
 * 800000-899999 are agentpush's own, for conditions the product never
 * numbered or for narrower cases of one it does; the two ranges cannot
 * collide.  A number is never reused: a retired entry stays in the catalog
 * marked retired.
 *
 * Refining: an agentpush entry that is a narrower case of a product
 * condition names that product ID in refines (800106, SFTP refused, refines
 * 95108), so that whoever knows only the product's numbers still finds it.
 * The generator guarantees that refines is 0 or a product ID of the table,
 * that product entries refine nothing, and so that there is no cycle.
 *
 * Ownership: entries are static, read-only and live for the whole process.
 * The text fields are English msgids; pass them through ap_tr() to get the
 * translation for the current locale.
 */
#ifndef AGENTPUSH_CATALOG_H
#define AGENTPUSH_CATALOG_H

#include <stddef.h>

#include "agentpush/errors.h" /* generated: AP_ERR_* constants */

#ifdef __cplusplus
extern "C" {
#endif

/* Stages in the order a push meets them; findings are reported in this order. */
enum ap_stage {
	AP_STAGE_CONNECTIVITY = 0,
	AP_STAGE_CREDENTIALS,
	AP_STAGE_SHARING,
	AP_STAGE_MANAGEMENT,
	AP_STAGE_OS,
	AP_STAGE_DISK,
	AP_STAGE_SPACE,
	AP_STAGE_COPY,
	AP_STAGE_INSTALL,
	AP_STAGE_REGISTRATION,
	AP_STAGE_COUNT_
};

enum ap_platform {
	AP_PLATFORM_ANY = 0,
	AP_PLATFORM_LINUX,
	AP_PLATFORM_WINDOWS
};

enum ap_severity {
	AP_SEV_ERROR = 0,
	AP_SEV_WARNING,
	AP_SEV_INFO
};

struct ap_catalog_entry {
	int id;                    /* ErrorID */
	const char *name;          /* stable symbolic name, e.g. "LINUX_NOT_ROOT" */
	enum ap_stage stage;
	enum ap_platform platform;
	enum ap_severity severity; /* default; a finding may override it */
	const char *title;         /* msgid: one line */
	const char *cause;         /* msgid: why it happens */
	const char *remediation;   /* msgid: steps, lines separated by '\n' */
	const char *evidence;      /* msgid: what agentpush shows as proof */
	long vss_error;            /* VSS entries: the VSS error, else 0 */
	int exit_code;             /* VSS/installer entries: exit code, else -1 */
	int refines;               /* the product ID this entry narrows, else 0 */
	const char *refines_when;  /* msgid: what tells it apart from refines, one
	                              sentence; NULL when refines is 0 or none given */
};

/* The entry for id, or NULL when there is none. */
const struct ap_catalog_entry *ap_catalog_find(int id);
/* The entry whose symbolic name is name (case-sensitive), or NULL. */
const struct ap_catalog_entry *ap_catalog_find_name(const char *name);
/* Number of entries, and the i-th one in ascending ErrorID order. */
size_t ap_catalog_count(void);
const struct ap_catalog_entry *ap_catalog_at(size_t i);

/*
 * The VSS entry for an installer result: an exact (vss_error, exit_code)
 * match first, then an entry keyed on the exit code alone, then the
 * "other VSS errors" entry.  Never NULL.
 */
const struct ap_catalog_entry *ap_catalog_find_vss(long vss_error, int exit_code);

/*
 * The entries that refine id (their refines is id), in ascending ErrorID
 * order.  Writes the first n of them to out (which may be NULL when n is 0)
 * and returns how many there are in all, which can be more than n; 0 when
 * nothing refines id or id is not in the catalog.
 */
size_t ap_catalog_refined_by(int id, const struct ap_catalog_entry **out,
                             size_t n);

/*
 * Whether a finding of ErrorID id answers a search for the ErrorID wanted: id
 * is wanted, or id's entry refines wanted.  So 800106 answers 95108, but
 * 95108 does not answer 800106 (it is the broader condition).  Every search
 * by ErrorID (show --id, the server's job filter) goes through this rule.
 */
int ap_catalog_id_matches(int id, int wanted);

/* Stable lowercase names used in JSON: "connectivity", "linux", "error"... */
const char *ap_stage_name(enum ap_stage stage);
const char *ap_platform_name(enum ap_platform platform);
const char *ap_severity_name(enum ap_severity sev);

/*
 * Translation of a library msgid under the current locale (gettext domain
 * "agentpush").  Returns msgid itself when no translation exists.  The CLI
 * calls setlocale() and ap_i18n_init(); the library itself never changes the
 * locale.
 */
const char *ap_tr(const char *msgid);
/* Binds the "agentpush" text domain to localedir (NULL: built-in path). */
void ap_i18n_init(const char *localedir);

/*
 * The folder to pass to ap_i18n_init() for the program at exe_path (an
 * absolute path with symlinks resolved, e.g. from readlink("/proc/self/exe")),
 * written into buf (n bytes, caller's):
 *   - the build tree's compiled catalogs (<build>/po) when exe_path is the
 *     program inside a meson build tree;
 *   - else <prefix>/share/locale (the configured localedir) of the install
 *     tree exe_path sits in, wherever that tree was moved, if it exists;
 *   - else the compiled-in install path.
 * Returns 0 when found next to the program, 1 for the compiled-in path (also
 * when exe_path is NULL or relative), -1 when buf is too small (buf is then
 * "").  Reads the file system (stat); no allocation, no output.
 */
int ap_i18n_localedir(const char *exe_path, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_CATALOG_H */
