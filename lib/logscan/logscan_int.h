/*
 * logscan_int.h - what logscan.c (encodings, lines, text formats) and
 * logscan_json.c (the streaming JSON reader) share.  Not installed.
 */
#ifndef AGENTPUSH_LOGSCAN_INT_H
#define AGENTPUSH_LOGSCAN_INT_H

#include "agentpush/logscan.h"

#define JSON_DEPTH_MAX 64
#define JSON_KEY_MAX 32
#define JSON_TARGET_MAX 128

/* One open JSON container; an object is also a record that may hold an ID. */
struct json_level {
	char type;                          /* '{' or '[' */
	int errors;                         /* '[': the value of an "errors" key */
	int in_errors;                      /* '{': an element of such an array */
	char key[JSON_KEY_MAX + 1];         /* '{': the current member's name */
	int id;                             /* '{': the ErrorID member, 0: none */
	unsigned long id_line;
	char target[JSON_TARGET_MAX + 1];   /* '{': "target" member */
	char msg[AP_LOGSCAN_LINE_MAX + 1];  /* '{': best message member */
	int msg_prio;                       /* 0: none; 1 (evidence) is best */
};

struct json_state {
	int state;
	int depth;
	struct json_level lv[JSON_DEPTH_MAX];
	char str[AP_LOGSCAN_LINE_MAX + 1];  /* the string being read, cut */
	size_t str_len;
	int str_is_key;
	int str_cut;
	unsigned int u_val;                 /* \uXXXX being read */
	int u_n;
	char tok[40];                       /* number or literal being read */
	size_t tok_len;
	int saw_targets;                    /* a top-level "targets" member */
	int saw_error_key;                  /* an ErrorID/ErrorCode member */
	int docs;                           /* complete top-level values */
};

struct ap_logscan;

/* logscan.c: records a find of id on line with evidence text. */
void ap_logscan_add_hit_(struct ap_logscan *s, int id, unsigned long line,
                         const char *text);
/* logscan.c: sanitises len bytes into out (n bytes); see logscan.c. */
size_t ap_logscan_clean_(const char *in, size_t len, char *out, size_t n,
                         int *binary);

/* logscan_json.c: one decoded byte; line is the current line number.
 * Returns 0, or -1 when the JSON became invalid (*what says why). */
int ap_logscan_json_byte_(struct ap_logscan *s, struct json_state *js,
                          unsigned char c, unsigned long line,
                          const char **what);
/* Whether the JSON is complete (between top-level values). */
int ap_logscan_json_done_(const struct json_state *js);

#endif /* AGENTPUSH_LOGSCAN_INT_H */
