/*
 * windows.h - what `agentpush check` learns about a Windows target through
 * WinRM, the rules that turn it into findings, and the reading of the
 * installer's result.
 *
 * One round trip, like linux.h:
 *   1. the caller runs ap_windows_facts_command() over ap_transport_winrm
 *      (one PowerShell invocation; the script only reads);
 *   2. ap_windows_facts_parse() turns its stdout, a small JSON document and
 *      untrusted input from the network, into struct ap_windows_facts, or
 *      rejects it with AP_EPROTO and a one-line reason;
 *   3. ap_windows_rules_apply() adds one finding per independent problem.
 * After the install, ap_windows_installer_result() maps the installer's exit
 * code and log to a catalog entry (the VSS entries, restart, failure).
 *
 * Ownership: facts from ap_windows_facts_parse() are freed with
 * ap_windows_facts_free() (NULL is fine); every string in them is owned by
 * the facts.  Strings returned through char ** are malloc'd, caller frees.
 */
#ifndef AGENTPUSH_WINDOWS_H
#define AGENTPUSH_WINDOWS_H

#include <stddef.h>

#include "agentpush/ctx.h"
#include "agentpush/report.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AP_WINDOWS_UNKNOWN (-1)

/* Win32_OperatingSystem.ProductType */
enum ap_windows_product {
	AP_WINDOWS_WORKSTATION = 1,
	AP_WINDOWS_DOMAIN_CONTROLLER = 2,
	AP_WINDOWS_SERVER = 3
};

struct ap_windows_facts {
	int version;              /* facts format, 1 */
	char *caption;            /* "Microsoft Windows Server 2019 Standard" */
	char *os_version;         /* "10.0.17763" */
	long build;               /* 17763 */
	int product_type;         /* enum ap_windows_product */
	char *arch;               /* "64-bit" (OSArchitecture, may be localised) */
	int is_64bit;             /* 0/1, from the PowerShell process's view */
	char *system_drive;       /* "C:" */
	char *system_root;        /* "C:\Windows" (SystemRoot), NULL when the
	                           * script predates it: then <drive>\Windows */
	char *cpu;                /* PROCESSOR_ARCHITECTURE ("AMD64", "ARM64",
	                           * "x86"), NULL when not reported */
	long long system_free_bytes;  /* -1 unknown */
	long long mem_free_bytes;     /* FreePhysicalMemory, -1 unknown */
	long long mem_total_bytes;    /* -1 unknown */
	int latfp;                /* LocalAccountTokenFilterPolicy: -1 absent, else
	                           * the value (0 or 1; others kept as read) */
	int reboot_pending;       /* 0/1 */
	char *reboot_reasons;     /* "CBS,WindowsUpdate,PendingFileRename" or "" */
	int domain_joined;        /* 0/1 */
	char *domain;             /* domain or workgroup name */
	char *user;               /* "HOST\\user" as whoami saw it */
	int local_account;        /* 0/1/AP_WINDOWS_UNKNOWN: the account's
	                           * authority is the host itself */
};

/*
 * The PowerShell script that prints the facts (static, never NULL), and the
 * command line that runs it: "powershell -NoProfile -NonInteractive
 * -EncodedCommand <base64 of UTF-16LE>", in *cmd (caller frees).
 */
const char *ap_windows_facts_script(void);
int ap_windows_facts_command(char **cmd, struct ap_ctx *ctx);

/*
 * Builds the -EncodedCommand command line for any script (UTF-8 in).
 * AP_EINVAL when the result would pass cmd.exe's 8191-character limit or
 * the script is not valid UTF-8; AP_ENOMEM; *cmd NULL on failure.
 */
int ap_windows_powershell_command(const char *script, char **cmd,
                                  struct ap_ctx *ctx);

/*
 * Parses the script's output (text, len bytes, need not be NUL-terminated;
 * a UTF-8 BOM and surrounding white space are allowed).  On success returns
 * AP_OK with new facts in *out.  Otherwise AP_EPROTO (not JSON, a field
 * missing or of the wrong type, a value out of range, over 64 KB) or
 * AP_ENOMEM, a one-line reason on ctx, and *out NULL.  Unknown fields are
 * ignored, so a newer script still parses.
 */
int ap_windows_facts_parse(const char *text, size_t len,
                           struct ap_windows_facts **out, struct ap_ctx *ctx);
void ap_windows_facts_free(struct ap_windows_facts *f);

/*
 * Whether the facts' OS is in the built-in support list
 * (data/windows-support.json): 1 yes, 0 no; a one-line explanation goes to
 * why[n] when why is not NULL.
 */
int ap_windows_supported(const struct ap_windows_facts *f, char *why,
                         size_t n);

