/*
 * winrm_xml.c - the WS-Management shell messages (MS-WSMV 3.1.4.1) as text:
 * requests built by hand (a fixed template, every variable part escaped),
 * replies read with libxml2 (see winrm_xml.h for the safety settings).
 *
 * Why libxml2 rather than a scanner of our own: replies come from the
 * network and use namespaces with arbitrary prefixes; a real, fuzzed parser
 * with DTDs and network access switched off is the smaller risk.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <sodium.h>

#include "winrm_xml.h"

#define NS_S   "http://www.w3.org/2003/05/soap-envelope"
#define NS_A   "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_W   "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define NS_P   "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
#define NS_RSP "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
#define NS_X   "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define NS_F   "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

#define RES_CMD NS_RSP "/cmd"
#define BUILD_CAP (8u * 1024u * 1024u)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init_once(void)
{
	xmlInitParser();
}

void
ap_winrm_xml_init(void)
{
	pthread_once(&xml_once, xml_init_once);
}

/* libxml2's errors while parsing a reply: dropped (the caller says what
 * was wrong with the reply in its own words). */
static void
xml_error_ignore(void *ud, xmlErrorPtr error)
{
	(void)ud;
	(void)error;
}

/*
 * Parses a reply without letting libxml2 print.  XML_PARSE_NOERROR and
 * NOWARNING silence the parser's own reports, but not its encoding layer,
 * which (libxml2 2.9) writes "encoding error : input conversion failed"
 * to stderr through the generic channel when the bytes are no character
 * of the encoding their first bytes announced (fuzz_winrm found it): a
 * structured handler takes every report instead.  libxml2 keeps that
 * handler per thread, so it is set around this parse and put back, and
 * other threads (and their parses) are untouched.
 */
static xmlDoc *
read_quietly(const char *xml, int len)
{
	xmlStructuredErrorFunc saved = xmlStructuredError;
	void *saved_ud = xmlStructuredErrorContext;
	xmlDoc *doc = NULL;

	xmlSetStructuredErrorFunc(NULL, xml_error_ignore);
	doc = xmlReadMemory(xml, len, NULL, NULL,
	                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlSetStructuredErrorFunc(saved_ud, saved);
	return doc;
}

/* --- building ----------------------------------------------------------- */

static int
put(struct ap_capbuf *b, const char *s)
{
	return ap_capbuf_append(b, s, strlen(s));
}

/* Appends s XML-escaped; -2 when s holds a byte XML 1.0 cannot carry. */
static int
put_esc(struct ap_capbuf *b, const char *s)
{
	const unsigned char *p;
	const char *rep;
	int r;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			return -2;
		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\r': rep = "&#13;"; break;
		default: rep = NULL; break;
		}
		r = rep != NULL ? put(b, rep) : ap_capbuf_append(b, p, 1);
		if (r != 0)
			return -1;
	}
	return 0;
}

static int
put_uuid(struct ap_capbuf *b)
{
	unsigned char u[16];
	char s[48];

	randombytes_buf(u, sizeof(u));
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	snprintf(s, sizeof(s),
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x",
	         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
	         u[10], u[11], u[12], u[13], u[14], u[15]);
	return put(b, s);
}

static const char *
action_uri(enum ap_winrm_action a)
{
	switch (a) {
	case AP_WINRM_CREATE: return "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
	case AP_WINRM_DELETE: return "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
	case AP_WINRM_COMMAND: return NS_RSP "/Command";
	case AP_WINRM_SEND: return NS_RSP "/Send";
	case AP_WINRM_RECEIVE: return NS_RSP "/Receive";
	case AP_WINRM_SIGNAL: return NS_RSP "/Signal";
	}
	return NULL;
}

/* Appends the base64 of data (ORIGINAL variant, padded). */
static int
put_b64(struct ap_capbuf *b, const void *data, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(n);
	int r;

	if (s == NULL)
		return -1;
	sodium_bin2base64(s, n, data, len, sodium_base64_VARIANT_ORIGINAL);
	r = put(b, s);
	free(s);
	return r;
}

