/*
 * cmd_accounts.c - "agentpush accounts": the credential vault (vault.h).
 *
 *   agentpush accounts add NAME --user USER [--domain D] [--kind linux|windows]
 *   agentpush accounts list [--format text|json]
 *   agentpush accounts passwd NAME
 *   agentpush accounts rm NAME
 *   agentpush accounts rekey [--new-vault-passphrase-file FILE]
 *   common: --db PATH, --vault-passphrase-file FILE, -h/--help
 *
 * A password is read from the terminal with echo off (asked twice), or
 * else from the first line of stdin; never from argv or the environment.
 * Long options are matched exactly, as in options.c.  Exit status: 0 done,
 * 2 usage, configuration or vault error (one line on stderr).
 *
 * Also cli_accounts_load() (options.h): check, install and resume open
 * the accounts their targets name.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libintl.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "agentpush/store.h"
#include "agentpush/target.h"
#include "agentpush/vault.h"
#include "commands.h"
#include "options.h"

#define _(s) dgettext("agentpush", s)

enum acc_opt { A_DB, A_PASSFILE, A_NEW_PASSFILE, A_USER, A_DOMAIN, A_KIND, A_FORMAT, A_HELP };

struct acc_opt_def {
	const char *name;
	enum acc_opt id;
	const char *verbs;   /* the verbs that take it, "" for all */
};

static const struct acc_opt_def acc_opts[] = {
	{ "db", A_DB, "" },
	{ "vault-passphrase-file", A_PASSFILE, "" },
	{ "new-vault-passphrase-file", A_NEW_PASSFILE, "rekey" },
	{ "user", A_USER, "add" },
	{ "domain", A_DOMAIN, "add" },
	{ "kind", A_KIND, "add" },
	{ "format", A_FORMAT, "list" },
};

static void
accounts_usage(FILE *f)
{
	fprintf(f, "%s\n", _("Usage: agentpush accounts add NAME --user USER [--domain DOMAIN] [--kind linux|windows]"));
	fprintf(f, "%s\n", _("       agentpush accounts list|passwd NAME|rm NAME|rekey [OPTIONS]"));
	fprintf(f, "\n%s\n\n", _("Keeps named accounts (user and password) in the job store, the password encrypted; check and install use them with --account NAME or the inventory variable agentpush_account."));
	fprintf(f, "%s\n", _("  add NAME                  add an account; its password is read from the terminal"));
	fprintf(f, "%s\n", _("                            (echo off) or from the first line of stdin"));
	fprintf(f, "%s\n", _("  list                      list the accounts (never a password)"));
	fprintf(f, "%s\n", _("  passwd NAME               change the password (clears a refusal)"));
	fprintf(f, "%s\n", _("  rm NAME                   remove an account"));
	fprintf(f, "%s\n", _("  rekey                     encrypt every password with a new key"));
	fprintf(f, "\n");
	fprintf(f, "%s\n", _("  --user USER               add: the account's login name"));
	fprintf(f, "%s\n", _("  --domain DOMAIN           add: the Windows domain"));
	fprintf(f, "%s\n", _("  --kind KIND               add: linux (default) or windows"));
	fprintf(f, "%s\n", _("  --format FORMAT           list: text (default) or json"));
	fprintf(f, "%s\n", _("  --vault-passphrase-file FILE  the vault's passphrase (first line of FILE), when"));
	fprintf(f, "%s\n", _("                            it has one; else the key file vault.key beside the store"));
	fprintf(f, "%s\n", _("  --new-vault-passphrase-file FILE  rekey: lock the vault with this passphrase"));
	fprintf(f, "%s\n", _("                            instead of a new key file"));
	fprintf(f, "%s\n", _("  --db PATH                 job store (default $XDG_STATE_HOME/agentpush/jobs.db)"));
	fprintf(f, "%s\n", _("  -h, --help                this help"));
	fprintf(f, "\n%s\n", _("Exit status: 0 done, 2 usage, configuration or vault error."));
}

struct acc_args {
	const char *verb;
	const char *name;
	const char *db;
	const char *passfile;
	const char *new_passfile;
	const char *user;
	const char *domain;
	const char *kind;
	const char *format;
};

