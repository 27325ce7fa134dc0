/*
 * archive.c - reading a .tar.gz package with libarchive (no tar process).
 *
 * A tarball package is the package directory archived: manifest.json and the
 * payload files, either at the top of the archive or under one top-level
 * folder ("agentpush-agent-0.1.0/manifest.json").  We extract only plain
 * files at that level into a fresh 0700 directory, by name, with O_EXCL and
 * O_NOFOLLOW, so a hostile archive can neither escape the directory nor
 * overwrite anything: paths with "..", absolute paths, deeper folders, links
 * and devices are refused.  The total size and the entry count are bounded.
 * The result is then opened as a directory package by manifest.c.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentpush/ctx.h"
#include "package_int.h"

void
ap_package_rmtree(const char *dir)
{
	DIR *d = NULL;
	struct dirent *de = NULL;

	if (dir == NULL)
		return;
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			unlinkat(dirfd(d), de->d_name, 0);
		}
		closedir(d);
	}
	rmdir(dir);
}

/*
 * Splits an archive path into the file name to extract, or NULL to skip the
 * entry (the top folder itself).  *prefix remembers the one top-level folder
 * seen so far.  Returns -1 for a path we refuse.
 */
static int
entry_name(const char *path, char *prefix, size_t prefix_sz, const char **name)
{
	const char *slash = NULL;
	size_t plen = 0;

	*name = NULL;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (path[0] == '\0' || strcmp(path, ".") == 0)
		return 0;
	if (path[0] == '/' || strstr(path, "..") != NULL)
		return -1;
	slash = strchr(path, '/');
	if (slash == NULL) {
		*name = path;
		return 0;
	}
	plen = (size_t)(slash - path);
	if (plen >= prefix_sz)
		return -1;
	if (prefix[0] == '\0') {
		memcpy(prefix, path, plen);
		prefix[plen] = '\0';
	} else if (strlen(prefix) != plen || memcmp(prefix, path, plen) != 0) {
		return -1; /* a second top-level folder */
	}
	slash++;
	if (*slash == '\0')
		return 0; /* the folder itself */
	if (strchr(slash, '/') != NULL)
		return -1;
	*name = slash;
	return 0;
}

int
ap_package_extract_tgz(const char *path, char **dir_out, struct ap_ctx *ctx)
{
	struct archive *a = NULL;
	struct archive_entry *ent = NULL;
	char tmpl[4096];
	char prefix[256] = "";
	char buf[65536];
	const char *tmp = getenv("TMPDIR");
	const char *name = NULL;
	char *dir = NULL;
	unsigned long long total = 0;
	int n_entries = 0, fd = -1, dfd = -1, r, ar;
	ssize_t got;

	*dir_out = NULL;
	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/agentpush-pkg-XXXXXX", tmp);
	if (mkdtemp(tmpl) == NULL) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "package %s: cannot create a temporary directory in %s: %s",
		                path, tmp, strerror(errno));
		goto out;
	}
	if ((dir = strdup(tmpl)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "package %s: %s: %s", path, dir, strerror(errno));
		goto out;
	}
	if ((a = archive_read_new()) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, sizeof(buf)) != ARCHIVE_OK) {
		int err = archive_errno(a);

		if (err == ENOENT || err == EACCES || err == EISDIR)
			r = ap_ctx_fail(ctx, err == ENOENT ? AP_ENOTFOUND : AP_EIO, 0,
			                "package %s: cannot read: %s", path, archive_error_string(a));
		else
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: not a valid .tar.gz: %s",
			                path, archive_error_string(a));
		goto out;
	}
	for (;;) {
		ar = archive_read_next_header(a, &ent);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: not a valid .tar.gz: %s",
			                path, archive_error_string(a));
			goto out;
		}
		if (++n_entries > PKG_TAR_ENTRIES_MAX) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: more than %d entries",
			                path, PKG_TAR_ENTRIES_MAX);
			goto out;
		}
		if (entry_name(archive_entry_pathname(ent), prefix, sizeof(prefix), &name) != 0) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: entry \"%s\": unexpected path (files must sit at the top or under one folder)",
			                path, archive_entry_pathname(ent));
			goto out;
		}
		if (archive_entry_filetype(ent) == AE_IFDIR && name == NULL)
			continue;
		if (archive_entry_filetype(ent) != AE_IFREG || name == NULL) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: entry \"%s\": only plain files are allowed",
			                path, archive_entry_pathname(ent));
			goto out;
		}
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			int err = errno;
			r = ap_ctx_fail(ctx, err == EEXIST ? AP_EINVAL : AP_EIO, 0,
			                "package %s: entry \"%s\": %s", path,
			                archive_entry_pathname(ent),
			                err == EEXIST ? "appears twice" : strerror(err));
			goto out;
		}
		while ((got = archive_read_data(a, buf, sizeof(buf))) > 0) {
			total += (unsigned long long)got;
			if (total > PKG_TAR_BYTES_MAX) {
				r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: more than %llu MiB unpacked",
				                path, PKG_TAR_BYTES_MAX >> 20);
				goto out;
			}
			if (write(fd, buf, (size_t)got) != got) {
				r = ap_ctx_fail(ctx, AP_EIO, 0, "package %s: writing %s/%s: %s",
				                path, dir, name, strerror(errno));
				goto out;
			}
		}
		if (got < 0) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: entry \"%s\": %s", path,
			                archive_entry_pathname(ent), archive_error_string(a));
			goto out;
		}
		if (close(fd) != 0) {
			fd = -1;
			r = ap_ctx_fail(ctx, AP_EIO, 0, "package %s: writing %s/%s: %s",
			                path, dir, name, strerror(errno));
			goto out;
		}
		fd = -1;
	}
	*dir_out = dir;
	dir = NULL; /* transferred */
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (a != NULL)
		archive_read_free(a);
	if (dir != NULL) {
		ap_package_rmtree(dir);
		free(dir);
	} else if (r != 0 && tmpl[0] != '\0' && *dir_out == NULL) {
		rmdir(tmpl);
	}
	return r;
}
