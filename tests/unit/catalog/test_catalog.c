/*
 * test_catalog.c - the ErrorID catalog: every ID of the seed article and the
 * reference is present with the right stage and platform, look-ups work,
 * the VSS keying picks the right entry, the table is sorted and unique, the
 * ID ranges hold, and every refining ID names a product ID of the table.
 * Also checks the explain renderers on a few entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <stdio.h>
#include <sys/stat.h>

#include "agentpush/catalog.h"
#include "agentpush/explain.h"
#include "ap_config.h"

struct expect {
	int id;
	enum ap_stage stage;
	enum ap_platform platform;
};

static const struct expect seed_ids[] = {
	{ 95103, AP_STAGE_MANAGEMENT, AP_PLATFORM_WINDOWS },
	{ 95105, AP_STAGE_SHARING, AP_PLATFORM_WINDOWS },
	{ 95106, AP_STAGE_SHARING, AP_PLATFORM_WINDOWS },
	{ 95107, AP_STAGE_CREDENTIALS, AP_PLATFORM_WINDOWS },
	{ 95108, AP_STAGE_CREDENTIALS, AP_PLATFORM_LINUX },
	{ 95117, AP_STAGE_CONNECTIVITY, AP_PLATFORM_ANY },
	{ 97118, AP_STAGE_CONNECTIVITY, AP_PLATFORM_ANY },
	{ 95213, AP_STAGE_OS, AP_PLATFORM_ANY },
	{ 95224, AP_STAGE_OS, AP_PLATFORM_ANY },
	{ 95265, AP_STAGE_INSTALL, AP_PLATFORM_ANY },
	{ 95266, AP_STAGE_INSTALL, AP_PLATFORM_ANY },
	{ 95309, AP_STAGE_DISK, AP_PLATFORM_LINUX },
	{ 95310, AP_STAGE_DISK, AP_PLATFORM_LINUX },
	{ 95311, AP_STAGE_DISK, AP_PLATFORM_LINUX },
	{ 95313, AP_STAGE_DISK, AP_PLATFORM_LINUX },
	{ 95320, AP_STAGE_DISK, AP_PLATFORM_LINUX },
	{ 95517, AP_STAGE_CREDENTIALS, AP_PLATFORM_WINDOWS },
	{ 95518, AP_STAGE_CREDENTIALS, AP_PLATFORM_WINDOWS },
	{ 95519, AP_STAGE_CREDENTIALS, AP_PLATFORM_WINDOWS },
	{ 95520, AP_STAGE_CREDENTIALS, AP_PLATFORM_WINDOWS },
	{ 95521, AP_STAGE_CREDENTIALS, AP_PLATFORM_WINDOWS },
	{ 95522, AP_STAGE_CREDENTIALS, AP_PLATFORM_WINDOWS },
	{ 95523, AP_STAGE_CONNECTIVITY, AP_PLATFORM_ANY },
	{ 95524, AP_STAGE_SPACE, AP_PLATFORM_ANY },
	{ 95525, AP_STAGE_CREDENTIALS, AP_PLATFORM_LINUX },
	{ 95572, AP_STAGE_OS, AP_PLATFORM_ANY },
	{ 95573, AP_STAGE_INSTALL, AP_PLATFORM_ANY },
	{ AP_ERR_LINUX_LVM_ROOT, AP_STAGE_DISK, AP_PLATFORM_LINUX },
	{ AP_ERR_VSS_OTHER, AP_STAGE_INSTALL, AP_PLATFORM_WINDOWS },
};

static void
test_seed_ids_present(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(seed_ids) / sizeof(seed_ids[0]); i++) {
		const struct ap_catalog_entry *e = ap_catalog_find(seed_ids[i].id);

		assert_non_null(e);
		assert_int_equal(e->id, seed_ids[i].id);
		assert_int_equal(e->stage, seed_ids[i].stage);
		assert_int_equal(e->platform, seed_ids[i].platform);
		assert_non_null(e->title);
		assert_true(e->title[0] != '\0' && strchr(e->title, '\n') == NULL);
		assert_true(e->cause[0] != '\0' && strstr(e->cause, "TODO") == NULL);
		assert_true(e->remediation[0] != '\0' && strstr(e->remediation, "TODO") == NULL);
		assert_true(e->evidence[0] != '\0' && strstr(e->evidence, "TODO") == NULL);
	}
}

static void
test_lookups(void **state)
{
	const struct ap_catalog_entry *e = NULL;

	(void)state;
	e = ap_catalog_find(95108);
	assert_non_null(e);
	assert_string_equal(e->name, "LINUX_BAD_CREDENTIALS");
	assert_ptr_equal(ap_catalog_find_name("LINUX_BAD_CREDENTIALS"), e);
	assert_null(ap_catalog_find_name("linux_bad_credentials"));
	assert_null(ap_catalog_find_name(NULL));
	assert_null(ap_catalog_find_name("NO_SUCH_ENTRY"));
	assert_null(ap_catalog_find(12345));
	assert_null(ap_catalog_find(0));
	assert_null(ap_catalog_find(-1));
	assert_int_equal(ap_catalog_count(), AP_CATALOG_SIZE);
	assert_non_null(ap_catalog_at(0));
	assert_non_null(ap_catalog_at(ap_catalog_count() - 1));
	assert_null(ap_catalog_at(ap_catalog_count()));
	assert_int_equal(AP_ERR_LINUX_BAD_CREDENTIALS, 95108);
	/* The facts the remediation must carry. */
	assert_non_null(strstr(e->remediation, "PasswordAuthentication yes"));
	assert_non_null(strstr(e->remediation, "Subsystem sftp"));
	assert_non_null(strstr(e->cause, "sudo"));
	assert_non_null(strstr(ap_catalog_find(95107)->remediation,
	                       "LocalAccountTokenFilterPolicy /t REG_DWORD /d 1"));
	assert_non_null(strstr(ap_catalog_find(95522)->remediation, "net start Netlogon"));
	assert_non_null(strstr(ap_catalog_find(95519)->remediation, "/active:yes"));
	assert_non_null(strstr(ap_catalog_find(95524)->cause, "100 MB"));
}

