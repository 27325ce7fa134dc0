/*
 * test_linux.c - the Linux facts parser, rules and support matrix.
 *
 * Fact files under facts/ stand for layouts the test harness cannot build
 * (LVM across disks, multipath, Secure Boot, old distributions); each case
 * lists exactly the findings it must give.  The last tests run the real probe
 * with dash on this machine and parse what it prints.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentpush/linux.h"
#include "agentpush/report.h"

extern char **environ;

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	if (fp == NULL)
		return NULL;
	buf = malloc(1024 * 1024 + 1);
	if (buf != NULL) {
		n = fread(buf, 1, 1024 * 1024, fp);
		buf[n] = '\0';
	}
	fclose(fp);
	*len = n;
	return buf;
}

static struct ap_linux_facts *
load_facts(const char *name)
{
	char path[1024];
	const char *root = getenv("AP_SOURCE_ROOT");
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_linux_facts *f = NULL;
	char *text = NULL;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/tests/unit/linux/facts/%s.facts",
	         root != NULL ? root : ".", name);
	text = slurp(path, &len);
	if (text == NULL)
		fail_msg("cannot read %s", path);
	r = ap_linux_facts_parse(text, len, &f, ctx);
	if (r != AP_OK)
		fail_msg("%s: %s", name, ap_ctx_errmsg(ctx));
	free(text);
	ap_ctx_free(ctx);
	return f;
}

struct want {
	int id;
	enum ap_severity sev;
};

struct rcase {
	const char *file;
	unsigned caps;
	int password;
	struct want w[8];
	size_t n;
};

static const struct rcase cases[] = {
	{"debian12-healthy", 0, 0, {{0, 0}}, 0},
	{"staging-not-writable", 0, 0, {{AP_ERR_COPY_FAILED, AP_SEV_ERROR}}, 1},
	{"no-separate-boot", 0, 0, {{0, 0}}, 0},
	{"multipath-root", 0, 0, {{0, 0}}, 0},
	{"rhel-5.11-release", 0, 0, {{0, 0}}, 0},
	{"lvm-root-two-disks", 0, 0,
	 {{AP_ERR_LINUX_ROOT_MULTIPLE_DISKS, AP_SEV_ERROR},
	  {AP_ERR_LINUX_LVM_ROOT, AP_SEV_ERROR}}, 2},
	{"lvm-root-two-disks", AP_LINUX_CAP_ROOT_MULTI_DISK | AP_LINUX_CAP_LVM_ROOT, 0,
	 {{AP_ERR_LINUX_ROOT_MULTIPLE_DISKS, AP_SEV_WARNING},
	  {AP_ERR_LINUX_LVM_ROOT, AP_SEV_WARNING}}, 2},
	{"efi-secureboot", 0, 0, {{AP_ERR_SECURE_BOOT_ENABLED, AP_SEV_ERROR}}, 1},
	{"efi-secureboot", AP_LINUX_CAP_NO_KERNEL_DRIVER, 0,
	 {{AP_ERR_SECURE_BOOT_ENABLED, AP_SEV_WARNING}}, 1},
	{"boot-other-disk", 0, 0, {{AP_ERR_LINUX_BOOT_SYSTEM_SPLIT, AP_SEV_ERROR}}, 1},
	{"boot-other-disk", AP_LINUX_CAP_BOOT_SEPARATE_DISK, 0,
	 {{AP_ERR_LINUX_BOOT_SYSTEM_SPLIT, AP_SEV_WARNING}}, 1},
	{"boot-lvm-spanning", 0, 0,
	 {{AP_ERR_LINUX_ROOT_MULTIPLE_DISKS, AP_SEV_ERROR},
	  {AP_ERR_LINUX_LVM_ROOT, AP_SEV_ERROR},
	  {AP_ERR_LINUX_BOOT_LVM_SPANNED, AP_SEV_ERROR}}, 3},
	{"boot-md-raid1", 0, 0, {{AP_ERR_LINUX_MULTIPLE_BOOT_DISKS, AP_SEV_ERROR}}, 1},
	{"grub-root-sda", 0, 0, {{AP_ERR_LINUX_DEVICE_NAMES, AP_SEV_ERROR}}, 1},
	{"fstab-sdb", 0, 0, {{AP_ERR_LINUX_DEVICE_NAMES, AP_SEV_ERROR}}, 1},
	{"low-space", 0, 0,
	 {{AP_ERR_INSUFFICIENT_SPACE, AP_SEV_ERROR},
	  {AP_ERR_INSUFFICIENT_SPACE, AP_SEV_ERROR}}, 2},
	{"low-space-shared", 0, 0, {{AP_ERR_INSUFFICIENT_SPACE, AP_SEV_ERROR}}, 1},
	{"centos-5.1", 0, 0, {{AP_ERR_OS_UNSUPPORTED, AP_SEV_ERROR}}, 1},
	{"ubuntu-13.04", 0, 0, {{AP_ERR_OS_UNSUPPORTED, AP_SEV_ERROR}}, 1},
	{"debian12-i686", 0, 0, {{AP_ERR_OS_UNSUPPORTED, AP_SEV_ERROR}}, 1},
	{"rhel7-custom-kernel", 0, 0, {{AP_ERR_OS_UNSUPPORTED, AP_SEV_ERROR}}, 1},
	{"pending-reboot", 0, 0, {{AP_ERR_RESTART_PENDING, AP_SEV_ERROR}}, 1},
	{"user-no-sudo", 0, 1, {{AP_ERR_LINUX_BAD_CREDENTIALS, AP_SEV_ERROR}}, 1},
	{"user-sudo-password", 0, 0, {{AP_ERR_LINUX_BAD_CREDENTIALS, AP_SEV_ERROR}}, 1},
	{"user-sudo-password", 0, 1, {{0, 0}}, 0},
	{"low-memory", 0, 0,
	 {{AP_ERR_LOW_MEMORY, AP_SEV_ERROR},
	  {AP_ERR_KERNEL_MODULES_MISSING, AP_SEV_ERROR}}, 2},
	{"container-overlay", 0, 0,
	 {{AP_ERR_LINUX_NO_BOOT_DISK, AP_SEV_ERROR},
	  {AP_ERR_UNSUPPORTED_FILESYSTEM, AP_SEV_ERROR}}, 2},
	{"harness-vda", AP_LINUX_CAP_NO_KERNEL_DRIVER, 0,
	 {{AP_ERR_KERNEL_MODULES_MISSING, AP_SEV_WARNING}}, 1},
};

static void
dump(const char *file, const struct ap_result *res)
{
	size_t i;

	for (i = 0; i < res->n_findings; i++)
		print_message("  %s: %d %s: %s\n", file, res->findings[i].id,
		              ap_severity_name(res->findings[i].severity),
		              res->findings[i].evidence != NULL ? res->findings[i].evidence : "");
}

static void
test_rules(void **state)
{
	size_t c, i, j;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct rcase *k = &cases[c];
		struct ap_linux_facts *f = load_facts(k->file);
		struct ap_report *rep = ap_report_new();
		struct ap_target t = {0};
		struct ap_result *res = NULL;
		struct ap_ctx *ctx = ap_ctx_new();
		struct ap_linux_requirements req;

		t.spec = t.host = (char *)"198.18.0.9";
		res = ap_report_add_target(rep, &t);
		assert_non_null(res);
		ap_linux_requirements_init(&req);
		req.caps = k->caps;
		req.password_available = k->password;
		assert_int_equal(ap_linux_rules_apply(f, &req, res, ctx), AP_OK);
		dump(k->file, res);
		if (res->n_findings != k->n)
			fail_msg("%s: %zu findings, expected %zu", k->file, res->n_findings, k->n);
		for (i = 0; i < k->n; i++) {
			for (j = 0; j < res->n_findings; j++)
				if (res->findings[j].id == k->w[i].id &&
				    res->findings[j].severity == k->w[i].sev)
					break;
			if (j == res->n_findings)
				fail_msg("%s: missing %d (%s)", k->file, k->w[i].id,
				         ap_severity_name(k->w[i].sev));
			assert_non_null(res->findings[j].evidence);
		}
		ap_ctx_free(ctx);
		ap_report_free(rep);
		ap_linux_facts_free(f);
	}
}

/* A new result in rep for fact file name, with the default rules applied. */
static struct ap_result *
apply_file(struct ap_report *rep, const char *name)
{
	struct ap_linux_facts *f = load_facts(name);
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_target t = {0};
	struct ap_result *res = NULL;

	t.spec = t.host = (char *)"198.18.0.9";
	res = ap_report_add_target(rep, &t);
	assert_non_null(res);
	assert_int_equal(ap_linux_rules_apply(f, NULL, res, ctx), AP_OK);
	ap_linux_facts_free(f);
	ap_ctx_free(ctx);
	return res;
}

