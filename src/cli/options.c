/*
 * options.c - option parsing shared by `agentpush check` and `install`
 * (see options.h).
 *
 * The parser is a small table walk rather than getopt_long(): getopt_long
 * accepts unique abbreviations, so "--password x" would silently be taken as
 * "--password-file x", and it prints its own messages.  Here a long option
 * must match exactly, an unknown one gets one line, and any option that
 * looks like a password gets a line saying where a password goes instead.
 * A value given with "--opt=value" is never echoed back in a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <libintl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentpush/catalog.h"
#include "agentpush/inventory.h"
#include "options.h"

#define _(s) dgettext("agentpush", s)

#define PASSWORD_MAX 4096

enum opt_id {
	O_INVENTORY, O_OS, O_USER, O_PASSWORD_FILE, O_IDENTITY, O_KNOWN_HOSTS,
	O_HOSTKEY, O_PARALLEL, O_TIMEOUT, O_FORMAT, O_DB, O_NO_COLOR, O_PACKAGE,
	O_CA_FILE, O_WINRM_AUTH, O_WINRM_HTTP, O_KERBEROS, O_SERVER,
	O_REGISTER_TIMEOUT, O_STATE_DIR, O_ACCOUNT, O_VAULT_PASSFILE, O_HELP,
	O_JOB, O_ONLY, O_DRY_RUN, O_YES, O_ALLOW_PRIV, O_UNDO, O_FIX_ACCOUNT, O_SUBMIT
};

struct opt_def {
	const char *name;  /* long name without "--" */
	char short_name;   /* 0: none */
	int has_arg;
	int install_only;  /* 1: install (and resume) only; FIX_ONLY: fix only */
	enum opt_id id;
};

#define FIX_ONLY 2

static const struct opt_def opt_table[] = {
	{ "package",         0,   1, 1, O_PACKAGE },
	{ "inventory",       'i', 1, 0, O_INVENTORY },
	{ "os",              0,   1, 0, O_OS },
	{ "user",            0,   1, 0, O_USER },
	{ "password-file",   0,   1, 0, O_PASSWORD_FILE },
	{ "identity",        0,   1, 0, O_IDENTITY },
	{ "known-hosts",     0,   1, 0, O_KNOWN_HOSTS },
	{ "host-key-policy", 0,   1, 0, O_HOSTKEY },
	{ "parallel",        0,   1, 0, O_PARALLEL },
	{ "timeout",         0,   1, 0, O_TIMEOUT },
	{ "format",          0,   1, 0, O_FORMAT },
	{ "db",              0,   1, 0, O_DB },
	{ "no-color",        0,   0, 0, O_NO_COLOR },
	{ "ca-file",         0,   1, 0, O_CA_FILE },
	{ "winrm-auth",      0,   1, 0, O_WINRM_AUTH },
	{ "winrm-insecure-http", 0, 0, 0, O_WINRM_HTTP },
	{ "kerberos",        0,   0, 0, O_KERBEROS },
	{ "server",          0,   1, 1, O_SERVER },
	{ "register-timeout", 0,  1, 1, O_REGISTER_TIMEOUT },
	{ "state-dir",       0,   1, 1, O_STATE_DIR },
	{ "account",         0,   1, 0, O_ACCOUNT },
	{ "vault-passphrase-file", 0, 1, 0, O_VAULT_PASSFILE },
	{ "submit",          0,   0, 0, O_SUBMIT },
	{ "help",            'h', 0, 0, O_HELP },
	{ "job",             0,   1, FIX_ONLY, O_JOB },
	{ "only",            0,   1, FIX_ONLY, O_ONLY },
	{ "dry-run",         0,   0, FIX_ONLY, O_DRY_RUN },
	{ "yes",             0,   0, FIX_ONLY, O_YES },
	{ "allow-privilege-changes", 0, 0, FIX_ONLY, O_ALLOW_PRIV },
	{ "undo",            0,   1, FIX_ONLY, O_UNDO },
	{ "fix-account",     0,   1, FIX_ONLY, O_FIX_ACCOUNT },
};

#define N_OPTS (sizeof(opt_table) / sizeof(opt_table[0]))

