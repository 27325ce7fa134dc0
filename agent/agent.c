/*
 * agent.c - agentpush-agent, the mobility agent that agentpush installs.
 *
 * The agent proves it is alive: it writes a locked pid file, logs a
 * heartbeat line every N seconds and stops cleanly on SIGTERM.  When an
 * install told it of a configuration server (etc/register.conf), it
 * registers there and sends its heartbeats to it (register.c).  It links
 * against libc only (HTTP goes through the host's curl), so the same binary
 * runs on every target of the tests.
 *
 * Life of the process:
 *
 *   parse options -> [daemonize: fork, setsid, fork; the first parent waits
 *   on a pipe until the daemon has its pid file, so "start" returns only
 *   once the agent is really running] -> lock pid file (refuse if held) ->
 *   open log -> loop { wait for a signal or the next task's due time }
 *   -> SIGTERM/SIGINT: log "stopping", remove pid file, exit 0.
 *
 * Signals are blocked and taken synchronously with sigtimedwait(), so there
 * are no handlers and no async-signal-safety traps.  SIGHUP reopens the log
 * (after logrotate).
 *
 * Where to grow: the loop runs the periodic tasks of tasks[]; a task's
 * period may change after each run (registration backs off, the server
 * sets the heartbeat interval).
 *
 * Exit codes: 0 stopped cleanly (or --version/--help), 1 runtime error,
 * 2 bad command line, 3 another instance holds the pid file.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "pidfile.h"
#include "register.h"
#include "util.h"

#ifndef AGENT_VERSION
#error "AGENT_VERSION must be defined by the build"
#endif

#define PROG "agentpush-agent"
#define DEFAULT_INSTALL_DIR "/opt/agentpush-agent"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_RUNNING = 3 };

struct agent {
	char install_dir[PATH_MAX];
	char pid_path[PATH_MAX];
	char log_path[PATH_MAX];
	unsigned heartbeat_s;
	bool foreground;
	struct timespec started; /* CLOCK_MONOTONIC */
	struct reg reg;          /* the configuration server, when there is one */
	unsigned reg_next_s;     /* seconds to the next registration check */
};

/* A periodic task of the main loop. */
struct task {
	const char *name;
	unsigned (*period_s)(const struct agent *ag);
	void (*run)(struct agent *ag);
};

/* Registered: the server's interval; else the local one. */
static unsigned
heartbeat_period(const struct agent *ag)
{
	if (ag->reg.agent_id[0] != '\0' && ag->reg.interval_s > 0)
		return ag->reg.interval_s;
	return ag->heartbeat_s;
}

static void
heartbeat_run(struct agent *ag)
{
	struct timespec now;
	long up;

	clock_gettime(CLOCK_MONOTONIC, &now);
	up = (long)(now.tv_sec - ag->started.tv_sec);
	log_line("heartbeat uptime=%lds", up);
	reg_beat(&ag->reg, AGENT_VERSION, up);
}

static unsigned
register_period(const struct agent *ag)
{
	return ag->reg_next_s;
}

static void
register_run(struct agent *ag)
{
	ag->reg_next_s = reg_poll(&ag->reg, AGENT_VERSION);
}

static const struct task tasks[] = {
	/* first: a new install's registration is tried at start */
	{ "register", register_period, register_run },
	{ "heartbeat", heartbeat_period, heartbeat_run },
};
#define N_TASKS (sizeof(tasks) / sizeof(tasks[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " [--foreground] [--install-dir DIR] [--pid-file PATH]\n"
	        "                       [--log-file PATH] [--heartbeat SECONDS]\n"
	        "       " PROG " --version\n"
	        "Defaults: install dir from the binary's location (<dir>/bin/" PROG ") or "
	        DEFAULT_INSTALL_DIR ",\n"
	        "pid file <dir>/run/" PROG ".pid, log <dir>/log/" PROG ".log, heartbeat 10 s.\n");
}

