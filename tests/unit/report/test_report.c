/* test_report.c - the report model and its JSON and text renderings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "agentpush/report.h"

static struct ap_target
mk(const char *spec, const char *host, enum ap_os os)
{
	struct ap_target t = {0};

	t.spec = (char *)spec;
	t.host = (char *)host;
	t.os = os;
	return t;
}

/* Three targets: failed (two findings added out of stage order), warning, ok. */
static struct ap_report *
sample(void)
{
	struct ap_report *rep = ap_report_new();
	struct ap_target t1 = mk("root@198.18.1.2:22", "198.18.1.2", AP_OS_LINUX);
	struct ap_target t2 = mk("198.18.1.3", "198.18.1.3", AP_OS_LINUX);
	struct ap_target t3 = mk("198.18.1.4", "198.18.1.4", AP_OS_AUTO);
	struct ap_result *r1, *r2, *r3;

	assert_non_null(rep);
	r1 = ap_report_add_target(rep, &t1);
	r2 = ap_report_add_target(rep, &t2);
	r3 = ap_report_add_target(rep, &t3);
	assert_non_null(r1);
	/* later stage first: the report must reorder */
	assert_int_equal(ap_result_add(r1, AP_ERR_LINUX_BOOT_SYSTEM_SPLIT, NULL,
	                               "/boot on sda1, / on sdb1"), AP_OK);
	assert_int_equal(ap_result_add(r1, AP_ERR_LINUX_BAD_CREDENTIALS,
	                               "login refused", "Permission denied (password).\n\x1b[31mred"),
	                 AP_OK);
	assert_int_equal(ap_result_add(r2, AP_ERR_LINUX_BOOT_SYSTEM_SPLIT, NULL, NULL), AP_OK);
	assert_int_equal(ap_result_add(r3, AP_ERR_ALREADY_INSTALLED, "1.2.0", NULL), AP_OK);
	assert_int_equal(ap_result_set_note(r3, "installed 1.2.0"), AP_OK);
	assert_true(ap_result_has(r1, AP_ERR_LINUX_BAD_CREDENTIALS));
	assert_false(ap_result_has(r2, AP_ERR_LINUX_BAD_CREDENTIALS));
	return rep;
}

static void
test_model(void **state)
{
	struct ap_report *rep = sample();
	struct ap_result *r1 = ap_report_at(rep, 0);
	struct ap_summary s;

	assert_int_equal(ap_report_count(rep), 3);
	assert_null(ap_report_at(rep, 3));
	assert_int_equal(r1->findings[0].id, AP_ERR_LINUX_BAD_CREDENTIALS);
	assert_int_equal(r1->findings[1].id, AP_ERR_LINUX_BOOT_SYSTEM_SPLIT);
	assert_int_equal(ap_result_status(r1), AP_STATUS_FAILED);
	assert_int_equal(ap_result_status(ap_report_at(rep, 1)), AP_STATUS_WARNING);
	assert_int_equal(ap_result_status(ap_report_at(rep, 2)), AP_STATUS_OK);
	ap_report_summary(rep, &s);
	assert_int_equal(s.ok, 1);
	assert_int_equal(s.warning, 1);
	assert_int_equal(s.failed, 1);
	assert_int_equal(ap_report_exit_status(rep), 1);
	assert_int_equal(ap_result_add(r1, 1, NULL, NULL), AP_EINVAL);
	/* an explicit severity overrides the catalog's */
	assert_int_equal(ap_result_add_sev(ap_report_at(rep, 1), AP_ERR_LINUX_BOOT_SYSTEM_SPLIT,
	                                   AP_SEV_ERROR, NULL, NULL), AP_OK);
	assert_int_equal(ap_result_status(ap_report_at(rep, 1)), AP_STATUS_FAILED);
	assert_string_equal(ap_status_name(AP_STATUS_WARNING), "warning");
	ap_report_free(rep);
	ap_report_free(NULL);

	rep = ap_report_new();
	assert_int_equal(ap_report_exit_status(rep), 0);
	ap_report_free(rep);
}

