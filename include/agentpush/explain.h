/*
 * explain.h - catalog entries rendered for people (text) and for programs
 * (JSON), in the current locale.
 *
 * The renderers only build strings: they never print and never change the
 * locale.  Text fields go through ap_tr(), so the caller decides the language
 * with setlocale() and ap_i18n_init() before calling them.  The machine
 * fields of the JSON (id, name, stage, platform, severity, vss_error,
 * exit_code, refines, refined_by) never change with the locale.
 *
 * JSON shape of one entry:
 *   {"id": 95108, "name": "LINUX_BAD_CREDENTIALS", "stage": "credentials",
 *    "platform": "linux", "severity": "error", "title": "...",
 *    "cause": "...", "remediation": ["step 1", "step 2"],
 *    "evidence": "...", "vss_error": -2147023170, "exit_code": 511}
 * vss_error is present only when the entry has one (non-zero), exit_code only
 * when it is >= 0.  An agentpush entry that narrows a product condition adds
 * "refines": 95108 (the product's ID) and "refines_when": "..." (what tells
 * them apart, translated); a product entry that agentpush IDs narrow adds
 * "refined_by": [800106, ...] in ascending order.  Each is absent, never
 * null or empty, when it does not apply.  The list is
 * {"count": N, "errors": [entry, ...]} in ascending id order.
 *
 * Ownership: every char * returned is malloc'd, NUL-terminated and freed by
 * the caller with free().  A cJSON * is freed with cJSON_Delete().
 */
#ifndef AGENTPUSH_EXPLAIN_H
#define AGENTPUSH_EXPLAIN_H

#include <cjson/cJSON.h>

#include "agentpush/catalog.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ap_explain_format {
	AP_EXPLAIN_TEXT = 0,
	AP_EXPLAIN_JSON
};

/*
 * Renders one entry: for TEXT the title line, stage, platform, severity, VSS
 * keys when set, the product ID it refines and how it differs, or the IDs
 * refining it, the cause, the remediation as numbered steps and the
 * evidence, ending with a newline; for JSON one pretty-printed object ending
 * with a newline.  Returns NULL when e is NULL, fmt is unknown or memory runs
 * out.
 */
char *ap_explain_entry(const struct ap_catalog_entry *e,
                       enum ap_explain_format fmt);

/*
 * Renders the whole catalog: for TEXT one line per entry (id, name,
 * severity, platform, title), for JSON the list object described above with
 * every entry in full.  Returns NULL when fmt is unknown or memory runs out.
 */
char *ap_explain_list(enum ap_explain_format fmt);

/*
 * The JSON object of one entry, for callers that embed it in a larger
 * document (reports).  Returns NULL when e is NULL or memory runs out.
 */
cJSON *ap_explain_entry_json(const struct ap_catalog_entry *e);

/*
 * Parses "text" or "json" (exact, lowercase) into *fmt.  Returns 0, or -1
 * and leaves *fmt unchanged when s is anything else.
 */
int ap_explain_format_parse(const char *s, enum ap_explain_format *fmt);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_EXPLAIN_H */