struct ap_windows_requirements {
	long long min_free_bytes;  /* system drive; default 500 MB (95524) */
	long long min_mem_bytes;   /* default 256 MB (95572) */
};
void ap_windows_requirements_init(struct ap_windows_requirements *req);

/*
 * Adds to r one finding per problem: unsupported OS or 32-bit (95213),
 * free space (95524), pending restart (95224), free memory (95572), and a
 * local account with LocalAccountTokenFilterPolicy not 1 (95107 as a
 * warning: remote UAC strips the administrator token, so the share and the
 * installer would be refused).  req NULL: the defaults.  AP_OK, or AP_ENOMEM.
 */
int ap_windows_rules_apply(const struct ap_windows_facts *f,
                           const struct ap_windows_requirements *req,
                           struct ap_result *r, struct ap_ctx *ctx);

/*
 * Finds the first VSS error number in an installer log (untrusted, any
 * size; UTF-16LE is read as its ASCII subset): "VSS error -2147023170",
 * "0x800706BE", "error code 7" near "VSS"...  Returns 1 and stores it in
 * *vss (as the signed 32-bit value the catalog uses), or 0.
 */
int ap_windows_find_vss_error(const char *log, size_t len, long *vss);

/*
 * The same search in one NUL-terminated line: only a line that mentions VSS
 * (any case) counts.  Returns 1 and stores the number in *vss, or 0.
 * Used by ap_windows_find_vss_error and by the log reader (logscan.h).
 */
int ap_windows_vss_in_line(const char *line, long *vss);

/*
 * The ErrorID of the installer's exit code, as ap_windows_installer_result
 * maps it below (vss_found: a VSS error vss was read from its log); 0 for
 * 0 and 98 (success, success with warnings).
 */
int ap_windows_installer_errorid(int exit_code, int vss_found, long vss);

/*
 * Maps the installer's exit code and log to a finding on r:
 *   0 and 98: none; 3010: 95266 (restart recommended); 1641: 95265;
 *   a VSS error in the log, or a VSS exit code (511, 512, 517, 802, 806 and
 *   the installer's own 45, 50-54): the catalog's VSS entry
 *   (ap_catalog_find_vss); 42: 95213; 62: 95224; 99: 800407;
 *   anything else: 800404.
 * The evidence names the exit code, the VSS error when found, and the
 * log's excerpt (ap_package_log_excerpt).  Stores the ErrorID added (0 for
 * none) in *id when id is not NULL.  AP_OK or AP_ENOMEM.
 */
int ap_windows_installer_result(int exit_code, const char *log, size_t len,
                                const char *log_path, struct ap_result *r,
                                int *id, struct ap_ctx *ctx);

/*
 * The install's own PowerShell scripts, each as a ready -EncodedCommand
 * command line in *cmd (caller frees; NULL on failure).  Paths are Windows
 * paths, passed to PowerShell as single-quoted literals: no character of a
 * path is ever run.  AP_OK, AP_ENOMEM, or AP_EINVAL (too long, not UTF-8).
 *
 * ap_windows_hash_command: prints the file's SHA-256 as 64 hex digits.
 * ap_windows_tail_command: prints the base64 of the last
 *   AP_WINDOWS_LOG_TAIL bytes of the file (opened shared, so an installer
 *   may still hold it); exits 3 when there is no such file.
 * ap_windows_remove_command: removes each of paths[0..n) (NULL entries
 *   skipped), and with prefix every file whose full path starts with it;
 *   what is absent is no failure, the script always exits 0.
 */
#define AP_WINDOWS_LOG_TAIL 65536
#define AP_WINDOWS_LOG_TAIL_STR "65536"
int ap_windows_hash_command(const char *path, char **cmd, struct ap_ctx *ctx);
int ap_windows_tail_command(const char *path, char **cmd, struct ap_ctx *ctx);
int ap_windows_remove_command(const char *const *paths, size_t n,
                              const char *prefix, char **cmd,
                              struct ap_ctx *ctx);

/*
 * Reads the hash script's output (untrusted): exactly 64 hex digits, any
 * case, surrounded by white space only.  0 and the lowercase digits in hex,
 * or -1 and hex "".
 */
int ap_windows_parse_hash(const char *out, size_t len, char hex[65]);

/*
 * Decodes the tail script's output (untrusted base64, white space allowed)
 * into *bin (caller frees; NUL-terminated after *bin_len bytes).  AP_OK,
 * AP_EPROTO (not base64) or AP_ENOMEM, the reason on ctx.
 */
int ap_windows_parse_b64(const char *out, size_t len, char **bin,
                         size_t *bin_len, struct ap_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_WINDOWS_H */
