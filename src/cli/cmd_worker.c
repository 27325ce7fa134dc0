/*
 * cmd_worker.c - "agentpush worker": claim hosts of the shared job store
 * and run them until stopped (SIGINT/SIGTERM) or, with --once, until there
 * is nothing left to claim.  The work is lib/worker/ (worker.h); this file
 * reads the command line and prints the worker's log lines on stderr.
 *
 * Exit status: 0 stopped or done, 1 the worker failed (out of memory, the
 * store could not be opened), 2 usage.
 */
#include <errno.h>
#include <libintl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentpush/store.h"
#include "agentpush/vault.h"
#include "agentpush/worker.h"
#include "commands.h"
#include "options.h"

#define _(s) dgettext("agentpush", s)

static volatile int stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
}

static void
print_line(void *ud, const char *line)
{
	char at[32];
	time_t now = time(NULL);
	struct tm tm;

	(void)ud;
	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s agentpush worker: %s\n", at, line);
}

static void
usage(FILE *f)
{
	fprintf(f, "%s\n", _("Usage: agentpush worker [OPTIONS]"));
	fprintf(f, "%s\n\n", _("Claims hosts of the jobs in a shared job store and runs them, with any number of other workers."));
	fprintf(f, "%s\n", _("  --db URL|PATH             job store: postgresql://... shared by the workers, or a file"));
	fprintf(f, "%s\n", _("  --name NAME               this worker's name in events and logs (default: host name)"));
	fprintf(f, "%s\n", _("  --parallel N              hosts at once (default 32)"));
	fprintf(f, "%s\n", _("  --lease SECONDS           how long a claimed host is held without renewal (default 30)"));
	fprintf(f, "%s\n", _("  --once                    stop once there is nothing to claim"));
	fprintf(f, "%s\n", _("  --user USER               login user for targets and jobs naming none"));
	fprintf(f, "%s\n", _("  --password-file FILE      read the login password from the first line of FILE"));
	fprintf(f, "%s\n", _("  --identity FILE           SSH private key"));
	fprintf(f, "%s\n", _("  --known-hosts FILE        SSH known_hosts file"));
	fprintf(f, "%s\n", _("  --host-key-policy POLICY  strict (default) or accept-new"));
	fprintf(f, "%s\n", _("  --vault-key FILE          the vault's key file, for jobs naming vault accounts"));
	fprintf(f, "%s\n", _("                            (default with a store file: vault.key beside it)"));
	fprintf(f, "%s\n", _("  --vault-passphrase-file FILE  the vault's passphrase, when it has one"));
	fprintf(f, "%s\n", _("  --state-dir DIR           the configuration server's state folder, for jobs whose"));
	fprintf(f, "%s\n", _("                            agents register (install --server)"));
	fprintf(f, "%s\n", _("  -h, --help                show this help"));
}

/* A whole number in [lo, hi], or -1. */
static long
number(const char *s, long lo, long hi)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

