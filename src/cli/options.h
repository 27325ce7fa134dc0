/*
 * options.h - the command line of `agentpush check` and `agentpush install`.
 *
 * cli_parse() reads the options and targets into struct cli_opts, reads the
 * password from --password-file or AGENTPUSH_PASSWORD, loads inventories
 * and fills the struct ap_run_opts the library takes.  Every bad input gets
 * exactly one line on stderr ("agentpush check: ...") and CLI_USAGE (2).
 *
 * Conventions (docs/cli.md): options and targets may be mixed; "--" ends the
 * options; long options are matched exactly (no abbreviations, so nothing
 * can be mistaken for --password-file); a password is never accepted on the
 * command line.
 *
 * Ownership: everything in cli_opts is owned by it and released, with the
 * password wiped, by cli_opts_clear().  opts->run points into it.
 */
#ifndef AP_CLI_OPTIONS_H
#define AP_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "agentpush/run.h"
#include "agentpush/target.h"
#include "agentpush/vault.h"

enum cli_format { CLI_FORMAT_TEXT = 0, CLI_FORMAT_JSON };

/* Which command is parsed: the values of cli_parse()'s install argument. */
enum cli_cmd { CLI_CMD_CHECK = 0, CLI_CMD_INSTALL = 1, CLI_CMD_RESUME = 2, CLI_CMD_FIX = 3 };

/* What cli_parse() tells the command to do. */
enum cli_next {
	CLI_RUN = -1,   /* parsed: go on */
	CLI_DONE = 0,   /* --help printed: exit 0 */
	CLI_USAGE = 2   /* a one-line error was printed: exit 2 */
};

struct cli_opts {
	const char *cmd;           /* "check", "install" or "resume" */
	int install;
	int resume;                /* resume: run.job_id holds the JOB */
	int submit;                /* --submit: record the job, run nothing */
	struct ap_run_opts run;
	struct ap_target *targets; /* n_targets of them, given order */
	size_t n_targets;
	enum cli_format format;
	int no_color;
	char *password;            /* wiped before it is freed */
	size_t password_cap;
	char *db_path;
	const char *state_dir;     /* install --state-dir (argv) */
	const char *vault_passfile; /* --vault-passphrase-file (argv) */
	/* the vault's accounts the targets name (cli_accounts_load());
	 * run.accounts points into it */
	struct ap_vault_run *vrun;
	char *stored_account;      /* resume: the job's --account */
	/* fix (cmd_fix.c): targets, or --job, or --undo */
	int fix;
	long long fix_job;         /* --job: the check job to fix; 0: none */
	long long undo_job;        /* --undo: the job whose fixes to undo; 0 */
	int *only;                 /* --only: ErrorIDs, given order; owned */
	size_t n_only;
	int dry_run;               /* --dry-run: show, apply nothing */
	int yes;                   /* --yes: consent given */
	int allow_priv;            /* --allow-privilege-changes */
	const char *fix_account;   /* --fix-account: a vault account (argv) */
};

/* Parses argv (argv[0] is the command name) for the command install
 * (enum cli_cmd); see enum cli_next. */
int cli_parse(int install, int argc, char **argv, struct cli_opts *o);

/*
 * Reads the first line of path as the password into o->password and
 * o->run.password (wiped by cli_opts_clear()); warns when others can read
 * the file.  CLI_RUN, or CLI_USAGE after one line on stderr naming o->cmd.
 */
int cli_read_password_file(struct cli_opts *o, const char *path);

/* Prints the --help text of the command install (enum cli_cmd). */
void cli_usage(int install, FILE *f);

/* Frees everything in o, wiping the password first.  Safe to call twice. */
void cli_opts_clear(struct cli_opts *o);

/*
 * Opens the vault of store (o->db_path's) and decrypts every account the
 * targets name (--account, agentpush_account=; for resume, those of the
 * job's targets and options), into o->run.accounts.  Nothing to do when no
 * target names one.  One line on stderr and CLI_USAGE on error (a name not
 * in the vault, a wrong key...), else CLI_RUN.  cmd_accounts.c.
 */
int cli_accounts_load(struct cli_opts *o, struct ap_store *store);
/*
 * Gives the targets that name no staging folder the one `agentpush fix`
 * recorded for their host (ap_fix_settings_apply()), saying so on stderr.
 * A negative code with the reason on ctx on error.  cmd_fix.c.
 */
struct ap_store;
struct ap_ctx;
int cli_fix_settings(struct cli_opts *o, struct ap_store *store, struct ap_ctx *ctx);

/* Wipes and frees what cli_accounts_load() loaded.  Safe to call twice. */
void cli_accounts_clear(struct cli_opts *o);

/* Whether to colour output on stdout: a terminal, no NO_COLOR, no --no-color. */
int cli_use_color(const struct cli_opts *o);

/* The command line of `agentpush jobs` (show 0) and `agentpush show JOB`
 * (show 1): --db, --format, --no-color, jobs --limit, show --events and
 * --id. */
struct cli_store_opts {
	const char *cmd;           /* "jobs" or "show" */
	enum cli_format format;
	int no_color;
	int events;                /* show --events */
	size_t limit;              /* jobs --limit; 0: all */
	long long job_id;          /* show JOB */
	int *ids;                  /* show --id: catalog ErrorIDs, given order; owned */
	size_t n_ids;              /* 0: no --id, show every target */
	char *db_path;             /* --db or the default; owned */
};

/* Parses argv (argv[0] is the command name); see enum cli_next.  On any
 * other answer than CLI_RUN, o holds nothing to free. */
int cli_parse_store(int show, int argc, char **argv, struct cli_store_opts *o);
/* Prints the --help text of jobs (show 0) or show (show 1). */
void cli_store_usage(int show, FILE *f);
/* Frees what o owns.  Safe to call twice. */
void cli_store_opts_clear(struct cli_store_opts *o);

#endif
