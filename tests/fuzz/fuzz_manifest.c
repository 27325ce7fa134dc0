/*
 * fuzz_manifest.c - libFuzzer harness for the package parsers that read
 * untrusted bytes: the manifest validator (a package may come from anywhere)
 * and the version comparison (versions come from the target's version
 * command).
 *
 * Every input goes through both: as manifest.json in a private folder (with
 * a small payload file next to it), and split at its first newline into two
 * versions.  Nothing may crash, leak or read out of bounds.  The installer-log
 * excerpt reader, which this harness also ran until 2026-12-07, has its own
 * target with stricter checks (fuzz_excerpt.c); here it only cost time: the
 * log reader's state is ~95 KB, allocated and zeroed per input, and took
 * half of each execution.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentpush/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];
static char manifest[300];

/* The scratch folder goes when the process does, fuzzing or corpus run. */
static void
remove_dir(void)
{
	char payload[300];

	snprintf(payload, sizeof(payload), "%s/payload.tar.gz", dir);
	unlink(manifest);
	unlink(payload);
	rmdir(dir);
}

/*
 * The folder: $TMPDIR, else /dev/shm (memory: manifest.json is rewritten for
 * every input, and on the disk's file system that writing and reading took
 * more than half of each execution), else /tmp.
 */
static int
init_dir(void)
{
	char payload[300];
	const char *tmp = getenv("TMPDIR");
	FILE *f = NULL;

	if (tmp == NULL || tmp[0] == '\0')
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/ap-fuzz-manifest-XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		return -1;
	atexit(remove_dir);
	snprintf(manifest, sizeof(manifest), "%s/manifest.json", dir);
	snprintf(payload, sizeof(payload), "%s/payload.tar.gz", dir);
	if ((f = fopen(payload, "wb")) == NULL)
		return -1;
	fputs("payload\n", f);
	fclose(f);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct ap_package *pkg = NULL;
	struct ap_ctx *ctx = NULL;
	struct ap_pkg_exit e;
	char *cmd = NULL, *a = NULL, *nl = NULL;
	FILE *f = NULL;
	int i;

	if ((a = malloc(size + 1)) != NULL) {
		memcpy(a, data, size);
		a[size] = '\0';
		if ((nl = strchr(a, '\n')) != NULL) {
			*nl = '\0';
			(void)ap_version_cmp(a, nl + 1);
		}
		free(a);
	}

	if (!ready) {
		if (init_dir() != 0)
			return 0;
		ready = 1;
	}
	if ((f = fopen(manifest, "wb")) == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	ctx = ap_ctx_new();
	if (ap_package_open(dir, &pkg, ctx) == 0) {
		for (i = 0; i < AP_PKG_CMD_COUNT_; i++) {
			if (ap_package_command(pkg, AP_OS_LINUX, (enum ap_pkg_cmd)i, &cmd, ctx) == 0)
				free(cmd);
			if (ap_package_command(pkg, AP_OS_WINDOWS, (enum ap_pkg_cmd)i, &cmd, ctx) == 0)
				free(cmd);
		}
		(void)ap_package_map_exit(pkg, AP_OS_LINUX, 97, &e);
		(void)ap_package_map_exit(pkg, AP_OS_WINDOWS, 3010, &e);
	}
	ap_package_free(pkg);
	ap_ctx_free(ctx);
	return 0;
}
