/*
 * test_manifest.c - the package manifest: parsing, validation, commands,
 * exit codes, log excerpts and version comparison.
 *
 * Each validation case starts from a good manifest (Linux and Windows
 * sections over two small payload files written to a temporary folder),
 * changes one field, and checks the one-line error names the JSON path and
 * the problem.  The sample package built by agent/meson.build is opened as
 * a folder and as a tarball.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentpush/catalog.h"
#include "agentpush/package.h"

static const char good_json[] =
	"{\"format\":1,\"name\":\"agentpush-agent\",\"version\":\"1.2.3\","
	"\"linux\":{\"payload\":\"lin.tar.gz\",\"sha256\":\"\",\"size\":0,"
	"\"architectures\":[\"x86_64\",\"aarch64\"],\"staging_dir\":\"/var/tmp\","
	"\"install_dir\":\"/opt/agentpush-agent\","
	"\"space_kb\":{\"staging\":100,\"install\":200},"
	"\"commands\":{\"install\":\"sh {workdir}/install.sh --log {log} {install_dir} < {payload}\","
	"\"uninstall\":\"sh {install_dir}/lib/uninstall.sh {install_dir}\","
	"\"verify\":\"sh {install_dir}/lib/verify.sh {install_dir} {version}\","
	"\"version\":\"cat {install_dir}/VERSION && echo {{literal}}\"},"
	"\"log_path\":\"/var/log/agentpush-agent-install.log\","
	"\"exit_codes\":{\"0\":{\"meaning\":\"ok\",\"outcome\":\"ok\",\"error\":null,\"reboot\":false},"
	"\"97\":{\"meaning\":\"failed\",\"outcome\":\"failed\",\"error\":\"INSTALL_FAILED\",\"reboot\":false},"
	"\"99\":{\"meaning\":\"prereq\",\"outcome\":\"failed\",\"error\":\"INSTALL_PREREQ_FAILED\",\"reboot\":false},"
	"\"119\":{\"meaning\":\"not root\",\"outcome\":\"failed\",\"error\":95108,\"reboot\":false}},"
	"\"capabilities\":{\"boot_on_separate_disk\":true,\"root_multi_disk\":false,\"lvm_root\":true}},"
	"\"windows\":{\"payload\":\"win.msi\",\"sha256\":\"\",\"size\":0,"
	"\"architectures\":[\"x64\"],\"install_dir\":\"C:\\\\Program Files\\\\agentpush\\\\\","
	"\"space_kb\":{\"staging\":100,\"install\":500},"
	"\"commands\":{\"install\":\"msiexec /i {payload} /qn /l*v {log} INSTALLDIR={install_dir}\","
	"\"uninstall\":\"msiexec /x {payload} /qn\",\"verify\":\"sc query agentpush\","
	"\"version\":\"type {install_dir}VERSION\"},"
	"\"log_path\":\"C:\\\\Windows\\\\Temp\\\\agentpush-install.log\","
	"\"exit_codes\":{\"0\":{\"meaning\":\"ok\",\"outcome\":\"ok\",\"reboot\":false},"
	"\"3010\":{\"meaning\":\"restart recommended\",\"outcome\":\"warning\",\"error\":\"INSTALLED_RESTART_RECOMMENDED\",\"reboot\":true},"
	"\"1641\":{\"meaning\":\"restart started\",\"outcome\":\"ok\",\"error\":\"INSTALLED_RESTART_NEEDED\",\"reboot\":true},"
	"\"-1\":{\"meaning\":\"crashed\",\"outcome\":\"failed\",\"error\":\"INSTALL_FAILED\",\"reboot\":false}}}}";

static const char lin_payload[] = "linux payload bytes\n";
static const char win_payload[] = "windows payload bytes\n";

struct fx {
	char dir[256];
	cJSON *man;
	struct ap_ctx *ctx;
	struct ap_package *pkg;
};

static void
write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[512];
	FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void
set_sha(cJSON *sec, const char *data, size_t len)
{
	unsigned char md[crypto_hash_sha256_BYTES];
	char hex[65];

	crypto_hash_sha256(md, (const unsigned char *)data, len);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	cJSON_ReplaceItemInObjectCaseSensitive(sec, "sha256", cJSON_CreateString(hex));
	cJSON_ReplaceItemInObjectCaseSensitive(sec, "size", cJSON_CreateNumber((double)len));
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "%s/ap-pkg-test-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	write_file(fx->dir, "lin.tar.gz", lin_payload, strlen(lin_payload));
	write_file(fx->dir, "win.msi", win_payload, strlen(win_payload));
	fx->man = cJSON_Parse(good_json);
	assert_non_null(fx->man);
	set_sha(cJSON_GetObjectItem(fx->man, "linux"), lin_payload, strlen(lin_payload));
	set_sha(cJSON_GetObjectItem(fx->man, "windows"), win_payload, strlen(win_payload));
	fx->ctx = ap_ctx_new();
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char path[512];

	ap_package_free(fx->pkg);
	cJSON_Delete(fx->man);
	ap_ctx_free(fx->ctx);
	snprintf(path, sizeof(path), "%s/manifest.json", fx->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lin.tar.gz", fx->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/win.msi", fx->dir);
	unlink(path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Writes fx->man and opens the folder; returns ap_package_open()'s code. */