void
cli_usage(int install, FILE *f)
{
	int resume = install == CLI_CMD_RESUME;

	if (install == CLI_CMD_FIX) {
		fprintf(f, "%s\n", _("Usage: agentpush fix [OPTIONS] TARGET..."));
		fprintf(f, "%s\n", _("       agentpush fix [OPTIONS] --job JOB"));
		fprintf(f, "%s\n", _("       agentpush fix [OPTIONS] --undo JOB"));
		fprintf(f, "\n%s\n\n", _("Applies, with consent, the remedies agentpush knows for what a check found, then checks the fixed hosts again."));
		fprintf(f, "%s\n", _("  --job JOB                 fix the failed hosts of this check job (else a new"));
		fprintf(f, "%s\n", _("                            check of the TARGETs runs first)"));
		fprintf(f, "%s\n", _("  --only ID[,ID...]         only the remedies for these ErrorIDs"));
		fprintf(f, "%s\n", _("  --dry-run                 show the commands and apply nothing"));
		fprintf(f, "%s\n", _("  --yes                     apply without asking (else y/N per host on a terminal;"));
		fprintf(f, "%s\n", _("                            without a terminal nothing is applied)"));
		fprintf(f, "%s\n", _("  --allow-privilege-changes also apply remedies that change privileges (sudoers)"));
		fprintf(f, "%s\n", _("  --undo JOB                undo the remedies applied to the hosts of check job JOB"));
		fprintf(f, "%s\n", _("  --fix-account NAME        Windows: a vault account of another administrator (such as"));
		fprintf(f, "%s\n", _("                            the built-in Administrator) for the remedies the check's"));
		fprintf(f, "%s\n", _("                            own account cannot apply (95517, 95519)"));
	} else if (resume) {
		fprintf(f, "%s\n", _("Usage: agentpush resume [OPTIONS] JOB"));
		fprintf(f, "\n%s\n\n", _("Carries on an interrupted job: every host not finished is probed again and taken to the end."));
		fprintf(f, "%s\n", _("  --package PATH            the package, when it moved since the job started"));
	} else if (install) {
		fprintf(f, "%s\n", _("Usage: agentpush install --package PATH [OPTIONS] TARGET..."));
		fprintf(f, "%s\n", _("       agentpush install --package PATH [OPTIONS] -i INVENTORY"));
		fprintf(f, "\n%s\n\n", _("Checks every target, then copies the agent package, installs it and verifies it."));
		fprintf(f, "%s\n", _("  --package PATH            the agent package to install (required)"));
	} else {
		fprintf(f, "%s\n", _("Usage: agentpush check [OPTIONS] TARGET..."));
		fprintf(f, "%s\n", _("       agentpush check [OPTIONS] -i INVENTORY"));
		fprintf(f, "\n%s\n\n", _("Diagnoses every target and changes nothing on any of them."));
	}
	/* A resumed job keeps its targets, OS and account. */
	if (!resume) {
		fprintf(f, "%s\n", _("A TARGET is [user@]host[:port]; an IPv6 address goes in brackets: [2001:db8::1]:22."));
		fprintf(f, "\n");
		fprintf(f, "%s\n", _("  -i, --inventory FILE      read targets from an Ansible-style INI inventory"));
		fprintf(f, "%s\n", _("  --os OS                   linux, windows or auto (default auto)"));
		fprintf(f, "%s\n", _("  --user NAME               account to log in with, unless the target names one"));
		fprintf(f, "%s\n", _("  --account NAME            log in with this account of the vault (see"));
		fprintf(f, "%s\n", _("                            'agentpush accounts'), unless the target names one"));
	}
	fprintf(f, "%s\n", _("  --password-file FILE      read the password from the first line of FILE"));
	fprintf(f, "%s\n", _("                            (or set AGENTPUSH_PASSWORD; never on the command line)"));
	fprintf(f, "%s\n", _("  --vault-passphrase-file FILE  the vault's passphrase, when it has one"));
	fprintf(f, "%s\n", _("  --identity FILE           SSH private key to log in with"));
	fprintf(f, "%s\n", _("  --known-hosts FILE        SSH known_hosts file to check host keys against"));
	fprintf(f, "%s\n", _("  --host-key-policy POLICY  strict (default) or accept-new"));
	fprintf(f, "%s\n", _("  --parallel N              hosts in flight at once, 1 to 10000 (default 32)"));
	fprintf(f, "%s\n", _("  --timeout SECONDS         limit for each stage, 1 to 86400 (default 30)"));
	if (install != CLI_CMD_FIX) /* fix prints text */
		fprintf(f, "%s\n", _("  --format FORMAT           text (default) or json"));
	fprintf(f, "%s\n", _("  --db PATH|URL             job store: a file (default $XDG_STATE_HOME/agentpush/"));
	fprintf(f, "%s\n", _("                            jobs.db) or a postgresql:// URL shared with workers"));
	fprintf(f, "%s\n", _("  --no-color                no colour in text output (NO_COLOR does the same)"));
	if (install != CLI_CMD_FIX && install != CLI_CMD_RESUME) {
		fprintf(f, "%s\n", _("  --submit                  record the job in the store and print its id; the"));
		fprintf(f, "%s\n", _("                            hosts are run by 'agentpush worker' processes"));
	}
	fprintf(f, "%s\n", _("  --ca-file FILE            Windows: CA certificates for WinRM over HTTPS (5986)"));
	fprintf(f, "%s\n", _("  --winrm-auth AUTH         Windows: auto (default), basic or negotiate"));
	fprintf(f, "%s\n", _("  --winrm-insecure-http     Windows: WinRM over plain HTTP (5985): the password"));
	fprintf(f, "%s\n", _("                            and every command cross the network readable"));
	fprintf(f, "%s\n", _("  --kerberos                Windows: log on with Kerberos only (the ticket of"));
	fprintf(f, "%s\n", _("                            kinit; never NTLM), for SMB and WinRM alike"));
	if (install && install != CLI_CMD_FIX) {
		fprintf(f, "%s\n", _("  --server URL              the configuration server each agent registers with;"));
		fprintf(f, "%s\n", _("                            a host is done once its agent registered there"));
		fprintf(f, "%s\n", _("  --register-timeout S      seconds to wait for that, 1 to 86400 (default 120)"));
		fprintf(f, "%s\n", _("  --state-dir DIR           the server's state folder, for its passphrase and"));
		fprintf(f, "%s\n", _("                            certificate (default: the job store's folder)"));
	}
	fprintf(f, "%s\n", _("  -h, --help                this help"));
	if (install == CLI_CMD_FIX)
		fprintf(f, "\n%s\n", _("Exit status: 0 fixed and checked ok (or nothing to fix, or --dry-run), 1 a remedy failed or a host still fails, 2 usage or configuration error, 3 nothing applied for want of consent."));
	else
		fprintf(f, "\n%s\n", _("Exit status: 0 every target ok, 1 a target failed, 2 usage or configuration error."));
}

