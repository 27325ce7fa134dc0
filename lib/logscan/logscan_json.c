/*
 * logscan_json.c - a streaming JSON reader for InstallerErrors.json and
 * agentpush's --format json output, one byte at a time.
 *
 * It validates the syntax as it goes (so a cut file and a file that is not
 * JSON are told apart) and keeps, per open object, only what an ErrorID
 * needs: the ID member, its line, a "target" and the best message member,
 * each cut to a fixed size.  So memory is fixed (JSON_DEPTH_MAX levels) and
 * a one-line 1 GB report is read like a small one.  Several top-level values
 * in a row (JSON Lines) are accepted.
 *
 * Which members count (names compared in lowercase with '_', '-' and ' '
 * removed): "errorid" and "errorcode" anywhere; "id" in an object that is an
 * element of an "errors" array (agentpush's reports).  The value is a number
 * or a string of digits, 10000 to 999999.  Messages: "evidence" first, then
 * "message", "defaultmessage", "errormessage", "description", then "title"
 * and "errorname".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logscan_int.h"

/* Marks the reasons of json_bad_what for xgettext; the CLI translates them
 * with ap_tr() (po/POTFILES lists this file). */
#define N_(s) (s)

enum {
	J_VALUE = 0,    /* a value is expected */
	J_VALUE_OR_END, /* after '[': a value or ']' */
	J_KEY_OR_END,   /* after '{': a key or '}' */
	J_KEY,          /* after ',' in an object */
	J_COLON,
	J_AFTER,        /* after a value: ',' or the container's end */
	J_TOP,          /* between top-level values */
	J_STRING,
	J_STR_ESC,
	J_STR_U,
	J_NUMBER,
	J_LITERAL
};

/* Lowercase, without '_', '-' and ' ', into out (JSON_KEY_MAX + 1). */
static void
norm_key(const char *k, char *out)
{
	size_t n = 0;

	for (; *k != '\0' && n < JSON_KEY_MAX; k++)
		if (*k != '_' && *k != '-' && *k != ' ')
			out[n++] = (char)tolower((unsigned char)*k);
	out[n] = '\0';
}

static int
msg_prio(const char *nk)
{
	if (strcmp(nk, "evidence") == 0)
		return 1;
	if (strcmp(nk, "message") == 0 || strcmp(nk, "defaultmessage") == 0 ||
	    strcmp(nk, "errormessage") == 0 || strcmp(nk, "description") == 0)
		return 2;
	if (strcmp(nk, "title") == 0 || strcmp(nk, "errorname") == 0)
		return 3;
	return 0;
}

/* An ErrorID from a number token or a string of digits; 0 when not one. */
static int
id_value(const char *v)
{
	long n = 0;
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		if (!isdigit((unsigned char)v[i]) || i >= 6)
			return 0;
		n = n * 10 + (v[i] - '0');
	}
	return i >= 5 && n >= 10000 ? (int)n : 0;
}

static void
copy_cut(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n)
		len = n - 1;
	/* never cut a UTF-8 character in two */
	while (len > 0 && len < strlen(src) && ((unsigned char)src[len] & 0xc0) == 0x80)
		len--;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A scalar value (string or number token v) for the current member. */
static void
on_value(struct json_state *js, const char *v, int is_string,
         unsigned long line)
{
	struct json_level *o;
	char nk[JSON_KEY_MAX + 1];
	int id, p;

	if (js->depth == 0 || js->lv[js->depth - 1].type != '{')
		return;
	o = &js->lv[js->depth - 1];
	norm_key(o->key, nk);
	if (strcmp(nk, "errorid") == 0 || strcmp(nk, "errorcode") == 0 ||
	    (strcmp(nk, "id") == 0 && o->in_errors)) {
		if (strcmp(nk, "id") != 0)
			js->saw_error_key = 1;
		if ((id = id_value(v)) != 0 && o->id == 0) {
			o->id = id;
			o->id_line = line;
		}
		return;
	}
	if (!is_string)
		return;
	if (strcmp(nk, "target") == 0) {
		copy_cut(o->target, sizeof(o->target), v);
		return;
	}
	p = msg_prio(nk);
	if (p != 0 && v[0] != '\0' && (o->msg_prio == 0 || p < o->msg_prio)) {
		copy_cut(o->msg, sizeof(o->msg), v);
		o->msg_prio = p;
	}
}