/* <dir> when the binary is <dir>/bin/agentpush-agent, else the default. */
static void
default_install_dir(char *out, size_t sz)
{
	char exe[PATH_MAX];
	char *slash = NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	snprintf(out, sz, "%s", DEFAULT_INSTALL_DIR);
	if (n <= 0)
		return;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return;
	*slash = '\0';
	n = (ssize_t)strlen(exe);
	if (n > 4 && strcmp(exe + n - 4, "/bin") == 0) {
		exe[n - 4] = '\0';
		snprintf(out, sz, "%s", exe);
	}
}

static int
parse_args(struct agent *ag, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground",  no_argument,       NULL, 'f' },
		{ "install-dir", required_argument, NULL, 'd' },
		{ "pid-file",    required_argument, NULL, 'p' },
		{ "log-file",    required_argument, NULL, 'l' },
		{ "heartbeat",   required_argument, NULL, 'b' },
		{ "version",     no_argument,       NULL, 'V' },
		{ "help",        no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *pid = NULL, *logp = NULL, *dir = NULL;
	char *end = NULL;
	long v;
	int c;

	ag->heartbeat_s = 10;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': ag->foreground = true; break;
		case 'd': dir = optarg; break;
		case 'p': pid = optarg; break;
		case 'l': logp = optarg; break;
		case 'b':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || v < 1 || v > 86400) {
				fprintf(stderr, PROG ": --heartbeat: must be a number of seconds from 1 to 86400, got \"%s\"\n", optarg);
				return EXIT_USAGE;
			}
			ag->heartbeat_s = (unsigned)v;
			break;
		case 'V':
			printf("%s\n", AGENT_VERSION);
			return -1;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (dir != NULL)
		snprintf(ag->install_dir, sizeof(ag->install_dir), "%s", dir);
	else
		default_install_dir(ag->install_dir, sizeof(ag->install_dir));
	if (pid != NULL)
		snprintf(ag->pid_path, sizeof(ag->pid_path), "%s", pid);
	else if (snprintf(ag->pid_path, sizeof(ag->pid_path), "%s/run/" PROG ".pid", ag->install_dir) >= (int)sizeof(ag->pid_path))
		goto too_long;
	if (logp != NULL)
		snprintf(ag->log_path, sizeof(ag->log_path), "%s", logp);
	else if (snprintf(ag->log_path, sizeof(ag->log_path), "%s/log/" PROG ".log", ag->install_dir) >= (int)sizeof(ag->log_path))
		goto too_long;
	if (ag->pid_path[0] != '/' || ag->log_path[0] != '/') {
		fprintf(stderr, PROG ": the pid file and log file paths must be absolute\n");
		return EXIT_USAGE;
	}
	return 0;
too_long:
	fprintf(stderr, PROG ": --install-dir: path too long\n");
	return EXIT_USAGE;
}

/*
 * Detaches from the terminal.  Returns in the daemon (with *notify_fd the
 * pipe to report readiness on); the first parent never returns: it exits
 * with the status byte the daemon sends, or 1 if the daemon died first.
 */
static void
daemonize(int *notify_fd)
{
	int p[2];
	unsigned char st = EXIT_RUNTIME;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
		exit(EXIT_RUNTIME);
	}
	if ((pid = fork()) < 0) {
		fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
		exit(EXIT_RUNTIME);
	}
	if (pid > 0) {
		close(p[1]);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (read(p[0], &st, 1) != 1)
			st = EXIT_RUNTIME;
		_exit(st);
	}
	close(p[0]);
	setsid();
	if ((pid = fork()) < 0)
		_exit(EXIT_RUNTIME);
	if (pid > 0)
		_exit(0);
	*notify_fd = p[1];
}

static void
notify(int *fd, unsigned char st)
{
	if (*fd < 0)
		return;
	(void)!write(*fd, &st, 1);
	close(*fd);
	*fd = -1;
}

static void
detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static long
ms_until(const struct timespec *due)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (due->tv_sec - now.tv_sec) * 1000 + (due->tv_nsec - now.tv_nsec) / 1000000;
}