/* Many findings in random stage order come out sorted, stable within a stage. */
static void
test_order(void **state)
{
	struct ap_report *rep = ap_report_new();
	struct ap_target t = mk("h", "h", AP_OS_AUTO);
	struct ap_result *r = ap_report_add_target(rep, &t);
	size_t i, n = ap_catalog_count();

	for (i = n; i-- > 0;)
		assert_int_equal(ap_result_add(r, ap_catalog_at(i)->id, NULL, NULL), AP_OK);
	for (i = 1; i < r->n_findings; i++) {
		const struct ap_catalog_entry *a = ap_catalog_find(r->findings[i - 1].id);
		const struct ap_catalog_entry *b = ap_catalog_find(r->findings[i].id);

		assert_true(a->stage <= b->stage);
		if (a->stage == b->stage)
			assert_true(a->id > b->id); /* insertion order kept */
	}
	ap_report_free(rep);
}

static void
test_json(void **state)
{
	struct ap_report *rep = sample();
	char *js = ap_report_to_json(rep);
	cJSON *root, *targets, *t0, *errs, *e0, *sum;
	const struct ap_catalog_entry *ce = ap_catalog_find(AP_ERR_LINUX_BAD_CREDENTIALS);

	assert_non_null(js);
	assert_null(strchr(js, '\n'));
	root = cJSON_Parse(js);
	assert_non_null(root);
	targets = cJSON_GetObjectItemCaseSensitive(root, "targets");
	assert_int_equal(cJSON_GetArraySize(targets), 3);
	t0 = cJSON_GetArrayItem(targets, 0);
	assert_string_equal(cJSON_GetObjectItem(t0, "target")->valuestring, "root@198.18.1.2:22");
	assert_string_equal(cJSON_GetObjectItem(t0, "host")->valuestring, "198.18.1.2");
	assert_string_equal(cJSON_GetObjectItem(t0, "os")->valuestring, "linux");
	assert_string_equal(cJSON_GetObjectItem(t0, "status")->valuestring, "failed");
	errs = cJSON_GetObjectItem(t0, "errors");
	assert_int_equal(cJSON_GetArraySize(errs), 2);
	e0 = cJSON_GetArrayItem(errs, 0);
	assert_int_equal(cJSON_GetObjectItem(e0, "id")->valueint, AP_ERR_LINUX_BAD_CREDENTIALS);
	assert_string_equal(cJSON_GetObjectItem(e0, "name")->valuestring, "LINUX_BAD_CREDENTIALS");
	assert_string_equal(cJSON_GetObjectItem(e0, "severity")->valuestring, "error");
	assert_string_equal(cJSON_GetObjectItem(e0, "stage")->valuestring, "credentials");
	assert_string_equal(cJSON_GetObjectItem(e0, "title")->valuestring, ce->title);
	assert_string_equal(cJSON_GetObjectItem(e0, "remediation")->valuestring, ce->remediation);
	assert_string_equal(cJSON_GetObjectItem(e0, "message")->valuestring, "login refused");
	assert_non_null(strstr(cJSON_GetObjectItem(e0, "evidence")->valuestring, "Permission denied"));
	e0 = cJSON_GetArrayItem(errs, 1);
	assert_string_equal(cJSON_GetObjectItem(e0, "severity")->valuestring, "warning");
	assert_string_equal(cJSON_GetObjectItem(e0, "message")->valuestring, "");
	assert_true(cJSON_IsString(cJSON_GetObjectItem(e0, "evidence")));
	t0 = cJSON_GetArrayItem(targets, 2);
	assert_string_equal(cJSON_GetObjectItem(t0, "os")->valuestring, "auto");
	assert_string_equal(cJSON_GetObjectItem(t0, "status")->valuestring, "ok");
	e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(t0, "errors"), 0);
	assert_string_equal(cJSON_GetObjectItem(e0, "severity")->valuestring, "info");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(targets, 1), "status")->valuestring,
	                    "warning");
	sum = cJSON_GetObjectItem(root, "summary");
	assert_int_equal(cJSON_GetObjectItem(sum, "ok")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(sum, "warning")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(sum, "failed")->valueint, 1);
	cJSON_Delete(root);
	free(js);
	ap_report_free(rep);

	rep = ap_report_new();
	js = ap_report_to_json(rep);
	assert_string_equal(js, "{\"targets\":[],\"summary\":{\"ok\":0,\"warning\":0,\"failed\":0}}");
	free(js);
	ap_report_free(rep);
}

