/*
 * localedir.c - where the "agentpush" message catalogs are, found from the
 * program's own location (see ap_i18n_localedir() in catalog.h).
 *
 * The compiled-in AP_LOCALEDIR is right only once `meson install` has put
 * the catalogs there.  A program run from its build tree, or from an install
 * tree that was moved (a --destdir staging tree, a relocated prefix), would
 * then silently speak English.  So, as git's RUNTIME_PREFIX does, the folder
 * is worked out from the executable's path first, and AP_LOCALEDIR is the
 * last resort.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agentpush/catalog.h"
#include "ap_config.h"

/* Cuts the last `levels` components off path (in place).  -1 when path has
 * fewer components than that. */
static int
path_up(char *path, int levels)
{
	char *slash = NULL;

	while (levels-- > 0) {
		slash = strrchr(path, '/');
		if (slash == NULL)
			return -1;
		if (slash == path) {
			/* "/x" up one is "/"; "/" up one does not exist */
			if (path[1] == '\0')
				return -1;
			path[1] = '\0';
		} else {
			*slash = '\0';
		}
	}
	return 0;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* buf = base "/" tail, when that fits and is a folder.  0 when it was set. */
static int
try_dir(char *buf, size_t n, const char *base, const char *tail)
{
	int len;

	len = snprintf(buf, n, "%s%s%s", base,
	               strcmp(base, "/") == 0 ? "" : "/", tail);
	if (len < 0 || (size_t)len >= n)
		return -1;
	return is_dir(buf) ? 0 : -1;
}

int
ap_i18n_localedir(const char *exe_path, char *buf, size_t n)
{
	char dir[4096];
	char probe[4096];
	int len;
	int r = -1;

	if (buf == NULL || n == 0)
		return -1;
	if (exe_path == NULL || exe_path[0] != '/')
		goto fallback;
	len = snprintf(dir, sizeof(dir), "%s", exe_path);
	if (len < 0 || (size_t)len >= sizeof(dir) || path_up(dir, 1) != 0)
		goto fallback;

	/*
	 * The build tree: the program is <build>/src/cli/agentpush, ninja
	 * compiles the catalogs into <build>/po, and meson marks its build
	 * root with meson-private/.  The marker keeps an installed program
	 * that happens to sit two levels below some po/ folder from reading
	 * that folder.
	 */
	len = snprintf(probe, sizeof(probe), "%s", dir);
	if (len >= 0 && (size_t)len < sizeof(probe) &&
	    path_up(probe, AP_BUILD_EXE_DEPTH) == 0 &&
	    try_dir(buf, n, probe, "meson-private") == 0 &&
	    try_dir(buf, n, probe, "po") == 0) {
		r = 0;
		goto out;
	}

	/* An install tree, wherever it is now: <prefix>/<bindir>/agentpush
	 * and <prefix>/<localedir>. */
	len = snprintf(probe, sizeof(probe), "%s", dir);
	if (AP_BINDIR_DEPTH > 0 && len >= 0 && (size_t)len < sizeof(probe) &&
	    path_up(probe, AP_BINDIR_DEPTH) == 0 &&
	    try_dir(buf, n, probe, AP_LOCALEDIR_FROM_PREFIX) == 0) {
		r = 0;
		goto out;
	}

fallback:
	len = snprintf(buf, n, "%s", AP_LOCALEDIR);
	r = (len >= 0 && (size_t)len < n) ? 1 : -1;
out:
	if (r < 0)
		buf[0] = '\0';
	return r;
}