static int
acc_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "agentpush accounts: MESSAGE" on one line; returns 2. */
static int
acc_error(const char *fmt, ...)
{
	va_list ap;

	fputs("agentpush accounts: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

static int
parse(int argc, char **argv, struct acc_args *a)
{
	const struct acc_opt_def *d = NULL;
	const char *arg = NULL, *eq = NULL, *val = NULL;
	char qb[80], name[64];
	size_t k, n;
	int i, only_args = 0;

	memset(a, 0, sizeof(*a));
	a->kind = "linux";
	a->format = "text";
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (!only_args && strcmp(arg, "--") == 0) {
			only_args = 1;
			continue;
		}
		if (only_args || arg[0] != '-' || arg[1] == '\0') {
			if (a->verb == NULL)
				a->verb = arg;
			else if (a->name == NULL)
				a->name = arg;
			else
				return acc_error(_("unexpected argument '%s' (see 'agentpush accounts --help')"),
				                 (ap_target_quote(arg, qb, sizeof(qb)), qb));
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			accounts_usage(stdout);
			return 0;
		}
		eq = arg[1] == '-' ? strchr(arg + 2, '=') : NULL;
		n = arg[1] != '-' ? 0 : eq != NULL ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, arg + 2, n);
		name[n] = '\0';
		d = NULL;
		for (k = 0; arg[1] == '-' && k < sizeof(acc_opts) / sizeof(acc_opts[0]); k++)
			if (strcmp(acc_opts[k].name, name) == 0)
				d = &acc_opts[k];
		if (d == NULL) {
			if (strstr(name, "pass") != NULL || strstr(name, "pwd") != NULL)
				return acc_error("%s", _("a password is never accepted on the command line: it is read from the terminal or from stdin"));
			return acc_error(_("unknown option '%s' (see 'agentpush accounts --help')"),
			                 (ap_target_quote(arg, qb, sizeof(qb)), qb));
		}
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return acc_error(_("option '--%s' needs a value"), d->name);
		switch (d->id) {
		case A_DB: a->db = val; break;
		case A_PASSFILE: a->passfile = val; break;
		case A_NEW_PASSFILE: a->new_passfile = val; break;
		case A_USER: a->user = val; break;
		case A_DOMAIN: a->domain = val; break;
		case A_KIND: a->kind = val; break;
		case A_FORMAT: a->format = val; break;
		case A_HELP: break;
		}
		if (d->verbs[0] != '\0' && (a->verb == NULL || strcmp(a->verb, d->verbs) != 0))
			return acc_error(_("option '--%s' goes with 'accounts %s'"), d->name, d->verbs);
	}
	if (a->verb == NULL)
		return acc_error("%s", _("no subcommand given: add, list, passwd, rm or rekey (see 'agentpush accounts --help')"));
	if (strcmp(a->verb, "add") != 0 && strcmp(a->verb, "list") != 0 && strcmp(a->verb, "passwd") != 0 &&
	    strcmp(a->verb, "rm") != 0 && strcmp(a->verb, "rekey") != 0)
		return acc_error(_("unknown subcommand '%s': add, list, passwd, rm or rekey"),
		                 (ap_target_quote(a->verb, qb, sizeof(qb)), qb));
	if ((strcmp(a->verb, "list") == 0 || strcmp(a->verb, "rekey") == 0) && a->name != NULL)
		return acc_error(_("unexpected argument '%s' (see 'agentpush accounts --help')"),
		                 (ap_target_quote(a->name, qb, sizeof(qb)), qb));
	if (strcmp(a->verb, "list") != 0 && strcmp(a->verb, "rekey") != 0 && a->name == NULL)
		return acc_error(_("accounts %s: give the account's NAME"), a->verb);
	if (a->name != NULL && !ap_vault_name_valid(a->name))
		return acc_error(_("account name '%s': use 1 to 64 letters, digits, '.', '_' or '-'"),
		                 (ap_target_quote(a->name, qb, sizeof(qb)), qb));
	if (strcmp(a->verb, "add") == 0) {
		if (a->user == NULL)
			return acc_error("%s", _("accounts add: --user USER is required"));
		if (!ap_target_user_valid(a->user))
			return acc_error(_("--user '%s' is not an acceptable user name"),
			                 (ap_target_quote(a->user, qb, sizeof(qb)), qb));
		if (a->domain != NULL && !ap_target_user_valid(a->domain))
			return acc_error(_("--domain '%s' is not an acceptable domain name"),
			                 (ap_target_quote(a->domain, qb, sizeof(qb)), qb));
		if (strcmp(a->kind, "linux") != 0 && strcmp(a->kind, "windows") != 0)
			return acc_error(_("--kind '%s' is not one of linux, windows"),
			                 (ap_target_quote(a->kind, qb, sizeof(qb)), qb));
	}
	if (strcmp(a->format, "text") != 0 && strcmp(a->format, "json") != 0)
		return acc_error(_("--format '%s' is not one of text, json"),
		                 (ap_target_quote(a->format, qb, sizeof(qb)), qb));
	return -1;
}

