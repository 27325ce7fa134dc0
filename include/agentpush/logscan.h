/*
 * logscan.h - ErrorIDs read back from installer logs and error files, and
 * from agentpush's own output (agentpush explain --log).
 *
 * Files it knows (tests/cli_explain/logs/README shows the layouts it reads):
 *   - the product's Windows installer and configurator logs
 *     (ASRUnifiedAgentInstaller.log, ASRUnifiedAgentConfigurator.log;
 *     UTF-16LE/BE with a BOM, UTF-8 or ASCII, CRLF or LF);
 *   - the product's Linux install log (/var/log/ua_install.log);
 *   - the JSON error file its installer writes (/var/log/InstallerErrors.json):
 *     any object with an "ErrorID" or "ErrorCode" member (any case, with or
 *     without '_');
 *   - agentpush check/install/show output, as text (English or French) or
 *     --format json (the "id" of each object in an "errors" array).
 * In any text file, "ErrorID: 95108" (and ErrorId=, Error ID 95108...) and
 * the product's older EP codes (EP0859 = 95108) are found; in the Windows and
 * Linux logs, the installer's exit codes and VSS errors are mapped as install
 * maps them (windows.h ap_windows_installer_errorid; Linux: 99 -> 800407,
 * 119 -> 95525, 149 -> 95213, other non-zero but 98 -> 800404).
 *
 * Streaming: bytes are fed in chunks of any size; memory stays bounded
 * whatever the file's size (a line is read up to AP_LOGSCAN_SCAN_MAX bytes,
 * AP_LOGSCAN_IDS_MAX distinct ErrorIDs are kept, JSON nests up to 64 deep).
 * The result does not depend on how the bytes were split into chunks.
 * Nothing here prints or reads files but ap_logscan_file().
 *
 * Ownership: struct ap_logscan is the caller's, made by ap_logscan_new() and
 * freed with ap_logscan_free(); the result and its hits belong to it.
 */
#ifndef AGENTPUSH_LOGSCAN_H
#define AGENTPUSH_LOGSCAN_H

#include <stddef.h>

#include "agentpush/catalog.h"
#include "agentpush/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AP_LOGSCAN_LINE_MAX 400   /* bytes of evidence kept per ErrorID */
#define AP_LOGSCAN_SCAN_MAX 8192  /* bytes of a line searched */
#define AP_LOGSCAN_IDS_MAX 64     /* distinct ErrorIDs kept */
#define AP_LOGSCAN_FIRST_MAX 80   /* bytes of the first line kept */

enum ap_logscan_kind {
	AP_LOGSCAN_EMPTY = 0,       /* no bytes, or only white space */
	AP_LOGSCAN_UNKNOWN,         /* text, but no format we know */
	AP_LOGSCAN_BINARY,          /* not text: reading stopped at once */
	AP_LOGSCAN_WINDOWS_LOG,     /* the Windows installer/configurator log */
	AP_LOGSCAN_LINUX_LOG,       /* ua_install.log */
	AP_LOGSCAN_ERRORS_JSON,     /* InstallerErrors.json */
	AP_LOGSCAN_AGENTPUSH_TEXT,  /* agentpush check/install/show text */
	AP_LOGSCAN_AGENTPUSH_JSON,  /* agentpush ... --format json */
	AP_LOGSCAN_JSON             /* valid JSON of no format we know */
};

struct ap_logscan_hit {
	int id;                                /* the ErrorID */
	const struct ap_catalog_entry *entry;  /* NULL: not in the catalog */
	unsigned long line;                    /* first line it was found on */
	unsigned long last_line;               /* last line it was found on */
	unsigned long count;                   /* lines it was found on */
	/* The evidence: that line (JSON: the record's target and message),
	 * valid UTF-8 without control characters, trimmed, at most
	 * AP_LOGSCAN_LINE_MAX bytes; text_cut when it was longer. */
	char text[AP_LOGSCAN_LINE_MAX + 1];
	int text_cut;
};

struct ap_logscan_result {
	enum ap_logscan_kind kind;
	const char *encoding;        /* "UTF-8", "UTF-16LE" or "UTF-16BE" */
	unsigned long lines;         /* lines read (the last one even when cut) */
	unsigned long long bytes;    /* bytes fed */
	const struct ap_logscan_hit *hits; /* in the order first found */
	size_t n_hits;
	unsigned long ids_dropped;   /* finds of IDs past AP_LOGSCAN_IDS_MAX */
	/* What could not be read; 0 when nothing of the kind. */
	unsigned long cut_line;      /* the file ends inside this line/record */
	unsigned long long_lines;    /* lines longer than AP_LOGSCAN_SCAN_MAX */
	unsigned long long_first;    /*   the first of them */
	unsigned long binary_lines;  /* lines of binary bytes, not searched */
	unsigned long binary_first;  /*   the first of them */
	unsigned long json_bad_line; /* JSON stops being valid on this line */
	const char *json_bad_what;   /*   static English text: what was wrong */
	/* UNKNOWN and JSON: the first non-empty line, sanitised and cut to
	 * AP_LOGSCAN_FIRST_MAX bytes; BINARY: its first bytes in hex. */
	char first[AP_LOGSCAN_FIRST_MAX * 3 + 1];
};

struct ap_logscan;

/* A new scanner, or NULL when memory runs out. */
struct ap_logscan *ap_logscan_new(void);
void ap_logscan_free(struct ap_logscan *s);

/*
 * Feeds the next len bytes of the file (buf may be NULL when len is 0).
 * Returns 0 to go on, 1 when the scanner needs no more bytes (binary file):
 * the caller may stop reading.  Never fails.
 */
int ap_logscan_feed(struct ap_logscan *s, const void *buf, size_t len);

/* Ends the input and returns the result, valid until ap_logscan_free(). */
const struct ap_logscan_result *ap_logscan_finish(struct ap_logscan *s);

/*
 * Whether the file was read fully and understood: its kind is one we know,
 * and nothing was cut off, too long, binary or invalid JSON.
 */
int ap_logscan_complete(const struct ap_logscan_result *r);

/*
 * Reads the file at path ("-": standard input) through a new scanner, in
 * 64 KiB chunks.  AP_OK with *out set (the caller frees it with
 * ap_logscan_free), or AP_EIO (cannot open or read: message on ctx naming
 * the file and the reason) or AP_ENOMEM, with *out NULL.
 */
int ap_logscan_file(const char *path, struct ap_logscan **out,
                    struct ap_ctx *ctx);

/*
 * Calls fn(line, arg) for each non-blank line of the len bytes at text, in
 * order: the same encodings and line ends as the scanner (UTF-8, UTF-16
 * with or without a BOM; LF, CR, CRLF), each line sanitised as evidence is
 * (valid UTF-8, escape sequences dropped, other control characters as '?',
 * the first AP_LOGSCAN_SCAN_MAX bytes only).  No JSON, no binary test:
 * every line is passed, the last one even without a newline.  line is
 * valid only during the call.  AP_OK, or AP_ENOMEM before any call.
 * The installer-log excerpt of install (package.h) reads logs through it.
 */
int ap_logscan_lines(const void *text, size_t len,
                     void (*fn)(const char *line, void *arg), void *arg);

/* Stable lowercase names for JSON: "windows-log", "agentpush-json"... */
const char *ap_logscan_kind_name(enum ap_logscan_kind kind);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_LOGSCAN_H */
