/*
 * matrix.c - the Linux support matrix (see linux.h and
 * data/support-matrix.json).
 *
 * The JSON is read once into plain arrays so a check never walks cJSON:
 *   {"format":1, "source":"...", "architectures":["x86_64"],
 *    "distributions":[{"id":"rhel","name":"...","ranges":[
 *        {"min":"7.0","max":"7.9","kernels":["3.10.0-"]}]}]}
 * A distribution matches on os-release ID only, never on ID_LIKE: Ubuntu's
 * ID_LIKE is "debian", and Ubuntu 13.04 must not pass as Debian 13.  A range
 * is inclusive; its max is compared at its own precision ("12" admits
 * "12.5").  "kernels", when present, lists prefixes of `uname -r` (the stock
 * kernel series); an empty or absent list admits any kernel.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agentpush/linux.h"
#include "linux_int.h"

#define MATRIX_MAX_BYTES (1024 * 1024)
#define MATRIX_STR 64
#define MATRIX_MAX_KERNELS 8

struct mrange {
	char min[MATRIX_STR];
	char max[MATRIX_STR];
	char kernels[MATRIX_MAX_KERNELS][MATRIX_STR];
	size_t n_kernels;
};

struct mdist {
	char id[MATRIX_STR];
	struct mrange *ranges;
	size_t n_ranges;
};

struct ap_linux_matrix {
	char arch[MATRIX_MAX_KERNELS][MATRIX_STR];
	size_t n_arch;
	struct mdist *dists;
	size_t n_dists;
};

void
ap_linux_matrix_free(struct ap_linux_matrix *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_dists; i++)
		free(m->dists[i].ranges);
	free(m->dists);
	free(m);
}

/* Copies the string item's value into dst[MATRIX_STR]; -1 when not a short
 * string. */
static int
copy_str(const cJSON *item, char *dst)
{
	size_t len;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return -1;
	len = strlen(item->valuestring);
	if (len == 0 || len >= MATRIX_STR)
		return -1;
	memcpy(dst, item->valuestring, len + 1);
	return 0;
}

static int
parse_range(const cJSON *jr, struct mrange *rg, const char *dist, size_t idx,
            struct ap_ctx *ctx)
{
	const cJSON *k = NULL;
	const cJSON *kernels = NULL;

	if (!cJSON_IsObject(jr) ||
	    copy_str(cJSON_GetObjectItemCaseSensitive(jr, "min"), rg->min) != 0 ||
	    copy_str(cJSON_GetObjectItemCaseSensitive(jr, "max"), rg->max) != 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: distribution \"%s\" range %zu needs string \"min\" and \"max\"", dist, idx);
	kernels = cJSON_GetObjectItemCaseSensitive(jr, "kernels");
	if (kernels == NULL)
		return AP_OK;
	if (!cJSON_IsArray(kernels))
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: distribution \"%s\" range %zu: \"kernels\" must be a list of strings", dist, idx);
	cJSON_ArrayForEach(k, kernels) {
		if (rg->n_kernels >= MATRIX_MAX_KERNELS ||
		    copy_str(k, rg->kernels[rg->n_kernels]) != 0)
			return ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: distribution \"%s\" range %zu: \"kernels\" must be at most %d short strings", dist, idx, MATRIX_MAX_KERNELS);
		rg->n_kernels++;
	}
	return AP_OK;
}

static int
parse_dist(const cJSON *jd, struct mdist *d, size_t idx, struct ap_ctx *ctx)
{
	const cJSON *ranges = NULL;
	const cJSON *jr = NULL;
	int n;
	int r;

	if (!cJSON_IsObject(jd) ||
	    copy_str(cJSON_GetObjectItemCaseSensitive(jd, "id"), d->id) != 0)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: distribution %zu needs a string \"id\"", idx);
	ranges = cJSON_GetObjectItemCaseSensitive(jd, "ranges");
	if (!cJSON_IsArray(ranges) || (n = cJSON_GetArraySize(ranges)) < 1)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: distribution \"%s\" needs a non-empty \"ranges\" list", d->id);
	if ((d->ranges = calloc((size_t)n, sizeof(*d->ranges))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "support matrix: out of memory");
	cJSON_ArrayForEach(jr, ranges) {
		if ((r = parse_range(jr, &d->ranges[d->n_ranges], d->id,
		                     d->n_ranges, ctx)) != AP_OK)
			return r;
		d->n_ranges++;
	}
	return AP_OK;
}

