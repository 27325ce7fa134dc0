/*
 * test_windows.c - Windows facts parser, rules, support list, the
 * -EncodedCommand builder and the installer result mapping.  Facts fixtures
 * are in tests/winrm/fixtures/facts/ (written by hand in the script's
 * format; no Windows host ran the script here).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "agentpush/catalog.h"
#include "agentpush/ctx.h"
#include "agentpush/report.h"
#include "agentpush/windows.h"

static char *
slurp(const char *rel, size_t *len)
{
	const char *root = getenv("AP_SOURCE_ROOT");
	char path[1024];
	FILE *f;
	char *buf = malloc(1 << 16);

	snprintf(path, sizeof(path), "%s/%s", root != NULL ? root : ".", rel);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static struct ap_windows_facts *
facts_of(const char *name)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_windows_facts *f = NULL;
	char rel[256], *t;
	size_t n;

	snprintf(rel, sizeof(rel), "tests/winrm/fixtures/facts/%s", name);
	t = slurp(rel, &n);
	assert_int_equal(ap_windows_facts_parse(t, n, &f, ctx), AP_OK);
	free(t);
	ap_ctx_free(ctx);
	return f;
}

static struct ap_result *
new_result(struct ap_report **rep)
{
	struct ap_target t = {0};

	*rep = ap_report_new();
	t.spec = t.host = (char *)"198.18.0.5";
	return ap_report_add_target(*rep, &t);
}

static const struct ap_finding *
finding(const struct ap_result *r, int id)
{
	size_t i;

	for (i = 0; i < r->n_findings; i++)
		if (r->findings[i].id == id)
			return &r->findings[i];
	return NULL;
}

static void
test_parse_ok(void **state)
{
	struct ap_windows_facts *f = facts_of("server2019-ok.json");

	(void)state;
	assert_string_equal(f->caption, "Microsoft Windows Server 2019 Standard");
	assert_int_equal(f->build, 17763);
	assert_int_equal(f->product_type, AP_WINDOWS_SERVER);
	assert_int_equal(f->latfp, AP_WINDOWS_UNKNOWN);
	assert_int_equal(f->reboot_pending, 0);
	assert_int_equal(f->local_account, 0);
	assert_string_equal(f->user, "CORP\\pushsvc");
	assert_true(f->system_free_bytes == 53687091200LL);
	assert_string_equal(f->system_root, "C:\\Windows");
	assert_string_equal(f->cpu, "AMD64");
	assert_true(ap_windows_supported(f, NULL, 0));
	ap_windows_facts_free(f);

	/* system_root and cpu are optional: an older script's output parses. */
	f = facts_of("server2008r2-bad.json");
	assert_null(f->system_root);
	assert_null(f->cpu);
	ap_windows_facts_free(f);
}

static void
test_rules_clean_and_bad(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_report *rep = NULL;
	struct ap_result *r = new_result(&rep);
	struct ap_windows_facts *f = facts_of("server2019-ok.json");
	const struct ap_finding *x;

	(void)state;
	assert_int_equal(ap_windows_rules_apply(f, NULL, r, ctx), AP_OK);
	assert_int_equal(r->n_findings, 0);
	ap_windows_facts_free(f);

	f = facts_of("server2008r2-bad.json");
	assert_int_equal(ap_windows_rules_apply(f, NULL, r, ctx), AP_OK);
	assert_non_null(x = finding(r, AP_ERR_OS_UNSUPPORTED));
	assert_non_null(strstr(x->evidence, "Windows Server 2008 R2"));
	assert_non_null(strstr(x->evidence, "Windows Server 2012 R2"));
	assert_non_null(x = finding(r, AP_ERR_INSUFFICIENT_SPACE));
	assert_non_null(strstr(x->evidence, "C: 200 MB free"));
	assert_non_null(strstr(x->evidence, "500 MB needed"));
	assert_non_null(x = finding(r, AP_ERR_RESTART_PENDING));
	assert_non_null(strstr(x->evidence, "CBS RebootPending, PendingFileRenameOperations"));
	assert_non_null(finding(r, AP_ERR_LOW_MEMORY));
	assert_non_null(x = finding(r, AP_ERR_WINDOWS_BAD_CREDENTIALS));
	assert_int_equal(x->severity, AP_SEV_WARNING);
	assert_non_null(strstr(x->evidence, "LocalAccountTokenFilterPolicy is 0"));
	ap_windows_facts_free(f);
	ap_report_free(rep);

	/* a local account with the policy at 1, on Windows 11: nothing */
	r = new_result(&rep);
	f = facts_of("win11-local-ok.json");
	assert_int_equal(ap_windows_rules_apply(f, NULL, r, ctx), AP_OK);
	assert_int_equal(r->n_findings, 0);
	/* the same as 32-bit is refused */
	f->is_64bit = 0;
	assert_false(ap_windows_supported(f, NULL, 0));
	ap_windows_facts_free(f);
	ap_report_free(rep);
	ap_ctx_free(ctx);
}