/* Reads one line from fd into s (at most AP_SECRET_MAX bytes); 0, or -1. */
static int
read_line(int fd, struct ap_secret *s)
{
	ssize_t k;
	char c;

	s->len = 0;
	for (;;) {
		k = read(fd, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0 || c == '\n')
			break;
		if (s->len == AP_SECRET_MAX)
			return -1;
		s->data[s->len++] = c;
	}
	if (s->len > 0 && s->data[s->len - 1] == '\r')
		s->len--;
	s->data[s->len] = '\0';
	c = '\0';
	return 0;
}

/* The terminal's settings while its echo is off, for restore_echo(). */
static struct termios echo_saved;

/* A signal while the echo is off: the echo back on, then the signal's
 * default action (async-signal-safe calls only). */
static void
restore_echo(int sig)
{
	tcsetattr(STDIN_FILENO, TCSANOW, &echo_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int echo_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
#define N_ECHO_SIGNALS (sizeof(echo_signals) / sizeof(echo_signals[0]))

/*
 * The new password of account name: from the terminal, echo off, asked
 * twice; else the first line of stdin.  One line on error, returns 2.
 * Ctrl-C (or any signal that ends it) at the prompt gives the terminal
 * its echo back.
 */
static int
read_password(const char *name, struct ap_secret **out, struct ap_ctx *ctx)
{
	struct ap_secret *a = NULL, *b = NULL;
	struct termios old, quiet;
	struct sigaction sa, prev[N_ECHO_SIGNALS];
	int tty = isatty(STDIN_FILENO), st = 2, echo_off = 0;
	size_t i;

	*out = NULL;
	if (ap_secret_new(AP_SECRET_MAX + 1, &a, ctx) != AP_OK ||
	    (tty && ap_secret_new(AP_SECRET_MAX + 1, &b, ctx) != AP_OK)) {
		acc_error("%s", ap_ctx_errmsg(ctx));
		goto out;
	}
	if (tty) {
		if (tcgetattr(STDIN_FILENO, &old) != 0) {
			acc_error(_("cannot read the terminal: %s"), strerror(errno));
			goto out;
		}
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		echo_saved = old;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = restore_echo;
		sigemptyset(&sa.sa_mask);
		for (i = 0; i < N_ECHO_SIGNALS; i++)
			sigaction(echo_signals[i], &sa, &prev[i]);
		echo_off = 1;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
			acc_error(_("cannot turn the terminal's echo off: %s"), strerror(errno));
			goto out;
		}
		fprintf(stderr, _("Password of account %s: "), name);
		fflush(stderr);
		if (read_line(STDIN_FILENO, a) != 0) {
			acc_error("%s", _("cannot read the password (longer than 4096 bytes?)"));
			goto out;
		}
		fprintf(stderr, "%s", _("Again: "));
		fflush(stderr);
		if (read_line(STDIN_FILENO, b) != 0 || a->len != b->len ||
		    sodium_memcmp(a->data, b->data, a->len) != 0) {
			acc_error("%s", _("the two passwords differ; nothing changed"));
			goto out;
		}
	} else if (read_line(STDIN_FILENO, a) != 0) {
		acc_error("%s", _("cannot read the password from stdin (longer than 4096 bytes?)"));
		goto out;
	}
	if (a->len == 0 || strlen(a->data) != a->len) {
		acc_error("%s", _("the password is empty or holds a NUL byte; nothing changed"));
		goto out;
	}
	*out = a;
	a = NULL;   /* transferred */
	st = 0;
out:
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		for (i = 0; i < N_ECHO_SIGNALS; i++)
			sigaction(echo_signals[i], &prev[i], NULL);
	}
	ap_secret_free(a);
	ap_secret_free(b);
	return st;
}

