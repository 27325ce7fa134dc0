/*
 * report_text.c - the rendering of a report for people.
 *
 *   FAILED   root@198.18.1.2:22  95108 The Linux account was rejected
 *              evidence: Permission denied (publickey,password).
 *              fix: Check the user name and password ...
 *   FAILED   root@198.18.1.5:22  800106 The SFTP subsystem is not available (refines 95108)
 *              ...
 *   OK       198.18.1.3  installed 1.2.0
 *   3 targets: 1 ok, 0 warning, 2 failed
 *
 * The first finding sits on the target's line (it is the one that stopped
 * the host: findings are in stage order); later ones get their own line.
 * Under each error or warning come its message, evidence and remediation,
 * indented.  Text from a remote host may hold anything, so control
 * characters other than newline are shown as '?' and can never reach a
 * terminal as escape sequences.
 */
#include <libintl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/report.h"

#define INDENT "           "

struct sbuf {
	char *s;
	size_t n, cap;
	int oom;
};

static void
sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->s != NULL ? b->s + b->n : NULL,
		              b->s != NULL ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			b->oom = 1;
			return;
		}
		if (b->s != NULL && b->n + (size_t)k < b->cap) {
			b->n += (size_t)k;
			return;
		}
		{
			size_t ncap = b->cap != 0 ? b->cap : 256;
			char *ns;

			while (ncap <= b->n + (size_t)k)
				ncap *= 2;
			if ((ns = realloc(b->s, ncap)) == NULL) {
				b->oom = 1;
				return;
			}
			b->s = ns;
			b->cap = ncap;
		}
	}
}

/* Appends text with each line after the first indented by lead. */
static void
sb_block(struct sbuf *b, const char *label, const char *text)
{
	size_t pad = strlen(INDENT) + strlen(label);
	const char *p;

	sb_add(b, "%s%s", INDENT, label);
	for (p = text; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\n') {
			if (p[1] == '\0')
				break;
			sb_add(b, "\n%*s", (int)pad, "");
		} else if (c == '\t') {
			sb_add(b, " ");
		} else if (c < 0x20 || c == 0x7f) {
			sb_add(b, "?");
		} else {
			sb_add(b, "%c", c);
		}
	}
	sb_add(b, "\n");
}

static const char *
status_label(enum ap_status st)
{
	switch (st) {
	case AP_STATUS_OK:
		return ap_tr("OK");
	case AP_STATUS_WARNING:
		return ap_tr("WARNING");
	case AP_STATUS_FAILED:
		return ap_tr("FAILED");
	}
	return "?";
}

static const char *
status_color(enum ap_status st)
{
	switch (st) {
	case AP_STATUS_OK:
		return "\033[32m";
	case AP_STATUS_WARNING:
		return "\033[33m";
	case AP_STATUS_FAILED:
		return "\033[1;31m";
	}
	return "";
}

/*
 * Appends a status label padded to 8 columns.  printf's %-8s counts bytes, so
 * a translated label with accents ("ÉCHEC") would come out one column short;
 * this counts UTF-8 characters (bytes that are not continuation bytes).
 */
static void
sb_label(struct sbuf *b, const char *label)
{
	size_t cols = 0;
	const char *p;

	for (p = label; *p != '\0'; p++)
		if (((unsigned char)*p & 0xc0) != 0x80)
			cols++;
	sb_add(b, "%s%*s", label, cols < 8 ? (int)(8 - cols) : 0, "");
}

/* Appends s with control characters shown as '?'. */
static void
sb_clean(struct sbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		sb_add(b, "%c", c < 0x20 || c == 0x7f ? '?' : c);
	}
}

static void
finding_text(struct sbuf *b, const struct ap_finding *f, int first, int color)
{
	const struct ap_catalog_entry *e = ap_catalog_find(f->id);

	if (!first)
		sb_add(b, "%s", INDENT);
	if (color && f->severity != AP_SEV_INFO)
		sb_add(b, "%s%d%s ", f->severity == AP_SEV_ERROR ? "\033[1m" : "",
		       f->id, f->severity == AP_SEV_ERROR ? "\033[0m" : "");
	else
		sb_add(b, "%d ", f->id);
	sb_clean(b, e != NULL ? ap_tr(e->title) : "");
	/* the product's number too, for whoever greps a report for it */
	if (e != NULL && e->refines != 0)
		sb_add(b, ap_tr(" (refines %d)"), e->refines);
	if (f->severity == AP_SEV_WARNING)
		sb_add(b, " (%s)", ap_tr("warning"));
	sb_add(b, "\n");
	if (f->severity == AP_SEV_INFO) {
		if (f->message != NULL && f->message[0] != '\0')
			sb_block(b, "", f->message);
		return;
	}
	if (f->message != NULL && f->message[0] != '\0')
		sb_block(b, "", f->message);
	if (f->evidence != NULL && f->evidence[0] != '\0')
		sb_block(b, ap_tr("evidence: "), f->evidence);
	if (e != NULL && e->remediation != NULL && e->remediation[0] != '\0')
		sb_block(b, ap_tr("fix: "), ap_tr(e->remediation));
}

char *
ap_report_to_text(const struct ap_report *report, int color)
{
	struct sbuf b = {0};
	struct ap_summary s;
	size_t i, j, n = ap_report_count(report);

	for (i = 0; i < n; i++) {
		const struct ap_result *r = ap_report_at(report, i);
		enum ap_status st = ap_result_status(r);

		if (color)
			sb_add(&b, "%s", status_color(st));
		sb_label(&b, status_label(st));
		sb_add(&b, color ? "\033[0m " : " ");
		sb_clean(&b, r->target);
		sb_add(&b, "  ");
		if (r->n_findings == 0) {
			if (r->note != NULL)
				sb_clean(&b, r->note);
			sb_add(&b, "\n");
			continue;
		}
		for (j = 0; j < r->n_findings; j++)
			finding_text(&b, &r->findings[j], j == 0, color);
		if (r->note != NULL)
			sb_block(&b, "", r->note);
	}
	ap_report_summary(report, &s);
	sb_add(&b, dngettext("agentpush", "%zu target: %zu ok, %zu warning, %zu failed\n",
	                     "%zu targets: %zu ok, %zu warning, %zu failed\n", n),
	       n, s.ok, s.warning, s.failed);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