static void
test_vss(void **state)
{
	(void)state;
	assert_int_equal(ap_catalog_find_vss(-2147023170L, 511)->id, AP_ERR_VSS_ANTIVIRUS_BLOCKED);
	assert_int_equal(ap_catalog_find_vss(0x800706BEL - 0x100000000L, 511)->id, AP_ERR_VSS_ANTIVIRUS_BLOCKED);
	assert_int_equal(ap_catalog_find_vss(7, 511)->id, AP_ERR_VSS_OUT_OF_MEMORY);
	assert_int_equal(ap_catalog_find_vss(-2147023824L, 517)->id, AP_ERR_VSS_MARKED_FOR_DELETION);
	assert_int_equal(ap_catalog_find_vss(-2147023841L, 512)->id, AP_ERR_VSS_SERVICE_DB_LOCKED);
	assert_int_equal(ap_catalog_find_vss(-2147164145L, 802)->id, AP_ERR_VSS_COM_CATALOG);
	/* 806 is keyed on the exit code alone. */
	assert_int_equal(ap_catalog_find_vss(0, 806)->id, AP_ERR_VSS_CSCRIPT_DENIED);
	assert_int_equal(ap_catalog_find_vss(12345, 806)->id, AP_ERR_VSS_CSCRIPT_DENIED);
	/* Unknown pairs, and a known error with the wrong exit code. */
	assert_int_equal(ap_catalog_find_vss(12345, 999)->id, AP_ERR_VSS_OTHER);
	assert_int_equal(ap_catalog_find_vss(0, 515)->id, AP_ERR_VSS_OTHER);
	assert_int_equal(ap_catalog_find_vss(7, 517)->id, AP_ERR_VSS_OTHER);
	assert_int_equal(ap_catalog_find_vss(-2147023170L, 512)->id, AP_ERR_VSS_OTHER);
}

static void
test_sorted_unique_ranges(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < ap_catalog_count(); i++) {
		const struct ap_catalog_entry *e = ap_catalog_at(i);

		assert_true((e->id > 0 && e->id < 100000) ||
		            (e->id >= 800000 && e->id <= 899999));
		if (i > 0)
			assert_true(ap_catalog_at(i - 1)->id < e->id);
		for (j = i + 1; j < ap_catalog_count(); j++)
			assert_string_not_equal(e->name, ap_catalog_at(j)->name);
		assert_ptr_equal(ap_catalog_find(e->id), e);
		assert_ptr_equal(ap_catalog_find_name(e->name), e);
		/* agentpush's own numbers only for our own conditions. */
		if (strncmp(e->name, "VSS_", 4) == 0)
			assert_true(e->id >= 800000);
	}
}