int
ap_winrm_build(const struct ap_winrm_req *req, char **xml, char *why,
               size_t why_len)
{
	struct ap_capbuf b = { NULL, 0, 0, BUILD_CAP, 0 };
	char num[32];
	int r = -1, e;
	const char *act = action_uri(req->action);

	*xml = NULL;
	snprintf(why, why_len, "out of memory");
	if (act == NULL || req->url == NULL ||
	    (req->action != AP_WINRM_CREATE && req->shell_id == NULL) ||
	    ((req->action == AP_WINRM_SEND || req->action == AP_WINRM_RECEIVE ||
	      req->action == AP_WINRM_SIGNAL) && req->command_id == NULL) ||
	    (req->action == AP_WINRM_COMMAND && req->command == NULL)) {
		snprintf(why, why_len, "WS-Management request without its shell, command or text");
		return -2;
	}
	snprintf(num, sizeof(num), "PT%dS", req->timeout_s > 0 ? req->timeout_s : 60);
	if (put(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	        "<s:Envelope xmlns:s=\"" NS_S "\" xmlns:a=\"" NS_A "\" xmlns:w=\"" NS_W
	        "\" xmlns:p=\"" NS_P "\" xmlns:rsp=\"" NS_RSP "\"><s:Header><a:To>") ||
	    put_esc(&b, req->url) ||
	    put(&b, "</a:To><a:ReplyTo><a:Address s:mustUnderstand=\"true\">"
	        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	        "</a:Address></a:ReplyTo><w:MaxEnvelopeSize s:mustUnderstand=\"true\">"
	        "153600</w:MaxEnvelopeSize><a:MessageID>uuid:") ||
	    put_uuid(&b) ||
	    put(&b, "</a:MessageID><w:Locale s:mustUnderstand=\"false\" xml:lang=\"en-US\"/>"
	        "<p:DataLocale s:mustUnderstand=\"false\" xml:lang=\"en-US\"/>"
	        "<w:OperationTimeout>") || put(&b, num) ||
	    put(&b, "</w:OperationTimeout><w:ResourceURI s:mustUnderstand=\"true\">" RES_CMD
	        "</w:ResourceURI><a:Action s:mustUnderstand=\"true\">") ||
	    put(&b, act) || put(&b, "</a:Action>"))
		goto out;
	if (req->action != AP_WINRM_CREATE) {
		if (put(&b, "<w:SelectorSet><w:Selector Name=\"ShellId\">") ||
		    (e = put_esc(&b, req->shell_id)) != 0 ||
		    put(&b, "</w:Selector></w:SelectorSet>"))
			goto out;
	}
	if (req->action == AP_WINRM_CREATE &&
	    put(&b, "<w:OptionSet><w:Option Name=\"WINRS_NOPROFILE\">TRUE</w:Option>"
	        "<w:Option Name=\"WINRS_CODEPAGE\">65001</w:Option></w:OptionSet>"))
		goto out;
	if (req->action == AP_WINRM_COMMAND &&
	    put(&b, "<w:OptionSet><w:Option Name=\"WINRS_CONSOLEMODE_STDIN\">TRUE</w:Option>"
	        "<w:Option Name=\"WINRS_SKIP_CMD_SHELL\">FALSE</w:Option></w:OptionSet>"))
		goto out;
	if (put(&b, "</s:Header><s:Body>"))
		goto out;
	switch (req->action) {
	case AP_WINRM_CREATE:
		if (put(&b, "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
		        "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"))
			goto out;
		break;
	case AP_WINRM_COMMAND:
		if (put(&b, "<rsp:CommandLine><rsp:Command>"))
			goto out;
		if ((e = put_esc(&b, req->command)) != 0) {
			if (e == -2) {
				snprintf(why, why_len, "the command holds a control character");
				r = -2;
			}
			goto out;
		}
		if (put(&b, "</rsp:Command></rsp:CommandLine>"))
			goto out;
		break;
	case AP_WINRM_SEND:
		if (put(&b, "<rsp:Send><rsp:Stream Name=\"stdin\" CommandId=\"") ||
		    put_esc(&b, req->command_id) ||
		    put(&b, req->end ? "\" End=\"true\">" : "\">") ||
		    put_b64(&b, req->data, req->data_len) ||
		    put(&b, "</rsp:Stream></rsp:Send>"))
			goto out;
		break;
	case AP_WINRM_RECEIVE:
		if (put(&b, "<rsp:Receive><rsp:DesiredStream CommandId=\"") ||
		    put_esc(&b, req->command_id) ||
		    put(&b, "\">stdout stderr</rsp:DesiredStream></rsp:Receive>"))
			goto out;
		break;
	case AP_WINRM_SIGNAL:
		if (put(&b, "<rsp:Signal CommandId=\"") ||
		    put_esc(&b, req->command_id) ||
		    put(&b, "\"><rsp:Code>" NS_RSP "/signal/terminate</rsp:Code></rsp:Signal>"))
			goto out;
		break;
	case AP_WINRM_DELETE:
		break;
	}
	if (put(&b, "</s:Body></s:Envelope>\n"))
		goto out;
	if (b.truncated) {
		snprintf(why, why_len, "WS-Management request over %u bytes", BUILD_CAP);
		r = -2;
		goto out;
	}
	*xml = b.p;
	b.p = NULL; /* transferred */
	r = 0;
out:
	ap_capbuf_clear(&b);
	return r;
}