static int
usage_error(const struct cli_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints "agentpush CMD: MESSAGE" as one line and returns CLI_USAGE. */
static int
usage_error(const struct cli_opts *o, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "agentpush %s: ", o->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_USAGE;
}

/* Quotes user input for a message (no control characters, bounded). */
static const char *
q(const char *s, char *buf, size_t size)
{
	ap_target_quote(s, buf, size);
	return buf;
}

static int
parse_int(const char *s, long lo, long hi, int *out)
{
	char *end = NULL;
	long v;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static void
wipe_password(struct cli_opts *o)
{
	if (o->password != NULL) {
		sodium_memzero(o->password, o->password_cap);
		free(o->password);
	}
	o->password = NULL;
	o->password_cap = 0;
	o->run.password = NULL;
}

int
cli_read_password_file(struct cli_opts *o, const char *path)
{
	struct stat st;
	char qb[128];
	size_t len = 0;
	ssize_t k;
	char *nl;
	int fd, r = CLI_USAGE;

	wipe_password(o);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return usage_error(o, _("password file '%s': cannot read it: %s"),
		                   q(path, qb, sizeof(qb)), strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		usage_error(o, _("password file '%s': not a regular file"),
		            q(path, qb, sizeof(qb)));
		goto out;
	}
	if ((o->password = malloc(PASSWORD_MAX + 1)) == NULL) {
		usage_error(o, _("out of memory"));
		goto out;
	}
	o->password_cap = PASSWORD_MAX + 1;
	for (;;) {
		k = read(fd, o->password + len, PASSWORD_MAX - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			usage_error(o, _("password file '%s': cannot read it: %s"),
			            q(path, qb, sizeof(qb)), strerror(errno));
			goto out;
		}
		len += (size_t)k;
		if (k == 0 || len == PASSWORD_MAX ||
		    memchr(o->password, '\n', len) != NULL)
			break;
	}
	o->password[len] = '\0';
	if ((nl = memchr(o->password, '\n', len)) == NULL && len == PASSWORD_MAX) {
		usage_error(o, _("password file '%s': the first line is longer than 4096 bytes"),
		            q(path, qb, sizeof(qb)));
		goto out;
	}
	if (nl != NULL)
		*nl = '\0';
	len = strlen(o->password);
	if (len > 0 && o->password[len - 1] == '\r')
		o->password[--len] = '\0';
	if (len == 0) {
		usage_error(o, _("password file '%s': the first line is empty"),
		            q(path, qb, sizeof(qb)));
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		fprintf(stderr, _("agentpush %s: warning: password file '%s' can be read by other users; run chmod 600 on it\n"),
		        o->cmd, q(path, qb, sizeof(qb)));
	o->run.password = o->password;
	r = CLI_RUN;
out:
	close(fd);
	if (r != CLI_RUN)
		wipe_password(o);
	return r;
}

static int
password_from_env(struct cli_opts *o)
{
	const char *env = getenv("AGENTPUSH_PASSWORD");
	size_t n;

	if (env == NULL || env[0] == '\0')
		return CLI_RUN;
	n = strlen(env);
	if ((o->password = malloc(n + 1)) == NULL)
		return usage_error(o, _("out of memory"));
	o->password_cap = n + 1;
	memcpy(o->password, env, n + 1);
	o->run.password = o->password;
	return CLI_RUN;
}

static int
default_db(struct cli_opts *o)
{
	const char *env = getenv("AGENTPUSH_DB"), *base = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	size_t n;

	if (env != NULL && env[0] != '\0') {
		o->db_path = strdup(env);
	} else if (base != NULL && base[0] == '/') {
		n = strlen(base) + sizeof("/agentpush/jobs.db");
		if ((o->db_path = malloc(n)) != NULL)
			snprintf(o->db_path, n, "%s/agentpush/jobs.db", base);
	} else if (home != NULL && home[0] == '/') {
		n = strlen(home) + sizeof("/.local/state/agentpush/jobs.db");
		if ((o->db_path = malloc(n)) != NULL)
			snprintf(o->db_path, n, "%s/.local/state/agentpush/jobs.db", home);
	} else {
		return usage_error(o, _("cannot tell where the job store goes: set --db, AGENTPUSH_DB or HOME"));
	}
	if (o->db_path == NULL)
		return usage_error(o, _("out of memory"));
	return CLI_RUN;
}

/* One positive job number into *out. */
static int
job_number(const struct cli_opts *o, const char *s, long long *out)
{
	char qb[80], *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v <= 0)
		return usage_error(o, _("job '%s' is not a job number (see 'agentpush jobs')"),
		                   q(s, qb, sizeof(qb)));
	*out = v;
	return CLI_RUN;
}

/* resume JOB: one positive job number. */
static int
parse_job_id(struct cli_opts *o, const char *s)
{
	char qb[80];
	long long v;
	int r;

	if (o->run.job_id != 0)
		return usage_error(o, _("resume takes one job, not '%s' as well"), q(s, qb, sizeof(qb)));
	if ((r = job_number(o, s, &v)) != CLI_RUN)
		return r;
	o->run.job_id = v;
	return CLI_RUN;
}

static int
add_targets(struct cli_opts *o, struct ap_target *t, size_t n)
{
	struct ap_target *nt;

	nt = reallocarray(o->targets, o->n_targets + n, sizeof(*nt));
	if (nt == NULL && o->n_targets + n > 0)
		return -1;
	o->targets = nt;
	memcpy(o->targets + o->n_targets, t, n * sizeof(*t));
	o->n_targets += n;
	return 0;
}

static int
add_inventory(struct cli_opts *o, const char *path, struct ap_ctx *ctx)
{
	struct ap_target *t = NULL;
	size_t n = 0;
	int r;

	if ((r = ap_inventory_load(path, &t, &n, ctx)) != AP_OK)
		return usage_error(o, "%s", ap_ctx_errmsg(ctx));
	if (n == 0) {
		char qb[128];

		return usage_error(o, _("inventory %s: lists no host"),
		                   q(path, qb, sizeof(qb)));
	}
	if (add_targets(o, t, n) != 0) {
		ap_targets_free(t, n);
		return usage_error(o, _("out of memory"));
	}
	free(t); /* the targets' strings were transferred */
	return CLI_RUN;
}

static int
add_target(struct cli_opts *o, const char *spec, struct ap_ctx *ctx)
{
	struct ap_target t;

	if (ap_target_parse(spec, &t, ctx) != AP_OK)
		return usage_error(o, "%s", ap_ctx_errmsg(ctx));
	if (add_targets(o, &t, 1) != 0) {
		ap_target_clear(&t);
		return usage_error(o, _("out of memory"));
	}
	return CLI_RUN;
}

static int
looks_like_password(const char *name)
{
	return strstr(name, "pass") != NULL || strstr(name, "pwd") != NULL ||
	       strcmp(name, "p") == 0;
}

/* Finds the option for argv[*i]; stores its value in *val.  One line on error. */
static int
match_option(struct cli_opts *o, int argc, char **argv, int *i,
             const struct opt_def **def, const char **val)
{
	const char *arg = argv[*i], *eq = NULL;
	char name[64], qb[80];
	size_t k, n;

	*def = NULL;
	*val = NULL;
	if (arg[1] == '-') {
		eq = strchr(arg + 2, '=');
		n = eq != NULL ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, arg + 2, n);
		name[n] = '\0';
		for (k = 0; k < N_OPTS; k++)
			if (strcmp(opt_table[k].name, name) == 0)
				*def = &opt_table[k];
	} else {
		name[0] = arg[1];
		name[1] = '\0';
		for (k = 0; k < N_OPTS; k++)
			if (opt_table[k].short_name != 0 && opt_table[k].short_name == arg[1])
				*def = &opt_table[k];
		if (*def != NULL && arg[2] != '\0') {
			if (!(*def)->has_arg)
				return usage_error(o, _("unknown option '%s' (see 'agentpush %s --help')"),
				                   q(arg, qb, sizeof(qb)), o->cmd);
			eq = arg + 1; /* -iFILE */
		}
	}
	if (*def != NULL && (*def)->install_only == 1 && !o->install && !o->resume)
		*def = NULL;
	if (*def != NULL && (*def)->install_only == FIX_ONLY && !o->fix)
		*def = NULL;
	/* fix prints its plan and outcomes as text only, and runs them itself */
	if (*def != NULL && o->fix && ((*def)->id == O_FORMAT || (*def)->id == O_SUBMIT))
		*def = NULL;
	/* A resumed job keeps the targets, account and OS it was started with. */
	if (*def != NULL && o->resume &&
	    ((*def)->id == O_INVENTORY || (*def)->id == O_OS || (*def)->id == O_USER ||
	     (*def)->id == O_ACCOUNT))
		*def = NULL;
	if (*def == NULL) {
		if (looks_like_password(name))
			return usage_error(o, _("a password is never accepted on the command line: use --password-file FILE or the AGENTPUSH_PASSWORD environment variable"));
		return usage_error(o, _("unknown option '%s%s' (see 'agentpush %s --help')"),
		                   arg[1] == '-' ? "--" : "-", q(name, qb, sizeof(qb)),
		                   o->cmd);
	}
	if (!(*def)->has_arg) {
		if (eq != NULL)
			return usage_error(o, _("option '--%s' takes no value"), (*def)->name);
		return CLI_RUN;
	}
	if (eq != NULL) {
		*val = eq + 1;
	} else if (*i + 1 < argc) {
		*val = argv[++*i];
	} else {
		return usage_error(o, _("option '--%s' needs a value"), (*def)->name);
	}
	return CLI_RUN;
}

/* The words an option with a fixed set of values accepts, and their values. */
struct choice {
	const char *word;
	int value;
};

static const struct choice formats[] = {
	{ "text", CLI_FORMAT_TEXT }, { "json", CLI_FORMAT_JSON }, { NULL, 0 }
};
static const struct choice hostkey_policies[] = {
	{ "strict", AP_HOSTKEY_STRICT }, { "accept-new", AP_HOSTKEY_ACCEPT_NEW },
	{ NULL, 0 }
};
static const struct choice winrm_auths[] = {
	{ "auto", AP_WINRM_AUTH_AUTO }, { "basic", AP_WINRM_AUTH_BASIC },
	{ "negotiate", AP_WINRM_AUTH_NEGOTIATE }, { NULL, 0 }
};

/* Stores in *out the value of word in choices; 0, or -1 when not there. */
static int
pick(const char *word, const struct choice *choices, int *out)
{
	for (; choices->word != NULL; choices++) {
		if (strcmp(word, choices->word) == 0) {
			*out = choices->value;
			return 0;
		}
	}
	return -1;
}

static int parse_ids(const struct cli_opts *e, const char *opt, const char *val, int **ids,
                     size_t *n_ids);

int
cli_parse(int install, int argc, char **argv, struct cli_opts *o)
{
	struct ap_ctx *ctx = NULL;
	const char *password_file = NULL, *fmt = "text", *os = "auto";
	const char *policy = "strict", *db = NULL, *winrm_auth = "auto";
	int i, r, v, only_targets = 0;
	char qb[80];

	memset(o, 0, sizeof(*o));
	o->cmd = install == CLI_CMD_FIX ? "fix" : install == CLI_CMD_RESUME ? "resume" : install ? "install" : "check";
	o->fix = install == CLI_CMD_FIX;
	o->resume = install == CLI_CMD_RESUME;
	o->install = install == CLI_CMD_INSTALL;
	install = o->install;
	o->run.parallel = AP_DEFAULT_PARALLEL;
	o->run.timeout_s = AP_DEFAULT_TIMEOUT_S;
	if ((ctx = ap_ctx_new()) == NULL)
		return usage_error(o, _("out of memory"));

	/* First pass: options, so --help wins over any bad target. */
	for (i = 1; i < argc; i++) {
		const struct opt_def *d;
		const char *val;

		if (only_targets || argv[i][0] != '-' || argv[i][1] == '\0')
			continue;
		if (strcmp(argv[i], "--") == 0) {
			only_targets = 1;
			continue;
		}
		if ((r = match_option(o, argc, argv, &i, &d, &val)) != CLI_RUN)
			goto out;
		switch (d->id) {
		case O_HELP:
			cli_usage(o->fix ? CLI_CMD_FIX : o->resume ? CLI_CMD_RESUME : install, stdout);
			r = CLI_DONE;
			goto out;
		case O_PACKAGE:
			o->run.package_path = val;
			break;
		case O_INVENTORY:
			break; /* second pass, in order with the targets */
		case O_OS:
			os = val;
			break;
		case O_USER:
			o->run.user = val;
			break;
		case O_PASSWORD_FILE:
			password_file = val;
			break;
		case O_IDENTITY:
			o->run.identity = val;
			break;
		case O_KNOWN_HOSTS:
			o->run.known_hosts = val;
			break;
		case O_HOSTKEY:
			policy = val;
			break;
		case O_PARALLEL:
			if (parse_int(val, 1, 10000, &o->run.parallel) != 0) {
				r = usage_error(o, _("--parallel '%s' is not a number from 1 to 10000"),
				                q(val, qb, sizeof(qb)));
				goto out;
			}
			break;
		case O_TIMEOUT:
			if (parse_int(val, 1, 86400, &o->run.timeout_s) != 0) {
				r = usage_error(o, _("--timeout '%s' is not a number of seconds from 1 to 86400"),
				                q(val, qb, sizeof(qb)));
				goto out;
			}
			break;
		case O_FORMAT:
			fmt = val;
			break;
		case O_DB:
			db = val;
			break;
		case O_NO_COLOR:
			o->no_color = 1;
			break;
		case O_SUBMIT:
			o->submit = 1;
			break;
		case O_CA_FILE:
			o->run.ca_file = val;
			break;
		case O_WINRM_AUTH:
			winrm_auth = val;
			break;
		case O_WINRM_HTTP:
			o->run.winrm_insecure_http = 1;
			break;
		case O_KERBEROS:
			o->run.kerberos = 1;
			break;
		case O_SERVER:
			o->run.agent_server = val;
			break;
		case O_REGISTER_TIMEOUT:
			if (parse_int(val, 1, 86400, &o->run.register_timeout_s) != 0) {
				r = usage_error(o, _("--register-timeout '%s' is not a number of seconds from 1 to 86400"),
				                q(val, qb, sizeof(qb)));
				goto out;
			}
			break;
		case O_STATE_DIR:
			o->state_dir = val;
			break;
		case O_ACCOUNT:
			o->run.account = val;
			break;
		case O_VAULT_PASSFILE:
			o->vault_passfile = val;
			break;
		case O_JOB:
			if ((r = job_number(o, val, &o->fix_job)) != CLI_RUN)
				goto out;
			break;
		case O_UNDO:
			if ((r = job_number(o, val, &o->undo_job)) != CLI_RUN)
				goto out;
			break;
		case O_ONLY:
			if ((r = parse_ids(o, "--only", val, &o->only, &o->n_only)) != CLI_RUN)
				goto out;
			break;
		case O_DRY_RUN:
			o->dry_run = 1;
			break;
		case O_YES:
			o->yes = 1;
			break;
		case O_ALLOW_PRIV:
			o->allow_priv = 1;
			break;
		case O_FIX_ACCOUNT:
			o->fix_account = val;
			break;
		}
	}

	r = CLI_USAGE;
	if (ap_os_parse(os, &o->run.os) != AP_OK) {
		usage_error(o, _("--os '%s' is not one of linux, windows, auto"),
		            q(os, qb, sizeof(qb)));
		goto out;
	}
	if (pick(fmt, formats, &v) != 0) {
		usage_error(o, _("--format '%s' is not one of text, json"),
		            q(fmt, qb, sizeof(qb)));
		goto out;
	}
	o->format = (enum cli_format)v;
	if (pick(policy, hostkey_policies, &v) != 0) {
		usage_error(o, _("--host-key-policy '%s' is not one of strict, accept-new"),
		            q(policy, qb, sizeof(qb)));
		goto out;
	}
	o->run.hostkey_policy = (enum ap_hostkey_policy)v;
	if (pick(winrm_auth, winrm_auths, &v) != 0) {
		usage_error(o, _("--winrm-auth '%s' is not one of auto, basic, negotiate"),
		            q(winrm_auth, qb, sizeof(qb)));
		goto out;
	}
	o->run.winrm_auth = v;
	if (o->run.kerberos && o->run.winrm_auth == AP_WINRM_AUTH_BASIC) {
		usage_error(o, _("--kerberos and --winrm-auth basic exclude each other"));
		goto out;
	}
	if (o->run.ca_file != NULL && access(o->run.ca_file, R_OK) != 0) {
		usage_error(o, _("CA file '%s': cannot read it: %s"),
		            q(o->run.ca_file, qb, sizeof(qb)), strerror(errno));
		goto out;
	}
	if (o->run.user != NULL && !ap_target_user_valid(o->run.user)) {
		usage_error(o, _("--user '%s' is not an acceptable user name"),
		            q(o->run.user, qb, sizeof(qb)));
		goto out;
	}
	if (o->run.agent_server != NULL &&
	    ((strncmp(o->run.agent_server, "https://", 8) != 0 && strncmp(o->run.agent_server, "http://", 7) != 0) ||
	     strlen(o->run.agent_server) > 500 || strpbrk(o->run.agent_server, " \t\r\n\"\\") != NULL)) {
		usage_error(o, _("--server '%s' is not an https:// (or http://) URL"),
		            q(o->run.agent_server, qb, sizeof(qb)));
		goto out;
	}
	if (o->run.agent_server == NULL && (o->run.register_timeout_s != 0 || o->state_dir != NULL)) {
		usage_error(o, _("--register-timeout and --state-dir go with --server"));
		goto out;
	}
	if (o->run.account != NULL && !ap_vault_name_valid(o->run.account)) {
		usage_error(o, _("--account '%s' is not an account name (see 'agentpush accounts list')"),
		            q(o->run.account, qb, sizeof(qb)));
		goto out;
	}
	if (o->fix_account != NULL && !ap_vault_name_valid(o->fix_account)) {
		usage_error(o, _("--fix-account '%s' is not an account name (see 'agentpush accounts list')"),
		            q(o->fix_account, qb, sizeof(qb)));
		goto out;
	}
	if (o->submit && (o->resume || o->fix))
		return usage_error(o, _("--submit is for check and install: it records a job for 'agentpush worker' to run"));
	if (o->run.account != NULL && (password_file != NULL || o->run.user != NULL)) {
		usage_error(o, _("--account gives the user and the password: leave out --user and --password-file"));
		goto out;
	}
	if (install && o->run.package_path == NULL) {
		usage_error(o, _("--package PATH is required (see 'agentpush install --help')"));
		goto out;
	}
	if (o->run.identity != NULL && access(o->run.identity, R_OK) != 0) {
		usage_error(o, _("identity file '%s': cannot read it: %s"),
		            q(o->run.identity, qb, sizeof(qb)), strerror(errno));
		goto out;
	}

	/* Second pass: targets and inventories, in the order given. */
	only_targets = 0;
	for (i = 1; i < argc; i++) {
		const struct opt_def *d;
		const char *val;

		if (!only_targets && strcmp(argv[i], "--") == 0) {
			only_targets = 1;
			continue;
		}
		if (only_targets || argv[i][0] != '-' || argv[i][1] == '\0') {
			if (o->resume) {
				if ((r = parse_job_id(o, argv[i])) != CLI_RUN)
					goto out;
				continue;
			}
			if ((r = add_target(o, argv[i], ctx)) != CLI_RUN)
				goto out;
			continue;
		}
		if ((r = match_option(o, argc, argv, &i, &d, &val)) != CLI_RUN)
			goto out;
		if (d->id == O_INVENTORY && (r = add_inventory(o, val, ctx)) != CLI_RUN)
			goto out;
	}
	r = CLI_USAGE;
	if (o->resume && o->run.job_id == 0) {
		usage_error(o, _("no job given (see 'agentpush jobs' for their numbers)"));
		goto out;
	}
	if (o->fix && (o->fix_job != 0 || o->undo_job != 0) && o->n_targets > 0) {
		usage_error(o, _("give targets, or --job, or --undo: not two of them"));
		goto out;
	}
	if (o->fix && o->fix_job != 0 && o->undo_job != 0) {
		usage_error(o, _("give targets, or --job, or --undo: not two of them"));
		goto out;
	}
	if (o->fix && o->undo_job != 0 && (o->n_only > 0 || o->allow_priv)) {
		usage_error(o, _("--undo undoes every remedy applied: it takes no --only or --allow-privilege-changes"));
		goto out;
	}
	if (!o->resume && o->n_targets == 0 && !(o->fix && (o->fix_job != 0 || o->undo_job != 0))) {
		usage_error(o, _("no target given (name hosts or use -i INVENTORY; see 'agentpush %s --help')"),
		            o->cmd);
		goto out;
	}

	if (db != NULL) {
		if ((o->db_path = strdup(db)) == NULL) {
			usage_error(o, _("out of memory"));
			goto out;
		}
	} else if ((r = default_db(o)) != CLI_RUN) {
		goto out;
	}
	o->run.db_path = o->db_path;

	if (password_file != NULL)
		r = cli_read_password_file(o, password_file);
	else
		r = password_from_env(o);
out:
	ap_ctx_free(ctx);
	if (r != CLI_RUN)
		cli_opts_clear(o);
	return r;
}

void
cli_opts_clear(struct cli_opts *o)
{
	const char *cmd = o->cmd;
	int install = o->install, resume = o->resume, fix = o->fix;

	wipe_password(o);
	cli_accounts_clear(o);
	ap_targets_free(o->targets, o->n_targets);
	free(o->db_path);
	free(o->only);
	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->install = install;
	o->resume = resume;
	o->fix = fix;
}

int
cli_use_color(const struct cli_opts *o)
{
	return !o->no_color && getenv("NO_COLOR") == NULL && isatty(STDOUT_FILENO);
}

/* ---- agentpush jobs / agentpush show JOB ---- */

enum store_opt { SO_DB, SO_FORMAT, SO_LIMIT, SO_EVENTS, SO_ID, SO_NO_COLOR, SO_HELP };

struct store_opt_def {
	const char *name;
	char short_name;
	int has_arg;
	int show;   /* 0: jobs only, 1: show only, 2: both */
	enum store_opt id;
};

static const struct store_opt_def store_opts[] = {
	{ "db",       0,   1, 2, SO_DB },
	{ "format",   0,   1, 2, SO_FORMAT },
	{ "limit",    0,   1, 0, SO_LIMIT },
	{ "events",   0,   0, 1, SO_EVENTS },
	{ "id",       0,   1, 1, SO_ID },
	{ "no-color", 0,   0, 2, SO_NO_COLOR },
	{ "help",     'h', 0, 2, SO_HELP },
};

void
cli_store_usage(int show, FILE *f)
{
	if (show) {
		fprintf(f, "%s\n", _("Usage: agentpush show [OPTIONS] JOB"));
		fprintf(f, "\n%s\n\n", _("Shows the report of one job from the job store, as check or install printed it."));
		fprintf(f, "%s\n", _("  --events                  also list the job's event log"));
		fprintf(f, "%s\n", _("  --id ID[,ID...]           only the targets with one of these ErrorIDs, or an"));
		fprintf(f, "%s\n", _("                            ErrorID refining one (--id 95108 finds 800106 too)"));
	} else {
		fprintf(f, "%s\n", _("Usage: agentpush jobs [OPTIONS]"));
		fprintf(f, "\n%s\n\n", _("Lists the jobs of the job store, newest first."));
		fprintf(f, "%s\n", _("  --limit N                 at most N jobs, 1 to 1000000 (default all)"));
	}
	fprintf(f, "%s\n", _("  --format FORMAT           text (default) or json"));
	fprintf(f, "%s\n", _("  --db PATH                 job store (default $XDG_STATE_HOME/agentpush/jobs.db)"));
	fprintf(f, "%s\n", _("  --no-color                no colour in text output (NO_COLOR does the same)"));
	fprintf(f, "%s\n", _("  -h, --help                this help"));
	if (show)
		fprintf(f, "\n%s\n", _("Exit status: 0 every target ok, 1 a target failed, 2 usage error or no such job."));
	else
		fprintf(f, "\n%s\n", _("Exit status: 0 listed, 2 usage or configuration error."));
}

/* Finds the option of argv[*i] for jobs (show 0) or show (show 1). */
static int
store_match(const struct cli_opts *e, int show, int argc, char **argv, int *i,
            const struct store_opt_def **def, const char **val)
{
	const char *arg = argv[*i], *eq = NULL;
	char name[64], qb[80];
	size_t k, n;

	*def = NULL;
	*val = NULL;
	if (arg[1] == '-') {
		eq = strchr(arg + 2, '=');
		n = eq != NULL ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
	} else {
		n = strlen(arg + 1);
	}
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, arg + (arg[1] == '-' ? 2 : 1), n);
	name[n] = '\0';
	for (k = 0; k < sizeof(store_opts) / sizeof(store_opts[0]); k++) {
		const struct store_opt_def *d = &store_opts[k];

		if (d->show != 2 && d->show != show)
			continue;
		if (arg[1] == '-' ? strcmp(d->name, name) == 0
		                  : d->short_name != 0 && name[0] == d->short_name && name[1] == '\0')
			*def = d;
	}
	if (*def == NULL) {
		if (looks_like_password(name))
			return usage_error(e, _("a password is never accepted on the command line: use --password-file FILE or the AGENTPUSH_PASSWORD environment variable"));
		return usage_error(e, _("unknown option '%s%s' (see 'agentpush %s --help')"),
		                   arg[1] == '-' ? "--" : "-", q(name, qb, sizeof(qb)), e->cmd);
	}
	if (!(*def)->has_arg) {
		if (eq != NULL)
			return usage_error(e, _("option '--%s' takes no value"), (*def)->name);
		return CLI_RUN;
	}
	if (eq != NULL)
		*val = eq + 1;
	else if (*i + 1 < argc)
		*val = argv[++*i];
	else
		return usage_error(e, _("option '--%s' needs a value"), (*def)->name);
	return CLI_RUN;
}

