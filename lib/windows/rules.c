/*
 * rules.c - Windows facts to findings, and the installer's result to a
 * catalog entry (see windows.h and docs/winrm.md).
 *
 * Each rule runs on its own, so one check shows every problem.  Evidence
 * quotes the facts.  LocalAccountTokenFilterPolicy: if we got this far the
 * WinRM logon itself worked, which for a local account means either the
 * built-in Administrator (exempt from remote UAC) or the policy set; so a
 * local account with the policy not 1 is a warning under 95107 (the share
 * and the installer may still be refused), not an error.
 *
 * The installer log is untrusted and may be huge or UTF-16LE: the VSS
 * scanner looks at one line at a time, at most LINE_MAX ASCII bytes of it
 * (NULs of UTF-16LE dropped), and only at lines that mention VSS.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agentpush/catalog.h"
#include "agentpush/package.h"
#include "agentpush/windows.h"
#include "windows_int.h"

#define EVID_MAX 2048
#define LINE_MAX_VSS 512

void
ap_windows_requirements_init(struct ap_windows_requirements *req)
{
	req->min_free_bytes = 500LL * 1024 * 1024;
	req->min_mem_bytes = 256LL * 1024 * 1024;
}

static const char *
product_name(int t)
{
	return t == AP_WINDOWS_WORKSTATION ? "workstation" : "server";
}

int
ap_windows_supported(const struct ap_windows_facts *f, char *why, size_t n)
{
	cJSON *root = cJSON_Parse(ap_windows_support_json());
	const cJSON *e, *arr;
	char list[512] = "";
	size_t used = 0;
	int ok = 0;

	if (why != NULL && n > 0)
		why[0] = '\0';
	arr = cJSON_GetObjectItemCaseSensitive(root, "entries");
	cJSON_ArrayForEach(e, arr) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(e, "product");
		const cJSON *lo = cJSON_GetObjectItemCaseSensitive(e, "min_build");
		const cJSON *hi = cJSON_GetObjectItemCaseSensitive(e, "max_build");

		if (!cJSON_IsString(nm) || !cJSON_IsString(pr) || !cJSON_IsNumber(lo) ||
		    !cJSON_IsNumber(hi))
			continue;
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
			                         used > 0 ? ", " : "", nm->valuestring);
		if (ok || strcmp(pr->valuestring, product_name(f->product_type)) != 0 ||
		    f->build < (long)lo->valuedouble || f->build > (long)hi->valuedouble)
			continue;
		ok = 1;
		if (why != NULL && f->is_64bit)
			snprintf(why, n, "%s build %ld is %s", f->caption, f->build,
			         nm->valuestring);
	}
	cJSON_Delete(root);
	if (ok && !f->is_64bit) {
		ok = 0;
		if (why != NULL)
			snprintf(why, n, "%s (%s) is 32-bit; the agent needs a 64-bit Windows",
			         f->caption, f->arch != NULL ? f->arch : "?");
	} else if (!ok && why != NULL) {
		snprintf(why, n, "%s, version %s build %ld (%s): not on the support list (%s; 64-bit)",
		         f->caption, f->os_version, f->build,
		         product_name(f->product_type), list);
	}
	return ok;
}

static int
add(struct ap_result *r, int id, int sev, const char *ev, struct ap_ctx *ctx)
{
	int rc = sev < 0 ? ap_result_add(r, id, NULL, ev) :
	                   ap_result_add_sev(r, id, (enum ap_severity)sev, NULL, ev);

	if (rc != AP_OK)
		return ap_ctx_fail(ctx, rc, 0, "cannot add finding %d", id);
	return AP_OK;
}

int
ap_windows_rules_apply(const struct ap_windows_facts *f,
                       const struct ap_windows_requirements *req,
                       struct ap_result *r, struct ap_ctx *ctx)
{
	struct ap_windows_requirements def;
	char ev[EVID_MAX];
	int rc;

	if (req == NULL) {
		ap_windows_requirements_init(&def);
		req = &def;
	}
	if (!ap_windows_supported(f, ev, sizeof(ev)) &&
	    (rc = add(r, AP_ERR_OS_UNSUPPORTED, -1, ev, ctx)) != AP_OK)
		return rc;
	if (f->system_free_bytes >= 0 && f->system_free_bytes < req->min_free_bytes) {
		snprintf(ev, sizeof(ev), "%s %lld MB free (%lld bytes), %lld MB needed",
		         f->system_drive, f->system_free_bytes / (1024 * 1024),
		         f->system_free_bytes, req->min_free_bytes / (1024 * 1024));
		if ((rc = add(r, AP_ERR_INSUFFICIENT_SPACE, -1, ev, ctx)) != AP_OK)
			return rc;
	}
	if (f->reboot_pending) {
		snprintf(ev, sizeof(ev), "restart pending on the host: %s",
		         f->reboot_reasons != NULL ? f->reboot_reasons : "?");
		if ((rc = add(r, AP_ERR_RESTART_PENDING, -1, ev, ctx)) != AP_OK)
			return rc;
	}
	if (f->mem_free_bytes >= 0 && f->mem_free_bytes < req->min_mem_bytes) {
		snprintf(ev, sizeof(ev), "%lld MB of physical memory free (of %lld MB), %lld MB needed",
		         f->mem_free_bytes / (1024 * 1024),
		         f->mem_total_bytes >= 0 ? f->mem_total_bytes / (1024 * 1024) : -1LL,
		         req->min_mem_bytes / (1024 * 1024));
		if ((rc = add(r, AP_ERR_LOW_MEMORY, -1, ev, ctx)) != AP_OK)
			return rc;
	}
	if (f->local_account == 1 && f->latfp != 1) {
		snprintf(ev, sizeof(ev),
		         "%s is a local account and HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\\LocalAccountTokenFilterPolicy is %s: remote UAC filters its administrator token unless it is the built-in Administrator",
		         f->user, f->latfp == AP_WINDOWS_UNKNOWN ? "absent" :
		                  f->latfp == 0 ? "0" : "not 1");
		if ((rc = add(r, AP_ERR_WINDOWS_BAD_CREDENTIALS, AP_SEV_WARNING, ev,
		              ctx)) != AP_OK)
			return rc;
	}
	return AP_OK;
}

/* --- the installer's log and exit code --------------------------------- */