int
cmd_worker(int argc, char **argv)
{
	struct cli_opts o;
	struct ap_worker_opts wo;
	struct ap_worker_stats stats;
	struct ap_store *store = NULL;
	struct ap_ctx *ctx = NULL;
	struct sigaction sa;
	char *db = NULL, vault_key[4096 + 16];
	const char *val = NULL;
	int i, st = 2;
	long v;

	memset(&o, 0, sizeof(o));
	memset(&wo, 0, sizeof(wo));
	memset(&stats, 0, sizeof(stats));
	o.cmd = "worker";
	o.run.hostkey_policy = AP_HOSTKEY_STRICT;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			st = 0;
			goto out;
		}
		if (strcmp(a, "--once") == 0) {
			wo.once = 1;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || strchr(a, '=') != NULL) {
			fprintf(stderr, "agentpush worker: %s '%s' (%s)\n", _("unexpected argument"),
			        a, _("see agentpush worker --help"));
			goto out;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "agentpush worker: %s %s\n", a, _("needs a value"));
			goto out;
		}
		val = argv[++i];
		if (strcmp(a, "--db") == 0) {
			free(db);
			if ((db = strdup(val)) == NULL)
				goto oom;
		} else if (strcmp(a, "--name") == 0) {
			if (val[0] == '\0' || strlen(val) > 64 || strpbrk(val, "/\n\r\t ") != NULL) {
				fprintf(stderr, "agentpush worker: --name '%s': %s\n", val,
				        _("1 to 64 characters, no spaces or '/'"));
				goto out;
			}
			wo.name = val;
		} else if (strcmp(a, "--parallel") == 0) {
			if ((v = number(val, 1, 10000)) < 0) {
				fprintf(stderr, "agentpush worker: --parallel '%s': %s\n", val,
				        _("expected a whole number from 1 to 10000"));
				goto out;
			}
			o.run.parallel = (int)v;
		} else if (strcmp(a, "--lease") == 0) {
			if ((v = number(val, 1, 3600)) < 0) {
				fprintf(stderr, "agentpush worker: --lease '%s': %s\n", val,
				        _("expected seconds from 1 to 3600"));
				goto out;
			}
			wo.lease_ms = (int)v * 1000;
		} else if (strcmp(a, "--user") == 0) {
			o.run.user = val;
		} else if (strcmp(a, "--password-file") == 0) {
			if (cli_read_password_file(&o, val) != CLI_RUN)
				goto out;
		} else if (strcmp(a, "--vault-key") == 0) {
			wo.vault_key = val;
		} else if (strcmp(a, "--vault-passphrase-file") == 0) {
			wo.vault_passfile = val;
		} else if (strcmp(a, "--state-dir") == 0) {
			wo.state_dir = val;
		} else if (strcmp(a, "--identity") == 0) {
			o.run.identity = val;
		} else if (strcmp(a, "--known-hosts") == 0) {
			o.run.known_hosts = val;
		} else if (strcmp(a, "--host-key-policy") == 0) {
			if (strcmp(val, "strict") == 0)
				o.run.hostkey_policy = AP_HOSTKEY_STRICT;
			else if (strcmp(val, "accept-new") == 0)
				o.run.hostkey_policy = AP_HOSTKEY_STRICT;
			else {
				fprintf(stderr, "agentpush worker: --host-key-policy '%s': %s\n", val,
				        _("expected strict or accept-new"));
				goto out;
			}
		} else {
			fprintf(stderr, "agentpush worker: %s '%s' (%s)\n", _("unknown option"), a,
			        _("see agentpush worker --help"));
			goto out;
		}
	}
	if (db == NULL && getenv("AGENTPUSH_DB") != NULL && (db = strdup(getenv("AGENTPUSH_DB"))) == NULL)
		goto oom;
	if ((ctx = ap_ctx_new()) == NULL)
		goto oom;
	if (db == NULL) {
		char path[4096];

		if (ap_store_default_path(path, sizeof(path), ctx) != AP_OK) {
			fprintf(stderr, "agentpush worker: %s\n", ap_ctx_errmsg(ctx));
			goto out;
		}
		if ((db = strdup(path)) == NULL)
			goto oom;
	}
	/* a store file's vault key lies beside it, as for check and install */
	if (wo.vault_key == NULL && strncmp(db, "postgresql://", 13) != 0 &&
	    strncmp(db, "postgres://", 11) != 0 &&
	    ap_vault_key_path(db, vault_key, sizeof(vault_key), ctx) == AP_OK)
		wo.vault_key = vault_key;
	st = 1;
	if (ap_store_open(db, &store, ctx) != AP_OK) {
		fprintf(stderr, "agentpush worker: %s\n", ap_ctx_errmsg(ctx));
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	wo.stop = (const int *)&stop_flag;
	wo.base = &o.run;
	wo.log = print_line;
	if (ap_worker_run(store, &wo, &stats, ctx) != AP_OK) {
		fprintf(stderr, "agentpush worker: %s\n", ap_ctx_errmsg(ctx));
		goto out;
	}
	fprintf(stderr, _("agentpush worker: %lu claimed, %lu done, %lu failed or skipped, %lu abandoned, %lu database errors, %llu statements, %llu round trips\n"),
	        stats.claimed, stats.done, stats.failed, stats.lost, stats.db_errors,
	        (unsigned long long)stats.statements, (unsigned long long)stats.round_trips);
	st = 0;
	goto out;
oom:
	fprintf(stderr, "agentpush worker: %s\n", _("out of memory"));
	st = 1;
out:
	cli_opts_clear(&o);
	ap_store_close(store);
	ap_ctx_free(ctx);
	free(db);
	return st;
}