/* The object at the top closes: its ErrorID, if any, becomes a hit. */
static void
close_object(struct ap_logscan *s, struct json_state *js)
{
	struct json_level *o = &js->lv[js->depth - 1];
	char text[JSON_TARGET_MAX + AP_LOGSCAN_LINE_MAX + 64];
	const char *target = NULL;
	int d;

	if (o->id == 0)
		return;
	for (d = js->depth - 1; d >= 0 && target == NULL; d--)
		if (js->lv[d].type == '{' && js->lv[d].target[0] != '\0')
			target = js->lv[d].target;
	if (o->msg[0] == '\0')
		snprintf(text, sizeof(text), "%s%s%s %d", target != NULL ? target : "",
		         target != NULL ? ": " : "", o->in_errors ? "id" : "ErrorID", o->id);
	else
		snprintf(text, sizeof(text), "%s%s%s", target != NULL ? target : "",
		         target != NULL ? ": " : "", o->msg);
	ap_logscan_add_hit_(s, o->id, o->id_line, text);
}

static int
push(struct json_state *js, char type, const char **what)
{
	struct json_level *parent = js->depth > 0 ? &js->lv[js->depth - 1] : NULL;
	struct json_level *l;
	char nk[JSON_KEY_MAX + 1];

	if (js->depth >= JSON_DEPTH_MAX) {
		*what = N_("nested deeper than 64 levels");
		return -1;
	}
	l = &js->lv[js->depth++];
	memset(l, 0, sizeof(*l));
	l->type = type;
	if (parent != NULL && parent->type == '{') {
		norm_key(parent->key, nk);
		if (type == '[')
			l->errors = strcmp(nk, "errors") == 0;
		if (js->depth == 2 && strcmp(nk, "targets") == 0)
			js->saw_targets = 1;
	} else if (parent != NULL && parent->type == '[' && type == '{') {
		l->in_errors = parent->errors;
	}
	return 0;
}

/* A value ended: the state after it. */
static int
after_value(const struct json_state *js)
{
	return js->depth == 0 ? J_TOP : J_AFTER;
}

/* Appends code point cp to the string being read, as UTF-8. */
static void
str_cp(struct json_state *js, unsigned int cp)
{
	char b[4];
	size_t n;

	if (cp < 0x20)
		cp = ' ';   /* \n \t in a message: one line of evidence */
	if (cp >= 0xd800 && cp <= 0xdfff)
		cp = '?';   /* surrogate halves are not joined */
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	if (js->str_len + n >= sizeof(js->str)) {
		js->str_cut = 1;
		return;
	}
	memcpy(js->str + js->str_len, b, n);
	js->str_len += n;
}

static void
str_byte(struct json_state *js, unsigned char c)
{
	if (js->str_len + 1 >= sizeof(js->str)) {
		js->str_cut = 1;
		return;
	}
	js->str[js->str_len++] = (char)c;
}

static int
end_string(struct ap_logscan *s, struct json_state *js, unsigned long line)
{
	struct json_level *o = js->depth > 0 ? &js->lv[js->depth - 1] : NULL;

	(void)s;
	js->str[js->str_len] = '\0';
	if (js->str_is_key) {
		copy_cut(o->key, sizeof(o->key), js->str);
		return J_COLON;
	}
	on_value(js, js->str, 1, line);
	return after_value(js);
}

