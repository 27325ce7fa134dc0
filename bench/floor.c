/*
 * floor.c - the cost floor for the agentpush benchmark (bench/run.sh).
 *
 * A minimal libssh client that does, for each host, the least an SSH push
 * tool must do, with the same parallelism as agentpush (a pthread pool, one
 * thread per host in flight):
 *
 *   check:    connect, verify the host key against a known_hosts file,
 *             authenticate with a key, run one command (`true`), close.
 *   install:  the same, plus one SFTP upload of the payload to
 *             <staging>/<name>.part, then one command doing the work the
 *             benchmark package's installer does (bench/run.sh builds it):
 *             sha256sum -c, rename, unpack, install, verify, clean up.
 *
 *   floor check|install -k KEY -K KNOWN_HOSTS -u USER -P PARALLEL
 *         [-D] [-p PORT] [-x CHECK_COMMAND] [-i STDIN_FILE]
 *         [-f PAYLOAD -r REMOTE_PART -c COMMAND] HOST...
 *
 * -x and -i are for diagnosis (bench/README.md): run another command than
 * `true` for check, with a file as its stdin (e.g. agentpush's probe).
 *
 * Prints one line: "floor: N hosts, M ok, F failed"; exit 0 iff all ok.
 * Failures print one line each on stderr.  Not part of agentpush: built by
 * bench/run.sh into its work folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#define CHUNK (64 * 1024)  /* the SFTP write size agentpush uses too */

struct cfg {
	int install;
	const char *user;
	const char *known_hosts;
	ssh_key key;
	unsigned int port;
	int nodelay;              /* -D: TCP_NODELAY (libssh's default is off) */
	const char *payload;      /* local file (install) */
	const char *remote_part;  /* <staging>/<name>.part */
	const char *command;      /* command run after the upload; -x: check's */
	const char *stdin_data;   /* -i FILE: sent as the command's stdin */
	size_t stdin_len;
	char **hosts;
	int nhosts;
};

static struct cfg cfg;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int next_host;
static int n_ok, n_failed;

/* Runs one command on a fresh channel; returns its exit status or -1. */
static int
run_command(ssh_session s, const char *cmd)
{
	ssh_channel ch = NULL;
	char buf[4096];
	int st = -1;

	if ((ch = ssh_channel_new(s)) == NULL)
		goto out;
	if (ssh_channel_open_session(ch) != SSH_OK)
		goto out;
	if (ssh_channel_request_exec(ch, cmd) != SSH_OK)
		goto out;
	if (cfg.stdin_data != NULL) {
		size_t off = 0;

		while (off < cfg.stdin_len) {
			int k = ssh_channel_write(ch, cfg.stdin_data + off, (uint32_t)(cfg.stdin_len - off));

			if (k <= 0)
				goto out;
			off += (size_t)k;
		}
		ssh_channel_send_eof(ch);
	}
	while (ssh_channel_read(ch, buf, sizeof buf, 0) > 0)
		;
	while (ssh_channel_read(ch, buf, sizeof buf, 1) > 0)
		;
	ssh_channel_send_eof(ch);
	st = ssh_channel_get_exit_status(ch);
out:
	if (ch != NULL) {
		ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	return st;
}

/* Copies the payload to remote_part over SFTP; 0 on success. */
static int
upload(ssh_session s)
{
	sftp_session sf = NULL;
	sftp_file f = NULL;
	char *buf = NULL;
	int fd = -1, r = -1;
	ssize_t n;

	if ((sf = sftp_new(s)) == NULL || sftp_init(sf) != SSH_OK)
		goto out;
	f = sftp_open(sf, cfg.remote_part, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (f == NULL)
		goto out;
	if ((fd = open(cfg.payload, O_RDONLY | O_CLOEXEC)) < 0)
		goto out;
	if ((buf = malloc(CHUNK)) == NULL)
		goto out;
	while ((n = read(fd, buf, CHUNK)) > 0) {
		if (sftp_write(f, buf, (size_t)n) != n)
			goto out;
	}
	if (n < 0)
		goto out;
	r = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	if (f != NULL && sftp_close(f) != SSH_OK)
		r = -1;
	if (sf != NULL)
		sftp_free(sf);
	return r;
}

/* One host: returns NULL on success or a static description of the step. */
static const char *
do_host(const char *host)
{
	ssh_session s = NULL;
	const char *err = NULL;
	int st;

	if ((s = ssh_new()) == NULL)
		return "ssh_new";
	ssh_options_set(s, SSH_OPTIONS_HOST, host);
	ssh_options_set(s, SSH_OPTIONS_PORT, &cfg.port);
	ssh_options_set(s, SSH_OPTIONS_USER, cfg.user);
	ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, cfg.known_hosts);
	{
		int no = 0;
		long sec = 60;

		ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
		ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec);
		if (cfg.nodelay)
			ssh_options_set(s, SSH_OPTIONS_NODELAY, &cfg.nodelay);
	}
	if (ssh_connect(s) != SSH_OK) {
		err = "connect";
		goto out;
	}
	if (ssh_session_is_known_server(s) != SSH_KNOWN_HOSTS_OK) {
		err = "host key";
		goto out;
	}
	if (ssh_userauth_publickey(s, NULL, cfg.key) != SSH_AUTH_SUCCESS) {
		err = "auth";
		goto out;
	}
	if (cfg.install && upload(s) != 0) {
		err = "upload";
		goto out;
	}
	st = run_command(s, cfg.command != NULL ? cfg.command : "true");
	if (st != 0)
		err = "command";
out:
	ssh_disconnect(s);
	ssh_free(s);
	return err;
}