/* Evidence quotes the facts. */
static void
test_evidence(void **state)
{
	struct ap_report *rep = ap_report_new();
	struct ap_result *res = NULL;

	(void)state;
	res = apply_file(rep, "low-space");
	assert_string_equal(res->findings[0].evidence, "/var/tmp: 51200 KB free, 102400 KB needed");
	assert_string_equal(res->findings[1].evidence, "/opt/agentpush-agent: 1000 KB free, 102400 KB needed");

	res = apply_file(rep, "staging-not-writable");
	assert_string_equal(res->findings[0].evidence,
	                    "/var/tmp is not writable for root (the upload runs as the login user)");

	res = apply_file(rep, "grub-root-sda");
	assert_non_null(strstr(res->findings[0].evidence, "/boot/grub2/grub.cfg:101: "));
	assert_non_null(strstr(res->findings[0].evidence, "root=/dev/sda2"));
	assert_non_null(strstr(res->findings[0].evidence, "/etc/default/grub:6: GRUB_CMDLINE_LINUX=\"resume=/dev/sda3"));

	res = apply_file(rep, "lvm-root-two-disks");
	assert_string_equal(res->findings[0].evidence, "/: /dev/mapper/vg0-root (xfs) on disks sda, sdb, LVM");

	res = apply_file(rep, "centos-5.1");
	assert_non_null(strstr(res->findings[0].evidence, "\"centos\" 5.1 is not in the support matrix"));

	ap_report_free(rep);
}

