/*
 * measure.c - runs one controller command and measures its whole process
 * tree (bench/run.sh).
 *
 *   measure OUT -- COMMAND [ARG...]
 *
 * The wrapper makes itself a child subreaper, so every process the command
 * starts (Ansible's forks, the ssh clients, a ControlPersist master that
 * daemonizes) is reparented to it and reaped by it: getrusage(
 * RUSAGE_CHILDREN) then holds the CPU of the whole controller tree and
 * nothing else (the sshd targets are not descendants).  Wall time stops when
 * the command itself exits; the wrapper then waits for stragglers (at most
 * 30 s, then SIGTERM) so their CPU is counted too.  Every 100 ms it sums the
 * PSS (smaps_rollup) of the live tree and keeps the peak.
 *
 * Writes one line to OUT:
 *   rc=R wall_s=W cpu_s=C user_s=U sys_s=S maxrss_kb=M tree_pss_kb=P
 * maxrss_kb is the largest single process's peak RSS (exact, from rusage);
 * tree_pss_kb the sampled peak of the tree's summed PSS.  The command's own
 * stdout and stderr pass through.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
pss_kb(int pid)
{
	char path[64], line[256];
	FILE *f = NULL;
	long kb = 0, v;

	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "Pss: %ld kB", &v) == 1) {
			kb = v;
			break;
		}
	}
	fclose(f);
	return kb;
}

/* Reads the children of task TID of PID (/proc/PID/task/TID/children) into
 * out[0..max); returns how many. */
static int
children(int pid, const char *tid, long *out, int max)
{
	char path[300], buf[8192];
	FILE *f = NULL;
	char *p, *end;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/task/%s/children", pid, tid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof buf, f) != NULL) {
		for (p = buf; n < max; p = end) {
			long c = strtol(p, &end, 10);

			if (end == p)
				break;
			out[n++] = c;
		}
	}
	fclose(f);
	return n;
}

/* Sum of PSS over pid and all its descendants (via task/<tid>/children). */
static long
tree_pss(int pid, int depth)
{
	char path[64];
	long kids[1024];
	DIR *d = NULL;
	struct dirent *e;
	long sum = pss_kb(pid);
	int i, n;

	if (depth > 32)
		return sum;
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	if ((d = opendir(path)) == NULL)
		return sum;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n = children(pid, e->d_name, kids, 1024);
		for (i = 0; i < n; i++)
			sum += tree_pss((int)kids[i], depth + 1);
	}
	closedir(d);
	return sum;
}

int
main(int argc, char **argv)
{
	struct rusage ru;
	sigset_t chld;
	FILE *out = NULL;
	double t0, wall = -1, deadline = 0;
	long peak = 0;
	int pid, st, rc = -1, main_done = 0, termed = 0;

	if (argc < 4 || strcmp(argv[2], "--") != 0) {
		fprintf(stderr, "usage: measure OUT -- COMMAND [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		perror("measure: prctl");
		return 2;
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("measure: fork");
		return 2;
	}
	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		execvp(argv[3], argv + 3);
		fprintf(stderr, "measure: cannot run %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	for (;;) {
		int w = waitpid(-1, &st, WNOHANG);

		if (w < 0 && errno == ECHILD)
			break;
		if (w == pid) {
			wall = now() - t0;
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			main_done = 1;
			deadline = now() + 30;
		}
		if (w > 0)
			continue;
		if (!main_done) {
			long p = tree_pss(pid, 0);

			if (p > peak)
				peak = p;
		} else if (!termed && now() > deadline) {
			{
				long kids[4096];
				char self[32];
				int i, n;

				snprintf(self, sizeof self, "%d", getpid());
				n = children(getpid(), self, kids, 4096);
				for (i = 0; i < n; i++)
					kill((int)kids[i], SIGTERM);
			}
			termed = 1;
		}
		{
			/* wakes at once on SIGCHLD, else after the sampling period */
			struct timespec ts = { 0, 100000000L };

			sigtimedwait(&chld, NULL, &ts);
		}
	}
	getrusage(RUSAGE_CHILDREN, &ru);
	if ((out = fopen(argv[1], "w")) == NULL) {
		perror("measure: output");
		return 2;
	}
	fprintf(out, "rc=%d wall_s=%.3f cpu_s=%.3f user_s=%.3f sys_s=%.3f maxrss_kb=%ld tree_pss_kb=%ld\n",
	        rc, wall,
	        (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	        (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
	        (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	        (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
	        ru.ru_maxrss, peak);
	fclose(out);
	return rc == 0 ? 0 : 1;
}