static int
ci_has(const char *s, const char *w)
{
	size_t n = strlen(w);

	for (; *s != '\0'; s++)
		if (strncasecmp(s, w, n) == 0)
			return 1;
	return 0;
}

int
ap_windows_vss_in_line(const char *line, long *vss)
{
	const char *p;
	char *end = NULL;
	unsigned long long u;
	long long v;

	if (!ci_has(line, "vss"))
		return 0;
	/* 0x800706BE: an HRESULT, kept as the signed 32-bit value */
	for (p = line; *p != '\0'; p++) {
		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
			errno = 0;
			u = strtoull(p + 2, &end, 16);
			if (errno == 0 && end - (p + 2) <= 8 && !isalnum((unsigned char)*end)) {
				*vss = u > 0x7fffffffULL ? (long)((long long)u - 0x100000000LL) : (long)u;
				return 1;
			}
		}
	}
	/* "-2147023170" or "error 7" / "error code: 7" / "error=7" */
	for (p = line; *p != '\0'; p++) {
		if (p[0] == '-' && isdigit((unsigned char)p[1]) &&
		    (p == line || !isalnum((unsigned char)p[-1]))) {
			errno = 0;
			v = strtoll(p, &end, 10);
			if (errno == 0 && v >= -2147483648LL && end - p >= 6 &&
			    !isalnum((unsigned char)*end)) {
				*vss = (long)v;
				return 1;
			}
		}
		if (strncasecmp(p, "error", 5) == 0) {
			const char *q = p + 5;

			if (strncasecmp(q, " code", 5) == 0)
				q += 5;
			while (*q == ' ' || *q == ':' || *q == '=')
				q++;
			if (isdigit((unsigned char)*q)) {
				errno = 0;
				v = strtoll(q, &end, 10);
				if (errno == 0 && v <= 0xffffffffLL && !isalnum((unsigned char)*end)) {
					*vss = v > 0x7fffffffLL ? (long)(v - 0x100000000LL) : (long)v;
					return 1;
				}
			}
		}
	}
	return 0;
}