static void
test_facts_fields(void **state)
{
	struct ap_linux_facts *f = load_facts("multipath-root");

	(void)state;
	assert_string_equal(f->os_id, "rhel");
	assert_string_equal(f->os_version_id, "8.6");
	assert_string_equal(f->os_id_like, "fedora");
	assert_int_equal(f->is_root, 1);
	assert_int_equal(f->sudo_present, 1);
	assert_int_equal(f->sudo_nopasswd, 1);
	assert_int_equal(f->n_blk, 5);
	assert_int_equal(f->blk[2].kind, AP_LINUX_BLK_DM);
	assert_string_equal(f->blk[2].dm_name, "mpatha");
	assert_null(f->blk[0].parent);
	assert_int_equal(f->n_slaves, 4);
	assert_non_null(ap_linux_facts_mount(f, "/boot"));
	assert_null(ap_linux_facts_mount(f, "/usr"));
	assert_int_equal(ap_linux_facts_space(f, "staging")->avail_kb, 20000000);
	assert_int_equal(f->mem_avail_kb, 3000000);
	assert_int_equal(f->secure_boot, 0);
	assert_int_equal(f->reboot_required, 0);
	ap_linux_facts_free(f);
}

/* Malformed input: rejected with AP_EPROTO and the line number. */
static void
test_malformed(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} bad[] = {
		{"", "probe output: empty"},
		{"hello\n", "line 1: not agentpush probe output"},
		{"agentpush-probe\t2\nend\n", "line 1: unsupported probe output format"},
		{"agentpush-probe\t1\nroot\t1\n", "line 2: cut short"},
		{"agentpush-probe\t1\nroot\t2\nend\n", "line 2: expected 0 or 1"},
		{"agentpush-probe\t1\nroot\t1\nroot\t1\nend\n", "line 3: this fact appears twice"},
		{"agentpush-probe\t1\nid\tabc\troot\nend\n", "line 2: expected a number"},
		{"agentpush-probe\t1\nid\t99999999999999999999\troot\nend\n", "line 2: number malformed"},
		{"agentpush-probe\t1\nmount\t8:1\t/\text4\nend\n", "line 2: \"mount\" needs 4 fields, got 3"},
		{"agentpush-probe\t1\nmount\t8:1\trel\text4\t/dev/sda1\nend\n", "line 2: mount point is not an absolute path"},
		{"agentpush-probe\t1\nos\tID\tdeb\x01ian\nend\n", "line 2: control character"},
		{"agentpush-probe\t1\nend\nroot\t1\n", "line 3: text after the \"end\" line"},
		{"agentpush-probe\t1\n\nend\n", "line 2: empty line"},
		{"agentpush-probe\t1\na\tb\tc\td\te\tf\tg\th\ti\nend\n", "line 2: too many fields"},
		{"agentpush-probe\t1\ndf\tstaging\t/x\t/x\t-5\t10\t/\nend\n", "line 2: number malformed or out of range"},
		{"agentpush-probe\t1\nline\t/etc/fstab\t0\t/dev/sda1 / ext4\nend\n", "line 2: number malformed or out of range"},
		{"agentpush-probe\t1\nblk\t\tdisk\t8:0\t\t\t\nend\n", "line 2: block device without a name"},
	};
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_linux_facts *f = NULL;
	size_t i;
	char *big = NULL;
	size_t n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = (struct ap_linux_facts *)1;
		assert_int_equal(ap_linux_facts_parse(bad[i].text, strlen(bad[i].text), &f, ctx), AP_EPROTO);
		assert_null(f);
		if (strstr(ap_ctx_errmsg(ctx), bad[i].msg) == NULL)
			fail_msg("case %zu: got \"%s\", expected \"%s\"", i, ap_ctx_errmsg(ctx), bad[i].msg);
		assert_null(strchr(ap_ctx_errmsg(ctx), '\n'));
	}
	/* a NUL inside the text */
	assert_int_equal(ap_linux_facts_parse("agentpush-probe\t1\nro\0t\t1\nend\n", 26, &f, ctx), AP_EPROTO);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "line 2: control character"));
	/* an over-long line */
	n = 20 + 5000 + 10;
	big = malloc(n);
	assert_non_null(big);
	memcpy(big, "agentpush-probe\t1\nx\t", 20);
	memset(big + 20, 'a', 5000);
	memcpy(big + 5020, "\nend\n", 5);
	assert_int_equal(ap_linux_facts_parse(big, 5025, &f, ctx), AP_EPROTO);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "line 2: line too long"));
	free(big);
	/* unknown kinds are skipped */
	{
		const char *ok = "agentpush-probe\t1\nfuture\tx\ty\nend\n";

		assert_int_equal(ap_linux_facts_parse(ok, strlen(ok), &f, ctx), AP_OK);
	}
	ap_linux_facts_free(f);
	ap_ctx_free(ctx);
}