static int
list_print(struct ap_store *store, int json, struct ap_ctx *ctx)
{
	struct ap_account *acc = NULL;
	cJSON *arr = NULL, *o = NULL;
	char *text = NULL;
	size_t i, n = 0;
	int st = 2;

	if (ap_store_accounts_list(store, &acc, &n, ctx) != AP_OK)
		return acc_error("%s", ap_ctx_errmsg(ctx));
	if (json) {
		if ((arr = cJSON_CreateArray()) == NULL)
			goto oom;
		for (i = 0; i < n; i++) {
			if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(arr, o))
				goto oom;
			if (cJSON_AddStringToObject(o, "name", acc[i].name) == NULL ||
			    cJSON_AddStringToObject(o, "user", acc[i].user) == NULL ||
			    (acc[i].domain != NULL ? cJSON_AddStringToObject(o, "domain", acc[i].domain)
			                           : cJSON_AddNullToObject(o, "domain")) == NULL ||
			    cJSON_AddStringToObject(o, "kind", acc[i].kind) == NULL ||
			    cJSON_AddNumberToObject(o, "key_version", acc[i].key_version) == NULL ||
			    cJSON_AddStringToObject(o, "created", acc[i].created) == NULL ||
			    cJSON_AddStringToObject(o, "updated", acc[i].updated) == NULL ||
			    (acc[i].rejected_at != NULL ? cJSON_AddStringToObject(o, "refused_at", acc[i].rejected_at)
			                                : cJSON_AddNullToObject(o, "refused_at")) == NULL ||
			    (acc[i].rejected_by != NULL ? cJSON_AddStringToObject(o, "refused_by", acc[i].rejected_by)
			                                : cJSON_AddNullToObject(o, "refused_by")) == NULL)
				goto oom;
		}
		if ((text = cJSON_Print(arr)) == NULL)
			goto oom;
		printf("%s\n", text);
	} else if (n == 0) {
		printf("%s\n", _("No account (add one with agentpush accounts add NAME --user USER)."));
	} else {
		printf("%-20s %-8s %-24s %-12s %s\n", _("NAME"), _("KIND"), _("USER"), _("DOMAIN"), _("STATUS"));
		for (i = 0; i < n; i++) {
			printf("%-20s %-8s %-24s %-12s ", acc[i].name, acc[i].kind, acc[i].user,
			       acc[i].domain != NULL ? acc[i].domain : "-");
			if (acc[i].rejected_at != NULL)
				printf(_("refused by %s at %s: not tried again until 'accounts passwd'\n"),
				       acc[i].rejected_by != NULL ? acc[i].rejected_by : "?", acc[i].rejected_at);
			else
				printf("%s\n", _("ok"));
		}
	}
	st = fflush(stdout) == 0 ? 0 : acc_error("%s", _("cannot write the output"));
	goto out;
oom:
	st = acc_error("%s", _("out of memory"));
out:
	free(text);
	cJSON_Delete(arr);
	ap_store_accounts_free(acc, n);
	return st;
}

/* Opens the store of db (or the default) and, when want_vault, its vault. */
static int
open_all(const char *db, const char *passfile, int vault_flags, struct ap_store **store,
         struct ap_vault **vault, struct ap_ctx *ctx)
{
	char db_path[4096], key_path[4096 + 16];

