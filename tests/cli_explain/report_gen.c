/*
 * report_gen.c - writes the report of a failed agentpush install, rendered by
 * the library's own renderers (report.h), for the explain --log tests:
 *
 *   report_gen text|color|json
 *
 * Three targets: root@198.18.1.2:22 refused (95108), root@198.18.1.5:22 with
 * SFTP off (800106) and a failed installer (800404), 198.18.1.3 installed.
 * The text is in the locale of the environment (LANG=fr_FR.UTF-8: French).
 * So the tests read what agentpush prints today, not a copy that can age.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/catalog.h"
#include "agentpush/ctx.h"
#include "agentpush/report.h"
#include "agentpush/target.h"

static struct ap_result *
add(struct ap_report *rep, const char *spec)
{
	struct ap_target t;
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_result *r = NULL;

	memset(&t, 0, sizeof(t));
	if (ctx != NULL && ap_target_parse(spec, &t, ctx) == AP_OK)
		r = ap_report_add_target(rep, &t);
	ap_target_clear(&t);
	ap_ctx_free(ctx);
	if (r == NULL) {
		fprintf(stderr, "report_gen: cannot add %s\n", spec);
		exit(2);
	}
	return r;
}

int
main(int argc, char **argv)
{
	struct ap_report *rep = NULL;
	struct ap_result *r;
	char *out = NULL;

	setlocale(LC_ALL, "");
	ap_i18n_init(getenv("AGENTPUSH_LOCALEDIR"));
	if (argc != 2 || (rep = ap_report_new()) == NULL) {
		fprintf(stderr, "usage: report_gen text|color|json\n");
		return 2;
	}
	r = add(rep, "root@198.18.1.2:22");
	ap_result_add(r, 95108, NULL, "Permission denied (publickey,password).\nPasswordAuthentication no in /etc/ssh/sshd_config");
	r = add(rep, "root@198.18.1.5:22");
	ap_result_add(r, 800106, NULL, "the server offers no sftp subsystem: Subsystem sftp is commented out in /etc/ssh/sshd_config");
	ap_result_add(r, 800404, NULL, "installer exit code 1; log /opt/agent/install.log:\nERROR: cannot create /opt/agent/var");
	r = add(rep, "198.18.1.3");
	ap_result_set_note(r, "installed 1.2.0");
	if (strcmp(argv[1], "json") == 0)
		out = ap_report_to_json(rep);
	else
		out = ap_report_to_text(rep, strcmp(argv[1], "color") == 0);
	if (out == NULL)
		return 1;
	fputs(out, stdout);
	if (strcmp(argv[1], "json") == 0)
		putchar('\n');
	free(out);
	ap_report_free(rep);
	return 0;
}