int
ap_windows_find_vss_error(const char *log, size_t len, long *vss)
{
	char line[LINE_MAX_VSS + 1];
	size_t i, k = 0;
	unsigned char ch;

	for (i = 0; i <= len; i++) {
		ch = i < len ? (unsigned char)log[i] : '\n';
		if (ch == '\0')
			continue; /* UTF-16LE high bytes, for ASCII text */
		if (ch == '\n' || ch == '\r') {
			line[k] = '\0';
			if (k > 0 && ap_windows_vss_in_line(line, vss))
				return 1;
			k = 0;
			continue;
		}
		if (k < LINE_MAX_VSS)
			line[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	return 0;
}

/* The installer's own VSS exit codes (reference notes; the pairing with the
 * article's 511/512/517/806 is by meaning, an inference). */
static int
own_vss_code(int exit_code)
{
	switch (exit_code) {
	case 45: return AP_ERR_VSS_OTHER;
	case 50: return AP_ERR_VSS_OUT_OF_MEMORY;
	case 51: return AP_ERR_VSS_SERVICE_DB_LOCKED;
	case 52: return AP_ERR_VSS_OTHER;
	case 53: return AP_ERR_VSS_MARKED_FOR_DELETION;
	case 54: return AP_ERR_VSS_CSCRIPT_DENIED;
	default: return 0;
	}
}

static int
article_vss_code(int exit_code)
{
	return exit_code == 511 || exit_code == 512 || exit_code == 515 ||
	       exit_code == 517 || exit_code == 802 || exit_code == 806;
}

int
ap_windows_installer_errorid(int exit_code, int vss_found, long vss)
{
	if (exit_code == 0 || exit_code == 98)
		return 0;
	if (exit_code == 3010)
		return AP_ERR_INSTALLED_RESTART_RECOMMENDED;
	if (exit_code == 1641)
		return AP_ERR_INSTALLED_RESTART_NEEDED;
	if (vss_found || article_vss_code(exit_code))
		return ap_catalog_find_vss(vss_found ? vss : 0, exit_code)->id;
	if (own_vss_code(exit_code) != 0)
		return own_vss_code(exit_code);
	if (exit_code == 42)
		return AP_ERR_OS_UNSUPPORTED;
	if (exit_code == 62)
		return AP_ERR_RESTART_PENDING;
	if (exit_code == 99)
		return AP_ERR_INSTALL_PREREQ_FAILED;
	return AP_ERR_INSTALL_FAILED;
}

int
ap_windows_installer_result(int exit_code, const char *log, size_t len,
                            const char *log_path, struct ap_result *r,
                            int *id, struct ap_ctx *ctx)
{
	char ev[EVID_MAX], vss_s[64] = "";
	char *excerpt = NULL;
	long vss = 0;
	int found = 0, eid = 0, rc;

	if (id != NULL)
		*id = 0;
	if (log != NULL && len > 0)
		found = ap_windows_find_vss_error(log, len, &vss);
	if (found)
		snprintf(vss_s, sizeof(vss_s), ", VSS error %ld (0x%08lX)", vss,
		         (unsigned long)vss & 0xffffffffUL);
	if ((eid = ap_windows_installer_errorid(exit_code, found, vss)) == 0)
		return AP_OK;
	if (log != NULL && len > 0 && ap_package_log_excerpt(log, len, &excerpt) != 0)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	snprintf(ev, sizeof(ev), "installer exit code %d%s; log %s:%s%s", exit_code,
	         vss_s, log_path != NULL ? log_path : "(none)",
	         excerpt != NULL && excerpt[0] != '\0' ? "\n" : " (empty)",
	         excerpt != NULL ? excerpt : "");
	free(excerpt);
	if ((rc = add(r, eid, -1, ev, ctx)) != AP_OK)
		return rc;
	if (id != NULL)
		*id = eid;
	return AP_OK;
}