	if (db != NULL)
		snprintf(db_path, sizeof(db_path), "%s", db);
	else if (ap_store_default_path(db_path, sizeof(db_path), ctx) != AP_OK)
		return AP_EINVAL;
	if (ap_store_open(db_path, store, ctx) != AP_OK)
		return ap_ctx_rc(ctx);
	if (vault == NULL)
		return AP_OK;
	if (ap_vault_key_path(db_path, key_path, sizeof(key_path), ctx) != AP_OK)
		return ap_ctx_rc(ctx);
	return ap_vault_open(*store, key_path, passfile, vault_flags, vault, ctx);
}

int
cmd_accounts(int argc, char **argv)
{
	struct acc_args a;
	struct ap_ctx *ctx = NULL;
	struct ap_store *store = NULL;
	struct ap_vault *vault = NULL;
	struct ap_secret *pw = NULL;
	int st, list;

	if ((st = parse(argc, argv, &a)) >= 0)
		return st;
	st = 2;
	list = strcmp(a.verb, "list") == 0;
	if ((ctx = ap_ctx_new()) == NULL)
		return acc_error("%s", _("out of memory"));
	if (open_all(a.db, a.passfile, strcmp(a.verb, "add") == 0 ? AP_VAULT_CREATE : 0,
	             &store, list ? NULL : &vault, ctx) != AP_OK) {
		acc_error("%s", ap_ctx_errmsg(ctx));
		goto out;
	}
	/* add and passwd read the password once the vault opened: a wrong
	 * key or passphrase is told before anyone types a password */
	if ((strcmp(a.verb, "add") == 0 || strcmp(a.verb, "passwd") == 0) &&
	    read_password(a.name, &pw, ctx) != 0)
		goto out;
	if (list) {
		st = list_print(store, strcmp(a.format, "json") == 0, ctx);
		goto out;
	}
	if (strcmp(a.verb, "add") == 0) {
		if (ap_vault_account_add(vault, a.name, a.user, a.domain, a.kind, pw, ctx) != AP_OK)
			goto fail;
		fprintf(stderr, _("agentpush accounts: account %s added\n"), a.name);
	} else if (strcmp(a.verb, "passwd") == 0) {
		if (ap_vault_account_passwd(vault, a.name, pw, ctx) != AP_OK)
			goto fail;
		fprintf(stderr, _("agentpush accounts: password of %s changed\n"), a.name);
	} else if (strcmp(a.verb, "rm") == 0) {
		if (ap_vault_account_remove(vault, a.name, ctx) != AP_OK)
			goto fail;
		fprintf(stderr, _("agentpush accounts: account %s removed\n"), a.name);
	} else {
		if (ap_vault_rekey(vault, a.new_passfile, ctx) != AP_OK)
			goto fail;
		fprintf(stderr, _("agentpush accounts: every password is encrypted with key version %d now\n"),
		        ap_vault_key_version(vault));
	}
	st = 0;
	goto out;
fail:
	acc_error("%s", ap_ctx_errmsg(ctx));
out:
	ap_secret_free(pw);
	ap_vault_close(vault);
	ap_store_close(store);
	ap_ctx_free(ctx);
	return st;
}

/* ---- check, install and resume: the accounts their targets name ---- */

int
cli_accounts_load(struct cli_opts *o, struct ap_store *store)
{
	struct ap_ctx *ctx = NULL;
	char key_path[4096 + 16];
	int r = CLI_USAGE;

	if ((ctx = ap_ctx_new()) == NULL) {
		fprintf(stderr, "agentpush %s: %s\n", o->cmd, _("out of memory"));
		return CLI_USAGE;
	}
	/* resume: the job's --account is in o->run.account (resume_info),
	 * its targets in the store */
	if (ap_vault_key_path(o->db_path, key_path, sizeof(key_path), ctx) != AP_OK ||
	    ap_vault_run_open(store, key_path, o->vault_passfile, &o->run,
	                      o->resume ? NULL : o->targets, o->n_targets, &o->vrun, ctx) != AP_OK)
		fprintf(stderr, "agentpush %s: %s\n", o->cmd, ap_ctx_errmsg(ctx));
	else
		r = CLI_RUN;
	ap_ctx_free(ctx);
	return r;
}

void
cli_accounts_clear(struct cli_opts *o)
{
	ap_vault_run_close(o->vrun, &o->run);
	o->vrun = NULL;
	free(o->stored_account);
	o->stored_account = NULL;
}