/* Checks and uses the number or literal in tok; -1 when it is not valid. */
static int
end_token(struct json_state *js, unsigned long line, const char **what)
{
	char *end = NULL;
	const char *t = js->tok;

	js->tok[js->tok_len] = '\0';
	if (js->state == J_LITERAL) {
		if (strcmp(t, "true") != 0 && strcmp(t, "false") != 0 &&
		    strcmp(t, "null") != 0) {
			*what = N_("a word that is not true, false or null");
			return -1;
		}
		on_value(js, t, 0, line);
		return 0;
	}
	/* JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	if (*t == '-')
		t++;
	if (!isdigit((unsigned char)*t) || (t[0] == '0' && isdigit((unsigned char)t[1])) ||
	    js->tok_len >= sizeof(js->tok) - 1) {
		*what = N_("a malformed number");
		return -1;
	}
	(void)strtod(js->tok, &end);
	if (end == NULL || *end != '\0' || end[-1] == '.' ||
	    strpbrk(js->tok, "eE") == end - 1 || end[-1] == '+' || end[-1] == '-') {
		*what = N_("a malformed number");
		return -1;
	}
	on_value(js, js->tok, 0, line);
	return 0;
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
ap_logscan_json_done_(const struct json_state *js)
{
	return js->state == J_TOP && js->depth == 0;
}

int
ap_logscan_json_byte_(struct ap_logscan *s, struct json_state *js,
                      unsigned char c, unsigned long line, const char **what)
{
	struct json_level *top;

	switch (js->state) {
	case J_STRING:
		if (c == '"')
			js->state = end_string(s, js, line);
		else if (c == '\\')
			js->state = J_STR_ESC;
		else if (c < 0x20) {
			*what = N_("a control character inside a string");
			return -1;
		} else
			str_byte(js, c);
		return 0;
	case J_STR_ESC:
		js->state = J_STRING;
		switch (c) {
		case '"': case '\\': case '/':
			str_byte(js, c);
			return 0;
		case 'b': case 'f': case 'n': case 'r': case 't':
			str_cp(js, ' ');
			return 0;
		case 'u':
			js->state = J_STR_U;
			js->u_val = 0;
			js->u_n = 0;
			return 0;
		default:
			*what = N_("an unknown escape in a string");
			return -1;
		}
	case J_STR_U:
		if (!isxdigit(c)) {
			*what = N_("a \\u escape without four hex digits");
			return -1;
		}
		js->u_val = js->u_val * 16 +
		            (unsigned)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
		if (++js->u_n == 4) {
			str_cp(js, js->u_val);
			js->state = J_STRING;
		}
		return 0;
	case J_NUMBER:
	case J_LITERAL:
		if ((js->state == J_NUMBER && (isdigit(c) || c == '.' || c == 'e' ||
		                               c == 'E' || c == '+' || c == '-')) ||
		    (js->state == J_LITERAL && isalpha(c))) {
			if (js->tok_len < sizeof(js->tok) - 1)
				js->tok[js->tok_len++] = (char)c;
			else
				js->tok_len = sizeof(js->tok) - 1; /* too long: invalid */
			return 0;
		}
		if (end_token(js, line, what) != 0)
			return -1;
		js->state = after_value(js);
		break; /* c still has to be read */
	default:
		break;
	}
	if (is_ws(c))
		return 0;
	switch (js->state) {
	case J_KEY_OR_END:
	case J_KEY:
		if (c == '"') {
			js->state = J_STRING;
			js->str_len = 0;
			js->str_cut = 0;
			js->str_is_key = 1;
			return 0;
		}
		if (c == '}' && js->state == J_KEY_OR_END)
			goto close;
		*what = N_("a member name was expected");
		return -1;
	case J_COLON:
		if (c == ':') {
			js->state = J_VALUE;
			return 0;
		}
		*what = N_("':' was expected after a member name");
		return -1;
	case J_AFTER:
		top = &js->lv[js->depth - 1];
		if (c == ',') {
			js->state = top->type == '{' ? J_KEY : J_VALUE;
			return 0;
		}
		if ((c == '}' && top->type == '{') || (c == ']' && top->type == '['))
			goto close;
		*what = N_("',' or the end of an object or array was expected");
		return -1;
	case J_TOP:
		if (c != '{' && c != '[') {
			*what = N_("text after the end of the JSON document");
			return -1;
		}
		/* another document (JSON Lines) */
		/* fall through */
	case J_VALUE:
	case J_VALUE_OR_END:
		if (c == ']' && js->state == J_VALUE_OR_END)
			goto close;
		if (c == '{' || c == '[') {
			if (push(js, (char)c, what) != 0)
				return -1;
			js->state = c == '{' ? J_KEY_OR_END : J_VALUE_OR_END;
			return 0;
		}
		if (c == '"') {
			js->state = J_STRING;
			js->str_len = 0;
			js->str_cut = 0;
			js->str_is_key = 0;
			return 0;
		}
		if (c == '-' || isdigit(c) || isalpha(c)) {
			js->state = isalpha(c) ? J_LITERAL : J_NUMBER;
			js->tok[0] = (char)c;
			js->tok_len = 1;
			return 0;
		}
		*what = N_("a value was expected");
		return -1;
	default:
		*what = N_("an internal state was lost");
		return -1;
	}
close:
	top = &js->lv[js->depth - 1];
	if (top->type == '{')
		close_object(s, js);
	js->depth--;
	js->state = after_value(js);
	if (js->depth == 0)
		js->docs++;
	return 0;
}