static int
open_fx(struct fx *fx)
{
	char *text = cJSON_Print(fx->man);

	assert_non_null(text);
	write_file(fx->dir, "manifest.json", text, strlen(text));
	free(text);
	ap_package_free(fx->pkg);
	fx->pkg = NULL;
	return ap_package_open(fx->dir, &fx->pkg, fx->ctx);
}

static void
good_manifest_opens(void **state)
{
	struct fx *fx = *state;
	struct ap_pkg_caps caps;
	size_t n = 0;

	assert_int_equal(open_fx(fx), 0);
	assert_string_equal(ap_package_name(fx->pkg), "agentpush-agent");
	assert_string_equal(ap_package_version(fx->pkg), "1.2.3");
	assert_true(ap_package_has_os(fx->pkg, AP_OS_LINUX));
	assert_true(ap_package_has_os(fx->pkg, AP_OS_WINDOWS));
	assert_string_equal(ap_package_payload_name(fx->pkg, AP_OS_LINUX), "lin.tar.gz");
	assert_int_equal(ap_package_payload_size(fx->pkg, AP_OS_LINUX), strlen(lin_payload));
	assert_string_equal(ap_package_install_dir(fx->pkg, AP_OS_LINUX), "/opt/agentpush-agent");
	assert_string_equal(ap_package_staging_dir(fx->pkg, AP_OS_WINDOWS), "C:\\Windows\\Temp");
	assert_int_equal(ap_package_space_install_kb(fx->pkg, AP_OS_WINDOWS), 500);
	assert_int_equal(ap_package_space_staging_kb(fx->pkg, AP_OS_LINUX), 100);
	assert_non_null(ap_package_archs(fx->pkg, AP_OS_LINUX, &n));
	assert_int_equal(n, 2);
	assert_true(ap_package_supports_arch(fx->pkg, AP_OS_LINUX, "x86_64"));
	assert_true(ap_package_supports_arch(fx->pkg, AP_OS_LINUX, "arm64"));
	assert_true(ap_package_supports_arch(fx->pkg, AP_OS_WINDOWS, "AMD64"));
	assert_false(ap_package_supports_arch(fx->pkg, AP_OS_WINDOWS, "x86"));
	caps = ap_package_caps(fx->pkg);
	assert_true(caps.boot_on_separate_disk);
	assert_false(caps.root_multi_disk);
	assert_true(caps.lvm_root);
	assert_true(caps.kernel_driver); /* absent: assume a driver (strict) */
	/* absent: the default, generous because installers are slow */
	assert_int_equal(ap_package_install_timeout_s(fx->pkg, AP_OS_LINUX),
	                 AP_PACKAGE_INSTALL_TIMEOUT_S);
	ap_package_free(fx->pkg);
	fx->pkg = NULL;
	cJSON_AddNumberToObject(cJSON_GetObjectItem(fx->man, "windows"), "install_timeout", 600);
	assert_int_equal(open_fx(fx), 0);
	assert_int_equal(ap_package_install_timeout_s(fx->pkg, AP_OS_WINDOWS), 600);
	assert_int_equal(ap_package_install_timeout_s(fx->pkg, AP_OS_LINUX),
	                 AP_PACKAGE_INSTALL_TIMEOUT_S);
}