static void *
worker(void *arg)
{
	(void)arg;
	for (;;) {
		const char *err;
		int i;

		pthread_mutex_lock(&mu);
		i = next_host < cfg.nhosts ? next_host++ : -1;
		pthread_mutex_unlock(&mu);
		if (i < 0)
			break;
		err = do_host(cfg.hosts[i]);
		pthread_mutex_lock(&mu);
		if (err == NULL) {
			n_ok++;
		} else {
			n_failed++;
			fprintf(stderr, "floor: %s: %s failed\n", cfg.hosts[i], err);
		}
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static int
usage(void)
{
	fprintf(stderr, "usage: floor check|install -k KEY -K KNOWN_HOSTS -u USER -P PARALLEL "
	        "[-D] [-p PORT] [-x CHECK_COMMAND] [-i STDIN_FILE] [-f PAYLOAD -r REMOTE_PART -c COMMAND] HOST...\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *keyfile = NULL, *stdin_file = NULL;
	static char stdin_buf[256 * 1024];
	pthread_t *th = NULL;
	pthread_attr_t attr;
	int parallel = 32, opt, i, nth, r = 2;

	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "install") == 0)
		cfg.install = 1;
	else if (strcmp(argv[1], "check") != 0)
		return usage();
	cfg.user = "root";
	cfg.port = 22;
	optind = 2;
	while ((opt = getopt(argc, argv, "k:K:u:P:p:f:r:c:Dx:i:")) != -1) {
		switch (opt) {
		case 'k': keyfile = optarg; break;
		case 'K': cfg.known_hosts = optarg; break;
		case 'u': cfg.user = optarg; break;
		case 'P': parallel = atoi(optarg); break;
		case 'p': cfg.port = (unsigned int)atoi(optarg); break;
		case 'f': cfg.payload = optarg; break;
		case 'r': cfg.remote_part = optarg; break;
		case 'c': cfg.command = optarg; break;
		case 'D': cfg.nodelay = 1; break;
		case 'x': cfg.command = optarg; break;
		case 'i': stdin_file = optarg; break;
		default: return usage();
		}
	}
	if (keyfile == NULL || cfg.known_hosts == NULL || parallel < 1 || optind >= argc)
		return usage();
	if (cfg.install && (cfg.payload == NULL || cfg.remote_part == NULL || cfg.command == NULL))
		return usage();
	if (stdin_file != NULL) {
		FILE *f = fopen(stdin_file, "r");

		if (f == NULL) {
			fprintf(stderr, "floor: cannot read %s\n", stdin_file);
			return 2;
		}
		cfg.stdin_len = fread(stdin_buf, 1, sizeof stdin_buf, f);
		cfg.stdin_data = stdin_buf;
		fclose(f);
	}
	cfg.hosts = argv + optind;
	cfg.nhosts = argc - optind;
	ssh_init();
	if (ssh_pki_import_privkey_file(keyfile, NULL, NULL, NULL, &cfg.key) != SSH_OK) {
		fprintf(stderr, "floor: cannot read key %s\n", keyfile);
		goto out;
	}
	nth = parallel < cfg.nhosts ? parallel : cfg.nhosts;
	if ((th = calloc((size_t)nth, sizeof *th)) == NULL)
		goto out;
	/* Same stack size as glibc's default would waste address space only;
	 * 256 KB is ample for libssh and keeps RSS honest. */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (i = 0; i < nth; i++) {
		if (pthread_create(&th[i], &attr, worker, NULL) != 0) {
			fprintf(stderr, "floor: pthread_create: %s\n", strerror(errno));
			nth = i;
			break;
		}
	}
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	printf("floor: %d hosts, %d ok, %d failed\n", cfg.nhosts, n_ok, n_failed);
	r = n_failed == 0 && n_ok == cfg.nhosts ? 0 : 1;
out:
	free(th);
	ssh_key_free(cfg.key);
	ssh_finalize();
	return r;
}
