/*
 * state.c - where the configuration server keeps its files.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "agentpush/server.h"
#include "server_int.h"

/* mkdir -p with mode for the last component; parents get 0700 too. */
static int
mkdir_p(char *path, struct ap_ctx *ctx)
{
	char *p = NULL;

	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			int e = errno;

			*p = '/';
			return ap_ctx_fail(ctx, AP_EIO, 0, "cannot create the folder %s: %s", path, strerror(e));
		}
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return ap_ctx_fail(ctx, AP_EIO, 0, "cannot create the state folder %s: %s", path, strerror(errno));
	return AP_OK;
}

int
ap_server_state_dir(const char *state_dir, const char *db_path, char *buf,
                    size_t size, struct ap_ctx *ctx)
{
	const char *slash = NULL;
	int n;

	if (buf == NULL || size == 0 || (state_dir == NULL && db_path == NULL))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "server: state folder: bad arguments");
	if (state_dir != NULL) {
		n = snprintf(buf, size, "%s", state_dir);
	} else {
		slash = strrchr(db_path, '/');
		if (slash == NULL)
			n = snprintf(buf, size, ".");
		else if (slash == db_path)
			n = snprintf(buf, size, "/");
		else
			n = snprintf(buf, size, "%.*s", (int)(slash - db_path), db_path);
	}
	if (n < 0 || (size_t)n >= size)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "server: the state folder's path is too long");
	if (buf[0] == '\0')
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "server: empty state folder");
	return mkdir_p(buf, ctx);
}

int
ap_server_enroll_load(struct ap_store *st, const char *state_dir,
                      const char *db_path, const char *url, char **pass,
                      char **pin, struct ap_ctx *ctx)
{
	char dir[PATH_MAX], cert[PATH_MAX + 32], pinbuf[128];
	char *p = NULL;
	int r;

	*pass = NULL;
	*pin = NULL;
	if ((r = ap_srv_sodium_init(ctx)) != AP_OK)
		return r;
	if ((r = ap_server_state_dir(state_dir, db_path, dir, sizeof(dir), ctx)) != AP_OK)
		return r;
	if ((p = sodium_malloc(AP_SERVER_PASSPHRASE_LEN + 1)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if ((r = ap_server_passphrase_read(st, dir, p, AP_SERVER_PASSPHRASE_LEN + 1, ctx)) != AP_OK)
		goto fail;
	if (strncmp(url, "https://", 8) == 0) {
		snprintf(cert, sizeof(cert), "%s/tls-cert.pem", dir);
		if ((r = ap_server_cert_pin(cert, pinbuf, sizeof(pinbuf), ctx)) != AP_OK)
			goto fail;
		if ((*pin = strdup(pinbuf)) == NULL) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto fail;
		}
	}
	*pass = p;
	return AP_OK;
fail:
	sodium_free(p);
	return r;
}

void
ap_server_enroll_free(char *pass, char *pin)
{
	sodium_free(pass);
	free(pin);
}