/* One field changed: path "a.b.c", value JSON text or NULL to delete. */
struct bad_case {
	const char *path;
	const char *value;
	const char *want; /* substring of the error */
};

static const struct bad_case bad_cases[] = {
	{ "format", NULL, "manifest.json: format: missing" },
	{ "format", "2", "format: version 2 is not supported" },
	{ "format", "\"1\"", "format: must be a whole number" },
	{ "name", NULL, "name: missing" },
	{ "name", "\"Agent Push\"", "name: must be lowercase" },
	{ "version", "\"1.x\"", "version: must be 1 to 4 dot-separated numbers" },
	{ "version", "3", "version: must be a string" },
	{ "extra", "1", "extra: unknown field" },
	{ "linux", "[]", "linux: must be an object" },
	{ "linux.instal_dir", "\"/opt\"", "linux.instal_dir: unknown field" },
	{ "linux.payload", NULL, "linux.payload: missing" },
	{ "linux.payload", "\"../etc/passwd\"", "linux.payload: must be a plain file name" },
	{ "linux.payload", "\"missing.tar.gz\"", "linux.payload: cannot open" },
	{ "linux.sha256", "\"ABC\"", "linux.sha256: must be 64 lowercase hex digits" },
	{ "linux.sha256", "\"0000000000000000000000000000000000000000000000000000000000000000\"",
	  "linux.sha256: lin.tar.gz does not match" },
	{ "linux.size", "5", "linux.size: 5 bytes declared" },
	{ "linux.size", "1.5", "linux.size: must be a whole number" },
	{ "linux.size", "0", "linux.size: must be between 1" },
	{ "linux.architectures", "[]", "linux.architectures: must be a non-empty array" },
	{ "linux.architectures", "[\"x64\"]", "linux.architectures: unknown architecture \"x64\"" },
	{ "linux.architectures", "[\"x86_64\",\"x86_64\"]", "listed twice" },
	{ "linux.install_dir", "\"opt/agent\"", "linux.install_dir: must be an absolute path" },
	{ "linux.install_dir", NULL, "linux.install_dir: missing" },
	{ "linux.install_dir", "\"/opt/../etc\"", "linux.install_dir: must not contain \"..\"" },
	{ "linux.install_dir", "\"/opt/a\\nb\"", "linux.install_dir: must be one line" },
	{ "linux.staging_dir", "\"tmp\"", "linux.staging_dir: must be an absolute path" },
	{ "linux.log_path", "\"\"", "linux.log_path: must not be empty" },
	{ "linux.space_kb", NULL, "linux.space_kb: missing" },
	{ "linux.space_kb.install", "-1", "linux.space_kb.install: must be between" },
	{ "linux.space_kb.disk", "1", "linux.space_kb.disk: unknown field" },
	{ "linux.commands.verify", NULL, "linux.commands.verify: missing" },
	{ "linux.commands.install", "\"run {pyload}\"", "linux.commands.install: unknown placeholder" },
	{ "linux.commands.install", "\"run {payload\"", "linux.commands.install: unterminated '{'" },
	{ "linux.commands.install", "\"run }\"", "linux.commands.install: unmatched '}'" },
	{ "linux.commands.reboot", "\"x\"", "linux.commands.reboot: unknown field" },
	{ "linux.exit_codes", "{}", "linux.exit_codes: must list at least exit code 0" },
	{ "linux.exit_codes.0", NULL, "linux.exit_codes: must list exit code 0" },
	{ "linux.exit_codes.0.outcome", "\"failed\"", "linux.exit_codes.0: exit code 0 must have the outcome \"ok\"" },
	{ "linux.exit_codes.97.outcome", "\"broken\"", "linux.exit_codes.97.outcome: must be \"ok\", \"warning\" or \"failed\"" },
	{ "linux.exit_codes.97.error", "\"NO_SUCH_ERROR\"", "linux.exit_codes.97.error: \"NO_SUCH_ERROR\" is not an ErrorID name" },
	{ "linux.exit_codes.97.error", "12345", "linux.exit_codes.97.error: 12345 is not an ErrorID" },
	{ "linux.exit_codes.97.error", NULL, "linux.exit_codes.97.error: required when the outcome is not \"ok\"" },
	{ "linux.exit_codes.97.reboot", "\"no\"", "linux.exit_codes.97.reboot: must be true or false" },
	{ "linux.exit_codes.97.meaning", NULL, "linux.exit_codes.97.meaning: missing" },
	{ "linux.exit_codes.097", "{}", "linux.exit_codes.097: key must be a decimal exit code" },
	{ "linux.exit_codes.ok", "{}", "linux.exit_codes.ok: key must be a decimal exit code" },
	{ "linux.capabilities", NULL, "linux.capabilities: missing" },
	{ "linux.capabilities.lvm_root", "1", "linux.capabilities.lvm_root: must be true or false" },
	{ "linux.capabilities.kernel_driver", "\"no\"", "linux.capabilities.kernel_driver: must be true or false" },
	{ "windows.capabilities", "{}", "windows.capabilities: unknown field" },
	{ "windows.install_dir", "\"/opt/x\"", "windows.install_dir: must be an absolute path like C:\\dir" },
	{ "windows.install_dir", "\"C:\\\\%TEMP%\"", "windows.install_dir: must not contain" },
	{ "windows.architectures", "[\"x86_64\"]", "windows.architectures: unknown architecture" },
	{ "windows.install_timeout", "0", "windows.install_timeout: must be between 1" },
	{ "windows.install_timeout", "86401", "windows.install_timeout: must be between 1" },
	{ "linux.install_timeout", "\"600\"", "linux.install_timeout: must be a whole number" },
	{ NULL, NULL, NULL }
};