/* A slave graph with cycles and fan-out (the target controls it) resolves
 * in linear time: every device is walked once. */
static void
test_slave_cycles(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_report *rep = ap_report_new();
	struct ap_target t = {0};
	struct ap_linux_facts *f = NULL;
	char *text = malloc(64 * 1024);
	size_t n = 0, i;

	(void)state;
	assert_non_null(text);
	n += (size_t)snprintf(text + n, 64 * 1024 - n, "agentpush-probe\t1\n");
	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, 64 * 1024 - n, "blk\tdm-%zu\tdm\t253:%zu\t\t\tLVM-x\n", i, i);
	for (i = 0; i < 500; i++)
		n += (size_t)snprintf(text + n, 64 * 1024 - n, "slave\tdm-%zu\tdm-%zu\n", i % 40, (i * 7 + 1) % 40);
	n += (size_t)snprintf(text + n, 64 * 1024 - n, "mount\t253:0\t/\text4\t/dev/dm-0\nend\n");
	assert_int_equal(ap_linux_facts_parse(text, n, &f, ctx), AP_OK);
	t.spec = t.host = (char *)"198.18.0.9";
	assert_int_equal(ap_linux_rules_apply(f, NULL, ap_report_add_target(rep, &t), ctx), AP_OK);
	ap_linux_facts_free(f);
	ap_report_free(rep);
	ap_ctx_free(ctx);
	free(text);
}

static void
test_matrix(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_linux_matrix *m = NULL;
	struct ap_linux_facts f;
	char why[256];
	char path[1024];
	const char *root = getenv("AP_SOURCE_ROOT");

	(void)state;
	assert_int_equal(ap_linux_matrix_builtin(&m, ctx), AP_OK);
	memset(&f, 0, sizeof(f));
	f.machine = (char *)"x86_64";
	f.kernel_release = (char *)"6.1.0-18-amd64";
	f.os_id = (char *)"debian";
	f.os_version_id = (char *)"12";
	assert_int_equal(ap_linux_matrix_check(m, &f, why, sizeof(why)), 1);
	f.os_version_id = (char *)"6";
	assert_int_equal(ap_linux_matrix_check(m, &f, why, sizeof(why)), 0);
	f.os_id = (char *)"sles";
	f.os_version_id = (char *)"12.5";
	assert_int_equal(ap_linux_matrix_check(m, &f, why, sizeof(why)), 1);
	f.os_version_id = (char *)"11.2";
	assert_int_equal(ap_linux_matrix_check(m, &f, why, sizeof(why)), 0);
	f.os_id = (char *)"rhel";
	f.os_version_id = (char *)"9.6";
	f.kernel_release = (char *)"5.14.0-570.el9.x86_64";
	assert_int_equal(ap_linux_matrix_check(m, &f, why, sizeof(why)), 0);
	f.os_version_id = (char *)"9.4";
	assert_int_equal(ap_linux_matrix_check(m, &f, NULL, 0), 1);
	ap_linux_matrix_free(m);
	m = NULL;

	/* the data file loads from its path too; bad files name the path */
	snprintf(path, sizeof(path), "%s/data/support-matrix.json", root != NULL ? root : ".");
	assert_int_equal(ap_linux_matrix_load(path, &m, ctx), AP_OK);
	ap_linux_matrix_free(m);
	m = NULL;
	assert_int_equal(ap_linux_matrix_load("/nonexistent/m.json", &m, ctx), AP_EIO);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "/nonexistent/m.json"));
	assert_int_equal(ap_linux_matrix_parse("{\"architectures\":[\"x86_64\"]}", 28, &m, ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "distributions"));
	{
		const char *j = "{\"architectures\":[\"x86_64\"],\"distributions\":[{\"id\":\"x\",\"ranges\":[{\"min\":1}]}]}";

		assert_int_equal(ap_linux_matrix_parse(j, strlen(j), &m, ctx), AP_EINVAL);
	}
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "range 0"));
	assert_int_equal(ap_linux_matrix_parse("[", 1, &m, ctx), AP_EINVAL);
	assert_null(m);
	ap_ctx_free(ctx);
}

