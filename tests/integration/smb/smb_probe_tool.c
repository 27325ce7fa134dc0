/*
 * smb_probe_tool - drives ap_transport_smb for tests/integration/smb:
 *
 *   SMB_PROBE_PWFILE=FILE smb_probe_tool [-s SHARE] [-d DOMAIN] [-t MS]
 *       HOST USER [probe | put LOCAL REMOTE | rename FROM TO | space PATH |
 *                  hold SECONDS]...
 *
 * The password is read from the file named by SMB_PROBE_PWFILE (never from
 * argv).  Each step prints one line "STEP rc=N id=ID: evidence" (evidence
 * "ok" on success); the run stops at the first failure.  Exit 0 when every
 * step worked, 1 when one failed, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentpush/ctx.h"
#include "agentpush/transport.h"

static int
report(const char *step, int rc, struct ap_ctx *ctx)
{
	printf("%s rc=%d id=%d: %s\n", step, rc,
	       rc == 0 ? 0 : ap_ctx_error_id(ctx),
	       rc == 0 ? "ok" : ap_ctx_errmsg(ctx));
	fflush(stdout);
	ap_ctx_clear(ctx);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr, "usage: SMB_PROBE_PWFILE=FILE smb_probe_tool [-s SHARE] [-d DOMAIN] [-t MS] HOST USER [probe | put LOCAL REMOTE | rename FROM TO | space PATH | hold SECONDS]...\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	struct ap_ctx *ctx = NULL;
	const char *pwfile = getenv("SMB_PROBE_PWFILE");
	char pw[256];
	FILE *f = NULL;
	int i, opt, rc = 1, r;
	size_t n;
	unsigned long long avail = 0;

	memset(&o, 0, sizeof(o));
	while ((opt = getopt(argc, argv, "s:d:t:")) != -1) {
		switch (opt) {
		case 's': o.smb_share = optarg; break;
		case 'd': o.domain = optarg; break;
		case 't': o.connect_timeout_ms = atoi(optarg); break;
		default: return usage();
		}
	}
	if (argc - optind < 2)
		return usage();
	if (pwfile == NULL || (f = fopen(pwfile, "re")) == NULL) {
		fprintf(stderr, "smb_probe_tool: set SMB_PROBE_PWFILE to a readable password file\n");
		return 2;
	}
	n = fread(pw, 1, sizeof(pw) - 1, f);
	fclose(f);
	pw[n] = '\0';
	pw[strcspn(pw, "\r\n")] = '\0';
	o.host = argv[optind];
	o.user = argv[optind + 1];
	o.password = pw;
	if ((ctx = ap_ctx_new()) == NULL)
		return 1;
	if (report("open", ap_transport_smb.open(&o, &c, ctx), ctx) != 0)
		goto out;
	for (i = optind + 2; i < argc; i++) {
		if (strcmp(argv[i], "probe") == 0) {
			r = ap_transport_smb.probe_transfer(c, ctx);
			if (report("probe", r, ctx) != 0)
				goto out;
		} else if (strcmp(argv[i], "put") == 0 && i + 2 < argc) {
			r = ap_transport_smb.put(c, argv[i + 1], argv[i + 2], 0644, ctx);
			i += 2;
			if (report("put", r, ctx) != 0)
				goto out;
		} else if (strcmp(argv[i], "rename") == 0 && i + 2 < argc) {
			r = ap_transport_smb.rename(c, argv[i + 1], argv[i + 2], ctx);
			i += 2;
			if (report("rename", r, ctx) != 0)
				goto out;
		} else if (strcmp(argv[i], "space") == 0 && i + 1 < argc) {
			r = ap_transport_smb.free_space(c, argv[i + 1], &avail, ctx);
			i += 1;
			if (report("space", r, ctx) != 0)
				goto out;
			printf("avail=%llu\n", avail);
		} else if (strcmp(argv[i], "hold") == 0 && i + 1 < argc) {
			/* keeps the session open (the test reads smbstatus) */
			printf("hold\n");
			fflush(stdout);
			sleep((unsigned)atoi(argv[++i]));
		} else {
			rc = usage();
			goto out;
		}
	}
	rc = 0;
out:
	memset(pw, 0, sizeof(pw));
	ap_transport_smb.close(c);
	ap_ctx_free(ctx);
	return rc;
}