/* Runs the tasks until SIGTERM/SIGINT; returns the signal that stopped us. */
static int
main_loop(struct agent *ag, const sigset_t *sigs)
{
	struct timespec due[N_TASKS], ts;
	siginfo_t si;
	long wait_ms, w;
	size_t i;
	int sig;

	for (i = 0; i < N_TASKS; i++) {
		due[i] = ag->started;
		due[i].tv_sec += tasks[i].period_s(ag);
	}
	for (;;) {
		wait_ms = LONG_MAX;
		for (i = 0; i < N_TASKS; i++) {
			/* A period that just got shorter (the server's heartbeat
			 * interval after registering) takes effect now. */
			if (ms_until(&due[i]) > (long)tasks[i].period_s(ag) * 1000) {
				clock_gettime(CLOCK_MONOTONIC, &due[i]);
				due[i].tv_sec += tasks[i].period_s(ag);
			}
			if ((w = ms_until(&due[i])) <= 0) {
				tasks[i].run(ag);
				due[i].tv_sec += tasks[i].period_s(ag);
				/* After a suspend, do not run a burst to catch up. */
				if ((w = ms_until(&due[i])) < 0) {
					clock_gettime(CLOCK_MONOTONIC, &due[i]);
					due[i].tv_sec += tasks[i].period_s(ag);
					w = (long)tasks[i].period_s(ag) * 1000;
				}
			}
			if (w < wait_ms)
				wait_ms = w;
		}
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000;
		sig = sigtimedwait(sigs, &si, &ts);
		if (sig < 0)
			continue; /* EAGAIN: a task is due; EINTR: retry */
		if (sig == SIGHUP) {
			if (log_reopen() != 0)
				log_line("cannot reopen the log after SIGHUP: %s", strerror(errno));
			else
				log_line("log reopened");
			continue;
		}
		return sig;
	}
}

int
main(int argc, char **argv)
{
	struct agent ag;
	struct pidfile pf = { -1, NULL };
	sigset_t sigs;
	pid_t other = 0;
	int notify_fd = -1, r, sig;

	memset(&ag, 0, sizeof(ag));
	if ((r = parse_args(&ag, argc, argv)) != 0)
		return r < 0 ? 0 : r;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!ag.foreground)
		daemonize(&notify_fd);

	r = pidfile_acquire(&pf, ag.pid_path, &other);
	if (r == -1) {
		if (other > 0)
			fprintf(stderr, PROG ": already running (pid %ld holds %s)\n", (long)other, ag.pid_path);
		else
			fprintf(stderr, PROG ": already running (%s is locked)\n", ag.pid_path);
		notify(&notify_fd, EXIT_RUNNING);
		return EXIT_RUNNING;
	}
	if (r != 0 || pidfile_write(&pf, getpid()) != 0) {
		fprintf(stderr, PROG ": pid file %s: %s\n", ag.pid_path, strerror(errno));
		pidfile_release(&pf);
		notify(&notify_fd, EXIT_RUNTIME);
		return EXIT_RUNTIME;
	}
	if (log_open(ag.log_path) != 0) {
		fprintf(stderr, PROG ": log file %s: %s\n", ag.log_path, strerror(errno));
		pidfile_release(&pf);
		notify(&notify_fd, EXIT_RUNTIME);
		return EXIT_RUNTIME;
	}
	clock_gettime(CLOCK_MONOTONIC, &ag.started);
	log_line("starting " PROG " %s (install dir %s, heartbeat %us, %s)", AGENT_VERSION,
	         ag.install_dir, ag.heartbeat_s, ag.foreground ? "foreground" : "daemon");
	if (chdir("/") != 0)
		log_line("chdir /: %s", strerror(errno));
	if (!ag.foreground)
		detach_stdio();
	notify(&notify_fd, 0);
	reg_init(&ag.reg, ag.install_dir);
	ag.reg_next_s = 0;   /* look for etc/register.conf at once */

	sig = main_loop(&ag, &sigs);
	log_line("stopping (%s)", sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal");
	reg_clear(&ag.reg);
	pidfile_release(&pf);
	log_close();
	return 0;
}