/*
 * Appends the ErrorIDs of one --id value ("95108" or "95108,800106") to
 * o->ids.  Each must be a decimal ErrorID of the catalog: a search for an
 * unknown number is a typo, and would silently find nothing.
 */
static int
parse_ids(const struct cli_opts *e, const char *opt, const char *val, int **ids, size_t *n_ids)
{
	char qb[80], tok[16];
	const char *p = val;
	int id;

	for (;;) {
		size_t len = strcspn(p, ",");
		int *np;

		/* an empty or overlong token stays "", which parse_int() refuses */
		tok[0] = '\0';
		if (len < sizeof(tok)) {
			memcpy(tok, p, len);
			tok[len] = '\0';
		}
		if (parse_int(tok, 1, 899999, &id) != 0)
			return usage_error(e, _("%s '%s' is not a list of ErrorIDs such as 95108 or 95108,800106"),
			                   opt, q(val, qb, sizeof(qb)));
		if (ap_catalog_find(id) == NULL)
			return usage_error(e, _("%s: no ErrorID %d in the catalog (see 'agentpush explain --list')"), opt, id);
		if ((np = reallocarray(*ids, *n_ids + 1, sizeof(*np))) == NULL)
			return usage_error(e, _("out of memory"));
		*ids = np;
		(*ids)[(*n_ids)++] = id;
		p += len;
		if (*p == '\0')
			return CLI_RUN;
		p++; /* the comma; a trailing one leaves an empty token */
	}
}

