/*
 * smb_status.h - the one table from what libsmbclient tells us of a failed
 * SMB logon or tree connect to an NTSTATUS name and a catalog ErrorID.
 *
 * libsmbclient reports a failure as a bare errno (EACCES for a bad password,
 * a disabled account and a refused share alike: see
 * /work/shared/reference/libsmbclient-notes.md), but its debug log carries
 * the server's status as Samba's friendly text ("SPNEGO login failed: The
 * referenced account is currently disabled ...").  The texts below are the
 * ones of Samba 4.17's NTSTATUS description table (libcli/util/nterr.c,
 * printed by get_friendly_nt_error_msg() of libsamba-errors); the unit test
 * pins them.
 *
 * Internal to lib/ (not installed); pure functions, no I/O, no allocation.
 */
#ifndef AGENTPUSH_SMB_STATUS_H
#define AGENTPUSH_SMB_STATUS_H

#include <stddef.h>

/* Where in the connection a status was returned. */
enum ap_smb_phase {
	AP_SMB_PHASE_LOGON = 0,  /* session setup: the credential itself */
	AP_SMB_PHASE_TREE        /* tree connect: the share */
};

struct ap_smb_status {
	const char *name;        /* "NT_STATUS_LOGON_FAILURE" */
	unsigned int code;       /* 0xC000006D */
	const char *text;        /* Samba's friendly text */
	enum ap_smb_phase phase;
	int error_id;            /* AP_ERR_* */
};

/*
 * Finds the status whose NT_STATUS_* name or friendly text occurs in s
 * (a log line or part of one).  Returns the table entry, or NULL when none
 * does.  The longest match wins, so a text that extends another is found.
 */
const struct ap_smb_status *ap_smb_status_find(const char *s);

/* Returns the entry named name ("NT_STATUS_ACCESS_DENIED"), or NULL. */
const struct ap_smb_status *ap_smb_status_by_name(const char *name);

/*
 * Scans a libsmbclient debug log (lines separated by '\n') of one connection
 * attempt.  Sets *session_ok to 1 when the session setup succeeded (the
 * " session setup ok" line of debug level 4), else 0.  When a "login
 * failed:" line is present, copies its reason (what follows the colon,
 * trimmed) into reason (NUL-terminated, truncated to reason_len) and returns
 * the matching status or NULL for an unknown reason; without such a line
 * returns NULL and sets reason to "".
 */
const struct ap_smb_status *ap_smb_log_scan(const char *log, int *session_ok,
                                            char *reason, size_t reason_len);

/*
 * Writes the one-line evidence of a refused logon or tree connect into buf:
 *   "SMB logon of WORKGROUP\bob on 198.18.0.2 refused: NT_STATUS_LOGON_FAILURE"
 *   "tree connect to \\198.18.0.2\ADMIN$ as bob refused: NT_STATUS_ACCESS_DENIED"
 * phase says which of the two refused (a logon refusal may carry a status
 * the table files under TREE, e.g. NT_STATUS_ACCESS_DENIED).  st may be NULL
 * when the reason was not in the table; reason (the text the server's
 * status was printed as) is then quoted instead.  For
 * NT_STATUS_ACCESS_DENIED on a tree connect with local_account set, the
 * remote UAC cause and the LocalAccountTokenFilterPolicy fix are appended.
 * domain may be NULL or "" (the account is printed bare).  Never receives a
 * password.  Always NUL-terminates (buf_len > 0).
 */
void ap_smb_evidence(char *buf, size_t buf_len, enum ap_smb_phase phase,
                     const struct ap_smb_status *st, const char *reason, const char *addr, const char *share,
                     const char *domain, const char *user, int local_account);

#endif /* AGENTPUSH_SMB_STATUS_H */
