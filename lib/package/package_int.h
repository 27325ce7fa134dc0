/*
 * package_int.h - helpers shared by the files of lib/package/, not exported.
 */
#ifndef AP_PACKAGE_INT_H
#define AP_PACKAGE_INT_H

#include "agentpush/ctx.h"

/* Limits that keep a hostile package from eating the controller. */
#define PKG_MANIFEST_MAX (1024 * 1024)          /* manifest.json bytes */
#define PKG_TAR_ENTRIES_MAX 64                   /* files in a tarball */
#define PKG_TAR_BYTES_MAX (2048ULL * 1024 * 1024) /* bytes unpacked, total */

/*
 * Extracts the regular files of the .tar.gz at path into a new private
 * directory (mode 0700, under $TMPDIR or /tmp).  Files may sit at the top of
 * the archive or under one top-level folder; anything else (deeper paths,
 * "..", absolute names, links, devices) is refused.  Returns 0 and the
 * directory in *dir_out (the caller frees the string and removes the
 * directory with ap_package_rmtree()), or a negative code with the reason on
 * ctx.
 */
int ap_package_extract_tgz(const char *path, char **dir_out, struct ap_ctx *ctx);

/* Removes dir and the plain files directly in it.  NULL is fine. */
void ap_package_rmtree(const char *dir);

#endif /* AP_PACKAGE_INT_H */