/* --- parsing ------------------------------------------------------------ */

static int
is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       n->ns->href != NULL &&
	       strcmp((const char *)n->ns->href, ns) == 0 &&
	       strcmp((const char *)n->name, name) == 0;
}

static xmlNode *
child(const xmlNode *n, const char *ns, const char *name)
{
	xmlNode *c;

	for (c = n != NULL ? n->children : NULL; c != NULL; c = c->next)
		if (is_el(c, ns, name))
			return c;
	return NULL;
}

/* Depth-first search below n (bounded by the parser's depth limit). */
static xmlNode *
find(xmlNode *n, const char *ns, const char *name)
{
	xmlNode *c, *f;

	for (c = n != NULL ? n->children : NULL; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is_el(c, ns, name))
			return c;
		if ((f = find(c, ns, name)) != NULL)
			return f;
	}
	return NULL;
}

/* Copies n's text, trimmed, into dst[n]; -1 out of memory, 1 too long. */
static int
text_to(const xmlNode *n, char *dst, size_t len)
{
	xmlChar *t = xmlNodeGetContent(n);
	const char *s, *e;
	size_t k;

	dst[0] = '\0';
	if (t == NULL)
		return n->children == NULL ? 0 : -1;
	s = (const char *)t;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	k = (size_t)(e - s);
	if (k >= len) {
		/* Messages may be long: cut them; the caller checks ids itself. */
		k = len - 1;
		memcpy(dst, s, k);
		dst[k] = '\0';
		xmlFree(t);
		return 1;
	}
	memcpy(dst, s, k);
	dst[k] = '\0';
	xmlFree(t);
	return 0;
}

/* Shell and command ids are GUIDs: letters, digits, '-', '{', '}'. */
static int
id_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '{' || *s == '}'))
			return 0;
	return 1;
}

static int
get_id(const xmlNode *n, char *dst, const char *what, char *why, size_t why_len)
{
	int r = text_to(n, dst, AP_WINRM_ID_MAX);

	if (r < 0)
		return -1;
	if (r > 0 || !id_ok(dst)) {
		dst[0] = '\0';
		snprintf(why, why_len, "malformed %s in the WS-Management reply", what);
		return -2;
	}
	return 0;
}