int
ap_linux_matrix_parse(const char *json, size_t len, struct ap_linux_matrix **out,
                      struct ap_ctx *ctx)
{
	cJSON *root = NULL;
	const cJSON *arch = NULL;
	const cJSON *dists = NULL;
	const cJSON *it = NULL;
	struct ap_linux_matrix *m = NULL;
	int n;
	int r;

	*out = NULL;
	if (json == NULL || len > MATRIX_MAX_BYTES) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: missing or larger than %d bytes", MATRIX_MAX_BYTES);
		goto out;
	}
	if ((root = cJSON_ParseWithLength(json, len)) == NULL) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: not valid JSON");
		goto out;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "support matrix: out of memory");
		goto out;
	}
	arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
	if (!cJSON_IsArray(arch) || cJSON_GetArraySize(arch) < 1) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: needs a non-empty \"architectures\" list");
		goto out;
	}
	cJSON_ArrayForEach(it, arch) {
		if (m->n_arch >= MATRIX_MAX_KERNELS ||
		    copy_str(it, m->arch[m->n_arch]) != 0) {
			r = ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: \"architectures\" must be at most %d short strings", MATRIX_MAX_KERNELS);
			goto out;
		}
		m->n_arch++;
	}
	dists = cJSON_GetObjectItemCaseSensitive(root, "distributions");
	if (!cJSON_IsArray(dists) || (n = cJSON_GetArraySize(dists)) < 1) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix: needs a non-empty \"distributions\" list");
		goto out;
	}
	if ((m->dists = calloc((size_t)n, sizeof(*m->dists))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "support matrix: out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, dists) {
		r = parse_dist(it, &m->dists[m->n_dists], m->n_dists, ctx);
		m->n_dists++; /* counted even on failure, so its ranges are freed */
		if (r != AP_OK)
			goto out;
	}
	*out = m;
	m = NULL; /* transferred */
	r = AP_OK;
out:
	ap_linux_matrix_free(m);
	cJSON_Delete(root);
	return r;
}

int
ap_linux_matrix_builtin(struct ap_linux_matrix **out, struct ap_ctx *ctx)
{
	const char *json = ap_linux_matrix_json();

	return ap_linux_matrix_parse(json, strlen(json), out, ctx);
}

int
ap_linux_matrix_load(const char *path, struct ap_linux_matrix **out,
                     struct ap_ctx *ctx)
{
	FILE *fp = NULL;
	char *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((fp = fopen(path, "rb")) == NULL) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "support matrix %s: %s", path, strerror(errno));
		goto out;
	}
	if ((buf = malloc(MATRIX_MAX_BYTES + 1)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "support matrix %s: out of memory", path);
		goto out;
	}
	len = fread(buf, 1, MATRIX_MAX_BYTES + 1, fp);
	if (ferror(fp)) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "support matrix %s: read error", path);
		goto out;
	}
	if (len > MATRIX_MAX_BYTES) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "support matrix %s: larger than %d bytes", path, MATRIX_MAX_BYTES);
		goto out;
	}
	if ((r = ap_linux_matrix_parse(buf, len, out, ctx)) != AP_OK) {
		/* name the file in the message the parser left */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", ap_ctx_errmsg(ctx));
		r = ap_ctx_fail(ctx, r, 0, "%s: %s", path, msg);
		goto out;
	}
	r = AP_OK;
out:
	if (fp != NULL)
		fclose(fp);
	free(buf);
	return r;
}

int
ap_linux_vercmp(const char *a, const char *b, int prefix)
{
	unsigned long va, vb;
	char *end = NULL;

	for (;;) {
		if (*b == '\0' && (prefix || *a == '\0'))
			return 0;
		va = isdigit((unsigned char)*a) ? strtoul(a, &end, 10) : 0;
		if (isdigit((unsigned char)*a))
			a = end;
		vb = isdigit((unsigned char)*b) ? strtoul(b, &end, 10) : 0;
		if (isdigit((unsigned char)*b))
			b = end;
		if (va != vb)
			return va < vb ? -1 : 1;
		/* skip to the next component */
		while (*a != '\0' && *a != '.')
			a++;
		while (*b != '\0' && *b != '.')
			b++;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		if (*a == '\0' && *b == '\0')
			return 0;
	}
}

/* Lowercase id and version from a release line such as
 * "Red Hat Enterprise Linux Server release 5.11 (Tikanga)". */