static void
test_parse_rejects(void **state)
{
	static const char *bad[] = {
		"",
		"not json",
		"[]",
		"{\"agentpush_windows_facts\":2}",
		/* build as a string */
		"{\"agentpush_windows_facts\":1,\"caption\":\"x\",\"version\":\"10\",\"build\":\"1\"}",
		/* fractional bytes */
		"{\"agentpush_windows_facts\":1,\"caption\":\"x\",\"version\":\"10\",\"build\":1,"
		"\"product_type\":3,\"arch\":null,\"is64\":true,\"system_drive\":\"C:\","
		"\"system_free\":1.5,\"mem_free\":1,\"mem_total\":1}",
		/* a control character in a string */
		"{\"agentpush_windows_facts\":1,\"caption\":\"x\\u0001\"}",
		/* reboot missing */
		"{\"agentpush_windows_facts\":1,\"caption\":\"x\",\"version\":\"10\",\"build\":1,"
		"\"product_type\":3,\"arch\":null,\"is64\":true,\"system_drive\":\"C:\","
		"\"system_free\":1,\"mem_free\":1,\"mem_total\":1,\"latfp\":null}",
	};
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_windows_facts *f = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ap_windows_facts_parse(bad[i], strlen(bad[i]), &f, ctx),
		                 AP_EPROTO);
		assert_null(f);
		assert_non_null(strstr(ap_ctx_errmsg(ctx), "Windows facts"));
	}
	ap_ctx_free(ctx);
}

