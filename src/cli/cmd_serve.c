/*
 * cmd_serve.c - "agentpush serve" (the configuration server) and
 * "agentpush passphrase show|rotate" (its registration passphrase).
 *
 *   agentpush serve [--listen ADDR:PORT] [--db PATH] [--state-dir DIR]
 *                   [--cert FILE --key FILE] [--insecure-http]
 *                   [--heartbeat-interval S] [--max-jobs N] [--grace S]
 *                   [--workers]
 *   agentpush passphrase show|rotate [--db PATH] [--state-dir DIR]
 *
 * serve runs until SIGTERM or SIGINT, then stops gracefully (server.h:
 * ap_server_stop).  Its log goes to stderr, one line per event, which
 * systemd's journal keeps.  Exit status: 0 stopped on a signal, 2 usage
 * or start-up error (one line on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <libintl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentpush/server.h"
#include "agentpush/store.h"
#include "commands.h"

#define _(s) dgettext("agentpush", s)

static void
serve_usage(FILE *f)
{
	fprintf(f, "%s\n", _("Usage: agentpush serve [--listen ADDR:PORT] [--db PATH] [--state-dir DIR] [OPTIONS]"));
	fprintf(f, "\n%s\n\n", _("Runs the configuration server: the HTTPS API, the dashboard, agent registration."));
	fprintf(f, "%s\n", _("  --listen ADDR:PORT        where to listen (default 127.0.0.1:8443)"));
	fprintf(f, "%s\n", _("  --db PATH                 the job store (default: as the other commands)"));
	fprintf(f, "%s\n", _("  --state-dir DIR           token, passphrase, certificate (default: the store's folder)"));
	fprintf(f, "%s\n", _("  --cert FILE --key FILE    TLS certificate and key (default: made on first start)"));
	fprintf(f, "%s\n", _("  --insecure-http           plain HTTP, for tests only"));
	fprintf(f, "%s\n", _("  --heartbeat-interval S    seconds between agent heartbeats (default 60)"));
	fprintf(f, "%s\n", _("  --max-jobs N              jobs run at once (default 4)"));
	fprintf(f, "%s\n", _("  --workers                 only record jobs: 'agentpush worker' processes sharing"));
	fprintf(f, "%s\n", _("                            the store run them (a job password is refused)"));
	fprintf(f, "%s\n", _("  --grace S                 on SIGTERM, seconds to let hosts in flight finish (default 30)"));
	fprintf(f, "%s\n", _("  -h, --help                this help"));
}

static void
passphrase_usage(FILE *f)
{
	fprintf(f, "%s\n", _("Usage: agentpush passphrase show|rotate [--db PATH] [--state-dir DIR]"));
	fprintf(f, "\n%s\n", _("Shows or replaces the passphrase agents register with.  Agents already registered keep working after a rotation."));
}

/* A whole number in [min, max] from an option value; -1 if not one. */
static int
number_arg(const char *opt, const char *s, int min, int max, int *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, _("agentpush: %s '%s': expected a whole number from %d to %d\n"), opt, s, min, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static void
log_line(void *ud, const char *level, const char *line)
{
	struct timespec ts;
	struct tm tm;
	char at[32];

	(void)ud;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s %s\n", at, level, line);
}

static int
db_or_default(const char *db, char *buf, size_t size, struct ap_ctx *ctx)
{
	if (db != NULL) {
		snprintf(buf, size, "%s", db);
		return AP_OK;
	}
	return ap_store_default_path(buf, size, ctx);
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "insecure-http", no_argument, NULL, 'I' },
		{ "heartbeat-interval", required_argument, NULL, 'H' },
		{ "max-jobs", required_argument, NULL, 'j' },
		{ "grace", required_argument, NULL, 'g' },
		{ "workers", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ap_server_opts so;
	struct ap_server *srv = NULL;
	struct ap_ctx *ctx = NULL;
	const char *db = NULL;
	char db_path[4096], *shown = NULL;
	sigset_t set;
	int c, sig = 0, grace = 30, st = 2;

	memset(&so, 0, sizeof(so));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': so.listen = optarg; break;
		case 'd': db = optarg; break;
		case 's': so.state_dir = optarg; break;
		case 'c': so.cert_file = optarg; break;
		case 'k': so.key_file = optarg; break;
		case 'I': so.insecure_http = 1; break;
		case 'W': so.workers = 1; break;
		case 'H':
			if (number_arg("--heartbeat-interval", optarg, 1, 86400, &so.heartbeat_s) != 0)
				return 2;
			break;
		case 'j':
			if (number_arg("--max-jobs", optarg, 1, 256, &so.max_jobs) != 0)
				return 2;
			break;
		case 'g':
			if (number_arg("--grace", optarg, 0, 3600, &grace) != 0)
				return 2;
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		default:
			fprintf(stderr, _("agentpush serve: unknown or incomplete option '%s' (see 'agentpush serve --help')\n"),
			        argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, _("agentpush serve: unexpected argument '%s'\n"), argv[optind]);
		return 2;
	}
	if ((ctx = ap_ctx_new()) == NULL) {
		fprintf(stderr, "agentpush serve: %s\n", _("out of memory"));
		return 2;
	}
	if (db_or_default(db, db_path, sizeof(db_path), ctx) != AP_OK)
		goto fail;
	so.db_path = db_path;
	so.log = log_line;
	/* Signals are taken synchronously below; every thread the server
	 * starts inherits this mask, so none of them is interrupted. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (ap_server_start(&so, &srv, ctx) != AP_OK)
		goto fail;
	/* never the password a postgresql:// URI may hold */
	shown = ap_store_location_for(db_path);
	fprintf(stderr, _("agentpush serve: listening on %s://%s%s%s:%d (job store %s)\n"),
	        so.insecure_http ? "http" : "https", strchr(ap_server_host(srv), ':') != NULL ? "[" : "",
	        ap_server_host(srv), strchr(ap_server_host(srv), ':') != NULL ? "]" : "",
	        ap_server_port(srv), shown != NULL ? shown : "?");
	free(shown);
	fprintf(stderr, ap_server_token_created(srv)
	        ? _("agentpush serve: a new admin API token was written to %s\n")
	        : _("agentpush serve: the admin API token is in %s\n"),
	        ap_server_token_path(srv));
	if (ap_server_cert_path(srv) != NULL) {
		char pin[128];

		if (ap_server_cert_pin(ap_server_cert_path(srv), pin, sizeof(pin), ctx) == AP_OK)
			fprintf(stderr, _("agentpush serve: certificate %s, public key pin %s\n"),
			        ap_server_cert_path(srv), pin);
	}
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP)
			continue;   /* nothing to reload yet; do not die */
		break;
	}
	fprintf(stderr, _("agentpush serve: %s received, stopping (up to %d s for hosts in flight)\n"),
	        sig == SIGTERM ? "SIGTERM" : "SIGINT", grace);
	ap_server_stop(srv, grace);
	fprintf(stderr, "%s\n", _("agentpush serve: stopped"));
	ap_ctx_free(ctx);
	return 0;
