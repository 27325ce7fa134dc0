/*
 * winrm_xml.h - builds the WS-Management (MS-WSMV shell) requests and reads
 * the replies, with no I/O, so unit tests and the fuzzer reach it directly.
 *
 * Internal to lib/ (not installed).  Replies are untrusted network input:
 * they are parsed by libxml2 with no network access, no DTD (a document with
 * a DOCTYPE is refused, so no entity expansion can blow up), no entity
 * substitution, and at most AP_WINRM_MAX_REPLY bytes.  Elements are matched
 * by local name AND namespace URI.
 */
#ifndef AGENTPUSH_WINRM_XML_H
#define AGENTPUSH_WINRM_XML_H

#include <stddef.h>

#include "transport_util.h"

#define AP_WINRM_MAX_REPLY (1024u * 1024u)
#define AP_WINRM_ID_MAX 128

enum ap_winrm_action {
	AP_WINRM_CREATE = 0,
	AP_WINRM_COMMAND,
	AP_WINRM_SEND,
	AP_WINRM_RECEIVE,
	AP_WINRM_SIGNAL,
	AP_WINRM_DELETE
};

struct ap_winrm_req {
	enum ap_winrm_action action;
	const char *url;          /* the To address */
	const char *shell_id;     /* all but Create */
	const char *command_id;   /* Send, Receive, Signal */
	const char *command;      /* Command: the whole command line */
	const void *data;         /* Send: stdin bytes */
	size_t data_len;
	int end;                  /* Send: last chunk (End="true") */
	int timeout_s;            /* OperationTimeout; 0: 60 */
};

/*
 * Builds the SOAP envelope for req into a malloc'd NUL-terminated string in
 * *xml (caller frees).  Text is XML-escaped; a command holding a byte that
 * XML 1.0 cannot carry (a control character) is refused.  Returns 0, -1 for
 * out of memory, -2 for bad input (why says what, always NUL-terminated).
 */
int ap_winrm_build(const struct ap_winrm_req *req, char **xml, char *why,
                   size_t why_len);

enum ap_winrm_kind {
	AP_WINRM_R_OTHER = 0,
	AP_WINRM_R_CREATED,       /* shell_id set */
	AP_WINRM_R_COMMAND,       /* command_id set */
	AP_WINRM_R_RECEIVE,       /* streams appended; done/exit_code */
	AP_WINRM_R_EMPTY,         /* Send/Signal/Delete response */
	AP_WINRM_R_FAULT          /* fault_* set */
};

struct ap_winrm_reply {
	enum ap_winrm_kind kind;
	char shell_id[AP_WINRM_ID_MAX];
	char command_id[AP_WINRM_ID_MAX];
	int done;                 /* CommandState Done seen */
	int has_exit_code;
	long exit_code;           /* as Windows gives it (may be negative) */
	char fault_code[64];      /* "s:Receiver" */
	char fault_subcode[64];   /* "w:TimedOut" */
	char fault_reason[512];   /* Reason/Text or WSManFault/Message */
	unsigned long wsman_code; /* WSManFault Code attribute, 0 when none */
};

/*
 * Parses one reply body.  Streams named stdout/stderr are base64-decoded
 * and appended to out/err (either may be NULL to drop them).  Returns 0 with
 * *rep filled, -1 for out of memory, -2 for a malformed reply (why says
 * what).  A SOAP fault is a successful parse with kind AP_WINRM_R_FAULT.
 */
int ap_winrm_parse(const char *xml, size_t len, struct ap_winrm_reply *rep,
                   struct ap_capbuf *out, struct ap_capbuf *err, char *why,
                   size_t why_len);

/* Initialises libxml2 once per process (thread-safe; idempotent). */
void ap_winrm_xml_init(void);

#endif /* AGENTPUSH_WINRM_XML_H */