static void
test_text(void **state)
{
	struct ap_report *rep = sample();
	char *txt = ap_report_to_text(rep, 0), *col;
	char want[256];

	assert_non_null(txt);
	snprintf(want, sizeof(want), "FAILED   root@198.18.1.2:22  %d ", AP_ERR_LINUX_BAD_CREDENTIALS);
	assert_ptr_equal(strstr(txt, want), txt);
	assert_non_null(strstr(txt, "evidence: Permission denied (password).\n"));
	assert_non_null(strstr(txt, "?[31mred")); /* escape neutralised */
	assert_null(strchr(txt, '\x1b'));
	assert_non_null(strstr(txt, "fix: "));
	assert_non_null(strstr(txt, "\nWARNING  198.18.1.3  "));
	assert_non_null(strstr(txt, "\nOK       198.18.1.4  "));
	assert_non_null(strstr(txt, "installed 1.2.0"));
	assert_non_null(strstr(txt, "\n3 targets: 1 ok, 1 warning, 1 failed\n"));

	col = ap_report_to_text(rep, 1);
	assert_non_null(strstr(col, "\x1b[1;31mFAILED"));
	assert_non_null(strstr(col, "\x1b[33mWARNING"));
	assert_non_null(strstr(col, "\x1b[32mOK"));
	assert_non_null(strstr(col, "3 targets: 1 ok, 1 warning, 1 failed\n"));
	free(col);
	free(txt);
	ap_report_free(rep);
}

/* A finding whose ErrorID refines a product ID carries that ID, in JSON and
 * text; a finding of the product ID itself has no refines at all. */
static void
test_refines(void **state)
{
	struct ap_report *rep = ap_report_new();
	struct ap_target t = mk("root@198.18.1.5:22", "198.18.1.5", AP_OS_LINUX);
	struct ap_result *r = ap_report_add_target(rep, &t);
	cJSON *root = NULL, *errs = NULL, *e = NULL;
	char *js = NULL, *txt = NULL;
	char want[256];

	assert_non_null(r);
	assert_int_equal(ap_result_add(r, AP_ERR_LINUX_BAD_CREDENTIALS, NULL, NULL), AP_OK);
	assert_int_equal(ap_result_add(r, AP_ERR_LINUX_SFTP_MISSING, NULL, "subsystem request failed"), AP_OK);
	js = ap_report_to_json(rep);
	assert_non_null(js);
	root = cJSON_Parse(js);
	assert_non_null(root);
	errs = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "targets"), 0), "errors");
	e = cJSON_GetArrayItem(errs, 0);
	assert_int_equal(cJSON_GetObjectItem(e, "id")->valueint, AP_ERR_LINUX_BAD_CREDENTIALS);
	assert_null(cJSON_GetObjectItem(e, "refines"));
	e = cJSON_GetArrayItem(errs, 1);
	assert_int_equal(cJSON_GetObjectItem(e, "id")->valueint, AP_ERR_LINUX_SFTP_MISSING);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(e, "refines")));
	assert_int_equal(cJSON_GetObjectItem(e, "refines")->valueint, AP_ERR_LINUX_BAD_CREDENTIALS);

	txt = ap_report_to_text(rep, 0);
	assert_non_null(txt);
	snprintf(want, sizeof(want), "%d %s (refines %d)\n", AP_ERR_LINUX_SFTP_MISSING,
	         ap_catalog_find(AP_ERR_LINUX_SFTP_MISSING)->title, AP_ERR_LINUX_BAD_CREDENTIALS);
	assert_non_null(strstr(txt, want));
	snprintf(want, sizeof(want), "%d %s\n", AP_ERR_LINUX_BAD_CREDENTIALS,
	         ap_catalog_find(AP_ERR_LINUX_BAD_CREDENTIALS)->title);
	assert_non_null(strstr(txt, want));
	free(txt);
	cJSON_Delete(root);
	free(js);
	ap_report_free(rep);
}

