/*
 * pidfile.c - see pidfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"
#include "util.h"

int
pidfile_acquire(struct pidfile *pf, const char *path, pid_t *other)
{
	char buf[32];
	ssize_t n;
	int fd = -1;

	pf->fd = -1;
	pf->path = path;
	*other = 0;
	if (util_mkparent(path) != 0)
		return -2;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0)
		return -2;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;

		if (err == EWOULDBLOCK) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				*other = (pid_t)strtol(buf, NULL, 10);
			}
		}
		close(fd);
		errno = err;
		return err == EWOULDBLOCK ? -1 : -2;
	}
	pf->fd = fd;
	return 0;
}

int
pidfile_write(struct pidfile *pf, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);

	if (ftruncate(pf->fd, 0) != 0)
		return -1;
	if (pwrite(pf->fd, buf, (size_t)n, 0) != n)
		return -1;
	return fsync(pf->fd);
}

void
pidfile_release(struct pidfile *pf)
{
	if (pf->fd < 0)
		return;
	/* Unlink while still holding the lock, so a starting instance never
	 * sees our file unlocked but still present with our pid. */
	unlink(pf->path);
	close(pf->fd);
	pf->fd = -1;
}
