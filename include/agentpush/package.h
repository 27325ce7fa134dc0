/*
 * package.h - the agent package: a manifest plus per-OS payload files.
 *
 * A package is a directory holding manifest.json and the payload files it
 * names, or a .tar.gz of such a directory (the files either at the top of the
 * archive or under one top-level folder).  docs/package-format.md is the full
 * reference of the manifest; this header is the C contract.
 *
 * ap_package_open() validates everything before anything is pushed: every
 * field's type and range, every command's placeholders, every exit code's
 * catalog ErrorID, and each payload's size and sha256 against the bytes on the
 * controller.  A bad package is a clear one-line error naming the file and the
 * JSON path, e.g.
 *   package pkg/manifest.json: linux.install_dir: must be an absolute path
 *
 * Commands are templates.  Placeholders ({payload} {install_dir} {staging}
 * {workdir} {log} {version}) are replaced by the library with values quoted
 * for the target's shell: POSIX single quotes on Linux, double quotes on
 * Windows (where values holding a character cmd.exe cannot quote are
 * refused).  "{{" and "}}" stand for literal braces.
 *
 * Ownership: ap_package_open() returns a package the caller frees with
 * ap_package_free() (NULL is fine).  Every const char * returned by an
 * accessor is owned by the package and lives as long as it.  Strings returned
 * through char ** out-parameters are the caller's, freed with free().
 * A package is read-only after open and may be shared between threads.
 */
#ifndef AGENTPUSH_PACKAGE_H
#define AGENTPUSH_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentpush/ctx.h"
#include "agentpush/target.h" /* enum ap_os */

