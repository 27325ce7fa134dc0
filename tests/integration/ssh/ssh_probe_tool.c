/*
 * ssh_probe_tool.c - drives the ssh transport for the integration tests.
 *
 *   ssh_probe_tool [-p port] [-u user] [-i key] [-k known_hosts]
 *                  [-P strict|accept-new] [-A] [-C] [-t connect_ms]
 *                  [-T io_ms] [-c cmd [-s stdin_file] [-o stdout_file]]
 *                  [-U local:remote[:octal_mode]] [-R from:to] [-S]
 *                  [-F path] [-j threads] host
 *
 * -j N: N threads each open their own connection and run "echo t" at once
 * (libssh thread safety, known_hosts appends); prints threads_ok=K.
 *
 * The password, if any, is read from the file named by $AP_PASSWORD_FILE
 * (never from argv).  Prints one "key=value" line per fact:
 *   open=ok | error rc=-5 id=95108 msg=...
 *   exit=0 out_len=.. err_len=.. out_truncated=0 err_truncated=0
 * and exits 0 when every step worked, 2 when a step failed, 64 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentpush/ctx.h"
#include "agentpush/transport.h"

static int
usage(const char *msg)
{
	fprintf(stderr, "ssh_probe_tool: %s\n", msg);
	return 64;
}

static int
slurp(const char *path, char **out, size_t *len)
{
	FILE *f = NULL;
	char *p = NULL, *np = NULL;
	size_t n = 0, cap = 0, k;

	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "rb")) == NULL)
		return -1;
	for (;;) {
		if (n + 65536 > cap) {
			cap = cap ? cap * 2 : 131072;
			if ((np = realloc(p, cap)) == NULL) {
				free(p);
				return -1;
			}
			p = np;
		}
		k = fread(p + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (f != stdin)
		fclose(f);
	*out = p;
	*len = n;
	return 0;
}

struct worker {
	const struct ap_conn_opts *o;
	int ok;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn *c = NULL;
	struct ap_exec_result res;

	memset(&res, 0, sizeof(res));
	if (ctx != NULL && ap_transport_ssh.open(w->o, &c, ctx) == AP_OK &&
	    ap_transport_ssh.exec(c, "echo t", NULL, 0, &res, ctx) == AP_OK &&
	    res.exit_status == 0 && strcmp(res.out, "t\n") == 0)
		w->ok = 1;
	else if (ctx != NULL)
		printf("thread: rc=%d id=%d msg=%s\n", ap_ctx_rc(ctx),
		       ap_ctx_error_id(ctx), ap_ctx_errmsg(ctx));
	ap_exec_result_clear(&res);
	ap_transport_ssh.close(c);
	ap_ctx_free(ctx);
	return NULL;
}

static void
report_error(const char *step, struct ap_ctx *ctx)
{
	printf("%s=error rc=%d id=%d msg=%s\n", step, ap_ctx_rc(ctx),
	       ap_ctx_error_id(ctx), ap_ctx_errmsg(ctx));
}

int
main(int argc, char **argv)
{
	struct ap_conn_opts o;
	struct ap_ctx *ctx = NULL;
	struct ap_conn *c = NULL;
	struct ap_exec_result res;
	char *pw = NULL, *in = NULL, *spec = NULL, *a = NULL, *b = NULL, *m = NULL;
	const char *cmd = NULL, *stdin_file = NULL, *out_file = NULL;
	const char *upload = NULL, *ren = NULL, *space = NULL, *pwf = NULL;
	size_t pw_len = 0, in_len = 0;
	int opt, rc = 0, sftp_probe = 0, nthreads = 0, i, nok = 0;
	pthread_t tids[64];
	struct worker workers[64];
	unsigned long long avail = 0;
	mode_t mode = 0644;
	FILE *f = NULL;

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	while ((opt = getopt(argc, argv, "p:u:i:k:P:ACt:T:c:s:o:U:R:SF:j:")) != -1) {
		switch (opt) {
		case 'p': o.port = atoi(optarg); break;
		case 'u': o.user = optarg; break;
		case 'i': o.identity = optarg; break;
		case 'k': o.known_hosts = optarg; break;
		case 'P':
			if (strcmp(optarg, "strict") == 0)
				o.hostkey_policy = AP_HOSTKEY_STRICT;
			else if (strcmp(optarg, "accept-new") == 0)
				o.hostkey_policy = AP_HOSTKEY_ACCEPT_NEW;
			else
				return usage("-P wants strict or accept-new");
			break;
		case 'A': o.use_agent = 1; break;
		case 'C': o.use_ssh_config = 1; break;
		case 't': o.connect_timeout_ms = atoi(optarg); break;
		case 'T': o.io_timeout_ms = atoi(optarg); break;
		case 'c': cmd = optarg; break;
		case 's': stdin_file = optarg; break;
		case 'o': out_file = optarg; break;
		case 'U': upload = optarg; break;
		case 'R': ren = optarg; break;
		case 'S': sftp_probe = 1; break;
		case 'F': space = optarg; break;
		case 'j':
			nthreads = atoi(optarg);
			if (nthreads < 1 || nthreads > 64)
				return usage("-j wants 1 to 64");
			break;
		default: return usage("bad option (see the file header)");
		}
	}
	if (optind != argc - 1)
		return usage("want exactly one host");
	o.host = argv[optind];
	if ((pwf = getenv("AP_PASSWORD_FILE")) != NULL && pwf[0] != '\0') {
		if (slurp(pwf, &pw, &pw_len) < 0)
			return usage("cannot read $AP_PASSWORD_FILE");
		while (pw_len > 0 && (pw[pw_len - 1] == '\n' || pw[pw_len - 1] == '\r'))
			pw_len--;
		pw[pw_len] = '\0';
		o.password = pw;
	}
	if (stdin_file != NULL && slurp(stdin_file, &in, &in_len) < 0)
		return usage("cannot read the stdin file");
	if ((ctx = ap_ctx_new()) == NULL)
		return usage("out of memory");
	if (nthreads > 0) {
		for (i = 0; i < nthreads; i++) {
			workers[i].o = &o;
			workers[i].ok = 0;
			if (pthread_create(&tids[i], NULL, worker_main, &workers[i]) != 0)
				return usage("pthread_create failed");
		}
		for (i = 0; i < nthreads; i++) {
			pthread_join(tids[i], NULL);
			nok += workers[i].ok;
		}
		printf("threads_ok=%d\n", nok);
		rc = nok == nthreads ? 0 : 2;
		goto out;
	}

	if (ap_transport_ssh.open(&o, &c, ctx) != AP_OK) {
		report_error("open", ctx);
		rc = 2;
		goto out;
	}
	printf("open=ok\n");
	if (sftp_probe) {
		if (ap_transport_ssh.probe_transfer(c, ctx) != AP_OK) {
			report_error("sftp", ctx);
			rc = 2;
		} else {
			printf("sftp=ok\n");
		}
	}
	if (cmd != NULL) {
		if (ap_transport_ssh.exec(c, cmd, in, in_len, &res, ctx) != AP_OK) {
			report_error("exec", ctx);
			rc = 2;
		} else {
			printf("exit=%d out_len=%zu err_len=%zu out_truncated=%d err_truncated=%d\n",
			       res.exit_status, res.out_len, res.err_len,
			       res.out_truncated, res.err_truncated);
			if (out_file != NULL) {
				if ((f = fopen(out_file, "wb")) == NULL ||
				    fwrite(res.out, 1, res.out_len, f) != res.out_len) {
					rc = usage("cannot write the stdout file");
				}
				if (f != NULL)
					fclose(f);
			} else {
				printf("stdout=%s\n", res.out);
				printf("stderr=%s\n", res.err);
			}
		}
	}
	if (upload != NULL) {
		if ((spec = strdup(upload)) == NULL)
			goto out;
		a = spec;
		if ((b = strchr(a, ':')) == NULL)
			return usage("-U wants local:remote[:mode]");
		*b++ = '\0';
		if ((m = strchr(b, ':')) != NULL) {
			*m++ = '\0';
			mode = (mode_t)strtoul(m, NULL, 8);
		}
		if (ap_transport_ssh.put(c, a, b, mode, ctx) != AP_OK) {
			report_error("put", ctx);
			rc = 2;
		} else {
			printf("put=ok\n");
		}
		free(spec);
		spec = NULL;
	}
	if (ren != NULL) {
		if ((spec = strdup(ren)) == NULL)
			goto out;
		if ((b = strchr(spec, ':')) == NULL)
			return usage("-R wants from:to");
		*b++ = '\0';
		if (ap_transport_ssh.rename(c, spec, b, ctx) != AP_OK) {
			report_error("rename", ctx);
			rc = 2;
		} else {
			printf("rename=ok\n");
		}
	}
	if (space != NULL) {
		if (ap_transport_ssh.free_space(c, space, &avail, ctx) != AP_OK) {
			report_error("free_space", ctx);
			rc = 2;
		} else {
			printf("free_space=%llu\n", avail);
		}
	}
out:
	ap_transport_ssh.close(c);
	ap_exec_result_clear(&res);
	if (pw != NULL) {
		explicit_bzero(pw, pw_len);
		free(pw);
	}
	free(in);
	free(spec);
	ap_ctx_free(ctx);
	return rc;
}
