/*
 * explain_driver.c - runs cmd_explain() the way the agentpush program does
 * (locale from the environment, text domain bound to AGENTPUSH_LOCALEDIR),
 * so the explain tests can run before and independently of main.c's
 * dispatch.  Usage: explain_driver explain ARGS...
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "agentpush/catalog.h"
#include "commands.h"

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	ap_i18n_init(getenv("AGENTPUSH_LOCALEDIR"));
	if (argc < 2) {
		fprintf(stderr, "explain_driver: usage: explain_driver explain ARGS...\n");
		return 2;
	}
	return cmd_explain(argc - 1, argv + 1);
}