static int
parse_fault(xmlNode *fault, struct ap_winrm_reply *rep)
{
	xmlNode *code = child(fault, NS_S, "Code"), *n = NULL, *wf = NULL;
	xmlChar *a = NULL;
	char *end = NULL;
	unsigned long v;

	rep->kind = AP_WINRM_R_FAULT;
	if ((n = child(code, NS_S, "Value")) != NULL &&
	    text_to(n, rep->fault_code, sizeof(rep->fault_code)) < 0)
		return -1;
	if ((n = child(child(code, NS_S, "Subcode"), NS_S, "Value")) != NULL &&
	    text_to(n, rep->fault_subcode, sizeof(rep->fault_subcode)) < 0)
		return -1;
	if ((wf = find(fault, NS_F, "WSManFault")) != NULL) {
		if ((a = xmlGetProp(wf, (const xmlChar *)"Code")) != NULL) {
			errno = 0;
			v = strtoul((const char *)a, &end, 10);
			if (errno == 0 && end != (char *)a && *end == '\0' &&
			    v <= 0xffffffffUL)
				rep->wsman_code = v;
			xmlFree(a);
		}
		if ((n = child(wf, NS_F, "Message")) != NULL &&
		    text_to(n, rep->fault_reason, sizeof(rep->fault_reason)) < 0)
			return -1;
	}
	if (rep->fault_reason[0] == '\0' &&
	    (n = child(child(fault, NS_S, "Reason"), NS_S, "Text")) != NULL &&
	    text_to(n, rep->fault_reason, sizeof(rep->fault_reason)) < 0)
		return -1;
	return 0;
}

