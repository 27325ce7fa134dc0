/*
 * main.c - the agentpush command: sets up the locale, then dispatches to a
 * subcommand.  All logic lives in the library; the subcommands only read
 * arguments, call the library and print.
 *
 *   agentpush check|install|resume|fix|jobs|show|explain|serve|passphrase|accounts
 *             ARGS...
 *   agentpush help [COMMAND]      the same as COMMAND --help
 *   agentpush --help | --version
 *
 * An unknown command gets one line on stderr and exit status 2.
 */
#include <libintl.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentpush/catalog.h"
#include "agentpush/target.h"
#include "ap_config.h"
#include "commands.h"

#define _(s) dgettext("agentpush", s)
#define N_(s) s /* marks a msgid for xgettext; _() translates it later */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary; /* msgid */
};

static const struct command commands[] = {
	{ "check",   cmd_check,   N_("diagnose targets without changing anything") },
	{ "install", cmd_install, N_("check, copy, install and verify the agent") },
	{ "resume",  cmd_resume,  N_("carry on an interrupted job") },
	{ "worker",  cmd_worker,  N_("claim and run hosts of a job store shared with other workers") },
	{ "fix",     cmd_fix,     N_("apply, with consent, the remedies for what a check found") },
	{ "explain", cmd_explain, N_("show what an ErrorID means and how to fix it") },
	{ "jobs",    cmd_jobs,    N_("list the jobs of the job store") },
	{ "show",    cmd_show,    N_("show the report of one job") },
	{ "serve",   cmd_serve,   N_("run the configuration server (HTTPS API, dashboard, agents)") },
	{ "passphrase", cmd_passphrase, N_("show or rotate the agents' registration passphrase") },
	{ "accounts", cmd_accounts, N_("keep named accounts, their passwords encrypted, for check and install") },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "%s\n", _("Usage: agentpush COMMAND [OPTIONS] [ARGUMENTS]"));
	fprintf(f, "\n%s\n\n", _("Push-installs an agent onto Linux and Windows machines and explains any failure with a stable ErrorID."));
	fprintf(f, "%s\n", _("Commands:"));
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, _(commands[i].summary));
	fprintf(f, "  %-9s %s\n", "help", _("show the help of a command"));
	fprintf(f, "\n%s\n", _("Options:"));
	fprintf(f, "%s\n", _("  -h, --help     this help"));
	fprintf(f, "%s\n", _("  --version      print the version and exit"));
	fprintf(f, "\n%s\n", _("Run 'agentpush COMMAND --help' for the options of a command."));
}

static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int
unknown_command(const char *name)
{
	char q[80];

	ap_target_quote(name, q, sizeof(q));
	fprintf(stderr, _("agentpush: unknown command '%s' (see 'agentpush --help')\n"), q);
	return 2;
}

/*
 * Binds the message catalogs: AGENTPUSH_LOCALEDIR when set (tests, packagers),
 * else the folder found from where this program is (its build tree, its
 * install tree even once moved), else the compiled-in path.
 */
static void
init_translations(void)
{
	const char *env = getenv("AGENTPUSH_LOCALEDIR");
	char exe[4096];
	char dir[4096];
	ssize_t len;

	if (env != NULL && env[0] != '\0') {
		ap_i18n_init(env);
		return;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0 || (size_t)len >= sizeof(exe) - 1) {
		ap_i18n_init(NULL);
		return;
	}
	exe[len] = '\0';
	ap_i18n_init(ap_i18n_localedir(exe, dir, sizeof(dir)) >= 0 ? dir : NULL);
}

int
main(int argc, char **argv)
{
	const struct command *c;
	const char *cmd;

	/*
	 * glibc gives each thread that allocates its own malloc arena; with
	 * hundreds of hosts in flight that is most of the memory per host.
	 * Two arenas keep contention low (workers mostly wait on the network)
	 * and memory bounded.  A tuning of this program, not of the library.
	 */
	mallopt(M_ARENA_MAX, 2);
	setlocale(LC_ALL, "");
	init_translations();

	if (argc < 2) {
		fprintf(stderr, "%s\n", _("agentpush: no command given (see 'agentpush --help')"));
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("agentpush %s\n", AP_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		char help[] = "--help";
		char *hargv[3];

		if (argc < 3) {
			usage(stdout);
			return 0;
		}
		if (argc > 3) {
			fprintf(stderr, "%s\n", _("agentpush help: give one command name"));
			return 2;
		}
		if ((c = find_command(argv[2])) == NULL)
			return unknown_command(argv[2]);
		hargv[0] = argv[2];
		hargv[1] = help;
		hargv[2] = NULL;
		return c->fn(2, hargv);
	}
	if (cmd[0] == '-') {
		char q[80];

		ap_target_quote(cmd, q, sizeof(q));
		fprintf(stderr, _("agentpush: unknown option '%s' (see 'agentpush --help')\n"), q);
		return 2;
	}
	if ((c = find_command(cmd)) == NULL)
		return unknown_command(cmd);
	return c->fn(argc - 1, argv + 1);
}