fail:
	fprintf(stderr, "agentpush serve: %s\n", ap_ctx_errmsg(ctx));
	ap_ctx_free(ctx);
	return st;
}

int
cmd_passphrase(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ap_store *store = NULL;
	struct ap_ctx *ctx = NULL;
	const char *db = NULL, *state = NULL, *verb = NULL;
	char db_path[4096], dir[4096], pass[AP_SERVER_PASSPHRASE_LEN + 8];
	int c, st = 2;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 's': state = optarg; break;
		case 'h':
			passphrase_usage(stdout);
			return 0;
		default:
			fprintf(stderr, _("agentpush passphrase: unknown or incomplete option '%s'\n"), argv[optind - 1]);
			return 2;
		}
	}
	if (optind + 1 != argc || (strcmp(argv[optind], "show") != 0 && strcmp(argv[optind], "rotate") != 0)) {
		passphrase_usage(stderr);
		return 2;
	}
	verb = argv[optind];
	if ((ctx = ap_ctx_new()) == NULL) {
		fprintf(stderr, "agentpush passphrase: %s\n", _("out of memory"));
		return 2;
	}
	if (db_or_default(db, db_path, sizeof(db_path), ctx) != AP_OK ||
	    ap_server_state_dir(state, db_path, dir, sizeof(dir), ctx) != AP_OK ||
	    ap_store_open(db_path, &store, ctx) != AP_OK)
		goto fail;
	if (strcmp(verb, "rotate") == 0) {
		if (ap_server_passphrase_rotate(store, dir, ctx) != AP_OK)
			goto fail;
		fprintf(stderr, _("agentpush passphrase: a new passphrase is in %s/registration-passphrase; new installs hand it to their agents\n"),
		        dir);
		st = 0;
		goto out;
	}
	if (ap_server_passphrase_read(store, dir, pass, sizeof(pass), ctx) != AP_OK) {
		if (ap_ctx_rc(ctx) == AP_ENOTFOUND) {
			fprintf(stderr, "%s\n", _("agentpush passphrase: there is no passphrase yet: start agentpush serve once, or run agentpush passphrase rotate"));
			goto out;
		}
		goto fail;
	}
	printf("%s\n", pass);
	explicit_bzero(pass, sizeof(pass));
	st = fflush(stdout) == 0 ? 0 : 2;
	goto out;
fail:
	fprintf(stderr, "agentpush passphrase: %s\n", ap_ctx_errmsg(ctx));
out:
	ap_store_close(store);
	ap_ctx_free(ctx);
	return st;
}