static void
test_explain_render(void **state)
{
	char *s = NULL;
	cJSON *j = NULL, *it = NULL;
	enum ap_explain_format fmt = AP_EXPLAIN_TEXT;

	(void)state;
	s = ap_explain_entry(ap_catalog_find(95108), AP_EXPLAIN_TEXT);
	assert_non_null(s);
	assert_non_null(strstr(s, "95108 LINUX_BAD_CREDENTIALS: "));
	assert_non_null(strstr(s, "  1. "));
	free(s);
	s = ap_explain_entry(ap_catalog_find(AP_ERR_VSS_ANTIVIRUS_BLOCKED), AP_EXPLAIN_JSON);
	assert_non_null(s);
	j = cJSON_Parse(s);
	assert_non_null(j);
	assert_int_equal(cJSON_GetObjectItem(j, "id")->valueint, AP_ERR_VSS_ANTIVIRUS_BLOCKED);
	assert_true(cJSON_GetObjectItem(j, "vss_error")->valuedouble == -2147023170.0);
	assert_int_equal(cJSON_GetObjectItem(j, "exit_code")->valueint, 511);
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "remediation")));
	cJSON_Delete(j);
	free(s);
	s = ap_explain_list(AP_EXPLAIN_JSON);
	assert_non_null(s);
	j = cJSON_Parse(s);
	assert_non_null(j);
	it = cJSON_GetObjectItem(j, "errors");
	assert_int_equal(cJSON_GetArraySize(it), (int)ap_catalog_count());
	assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(it, 0), "vss_error"));
	cJSON_Delete(j);
	free(s);
	assert_null(ap_explain_entry(NULL, AP_EXPLAIN_TEXT));
	assert_null(ap_explain_list((enum ap_explain_format)7));
	assert_int_equal(ap_explain_format_parse("json", &fmt), 0);
	assert_int_equal(fmt, AP_EXPLAIN_JSON);
	assert_int_equal(ap_explain_format_parse("xml", &fmt), -1);
	assert_int_equal(fmt, AP_EXPLAIN_JSON);
}

/* The refinements chosen for the 800000 range (errors.toml says why); every
 * other entry refines nothing. */
static const struct { int id, refines; } refinements[] = {
	{ AP_ERR_NAME_UNRESOLVED, AP_ERR_HOST_UNREACHABLE },
	{ AP_ERR_SSH_HANDSHAKE_FAILED, AP_ERR_HOST_UNREACHABLE },
	{ AP_ERR_LINUX_SFTP_MISSING, AP_ERR_LINUX_BAD_CREDENTIALS },
	{ AP_ERR_LINUX_BOOT_LVM_SPANNED, AP_ERR_LINUX_MULTIPLE_BOOT_DISKS },
	{ AP_ERR_KERNEL_MODULES_MISSING, AP_ERR_OS_UNSUPPORTED },
	{ AP_ERR_VSS_OUT_OF_MEMORY, AP_ERR_INSTALLER_LOW_MEMORY },
};

static void
test_refines(void **state)
{
	size_t i, k, n_refining = 0, n_reverse = 0;

	(void)state;
	for (i = 0; i < ap_catalog_count(); i++) {
		const struct ap_catalog_entry *e = ap_catalog_at(i), *t = NULL;
		int want = 0;

		for (k = 0; k < sizeof(refinements) / sizeof(refinements[0]); k++)
			if (refinements[k].id == e->id)
				want = refinements[k].refines;
		assert_int_equal(e->refines, want);
		n_reverse += ap_catalog_refined_by(e->id, NULL, 0);
		if (e->refines == 0) {
			assert_null(e->refines_when);
			continue;
		}
		n_refining++;
		/* only agentpush's IDs refine, and only a product ID of the table */
		assert_true(e->id >= 800000);
		assert_true(e->refines > 0 && e->refines < 100000);
		t = ap_catalog_find(e->refines);
		assert_non_null(t);
		assert_int_equal(t->refines, 0);
		assert_non_null(e->refines_when);
		assert_true(e->refines_when[0] != '\0' && strchr(e->refines_when, '\n') == NULL);
	}
	assert_int_equal(n_refining, sizeof(refinements) / sizeof(refinements[0]));
	/* the reverse direction lists each refining entry exactly once */
	assert_int_equal(n_reverse, n_refining);
}