/* show --id: the hosts with a finding of the ID or of an ID refining it. */
static void
test_keep_ids(void **state)
{
	static const int ids[][2] = {
		{ AP_ERR_LINUX_BAD_CREDENTIALS, 0 },        /* 95108: h1 and h2 */
		{ AP_ERR_LINUX_SFTP_MISSING, 0 },           /* 800106: h2 only */
		{ AP_ERR_HOST_UNREACHABLE, AP_ERR_LINUX_SFTP_MISSING },
		{ AP_ERR_INSUFFICIENT_SPACE, 0 },           /* nobody */
	};
	static const size_t n_ids[] = { 1, 1, 2, 1 };
	static const char *const want[][3] = {
		{ "h1", "h2", NULL }, { "h2", NULL, NULL }, { "h2", "h3", NULL },
		{ NULL, NULL, NULL },
	};
	size_t c, i;

	(void)state;
	for (c = 0; c < sizeof(n_ids) / sizeof(n_ids[0]); c++) {
		struct ap_report *rep = ap_report_new();
		struct ap_target t1 = mk("h1", "h1", AP_OS_LINUX), t2 = mk("h2", "h2", AP_OS_LINUX);
		struct ap_target t3 = mk("h3", "h3", AP_OS_LINUX), t4 = mk("h4", "h4", AP_OS_LINUX);
		struct ap_result *r1 = ap_report_add_target(rep, &t1);
		struct ap_result *r2 = ap_report_add_target(rep, &t2);
		struct ap_result *r3 = ap_report_add_target(rep, &t3);
		size_t n_want = 0;

		assert_non_null(ap_report_add_target(rep, &t4)); /* ok: no finding */
		assert_int_equal(ap_result_add(r1, AP_ERR_LINUX_BAD_CREDENTIALS, NULL, NULL), AP_OK);
		assert_int_equal(ap_result_add(r2, AP_ERR_LINUX_SFTP_MISSING, NULL, NULL), AP_OK);
		assert_int_equal(ap_result_add(r2, AP_ERR_LINUX_BOOT_SYSTEM_SPLIT, NULL, NULL), AP_OK);
		assert_int_equal(ap_result_add(r3, AP_ERR_HOST_UNREACHABLE, NULL, NULL), AP_OK);
		while (n_want < 3 && want[c][n_want] != NULL)
			n_want++;
		assert_int_equal(ap_report_keep_ids(rep, ids[c], n_ids[c]), n_want);
		assert_int_equal(ap_report_count(rep), n_want);
		for (i = 0; i < n_want; i++)
			assert_string_equal(ap_report_at(rep, i)->target, want[c][i]);
		/* a kept host keeps every finding, so its status too */
		if (c == 1) {
			assert_ptr_equal(ap_report_at(rep, 0), r2);
			assert_int_equal(r2->n_findings, 2);
			assert_int_equal(ap_result_status(r2), AP_STATUS_FAILED);
		}
		ap_report_free(rep);
	}
	/* the broader product ID never answers for the narrower agentpush one */
	{
		struct ap_report *rep = ap_report_new();
		struct ap_target t = mk("h", "h", AP_OS_LINUX);
		struct ap_result *r = ap_report_add_target(rep, &t);
		const int sftp = AP_ERR_LINUX_SFTP_MISSING;

		assert_int_equal(ap_result_add(r, AP_ERR_LINUX_BAD_CREDENTIALS, NULL, NULL), AP_OK);
		assert_false(ap_result_matches_ids(r, &sftp, 1));
		assert_false(ap_result_matches_ids(r, NULL, 0));
		assert_false(ap_result_matches_ids(NULL, &sftp, 1));
		assert_int_equal(ap_report_keep_ids(NULL, &sftp, 1), 0);
		ap_report_free(rep);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_refines),
		cmocka_unit_test(test_keep_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