static int
ident_release(const char *line, char *id, size_t nid, char *ver, size_t nver)
{
	static const struct {
		const char *needle, *id;
	} names[] = {
		{"Red Hat Enterprise Linux", "rhel"},
		{"CentOS", "centos"},
		{"Oracle Linux", "ol"},
		{"Enterprise Linux Enterprise Linux", "ol"},
		{"Rocky Linux", "rocky"},
		{"AlmaLinux", "almalinux"},
		{"Scientific Linux", "scientific"},
		{"Fedora", "fedora"},
		{"SUSE Linux Enterprise Server", "sles"},
		{"openSUSE", "opensuse"},
	};
	const char *p = NULL;
	size_t i, len;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(line, names[i].needle) != NULL)
			break;
	if (i == sizeof(names) / sizeof(names[0]))
		return -1;
	snprintf(id, nid, "%s", names[i].id);
	/* the version follows "release " (RHEL family) or is the first number */
	if ((p = strstr(line, "release ")) != NULL)
		p += strlen("release ");
	else
		for (p = line; *p != '\0' && !isdigit((unsigned char)*p); p++)
			;
	for (len = 0; p[len] != '\0' && (isdigit((unsigned char)p[len]) || p[len] == '.'); len++)
		;
	snprintf(ver, nver, "%.*s", (int)len, p);
	return 0;
}

int
ap_linux_os_ident(const struct ap_linux_facts *f, char *id, size_t nid,
                  char *ver, size_t nver)
{
	if (nid > 0)
		id[0] = '\0';
	if (nver > 0)
		ver[0] = '\0';
	if (f->os_id != NULL && f->os_id[0] != '\0') {
		snprintf(id, nid, "%s", f->os_id);
		snprintf(ver, nver, "%s", f->os_version_id != NULL ? f->os_version_id : "");
		return 0;
	}
	if (f->redhat_release != NULL &&
	    ident_release(f->redhat_release, id, nid, ver, nver) == 0)
		return 0;
	if (f->suse_release != NULL &&
	    ident_release(f->suse_release, id, nid, ver, nver) == 0)
		return 0;
	return -1;
}

int
ap_linux_matrix_check(const struct ap_linux_matrix *m,
                      const struct ap_linux_facts *f, char *why, size_t n)
{
	char id[MATRIX_STR], ver[MATRIX_STR];
	const char *machine = f->machine != NULL ? f->machine : "";
	const char *kernel = f->kernel_release != NULL ? f->kernel_release : "";
	const struct mdist *d = NULL;
	const struct mrange *rg = NULL;
	size_t i, k;
	char dummy[1];

	if (why == NULL || n == 0) {
		why = dummy;
		n = sizeof(dummy);
	}
	for (i = 0; i < m->n_arch; i++)
		if (strcmp(m->arch[i], machine) == 0)
			break;
	if (i == m->n_arch) {
		snprintf(why, n, "uname -m is \"%s\"; supported: %s%s", machine, m->arch[0], m->n_arch > 1 ? " and others" : " only");
		return 0;
	}
	if (ap_linux_os_ident(f, id, sizeof(id), ver, sizeof(ver)) != 0) {
		snprintf(why, n, "no /etc/os-release, /etc/redhat-release or /etc/SuSE-release identifies the distribution");
		return 0;
	}
	for (i = 0; i < m->n_dists; i++)
		if (strcmp(m->dists[i].id, id) == 0)
			d = &m->dists[i];
	if (d == NULL) {
		snprintf(why, n, "distribution \"%s\" %s is not in the support matrix", id, ver);
		return 0;
	}
	for (i = 0; i < d->n_ranges; i++) {
		if (ver[0] != '\0' &&
		    ap_linux_vercmp(ver, d->ranges[i].min, 0) >= 0 &&
		    ap_linux_vercmp(ver, d->ranges[i].max, 1) <= 0) {
			rg = &d->ranges[i];
			break;
		}
	}
	if (rg == NULL) {
		snprintf(why, n, "%s %s is outside the supported versions of %s (%s-%s%s)", id, ver[0] != '\0' ? ver : "(no version)", id, d->ranges[0].min, d->ranges[d->n_ranges - 1].max, d->n_ranges > 1 ? ", with gaps" : "");
		return 0;
	}
	if (rg->n_kernels > 0) {
		for (k = 0; k < rg->n_kernels; k++)
			if (strncmp(kernel, rg->kernels[k], strlen(rg->kernels[k])) == 0)
				break;
		if (k == rg->n_kernels) {
			snprintf(why, n, "kernel %s is not a stock kernel of %s %s (expected %s*)", kernel, id, ver, rg->kernels[0]);
			return 0;
		}
	}
	snprintf(why, n, "%s %s (%s, kernel %s) is supported (matrix range %s-%s)", id, ver, machine, kernel, rg->min, rg->max);
	return 1;
}