static void
test_refined_by(void **state)
{
	const struct ap_catalog_entry *out[4] = { NULL, NULL, NULL, NULL };

	(void)state;
	assert_int_equal(ap_catalog_refined_by(95117, out, 4), 2);
	assert_int_equal(out[0]->id, AP_ERR_NAME_UNRESOLVED);
	assert_int_equal(out[1]->id, AP_ERR_SSH_HANDSHAKE_FAILED);
	assert_null(out[2]);
	/* too small an array: the count in all, only n written */
	out[0] = out[1] = NULL;
	assert_int_equal(ap_catalog_refined_by(95117, out, 1), 2);
	assert_int_equal(out[0]->id, AP_ERR_NAME_UNRESOLVED);
	assert_null(out[1]);
	assert_int_equal(ap_catalog_refined_by(95108, NULL, 0), 1);
	assert_int_equal(ap_catalog_refined_by(95108, out, 4), 1);
	assert_int_equal(out[0]->id, AP_ERR_LINUX_SFTP_MISSING);
	/* refining IDs, IDs nothing refines, unknown IDs, 0 */
	assert_int_equal(ap_catalog_refined_by(800106, out, 4), 0);
	assert_int_equal(ap_catalog_refined_by(95524, out, 4), 0);
	assert_int_equal(ap_catalog_refined_by(12345, out, 4), 0);
	assert_int_equal(ap_catalog_refined_by(0, out, 4), 0);

	assert_true(ap_catalog_id_matches(95108, 95108));
	assert_true(ap_catalog_id_matches(800106, 95108));
	assert_true(ap_catalog_id_matches(800106, 800106));
	assert_true(ap_catalog_id_matches(800101, 95117));
	/* the broader product condition does not answer for the narrower one */
	assert_false(ap_catalog_id_matches(95108, 800106));
	assert_false(ap_catalog_id_matches(800101, 95108));
	assert_false(ap_catalog_id_matches(800201, 95313));
	assert_false(ap_catalog_id_matches(12345, 95108));
	assert_false(ap_catalog_id_matches(800106, 0));
}

/* mkdir -p for the test's temporary trees */
static void
mkdirs(const char *path)
{
	char buf[4096];
	char *p = NULL;

	assert_true(strlen(path) < sizeof(buf));
	strcpy(buf, path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(buf, 0700);
		*p = '/';
	}
	(void)mkdir(buf, 0700);
}

/* buf = root "/" rel; made as a folder too when mk */
static const char *
under(char *buf, size_t n, const char *root, const char *rel, int mk)
{
	assert_true((size_t)snprintf(buf, n, "%s/%s", root, rel) < n);
	if (mk)
		mkdirs(buf);
	return buf;
}

static void
test_localedir(void **state)
{
	char tmpl[] = "/tmp/ap-localedir-XXXXXX";
	char *root = mkdtemp(tmpl);
	char exe[4096], want[4096], got[4096], rel[256];
	char small[4];

	(void)state;
	assert_non_null(root);

	/* a meson build tree: <build>/src/cli/agentpush, <build>/po */
	under(want, sizeof(want), root, "build/meson-private", 1);
	under(want, sizeof(want), root, "build/src/cli", 1);
	under(want, sizeof(want), root, "build/po", 1);
	under(exe, sizeof(exe), root, "build/src/cli/agentpush", 0);
	assert_int_equal(ap_i18n_localedir(exe, got, sizeof(got)), 0);
	assert_string_equal(got, want);

	/* the same layout without meson's marker is not a build tree */
	under(want, sizeof(want), root, "notbuild/src/cli", 1);
	under(want, sizeof(want), root, "notbuild/po", 1);
	under(exe, sizeof(exe), root, "notbuild/src/cli/agentpush", 0);
	assert_int_equal(ap_i18n_localedir(exe, got, sizeof(got)), 1);
	assert_string_equal(got, AP_LOCALEDIR);

	/* an install tree moved elsewhere: <prefix>/bin, <prefix>/share/locale */
	under(want, sizeof(want), root, "stage/usr/bin", 1);
	snprintf(rel, sizeof(rel), "stage/usr/%s", AP_LOCALEDIR_FROM_PREFIX);
	under(want, sizeof(want), root, rel, 1);
	under(exe, sizeof(exe), root, "stage/usr/bin/agentpush", 0);
	if (AP_BINDIR_DEPTH == 1) {
		assert_int_equal(ap_i18n_localedir(exe, got, sizeof(got)), 0);
		assert_string_equal(got, want);
	}

	/* nothing next to the program, a relative path, no path: built-in */
	assert_int_equal(ap_i18n_localedir("/agentpush", got, sizeof(got)), 1);
	assert_string_equal(got, AP_LOCALEDIR);
	assert_int_equal(ap_i18n_localedir("agentpush", got, sizeof(got)), 1);
	assert_string_equal(got, AP_LOCALEDIR);
	assert_int_equal(ap_i18n_localedir(NULL, got, sizeof(got)), 1);
	/* a buffer too small for any answer: -1 and "" */
	assert_int_equal(ap_i18n_localedir(exe, small, sizeof(small)), -1);
	assert_string_equal(small, "");

	snprintf(got, sizeof(got), "rm -rf '%s'", root);
	assert_int_equal(system(got), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_ids_present),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_vss),
		cmocka_unit_test(test_sorted_unique_ranges),
		cmocka_unit_test(test_explain_render),
		cmocka_unit_test(test_refines),
		cmocka_unit_test(test_refined_by),
		cmocka_unit_test(test_localedir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
