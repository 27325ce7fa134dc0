/*
 * fix_int.h - private to lib/fix/: the per-OS tables of remedies.
 *
 * Each OS family has one table (linux_fix.c, windows_fix.c) of entries
 * keyed by ErrorID.  An entry either builds a remedy from the finding (the
 * exact script, its undo, the per-host setting it records) or says in one
 * line why agentpush never applies one (a restart, GRUB/fstab, user data).
 * fix.c walks the host's findings and asks the table of the host's OS.
 *
 * Ownership: build() fills strings of the remedy it is given (malloc'd,
 * freed with the remedy by ap_fix_host_clear()); the input is borrowed.
 */
#ifndef AP_FIX_INT_H
#define AP_FIX_INT_H

#include "agentpush/fix.h"

/* What a builder knows of the host and the finding. */
struct ap_fix_input {
	const struct ap_target *t;
	const struct ap_finding *f;
	const char *user;       /* login name, NULL: root / the OS default */
	const char *tag;        /* names the copies kept on the host */
	const struct ap_run_account *admin; /* Windows: another administrator
	                         * account to run as, or NULL (fix.h) */
};

struct ap_fix_entry {
	int id;                 /* ErrorID */
	const char *name;       /* remedy name */
	int privilege;          /* 1: a privilege change */
	/*
	 * Fills r->commands, r->undo, r->setting, r->shell and sets r->remote;
	 * or leaves r->commands NULL and sets r->advice when the evidence shows
	 * a case the remedy does not cover.  NULL: never applied, never (see
	 * never).  AP_OK or AP_ENOMEM.
	 */
	int (*build)(const struct ap_fix_input *in, struct ap_fix_remedy *r,
	             struct ap_ctx *ctx);
	const char *never;      /* with build NULL: why only advice (one line) */
};

/* The table of os (AP_OS_LINUX or AP_OS_WINDOWS) and its length; NULL. */
const struct ap_fix_entry *ap_fix_table(enum ap_os os, size_t *n);
extern const struct ap_fix_entry ap_fix_linux_table[];
extern const size_t ap_fix_linux_table_n;
extern const struct ap_fix_entry ap_fix_windows_table[];
extern const size_t ap_fix_windows_table_n;

/* Marks a literal for the message catalog (po/POTFILES): the library keeps
 * it in English, the CLI translates it when it prints it. */
#define N_(s) s

/* malloc'd printf, or NULL when out of memory. */
char *ap_fix_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether s is 1..max characters of [a-z0-9] ([A-Z] too when upper) and
 * the characters of extra: a word a script may hold as it is. */
int ap_fix_word_ok(const char *s, size_t max, int upper, const char *extra);
/* The value of t's inventory variable key, or NULL. */
const char *ap_fix_var(const struct ap_target *t, const char *key);

/* Marks the place in an undo script where fix.c puts the (shell-quoted)
 * value the remedy reported for its setting. */
#define AP_FIX_SETTING_MARK "@SETTING@"
/* The line prefix by which a script reports its setting's value on stdout:
 * "agentpush-setting: VALUE". */
#define AP_FIX_SETTING_PREFIX "agentpush-setting: "

#endif