#ifdef __cplusplus
extern "C" {
#endif

/* The manifest format this library reads (manifest "format" field). */
#define AP_PACKAGE_FORMAT 1

struct ap_package;

/* What a command template is for. */
enum ap_pkg_cmd {
	AP_PKG_CMD_INSTALL = 0, /* unpack the payload and run the installer */
	AP_PKG_CMD_UNINSTALL,
	AP_PKG_CMD_VERIFY,      /* exit 0 iff the agent is installed and running */
	AP_PKG_CMD_VERSION,     /* prints the installed version; fails if none */
	AP_PKG_CMD_COUNT_
};

/* How an installer exit code is judged. */
enum ap_pkg_outcome {
	AP_PKG_OK = 0,
	AP_PKG_WARNING, /* installed, but something needs attention */
	AP_PKG_FAILED
};

/* One row of an OS section's exit-code table (see ap_package_map_exit()). */
struct ap_pkg_exit {
	int code;
	enum ap_pkg_outcome outcome;
	int error_id;        /* catalog ErrorID, or 0 (only for outcome ok) */
	bool reboot;         /* a restart is needed or recommended */
	const char *meaning; /* one line, owned by the package */
	bool known;          /* false: the code is not in the table */
};

/* Linux-only capability flags: which disk layouts the agent supports. */
struct ap_pkg_caps {
	bool boot_on_separate_disk;
	bool root_multi_disk;
	bool lvm_root;
	bool kernel_driver; /* loads a kernel module (default true): then Secure
	                     * Boot and missing /lib/modules are errors */
};

/* Values for a command's placeholders; a NULL field takes its default. */
struct ap_pkg_vars {
	const char *payload;     /* default: <staging>/<payload file name> */
	const char *staging;     /* default: the section's staging_dir */
	const char *install_dir; /* default: the section's install_dir */
	const char *workdir;     /* default: <staging>/<name>-<version>.d */
	const char *log;         /* default: the section's log_path */
};

/*
 * Opens the package at path (a directory or a .tar.gz / .tgz file),
 * validates its manifest and checks every payload's size and sha256.
 * A tarball is read with libarchive (no tar process); its files are
 * extracted to a private temporary directory removed by ap_package_free().
 * Returns 0 and stores the package in *out, or a negative AP_E* code with
 * the reason on ctx (AP_EINVAL for a bad package, AP_EIO/AP_ENOTFOUND for
 * files that cannot be read, COPY_CHECKSUM_MISMATCH as the ErrorID for a
 * payload whose bytes differ); *out is NULL on failure.
 */
int ap_package_open(const char *path, struct ap_package **out,
                    struct ap_ctx *ctx);
/* Frees pkg and removes its temporary files.  NULL is fine. */
void ap_package_free(struct ap_package *pkg);

/* The manifest's name and version ("agentpush-agent", "0.1.0"). */
const char *ap_package_name(const struct ap_package *pkg);
const char *ap_package_version(const struct ap_package *pkg);

/* Whether the manifest has a section for os (AP_OS_LINUX, AP_OS_WINDOWS). */
bool ap_package_has_os(const struct ap_package *pkg, enum ap_os os);

/*
 * Accessors for an OS section.  They return NULL (or 0/false) when the
 * package has no section for os; callers check ap_package_has_os() first and
 * report PACKAGE_NO_PAYLOAD.
 */
/* The payload file's path on the controller, and its file name. */
const char *ap_package_payload_path(const struct ap_package *pkg, enum ap_os os);
const char *ap_package_payload_name(const struct ap_package *pkg, enum ap_os os);
/* Lowercase hex sha256 (64 chars) and size in bytes of the payload. */
const char *ap_package_payload_sha256(const struct ap_package *pkg, enum ap_os os);
uint64_t ap_package_payload_size(const struct ap_package *pkg, enum ap_os os);
const char *ap_package_staging_dir(const struct ap_package *pkg, enum ap_os os);
const char *ap_package_install_dir(const struct ap_package *pkg, enum ap_os os);
const char *ap_package_log_path(const struct ap_package *pkg, enum ap_os os);
/* Space needed, in KiB, in the staging and install directories. */
uint64_t ap_package_space_staging_kb(const struct ap_package *pkg, enum ap_os os);
uint64_t ap_package_space_install_kb(const struct ap_package *pkg, enum ap_os os);
/*
 * The install command's time limit in seconds: the manifest's optional
 * install_timeout (1..86400), else AP_PACKAGE_INSTALL_TIMEOUT_S.  A run uses
 * the larger of it and its per-stage --timeout for the install command.
 */
#define AP_PACKAGE_INSTALL_TIMEOUT_S 1800
uint64_t ap_package_install_timeout_s(const struct ap_package *pkg, enum ap_os os);
/* Architectures the payload runs on ("x86_64", "x64"...); count in *n. */
const char *const *ap_package_archs(const struct ap_package *pkg, enum ap_os os,
                                    size_t *n);
/* Whether arch (as `uname -m` or PROCESSOR_ARCHITECTURE reports it, any
 * case) is one the payload runs on. */
bool ap_package_supports_arch(const struct ap_package *pkg, enum ap_os os,
                              const char *arch);
/* Linux capability flags; all false when there is no Linux section. */
struct ap_pkg_caps ap_package_caps(const struct ap_package *pkg);

/*
 * Builds the command `which` for os with every placeholder replaced by the
 * default value, quoted for the target's shell.  Returns 0 and a string the
 * caller frees in *out, or a negative code with the reason on ctx (AP_EINVAL
 * when os has no section, or a Windows value cannot be quoted); *out is NULL
 * on failure.
 */
int ap_package_command(const struct ap_package *pkg, enum ap_os os,
                       enum ap_pkg_cmd which, char **out, struct ap_ctx *ctx);
/* The same with some values overridden (vars may be NULL). */
int ap_package_command_vars(const struct ap_package *pkg, enum ap_os os,
                            enum ap_pkg_cmd which,
                            const struct ap_pkg_vars *vars, char **out,
                            struct ap_ctx *ctx);

/*
 * Maps an installer exit code through os's exit-code table.  Fills *out and
 * returns 0.  A code not in the table is outcome AP_PKG_FAILED with
 * AP_ERR_INSTALL_FAILED, reboot false, known false.  Returns AP_EINVAL
 * (*out untouched) when the package has no section for os.
 */
int ap_package_map_exit(const struct ap_package *pkg, enum ap_os os, int code,
                        struct ap_pkg_exit *out);

/* "ok", "warning", "failed". */
const char *ap_package_outcome_name(enum ap_pkg_outcome o);
/* "install", "uninstall", "verify", "version". */
const char *ap_package_cmd_name(enum ap_pkg_cmd c);

/*
 * Pulls the evidence out of an installer log (untrusted bytes, any size):
 * the last lines that look like errors (error, fail, fatal, denied, cannot,
 * not found, abort, exception; any case), or the last non-empty lines when
 * none do.  At most 10 lines of at most 200 bytes each; control and non-ASCII
 * bytes become '?'; UTF-16LE logs (Windows) are read as their ASCII subset.
 * Returns 0 and a string the caller frees in *excerpt (lines separated by
 * '\n', "" for an empty log), or AP_ENOMEM with *excerpt NULL.
 */
int ap_package_log_excerpt(const char *text, size_t len, char **excerpt);

/*
 * Compares two dotted versions component by component, numerically:
 * "1.2.10" > "1.2.9", "1.2" == "1.2.0".  Within a component, a non-numeric
 * tail is compared as text after the number ("1.0rc1" < "1.0rc2").
 * Returns <0, 0 or >0 like strcmp.  NULL sorts before everything.
 */
int ap_version_cmp(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_PACKAGE_H */
