/*
 * main.c - the agentpush command: parses the command line and dispatches to
 * a subcommand.  All logic lives in the library; this file only reads
 * arguments, calls the library and prints.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "agentpush/catalog.h"
#include "ap_config.h"

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	ap_i18n_init(NULL);
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("agentpush %s\n", AP_VERSION);
		return 0;
	}
	fprintf(stderr, "agentpush: no command given (try 'agentpush --help')\n");
	return 2;
}