static void
test_encoded_command(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	char *cmd = NULL, *big = NULL;
	unsigned char bin[64];
	size_t bl = 0;
	const char *b64;

	(void)state;
	assert_int_equal(ap_windows_powershell_command("dir é", &cmd, ctx), AP_OK);
	b64 = cmd + strlen("powershell -NoProfile -NonInteractive -EncodedCommand ");
	assert_int_equal(strncmp(cmd, "powershell -NoProfile -NonInteractive -EncodedCommand ",
	                         (size_t)(b64 - cmd)), 0);
	assert_int_equal(sodium_base642bin(bin, sizeof(bin), b64, strlen(b64), NULL, &bl,
	                                   NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(bl, 10);
	assert_memory_equal(bin, "d\0i\0r\0 \0\xe9\0", 10);
	free(cmd);
	assert_int_equal(ap_windows_powershell_command("\xff", &cmd, ctx), AP_EINVAL);
	big = malloc(4000);
	memset(big, 'a', 3999);
	big[3999] = '\0';
	assert_int_equal(ap_windows_powershell_command(big, &cmd, ctx), AP_EINVAL);
	assert_null(cmd);
	free(big);
	assert_int_equal(ap_windows_facts_command(&cmd, ctx), AP_OK);
	assert_true(strlen(cmd) <= 8191);
	free(cmd);
	ap_ctx_free(ctx);
}

/* The script inside an -EncodedCommand line, as UTF-8 (ASCII here). */
static char *
decode_script(const char *cmd)
{
	const char *b64 = strstr(cmd, "-EncodedCommand ");
	unsigned char *bin = NULL;
	char *out = NULL;
	size_t bl = 0, i;

	assert_non_null(b64);
	b64 += strlen("-EncodedCommand ");
	bin = malloc(strlen(b64));
	assert_int_equal(sodium_base642bin(bin, strlen(b64), b64, strlen(b64), NULL, &bl,
	                                   NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	out = calloc(1, bl / 2 + 1);
	for (i = 0; i + 1 < bl; i += 2)
		out[i / 2] = (char)bin[i]; /* the tests use ASCII only */
	free(bin);
	return out;
}

static void
test_install_scripts(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	const char *paths[] = { "C:\\Windows\\Temp\\it's.part", NULL, "C:\\Windows\\Temp\\a$b.exe" };
	char *cmd = NULL, *script = NULL;

	(void)state;
	/* A quote in a path is doubled: the literal never ends early. */
	assert_int_equal(ap_windows_hash_command("C:\\Windows\\Temp\\it's $(calc).part", &cmd, ctx), AP_OK);
	script = decode_script(cmd);
	assert_non_null(strstr(script, "Get-FileHash -Algorithm SHA256 -LiteralPath "
	                               "'C:\\Windows\\Temp\\it''s $(calc).part').Hash"));
	free(script);
	free(cmd);

	assert_int_equal(ap_windows_tail_command("C:\\Windows\\Temp\\setup.log", &cmd, ctx), AP_OK);
	script = decode_script(cmd);
	assert_non_null(strstr(script, "$p='C:\\Windows\\Temp\\setup.log';"));
	assert_non_null(strstr(script, "Min($f.Length," AP_WINDOWS_LOG_TAIL_STR ")"));
	free(script);
	free(cmd);

	/* NULL entries skipped; the prefix's wildcard characters escaped. */
	assert_int_equal(ap_windows_remove_command(paths, 3, "C:\\Windows\\Temp\\.x[1].part.",
	                                           &cmd, ctx), AP_OK);
	script = decode_script(cmd);
	assert_string_equal(script,
	    "$ErrorActionPreference='SilentlyContinue'"
	    ";Remove-Item -Force -Recurse -LiteralPath 'C:\\Windows\\Temp\\it''s.part'"
	    ";Remove-Item -Force -Recurse -LiteralPath 'C:\\Windows\\Temp\\a$b.exe'"
	    ";Remove-Item -Force -Path 'C:\\Windows\\Temp\\.x`[1`].part.*';exit 0");
	free(script);
	free(cmd);
	ap_ctx_free(ctx);
}

static void
test_parse_hash_and_b64(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	const char *up = "\r\n48A59C505F5DD3AD044B745B83581CCD98A09BF0426A50CBA03658FF557E89C9\r\n";
	char hex[65], *bin = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(ap_windows_parse_hash(up, strlen(up), hex), 0);
	assert_string_equal(hex, "48a59c505f5dd3ad044b745b83581ccd98a09bf0426a50cba03658ff557e89c9");
	/* 63 digits, 65 digits, a stray word, NUL inside, nothing */
	assert_int_equal(ap_windows_parse_hash(up, strlen(up) - 3, hex), -1);
	assert_string_equal(hex, "");
	assert_int_equal(ap_windows_parse_hash("48A59C505F5DD3AD044B745B83581CCD98A09BF0426A50CBA03658FF557E89C90", 65, hex), -1);
	assert_int_equal(ap_windows_parse_hash("48A59C505F5DD3AD044B745B83581CCD98A09BF0426A50CBA03658FF557E89C9 ok", 67, hex), -1);
	assert_int_equal(ap_windows_parse_hash("48A59C505F5DD3AD044B745B83581CCD98A09BF0426A50CBA03658FF557E89C9\0", 65, hex), -1);
	assert_int_equal(ap_windows_parse_hash(NULL, 0, hex), -1);
	assert_int_equal(ap_windows_parse_hash("", 0, hex), -1);

	assert_int_equal(ap_windows_parse_b64("aGVs\r\nbG8=\r\n", 12, &bin, &n, ctx), AP_OK);
	assert_int_equal(n, 5);
	assert_string_equal(bin, "hello");
	free(bin);
	assert_int_equal(ap_windows_parse_b64("", 0, &bin, &n, ctx), AP_OK);
	assert_int_equal(n, 0);
	free(bin);
	assert_int_equal(ap_windows_parse_b64("not base64!", 11, &bin, &n, ctx), AP_EPROTO);
	assert_null(bin);
	ap_ctx_free(ctx);
}

static void
test_vss_scan(void **state)
{
	static const char u16[] = "V\0S\0S\0 \0e\0r\0r\0o\0r\0 \0""0\0x\0""8\0""0\0""0\0""7\0""0\0""4\0""1\0F\0\r\0\n\0";
	long v = 0;
	const char *l1 = "ok\nVSS provider install failed, VSS error -2147023170\n";
	const char *l2 = "line\r\n[VSS] InstallVssProvider returned error code: 7\r\n";
	const char *l3 = "error -2147023170 but no provider word here\n";

	(void)state;
	assert_int_equal(ap_windows_find_vss_error(l1, strlen(l1), &v), 1);
	assert_int_equal(v, -2147023170L);
	assert_int_equal(ap_windows_find_vss_error(l2, strlen(l2), &v), 1);
	assert_int_equal(v, 7);
	assert_int_equal(ap_windows_find_vss_error(l3, strlen(l3), &v), 0);
	assert_int_equal(ap_windows_find_vss_error(u16, sizeof(u16) - 1, &v), 1);
	assert_int_equal(v, -2147023841L);
}

static void
test_installer_result(void **state)
{
	static const struct {
		int exit_code;
		const char *log;
		int id;
	} cases[] = {
		{ 511, "VSS error -2147023170\n", AP_ERR_VSS_ANTIVIRUS_BLOCKED },
		{ 511, "VSS error 0x800706BE\n", AP_ERR_VSS_ANTIVIRUS_BLOCKED },
		{ 511, "VSS provider: error 7\n", AP_ERR_VSS_OUT_OF_MEMORY },
		{ 517, "VSS error -2147023824\n", AP_ERR_VSS_MARKED_FOR_DELETION },
		{ 512, "VSS error 0x8007041F\n", AP_ERR_VSS_SERVICE_DB_LOCKED },
		{ 806, "cscript access denied\n", AP_ERR_VSS_CSCRIPT_DENIED },
		{ 802, "VSS error 0x8004E00F\n", AP_ERR_VSS_COM_CATALOG },
		{ 515, "something\n", AP_ERR_VSS_OTHER },
		{ 3010, "", AP_ERR_INSTALLED_RESTART_RECOMMENDED },
		{ 1641, "", AP_ERR_INSTALLED_RESTART_NEEDED },
		{ 1603, "fatal error\n", AP_ERR_INSTALL_FAILED },
		{ 99, "", AP_ERR_INSTALL_PREREQ_FAILED },
		{ 50, "", AP_ERR_VSS_OUT_OF_MEMORY },
		{ 62, "", AP_ERR_RESTART_PENDING },
		{ 0, "VSS error 7", 0 },
	};
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_report *rep = NULL;
	struct ap_result *r = NULL;
	size_t i;
	int id = -1;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = new_result(&rep);
		assert_int_equal(ap_windows_installer_result(cases[i].exit_code,
		                 cases[i].log, strlen(cases[i].log),
		                 "C:\\ProgramData\\ASRSetupLogs\\ASRUnifiedAgentInstaller.log",
		                 r, &id, ctx), AP_OK);
		if (id != cases[i].id)
			fail_msg("exit %d log \"%s\": id %d, expected %d", cases[i].exit_code,
			         cases[i].log, id, cases[i].id);
		assert_int_equal(r->n_findings, cases[i].id != 0 ? 1 : 0);
		if (cases[i].id != 0) {
			char want[32];

			snprintf(want, sizeof(want), "installer exit code %d", cases[i].exit_code);
			assert_non_null(strstr(r->findings[0].evidence, want));
			assert_non_null(strstr(r->findings[0].evidence, "ASRUnifiedAgentInstaller.log"));
		}
		ap_report_free(rep);
	}
	ap_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_rules_clean_and_bad),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_encoded_command),
		cmocka_unit_test(test_install_scripts),
		cmocka_unit_test(test_parse_hash_and_b64),
		cmocka_unit_test(test_vss_scan),
		cmocka_unit_test(test_installer_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