/* Decodes one Stream element's base64 and appends it to dst (may be NULL). */
static int
add_stream(xmlNode *s, struct ap_capbuf *dst, char *why, size_t why_len)
{
	xmlChar *t = NULL;
	unsigned char *bin = NULL;
	size_t tl, bl = 0;
	int r = -1;

	if (dst == NULL)
		return 0;
	if ((t = xmlNodeGetContent(s)) == NULL)
		return s->children == NULL ? 0 : -1;
	tl = strlen((const char *)t);
	if (tl == 0) {
		r = 0;
		goto out;
	}
	if ((bin = malloc(tl / 4 * 3 + 3)) == NULL)
		goto out;
	if (sodium_base642bin(bin, tl / 4 * 3 + 3, (const char *)t, tl, " \t\r\n",
	                      &bl, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		snprintf(why, why_len, "a stream of the WS-Management reply is not base64");
		r = -2;
		goto out;
	}
	r = ap_capbuf_append(dst, bin, bl) == 0 ? 0 : -1;
out:
	free(bin);
	xmlFree(t);
	return r;
}

static int
parse_receive(xmlNode *rr, struct ap_winrm_reply *rep, struct ap_capbuf *out,
              struct ap_capbuf *err, char *why, size_t why_len)
{
	xmlNode *c, *ec;
	xmlChar *a = NULL;
	char num[32], *end = NULL;
	long v;
	int r;

	rep->kind = AP_WINRM_R_RECEIVE;
	for (c = rr->children; c != NULL; c = c->next) {
		if (is_el(c, NS_RSP, "Stream")) {
			if ((a = xmlGetProp(c, (const xmlChar *)"Name")) == NULL) {
				snprintf(why, why_len, "a stream without a name in the WS-Management reply");
				return -2;
			}
			r = 0;
			if (strcmp((const char *)a, "stdout") == 0)
				r = add_stream(c, out, why, why_len);
			else if (strcmp((const char *)a, "stderr") == 0)
				r = add_stream(c, err, why, why_len);
			xmlFree(a);
			if (r != 0)
				return r;
		} else if (is_el(c, NS_RSP, "CommandState")) {
			if ((a = xmlGetProp(c, (const xmlChar *)"State")) == NULL) {
				snprintf(why, why_len, "a command state without a State in the WS-Management reply");
				return -2;
			}
			if (strcmp((const char *)a, NS_RSP "/CommandState/Done") == 0)
				rep->done = 1;
			xmlFree(a);
			if ((ec = child(c, NS_RSP, "ExitCode")) != NULL) {
				if ((r = text_to(ec, num, sizeof(num))) < 0)
					return -1;
				errno = 0;
				v = strtol(num, &end, 10);
				if (r > 0 || num[0] == '\0' || *end != '\0' || errno != 0 ||
				    v < -2147483648L || v > 4294967295L) {
					snprintf(why, why_len, "malformed ExitCode in the WS-Management reply");
					return -2;
				}
				/* Windows sends DWORDs; the catalog keeps them signed. */
				if (v > 2147483647L)
					v -= 4294967296L;
				rep->exit_code = v;
				rep->has_exit_code = 1;
			}
		}
	}
	return 0;
}

int
ap_winrm_parse(const char *xml, size_t len, struct ap_winrm_reply *rep,
               struct ap_capbuf *out, struct ap_capbuf *err, char *why,
               size_t why_len)
{
	xmlDoc *doc = NULL;
	xmlNode *root, *body, *el = NULL, *n;
	xmlChar *a = NULL;
	int r = -2;

	memset(rep, 0, sizeof(*rep));
	snprintf(why, why_len, "out of memory");
	if (len == 0 || len > AP_WINRM_MAX_REPLY || len > INT_MAX) {
		snprintf(why, why_len, "WS-Management reply of %zu bytes (empty or over %u)",
		         len, AP_WINRM_MAX_REPLY);
		return -2;
	}
	ap_winrm_xml_init();
	doc = read_quietly(xml, (int)len);
	if (doc == NULL) {
		snprintf(why, why_len, "the WS-Management reply is not well-formed XML");
		return -2;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		snprintf(why, why_len, "the WS-Management reply has a DOCTYPE (refused)");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (!is_el(root, NS_S, "Envelope") || (body = child(root, NS_S, "Body")) == NULL) {
		snprintf(why, why_len, "the reply is not a SOAP 1.2 envelope with a body");
		goto out;
	}
	for (n = body->children; n != NULL && el == NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			el = n;
	if (el == NULL) {
		rep->kind = AP_WINRM_R_EMPTY;
		r = 0;
		goto out;
	}
	if (is_el(el, NS_S, "Fault")) {
		r = parse_fault(el, rep);
	} else if (is_el(el, NS_X, "ResourceCreated") || is_el(el, NS_RSP, "Shell")) {
		/* Windows answers Create with ResourceCreated holding the ShellId
		 * selector; some versions add (or send only) rsp:Shell/rsp:ShellId. */
		for (n = find(el, NS_W, "Selector"); n != NULL; n = NULL) {
			if ((a = xmlGetProp(n, (const xmlChar *)"Name")) != NULL &&
			    strcmp((const char *)a, "ShellId") == 0) {
				xmlFree(a);
				a = NULL;
				if ((r = get_id(n, rep->shell_id, "ShellId", why, why_len)) != 0)
					goto out;
			}
			xmlFree(a);
			a = NULL;
		}
		if (rep->shell_id[0] == '\0' && (n = find(el, NS_RSP, "ShellId")) != NULL &&
		    (r = get_id(n, rep->shell_id, "ShellId", why, why_len)) != 0)
			goto out;
		if (is_el(el, NS_RSP, "Shell") && rep->shell_id[0] == '\0' &&
		    (n = child(el, NS_RSP, "ShellId")) != NULL &&
		    (r = get_id(n, rep->shell_id, "ShellId", why, why_len)) != 0)
			goto out;
		if (rep->shell_id[0] == '\0') {
			snprintf(why, why_len, "the Create reply names no ShellId");
			r = -2;
			goto out;
		}
		rep->kind = AP_WINRM_R_CREATED;
		r = 0;
	} else if (is_el(el, NS_RSP, "CommandResponse")) {
		if ((n = child(el, NS_RSP, "CommandId")) == NULL) {
			snprintf(why, why_len, "the Command reply names no CommandId");
			r = -2;
			goto out;
		}
		if ((r = get_id(n, rep->command_id, "CommandId", why, why_len)) != 0)
			goto out;
		rep->kind = AP_WINRM_R_COMMAND;
	} else if (is_el(el, NS_RSP, "ReceiveResponse")) {
		r = parse_receive(el, rep, out, err, why, why_len);
	} else if (is_el(el, NS_RSP, "SendResponse") || is_el(el, NS_RSP, "SignalResponse")) {
		rep->kind = AP_WINRM_R_EMPTY;
		r = 0;
	} else {
		rep->kind = AP_WINRM_R_OTHER;
		r = 0;
	}
out:
	xmlFreeDoc(doc);
	return r;
}