static int
parse_store(int show, int argc, char **argv, struct cli_store_opts *o)
{
	struct cli_opts e; /* carries the command name for usage_error() */
	const char *fmt = "text", *db = NULL, *job = NULL;
	int i, r = CLI_USAGE, only_args = 0, limit = 0;
	char qb[80];

	memset(o, 0, sizeof(*o));
	memset(&e, 0, sizeof(e));
	e.cmd = o->cmd = show ? "show" : "jobs";
	for (i = 1; i < argc; i++) {
		const struct store_opt_def *d;
		const char *val;

		if (!only_args && strcmp(argv[i], "--") == 0) {
			only_args = 1;
			continue;
		}
		if (only_args || argv[i][0] != '-' || argv[i][1] == '\0') {
			if (!show)
				return usage_error(&e, _("unexpected argument '%s' (see 'agentpush %s --help')"),
				                   q(argv[i], qb, sizeof(qb)), e.cmd);
			if (job != NULL)
				return usage_error(&e, _("give one job, not '%s' as well"), q(argv[i], qb, sizeof(qb)));
			job = argv[i];
			continue;
		}
		if ((r = store_match(&e, show, argc, argv, &i, &d, &val)) != CLI_RUN)
			return r;
		switch (d->id) {
		case SO_HELP:
			cli_store_usage(show, stdout);
			return CLI_DONE;
		case SO_DB:
			db = val;
			break;
		case SO_FORMAT:
			fmt = val;
			break;
		case SO_LIMIT:
			if (parse_int(val, 1, 1000000, &limit) != 0)
				return usage_error(&e, _("--limit '%s' is not a number from 1 to 1000000"),
				                   q(val, qb, sizeof(qb)));
			o->limit = (size_t)limit;
			break;
		case SO_EVENTS:
			o->events = 1;
			break;
		case SO_ID:
			if ((r = parse_ids(&e, "--id", val, &o->ids, &o->n_ids)) != CLI_RUN)
				return r;
			break;
		case SO_NO_COLOR:
			o->no_color = 1;
			break;
		}
	}
	if (strcmp(fmt, "text") == 0)
		o->format = CLI_FORMAT_TEXT;
	else if (strcmp(fmt, "json") == 0)
		o->format = CLI_FORMAT_JSON;
	else
		return usage_error(&e, _("--format '%s' is not one of text, json"), q(fmt, qb, sizeof(qb)));
	if (show) {
		char *end = NULL;
		long long v;

		if (job == NULL)
			return usage_error(&e, _("no job given (see 'agentpush jobs' for their numbers)"));
		errno = 0;
		v = strtoll(job, &end, 10);
		if (job[0] < '0' || job[0] > '9' || *end != '\0' || errno != 0 || v <= 0)
			return usage_error(&e, _("job '%s' is not a job number (see 'agentpush jobs')"),
			                   q(job, qb, sizeof(qb)));
		o->job_id = v;
	}
	if (db != NULL) {
		if ((o->db_path = strdup(db)) == NULL)
			return usage_error(&e, _("out of memory"));
	} else {
		if ((r = default_db(&e)) != CLI_RUN)
			return r;
		o->db_path = e.db_path; /* transferred */
	}
	return CLI_RUN;
}

int
cli_parse_store(int show, int argc, char **argv, struct cli_store_opts *o)
{
	int r = parse_store(show, argc, argv, o);

	/* --id values are allocated as they come, before a later bad option */
	if (r != CLI_RUN)
		cli_store_opts_clear(o);
	return r;
}

void
cli_store_opts_clear(struct cli_store_opts *o)
{
	free(o->ids);
	o->ids = NULL;
	o->n_ids = 0;
	free(o->db_path);
	o->db_path = NULL;
}