/* Applies one bad_case to man. */
static void
apply_case(cJSON *man, const struct bad_case *c)
{
	char path[128], *key = NULL, *dot = NULL;
	cJSON *obj = man, *val = NULL;

	snprintf(path, sizeof(path), "%s", c->path);
	key = path;
	/* Exit-code keys like "0" are object keys too, so plain descent works. */
	while ((dot = strchr(key, '.')) != NULL) {
		*dot = '\0';
		obj = cJSON_GetObjectItemCaseSensitive(obj, key);
		assert_non_null(obj);
		key = dot + 1;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	if (c->value != NULL) {
		val = cJSON_Parse(c->value);
		assert_non_null(val);
		cJSON_AddItemToObject(obj, key, val);
	}
}

static void
each_bad_field_has_its_error(void **state)
{
	struct fx *fx = *state;
	const struct bad_case *c = NULL;
	cJSON *copy = NULL;
	int r;

	for (c = bad_cases; c->path != NULL; c++) {
		copy = fx->man;
		fx->man = cJSON_Duplicate(copy, 1);
		apply_case(fx->man, c);
		r = open_fx(fx);
		if (r == 0 || strstr(ap_ctx_errmsg(fx->ctx), c->want) == NULL ||
		    strchr(ap_ctx_errmsg(fx->ctx), '\n') != NULL)
			fail_msg("case %s=%s: rc %d, error \"%s\", wanted \"%s\"", c->path,
			         c->value ? c->value : "(deleted)", r, ap_ctx_errmsg(fx->ctx), c->want);
		assert_null(fx->pkg);
		/* Every error names the file. */
		assert_non_null(strstr(ap_ctx_errmsg(fx->ctx), "manifest.json"));
		cJSON_Delete(fx->man);
		fx->man = copy;
	}
}

static void
bad_json_and_paths(void **state)
{
	struct fx *fx = *state;

	write_file(fx->dir, "manifest.json", "{\n \"format\": 1,\n oops }", 23);
	assert_int_equal(ap_package_open(fx->dir, &fx->pkg, fx->ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(fx->ctx), "invalid JSON at line 3"));
	assert_int_equal(ap_package_open("/nonexistent/pkg", &fx->pkg, fx->ctx), AP_ENOTFOUND);
	assert_int_equal(ap_package_open("/etc/hostname", &fx->pkg, fx->ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(fx->ctx), "must be a folder or a .tar.gz"));
	assert_null(fx->pkg);
}

static void
sha_mismatch_has_error_id(void **state)
{
	struct fx *fx = *state;

	write_file(fx->dir, "lin.tar.gz", "LINUX payload bytes\n", strlen(lin_payload));
	assert_int_equal(open_fx(fx), AP_EINVAL);
	assert_int_equal(ap_ctx_error_id(fx->ctx), AP_ERR_COPY_CHECKSUM_MISMATCH);
	assert_non_null(strstr(ap_ctx_errmsg(fx->ctx), "linux.sha256"));
}

static void
placeholders_are_quoted(void **state)
{
	struct fx *fx = *state;
	struct ap_pkg_vars vars = { 0 };
	char *cmd = NULL;

	assert_int_equal(open_fx(fx), 0);
	assert_int_equal(ap_package_command(fx->pkg, AP_OS_LINUX, AP_PKG_CMD_INSTALL, &cmd, fx->ctx), 0);
	assert_string_equal(cmd, "sh '/var/tmp/agentpush-agent-1.2.3.d'/install.sh --log "
	                    "'/var/log/agentpush-agent-install.log' '/opt/agentpush-agent' < '/var/tmp/lin.tar.gz'");
	free(cmd);
	assert_int_equal(ap_package_command(fx->pkg, AP_OS_LINUX, AP_PKG_CMD_VERSION, &cmd, fx->ctx), 0);
	assert_string_equal(cmd, "cat '/opt/agentpush-agent'/VERSION && echo {literal}");
	free(cmd);
	/* Quotes, spaces and command substitutions stay inert. */
	vars.install_dir = "/opt/it's $(reboot) `id` dir";
	assert_int_equal(ap_package_command_vars(fx->pkg, AP_OS_LINUX, AP_PKG_CMD_VERIFY, &vars, &cmd, fx->ctx), 0);
	assert_string_equal(cmd, "sh '/opt/it'\\''s $(reboot) `id` dir'/lib/verify.sh "
	                    "'/opt/it'\\''s $(reboot) `id` dir' '1.2.3'");
	free(cmd);
	/* Windows: double quotes, trailing backslash doubled. */
	assert_int_equal(ap_package_command(fx->pkg, AP_OS_WINDOWS, AP_PKG_CMD_INSTALL, &cmd, fx->ctx), 0);
	assert_string_equal(cmd, "msiexec /i \"C:\\Windows\\Temp\\win.msi\" /qn /l*v "
	                    "\"C:\\Windows\\Temp\\agentpush-install.log\" INSTALLDIR=\"C:\\Program Files\\agentpush\\\\\"");
	free(cmd);
	vars.install_dir = "C:\\a\"b";
	assert_int_equal(ap_package_command_vars(fx->pkg, AP_OS_WINDOWS, AP_PKG_CMD_INSTALL, &vars, &cmd, fx->ctx), AP_EINVAL);
	assert_null(cmd);
	assert_non_null(strstr(ap_ctx_errmsg(fx->ctx), "{install_dir}: cannot be quoted for cmd.exe"));
	vars.install_dir = "C:\\100%";
	assert_int_equal(ap_package_command_vars(fx->pkg, AP_OS_WINDOWS, AP_PKG_CMD_INSTALL, &vars, &cmd, fx->ctx), AP_EINVAL);
}

static void
exit_codes_map(void **state)
{
	struct fx *fx = *state;
	struct ap_pkg_exit e;

	assert_int_equal(open_fx(fx), 0);
	assert_int_equal(ap_package_map_exit(fx->pkg, AP_OS_LINUX, 0, &e), 0);
	assert_int_equal(e.outcome, AP_PKG_OK);
	assert_int_equal(e.error_id, 0);
	assert_true(e.known);
	assert_int_equal(ap_package_map_exit(fx->pkg, AP_OS_LINUX, 99, &e), 0);
	assert_int_equal(e.outcome, AP_PKG_FAILED);
	assert_int_equal(e.error_id, AP_ERR_INSTALL_PREREQ_FAILED);
	assert_string_equal(e.meaning, "prereq");
	assert_int_equal(ap_package_map_exit(fx->pkg, AP_OS_LINUX, 119, &e), 0);
	assert_int_equal(e.error_id, 95108);
	assert_int_equal(ap_package_map_exit(fx->pkg, AP_OS_LINUX, 42, &e), 0);
	assert_int_equal(e.outcome, AP_PKG_FAILED);
	assert_int_equal(e.error_id, AP_ERR_INSTALL_FAILED);
	assert_false(e.known);
	assert_int_equal(ap_package_map_exit(fx->pkg, AP_OS_WINDOWS, 3010, &e), 0);
	assert_int_equal(e.outcome, AP_PKG_WARNING);
	assert_true(e.reboot);
	assert_int_equal(e.error_id, AP_ERR_INSTALLED_RESTART_RECOMMENDED);
	assert_int_equal(ap_package_map_exit(fx->pkg, AP_OS_WINDOWS, -1, &e), 0);
	assert_int_equal(e.error_id, AP_ERR_INSTALL_FAILED);
	assert_string_equal(ap_package_outcome_name(e.outcome), "failed");
	/* No section: nothing to map. */
	cJSON_DeleteItemFromObject(fx->man, "windows");
	assert_int_equal(open_fx(fx), 0);
	assert_false(ap_package_has_os(fx->pkg, AP_OS_WINDOWS));
	assert_int_equal(ap_package_map_exit(fx->pkg, AP_OS_WINDOWS, 0, &e), AP_EINVAL);
	assert_null(ap_package_install_dir(fx->pkg, AP_OS_WINDOWS));
}

static void
sample_package_dir_and_tarball(void **state)
{
	struct fx *fx = *state;
	const char *build = getenv("AP_BUILD_ROOT");
	char path[1024];
	struct ap_pkg_exit e;
	char *cmd = NULL;

	assert_non_null(build);
	snprintf(path, sizeof(path), "%s/agent/package", build);
	assert_int_equal(ap_package_open(path, &fx->pkg, fx->ctx), 0);
	assert_string_equal(ap_package_name(fx->pkg), "agentpush-agent");
	assert_false(ap_package_has_os(fx->pkg, AP_OS_WINDOWS));
	assert_int_equal(ap_package_map_exit(fx->pkg, AP_OS_LINUX, 119, &e), 0);
	assert_int_equal(e.error_id, AP_ERR_LINUX_NOT_ROOT);
	snprintf(path, sizeof(path), "%s/agent/agentpush-agent-%s.tar.gz", build,
	         ap_package_version(fx->pkg));
	ap_package_free(fx->pkg);
	fx->pkg = NULL;
	assert_int_equal(ap_package_open(path, &fx->pkg, fx->ctx), 0);
	assert_int_equal(access(ap_package_payload_path(fx->pkg, AP_OS_LINUX), R_OK), 0);
	assert_int_equal(ap_package_command(fx->pkg, AP_OS_LINUX, AP_PKG_CMD_VERSION, &cmd, fx->ctx), 0);
	assert_string_equal(cmd, "cat '/opt/agentpush-agent'/VERSION");
	free(cmd);
	/* The extracted copy goes away with the package. */
	snprintf(path, sizeof(path), "%s", ap_package_payload_path(fx->pkg, AP_OS_LINUX));
	ap_package_free(fx->pkg);
	fx->pkg = NULL;
	assert_int_not_equal(access(path, F_OK), 0);
	/* Not a tarball. */
	snprintf(path, sizeof(path), "%s/bad.tar.gz", fx->dir);
	write_file(fx->dir, "bad.tar.gz", "not gzip", 8);
	assert_int_equal(ap_package_open(path, &fx->pkg, fx->ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(fx->ctx), "bad.tar.gz"));
	unlink(path);
}

static void
log_excerpt_picks_errors(void **state)
{
	static const char log[] =
		"2024 starting\r\nstep 1 ok\nERROR: cannot create /opt/x: Read-only file system\n"
		"\tcleanup\n\x01\xff binary\nInstall failed (exit 97)\n\n";
	static const char plain[] = "a\nb\nc\nd\ne\nf\ng\n";
	static const char utf16[] = "\xff\xfe" "E\0r\0r\0o\0r\0 \0x\0\n\0";
	char *ex = NULL;
	char big[5000];

	(void)state;
	assert_int_equal(ap_package_log_excerpt(log, sizeof(log) - 1, &ex), 0);
	assert_string_equal(ex, "ERROR: cannot create /opt/x: Read-only file system\nInstall failed (exit 97)");
	free(ex);
	assert_int_equal(ap_package_log_excerpt(plain, sizeof(plain) - 1, &ex), 0);
	assert_string_equal(ex, "c\nd\ne\nf\ng");
	free(ex);
	assert_int_equal(ap_package_log_excerpt(utf16, sizeof(utf16) - 1, &ex), 0);
	assert_string_equal(ex, "Error x");
	free(ex);
	assert_int_equal(ap_package_log_excerpt(NULL, 0, &ex), 0);
	assert_string_equal(ex, "");
	free(ex);
	memset(big, 'E', sizeof(big)); /* one long line, no newline: cut to 200 */
	assert_int_equal(ap_package_log_excerpt(big, sizeof(big), &ex), 0);
	assert_int_equal(strlen(ex), 200);
	free(ex);
}

static void
version_compare(void **state)
{
	(void)state;
	assert_true(ap_version_cmp("1.2.10", "1.2.9") > 0);
	assert_true(ap_version_cmp("1.2.9", "1.2.10") < 0);
	assert_int_equal(ap_version_cmp("1.2", "1.2.0"), 0);
	assert_int_equal(ap_version_cmp("01.2", "1.2"), 0);
	assert_true(ap_version_cmp("2", "1.99.99") > 0);
	assert_true(ap_version_cmp("1.0rc1", "1.0rc2") < 0);
	assert_true(ap_version_cmp("1.0", "1.0rc1") > 0);
	assert_true(ap_version_cmp(NULL, "1") < 0);
	assert_int_equal(ap_version_cmp("9.60.1.7", "9.60.1.7"), 0);
	assert_true(ap_version_cmp("10.0", "9.99") > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(good_manifest_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(each_bad_field_has_its_error, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_json_and_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(sha_mismatch_has_error_id, setup, teardown),
		cmocka_unit_test_setup_teardown(placeholders_are_quoted, setup, teardown),
		cmocka_unit_test_setup_teardown(exit_codes_map, setup, teardown),
		cmocka_unit_test_setup_teardown(sample_package_dir_and_tarball, setup, teardown),
		cmocka_unit_test(log_excerpt_picks_errors),
		cmocka_unit_test(version_compare),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("package", tests, NULL, NULL);
}