/* Runs the compiled-in probe with dash (as sshd would run `sh -s`), here. */
static char *
run_probe(size_t *len)
{
	const char *script = ap_linux_probe_script();
	char *argv[] = {(char *)"dash", (char *)"-s", (char *)"--",
	                (char *)"/var/tmp", (char *)"/nonexistent-ap/agent", NULL};
	posix_spawn_file_actions_t fa;
	int in[2], out[2];
	pid_t pid;
	char *buf = NULL;
	size_t n = 0, cap = 1024 * 1024;
	ssize_t k;
	int st;

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	assert_int_equal(posix_spawnp(&pid, "dash", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	/* written whole before reading: the script and this machine's output
	 * are both far smaller than a pipe buffer, so neither side blocks */
	assert_int_equal(write(in[1], script, strlen(script)), (ssize_t)strlen(script));
	close(in[1]);
	buf = malloc(cap);
	assert_non_null(buf);
	while ((k = read(out[0], buf + n, cap - n)) > 0)
		n += (size_t)k;
	close(out[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	*len = n;
	return buf;
}

static void
test_probe_local(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_linux_facts *f = NULL;
	struct ap_report *rep = ap_report_new();
	struct ap_target t = {0};
	struct ap_result *res = NULL;
	struct ap_linux_requirements req;
	size_t len = 0;
	char *text = run_probe(&len);
	int r;

	(void)state;
	r = ap_linux_facts_parse(text, len, &f, ctx);
	if (r != AP_OK)
		fail_msg("probe output does not parse: %s", ap_ctx_errmsg(ctx));
	assert_int_equal(f->version, 1);
	assert_non_null(f->kernel_release);
	assert_non_null(f->machine);
	assert_non_null(ap_linux_facts_mount(f, "/"));
	assert_non_null(ap_linux_facts_space(f, "staging"));
	assert_non_null(ap_linux_facts_space(f, "install"));
	assert_string_equal(ap_linux_facts_space(f, "install")->asked, "/nonexistent-ap/agent");
	assert_string_equal(ap_linux_facts_space(f, "install")->checked, "/");
	assert_true(f->mem_total_kb > 0);
	assert_int_equal(f->is_root, getuid() == 0);
	assert_int_equal(f->uid, (long)getuid());
	print_message("  this machine: %s %s, %s %s, %zu block devices, %zu mounts\n",
	              f->os_id != NULL ? f->os_id : "?",
	              f->os_version_id != NULL ? f->os_version_id : "?",
	              f->kernel_release, f->machine, f->n_blk, f->n_mounts);

	t.spec = t.host = (char *)"127.0.0.1";
	res = ap_report_add_target(rep, &t);
	ap_linux_requirements_init(&req);
	req.staging_dir = "/var/tmp";
	req.install_dir = "/nonexistent-ap/agent";
	assert_int_equal(ap_linux_rules_apply(f, &req, res, ctx), AP_OK);
	dump("local", res);
	/* this machine is Debian 12 on x86_64: supported */
	if (f->os_id != NULL && strcmp(f->os_id, "debian") == 0 &&
	    strcmp(f->machine, "x86_64") == 0)
		assert_false(ap_result_has(res, AP_ERR_OS_UNSUPPORTED));
	/* a file system mounted from a disk has a boot disk */
	if (strncmp(ap_linux_facts_mount(f, "/")->source, "/dev/", 5) == 0)
		assert_false(ap_result_has(res, AP_ERR_LINUX_NO_BOOT_DISK));
	ap_report_free(rep);
	ap_linux_facts_free(f);
	free(text);
	ap_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_facts_fields),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_evidence),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_slave_cycles),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_probe_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
