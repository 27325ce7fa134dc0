/*
 * util.c - see util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static int log_fd = -1;
static char log_path[4096];

int
util_mkparent(const char *path)
{
	char dir[4096];
	char *slash = NULL, *p = NULL;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	/* mkdir -p: each missing level in turn. */
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

int
log_open(const char *path)
{
	size_t n = strlen(path);
	int fd;

	/* log_reopen() passes log_path itself: copying it onto itself would
	 * be undefined (gcc -O3 says so with -Werror=restrict) */
	if (path != log_path) {
		if (n >= sizeof(log_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(log_path, path, n + 1);
	}
	if (util_mkparent(path) != 0)
		return -1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -1;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int
log_reopen(void)
{
	return log_path[0] != '\0' ? log_open(log_path) : 0;
}

void
log_line(const char *fmt, ...)
{
	char line[1024];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	size_t n;
	int k;

	if (log_fd < 0)
		return;
	gmtime_r(&now, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	k = snprintf(line + n, sizeof(line) - n, "[%ld] ", (long)getpid());
	if (k > 0)
		n += (size_t)k;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (k > 0)
		n += (size_t)k < sizeof(line) - n ? (size_t)k : sizeof(line) - n - 1;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(log_fd, line, n);
}

void
log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}
