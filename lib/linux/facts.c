/*
 * facts.c - parses the Linux probe's output into struct ap_linux_facts.
 *
 * The text comes from the network, written by a script running on a machine
 * we do not trust, so everything is bounded and checked:
 *   - at most FACTS_MAX_BYTES in all, FACTS_MAX_LINE bytes a line, and
 *     FACTS_MAX_ITEMS entries of each repeated kind;
 *   - no NUL or control byte other than TAB (which separates fields);
 *   - line 1 is "agentpush-probe<TAB>1" and the last line is "end", so output
 *     cut short by a dropped connection is rejected, not half-believed;
 *   - each known kind has an exact field count, numbers are strict decimals in
 *     range, flags are 0/1 (or "unknown" where the probe may not know);
 *   - a one-value fact given twice is an error (the probe never does it);
 *   - an unknown kind is skipped, so an older agentpush reads a newer probe.
 * Every rejection is AP_EPROTO with "probe output line N: ..." on the ctx.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/linux.h"
#include "linux_int.h"

#define FACTS_MAX_BYTES (1024 * 1024)
#define FACTS_MAX_LINE 4096
#define FACTS_MAX_FIELDS 8
#define FACTS_MAX_ITEMS 512

struct pstate {
	struct ap_linux_facts *f;
	struct ap_ctx *ctx;
	long lineno;
	unsigned seen;   /* bit per one-value kind, to refuse duplicates */
};

static void
free_str(char **p)
{
	free(*p);
	*p = NULL;
}

void
ap_linux_facts_free(struct ap_linux_facts *f)
{
	size_t i;

	if (f == NULL)
		return;
	free(f->staging_dir);
	free(f->install_dir);
	free(f->user);
	free(f->os_id);
	free(f->os_version_id);
	free(f->os_id_like);
	free(f->os_name);
	free(f->os_pretty_name);
	free(f->redhat_release);
	free(f->suse_release);
	free(f->kernel_release);
	free(f->machine);
	free(f->modules_path);
	free(f->reboot_source);
	free(f->installed_version);
	for (i = 0; i < f->n_blk; i++) {
		free(f->blk[i].name);
		free(f->blk[i].devnum);
		free(f->blk[i].parent);
		free(f->blk[i].dm_name);
		free(f->blk[i].dm_uuid);
	}
	free(f->blk);
	for (i = 0; i < f->n_slaves; i++) {
		free(f->slaves[i].holder);
		free(f->slaves[i].slave);
	}
	free(f->slaves);
	for (i = 0; i < f->n_mounts; i++) {
		free(f->mounts[i].devnum);
		free(f->mounts[i].mountpoint);
		free(f->mounts[i].fstype);
		free(f->mounts[i].source);
	}
	free(f->mounts);
	for (i = 0; i < f->n_space; i++) {
		free(f->space[i].label);
		free(f->space[i].asked);
		free(f->space[i].checked);
		free(f->space[i].mountpoint);
	}
	free(f->space);
	for (i = 0; i < f->n_lines; i++) {
		free(f->lines[i].file);
		free(f->lines[i].text);
	}
	free(f->lines);
	for (i = 0; i < f->n_sources; i++) {
		free(f->sources[i].name);
		free(f->sources[i].state);
	}
	free(f->sources);
	free(f);
}

static int
bad(struct pstate *ps, const char *what)
{
	return ap_ctx_fail(ps->ctx, AP_EPROTO, 0, "probe output line %ld: %s", ps->lineno, what);
}

static int
nomem(struct pstate *ps)
{
	return ap_ctx_fail(ps->ctx, AP_ENOMEM, 0, "probe output line %ld: out of memory", ps->lineno);
}

/* *dst = copy of s, or NULL when s is empty and empty_null is set. */
static int
dup_field(struct pstate *ps, char **dst, const char *s, int empty_null)
{
	free_str(dst);
	if (empty_null && s[0] == '\0')
		return AP_OK;
	if ((*dst = strdup(s)) == NULL)
		return nomem(ps);
	return AP_OK;
}

static int
parse_ll(struct pstate *ps, const char *s, long long min, long long max,
         long long *out)
{
	char *end = NULL;
	long long v;

	if (s[0] == '\0' || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return bad(ps, "expected a number");
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return bad(ps, "number malformed or out of range");
	*out = v;
	return AP_OK;
}

/* "0"/"1", or with tri set also "unknown" (AP_LINUX_UNKNOWN). */
static int
parse_flag(struct pstate *ps, const char *s, int tri, int *out)
{
	if (strcmp(s, "0") == 0)
		*out = 0;
	else if (strcmp(s, "1") == 0)
		*out = 1;
	else if (tri && strcmp(s, "unknown") == 0)
		*out = AP_LINUX_UNKNOWN;
	else
		return bad(ps, tri ? "expected 0, 1 or unknown" : "expected 0 or 1");
	return AP_OK;
}

/* Grows *arr (n items of size sz) by one zeroed item; returns it or NULL. */
static void *
grow(struct pstate *ps, void **arr, size_t *n, size_t sz, int *rc)
{
	char *p = NULL;

	if (*n >= FACTS_MAX_ITEMS) {
		*rc = bad(ps, "too many facts of this kind");
		return NULL;
	}
	if ((p = realloc(*arr, (*n + 1) * sz)) == NULL) {
		*rc = nomem(ps);
		return NULL;
	}
	*arr = p;
	memset(p + *n * sz, 0, sz);
	return p + (*n)++ * sz;
}

/* Refuses a second occurrence of a one-value kind (bit). */
static int
once(struct pstate *ps, unsigned bit)
{
	if (ps->seen & bit)
		return bad(ps, "this fact appears twice");
	ps->seen |= bit;
	return AP_OK;
}

static enum ap_linux_blk_kind
blk_kind(const char *s)
{
	if (strcmp(s, "disk") == 0)
		return AP_LINUX_BLK_DISK;
	if (strcmp(s, "part") == 0)
		return AP_LINUX_BLK_PART;
	if (strcmp(s, "dm") == 0)
		return AP_LINUX_BLK_DM;
	if (strcmp(s, "md") == 0)
		return AP_LINUX_BLK_MD;
	if (strcmp(s, "loop") == 0)
		return AP_LINUX_BLK_LOOP;
	return AP_LINUX_BLK_OTHER;
}

enum {
	SEEN_ARGS = 1u << 0, SEEN_ID = 1u << 1, SEEN_ROOT = 1u << 2,
	SEEN_SUDO = 1u << 3, SEEN_UNAME = 1u << 4, SEEN_MODULES = 1u << 5,
	SEEN_EFI = 1u << 6, SEEN_SB = 1u << 7, SEEN_REBOOT = 1u << 8,
	SEEN_MEM = 1u << 9, SEEN_VERSION = 1u << 10, SEEN_OS_ID = 1u << 11,
	SEEN_OS_VER = 1u << 12, SEEN_OS_LIKE = 1u << 13, SEEN_OS_NAME = 1u << 14,
	SEEN_OS_PRETTY = 1u << 15, SEEN_STAGING = 1u << 16
};

/* One fact line, split: fld[0] is the kind, nf fields in all. */
static int
parse_fact(struct pstate *ps, char **fld, size_t nf)
{
	struct ap_linux_facts *f = ps->f;
	const char *k = fld[0];
	long long v = 0;
	int r = AP_OK;
	size_t want;

	static const struct {
		const char *kind;
		size_t nf;
	} shapes[] = {
		{"args", 3}, {"id", 3}, {"root", 2}, {"sudo", 3}, {"os", 3},
		{"release", 3}, {"uname", 3}, {"modules", 3}, {"blk", 7},
		{"slave", 3}, {"mount", 5}, {"df", 7}, {"line", 4},
		{"source", 3}, {"efi", 2}, {"secureboot", 2}, {"reboot", 3},
		{"mem", 4}, {"installed_version", 2}, {"staging", 3},
	};
	size_t i;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (strcmp(shapes[i].kind, k) == 0)
			break;
	if (i == sizeof(shapes) / sizeof(shapes[0]))
		return AP_OK; /* a newer probe's fact: skipped */
	want = shapes[i].nf;
	if (nf != want)
		return ap_ctx_fail(ps->ctx, AP_EPROTO, 0, "probe output line %ld: \"%s\" needs %zu fields, got %zu", ps->lineno, k, want - 1, nf - 1);

	if (strcmp(k, "args") == 0) {
		if ((r = once(ps, SEEN_ARGS)) != AP_OK ||
		    (r = dup_field(ps, &f->staging_dir, fld[1], 1)) != AP_OK ||
		    (r = dup_field(ps, &f->install_dir, fld[2], 1)) != AP_OK)
			return r;
	} else if (strcmp(k, "id") == 0) {
		if ((r = once(ps, SEEN_ID)) != AP_OK ||
		    (r = parse_ll(ps, fld[1], -1, UINT_MAX, &v)) != AP_OK ||
		    (r = dup_field(ps, &f->user, fld[2], 1)) != AP_OK)
			return r;
		f->uid = (long)v;
	} else if (strcmp(k, "root") == 0) {
		if ((r = once(ps, SEEN_ROOT)) != AP_OK ||
		    (r = parse_flag(ps, fld[1], 0, &f->is_root)) != AP_OK)
			return r;
	} else if (strcmp(k, "sudo") == 0) {
		if ((r = once(ps, SEEN_SUDO)) != AP_OK ||
		    (r = parse_flag(ps, fld[1], 0, &f->sudo_present)) != AP_OK ||
		    (r = parse_flag(ps, fld[2], 0, &f->sudo_nopasswd)) != AP_OK)
			return r;
	} else if (strcmp(k, "os") == 0) {
		static const struct {
			const char *key;
			unsigned bit;
			size_t off;
		} keys[] = {
			{"ID", SEEN_OS_ID, offsetof(struct ap_linux_facts, os_id)},
			{"VERSION_ID", SEEN_OS_VER, offsetof(struct ap_linux_facts, os_version_id)},
			{"ID_LIKE", SEEN_OS_LIKE, offsetof(struct ap_linux_facts, os_id_like)},
			{"NAME", SEEN_OS_NAME, offsetof(struct ap_linux_facts, os_name)},
			{"PRETTY_NAME", SEEN_OS_PRETTY, offsetof(struct ap_linux_facts, os_pretty_name)},
		};
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(keys[i].key, fld[1]) != 0)
				continue;
			if ((r = once(ps, keys[i].bit)) != AP_OK)
				return r;
			return dup_field(ps, (char **)((char *)f + keys[i].off), fld[2], 1);
		}
	} else if (strcmp(k, "release") == 0) {
		if (strcmp(fld[1], "/etc/redhat-release") == 0)
			return dup_field(ps, &f->redhat_release, fld[2], 1);
		if (strcmp(fld[1], "/etc/SuSE-release") == 0)
			return dup_field(ps, &f->suse_release, fld[2], 1);
	} else if (strcmp(k, "uname") == 0) {
		if ((r = once(ps, SEEN_UNAME)) != AP_OK ||
		    (r = dup_field(ps, &f->kernel_release, fld[1], 1)) != AP_OK ||
		    (r = dup_field(ps, &f->machine, fld[2], 1)) != AP_OK)
			return r;
	} else if (strcmp(k, "modules") == 0) {
		if ((r = once(ps, SEEN_MODULES)) != AP_OK ||
		    (r = parse_flag(ps, fld[1], 0, &f->modules_present)) != AP_OK ||
		    (r = dup_field(ps, &f->modules_path, fld[2], 1)) != AP_OK)
			return r;
	} else if (strcmp(k, "blk") == 0) {
		struct ap_linux_blockdev *b = grow(ps, (void **)&f->blk, &f->n_blk, sizeof(*b), &r);

		if (b == NULL)
			return r;
		if (fld[1][0] == '\0')
			return bad(ps, "block device without a name");
		b->kind = blk_kind(fld[2]);
		if ((r = dup_field(ps, &b->name, fld[1], 0)) != AP_OK ||
		    (r = dup_field(ps, &b->devnum, fld[3], 1)) != AP_OK ||
		    (r = dup_field(ps, &b->parent, fld[4], 1)) != AP_OK ||
		    (r = dup_field(ps, &b->dm_name, fld[5], 1)) != AP_OK ||
		    (r = dup_field(ps, &b->dm_uuid, fld[6], 1)) != AP_OK)
			return r;
	} else if (strcmp(k, "slave") == 0) {
		struct ap_linux_slave *s = grow(ps, (void **)&f->slaves, &f->n_slaves, sizeof(*s), &r);

		if (s == NULL)
			return r;
		if (fld[1][0] == '\0' || fld[2][0] == '\0')
			return bad(ps, "slave needs a holder and a slave name");
		if ((r = dup_field(ps, &s->holder, fld[1], 0)) != AP_OK ||
		    (r = dup_field(ps, &s->slave, fld[2], 0)) != AP_OK)
			return r;
	} else if (strcmp(k, "mount") == 0) {
		struct ap_linux_mount *m = grow(ps, (void **)&f->mounts, &f->n_mounts, sizeof(*m), &r);

		if (m == NULL)
			return r;
		if (fld[2][0] != '/')
			return bad(ps, "mount point is not an absolute path");
		if ((r = dup_field(ps, &m->devnum, fld[1], 1)) != AP_OK ||
		    (r = dup_field(ps, &m->mountpoint, fld[2], 0)) != AP_OK ||
		    (r = dup_field(ps, &m->fstype, fld[3], 0)) != AP_OK ||
		    (r = dup_field(ps, &m->source, fld[4], 0)) != AP_OK)
			return r;
	} else if (strcmp(k, "df") == 0) {
		struct ap_linux_space *s = grow(ps, (void **)&f->space, &f->n_space, sizeof(*s), &r);

		if (s == NULL)
			return r;
		if ((r = parse_ll(ps, fld[4], 0, LLONG_MAX / 2, &s->avail_kb)) != AP_OK ||
		    (r = parse_ll(ps, fld[5], 0, LLONG_MAX / 2, &s->total_kb)) != AP_OK ||
		    (r = dup_field(ps, &s->label, fld[1], 0)) != AP_OK ||
		    (r = dup_field(ps, &s->asked, fld[2], 0)) != AP_OK ||
		    (r = dup_field(ps, &s->checked, fld[3], 0)) != AP_OK ||
		    (r = dup_field(ps, &s->mountpoint, fld[6], 0)) != AP_OK)
			return r;
	} else if (strcmp(k, "line") == 0) {
		struct ap_linux_line *l = grow(ps, (void **)&f->lines, &f->n_lines, sizeof(*l), &r);

		if (l == NULL)
			return r;
		if ((r = parse_ll(ps, fld[2], 1, LONG_MAX, &v)) != AP_OK ||
		    (r = dup_field(ps, &l->file, fld[1], 0)) != AP_OK ||
		    (r = dup_field(ps, &l->text, fld[3], 0)) != AP_OK)
			return r;
		l->lineno = (long)v;
	} else if (strcmp(k, "source") == 0) {
		struct ap_linux_source *s = grow(ps, (void **)&f->sources, &f->n_sources, sizeof(*s), &r);

		if (s == NULL)
			return r;
		if ((r = dup_field(ps, &s->name, fld[1], 0)) != AP_OK ||
		    (r = dup_field(ps, &s->state, fld[2], 0)) != AP_OK)
			return r;
	} else if (strcmp(k, "efi") == 0) {
		if ((r = once(ps, SEEN_EFI)) != AP_OK ||
		    (r = parse_flag(ps, fld[1], 0, &f->efi)) != AP_OK)
			return r;
	} else if (strcmp(k, "secureboot") == 0) {
		if ((r = once(ps, SEEN_SB)) != AP_OK ||
		    (r = parse_flag(ps, fld[1], 1, &f->secure_boot)) != AP_OK)
			return r;
	} else if (strcmp(k, "reboot") == 0) {
		if ((r = once(ps, SEEN_REBOOT)) != AP_OK ||
		    (r = parse_flag(ps, fld[1], 1, &f->reboot_required)) != AP_OK ||
		    (r = dup_field(ps, &f->reboot_source, fld[2], 1)) != AP_OK)
			return r;
	} else if (strcmp(k, "mem") == 0) {
		if ((r = once(ps, SEEN_MEM)) != AP_OK ||
		    (r = parse_ll(ps, fld[1], 0, LLONG_MAX / 2, &f->mem_total_kb)) != AP_OK ||
		    (r = parse_ll(ps, fld[2], 0, LLONG_MAX / 2, &f->mem_avail_kb)) != AP_OK)
			return r;
		f->mem_estimated = strcmp(fld[3], "estimate") == 0;
	} else if (strcmp(k, "staging") == 0) {
		if ((r = once(ps, SEEN_STAGING)) != AP_OK ||
		    (r = parse_flag(ps, fld[1], 0, &f->staging_exists)) != AP_OK ||
		    (r = parse_flag(ps, fld[2], 0, &f->staging_writable)) != AP_OK)
			return r;
	} else if (strcmp(k, "installed_version") == 0) {
		if ((r = once(ps, SEEN_VERSION)) != AP_OK ||
		    (r = dup_field(ps, &f->installed_version, fld[1], 1)) != AP_OK)
			return r;
	}
	return r;
}

int
ap_linux_facts_parse(const char *text, size_t len, struct ap_linux_facts **out,
                     struct ap_ctx *ctx)
{
	struct pstate ps = {NULL, ctx, 0, 0};
	char line[FACTS_MAX_LINE + 1];
	char *fld[FACTS_MAX_FIELDS];
	size_t pos = 0, ll, nf, i;
	int ended = 0;
	int r;

	*out = NULL;
	if (text == NULL)
		len = 0;
	if (len > FACTS_MAX_BYTES) {
		r = ap_ctx_fail(ctx, AP_EPROTO, 0, "probe output: larger than %d bytes", FACTS_MAX_BYTES);
		goto out;
	}
	if ((ps.f = calloc(1, sizeof(*ps.f))) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "probe output: out of memory");
		goto out;
	}
	ps.f->uid = -1;
	ps.f->secure_boot = AP_LINUX_UNKNOWN;
	ps.f->reboot_required = AP_LINUX_UNKNOWN;
	ps.f->modules_present = AP_LINUX_UNKNOWN;
	ps.f->mem_total_kb = -1;
	ps.f->mem_avail_kb = -1;
	ps.f->staging_exists = AP_LINUX_UNKNOWN;
	ps.f->staging_writable = AP_LINUX_UNKNOWN;

	while (pos < len) {
		ps.lineno++;
		for (ll = 0; pos + ll < len && text[pos + ll] != '\n'; ll++) {
			unsigned char c = (unsigned char)text[pos + ll];

			if (ll >= FACTS_MAX_LINE) {
				r = bad(&ps, "line too long");
				goto out;
			}
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				r = bad(&ps, "control character in a value");
				goto out;
			}
		}
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + 1; /* past the newline, or past the end */
		if (ended) {
			r = bad(&ps, "text after the \"end\" line");
			goto out;
		}
		/* split on TAB */
		nf = 0;
		fld[nf++] = line;
		for (i = 0; i < ll; i++) {
			if (line[i] != '\t')
				continue;
			if (nf == FACTS_MAX_FIELDS) {
				r = bad(&ps, "too many fields");
				goto out;
			}
			line[i] = '\0';
			fld[nf++] = line + i + 1;
		}
		if (ps.lineno == 1) {
			if (nf != 2 || strcmp(fld[0], "agentpush-probe") != 0) {
				r = bad(&ps, "not agentpush probe output (expected \"agentpush-probe<TAB>1\")");
				goto out;
			}
			if (strcmp(fld[1], "1") != 0) {
				r = bad(&ps, "unsupported probe output format (expected 1)");
				goto out;
			}
			ps.f->version = 1;
			continue;
		}
		if (nf == 1 && strcmp(fld[0], "end") == 0) {
			ended = 1;
			continue;
		}
		if (fld[0][0] == '\0') {
			r = bad(&ps, "empty line or empty fact kind");
			goto out;
		}
		if ((r = parse_fact(&ps, fld, nf)) != AP_OK)
			goto out;
	}
	if (ps.lineno == 0) {
		r = ap_ctx_fail(ctx, AP_EPROTO, 0, "probe output: empty");
		goto out;
	}
	if (!ended) {
		r = ap_ctx_fail(ctx, AP_EPROTO, 0, "probe output line %ld: cut short (no \"end\" line)", ps.lineno);
		goto out;
	}
	*out = ps.f;
	ps.f = NULL; /* transferred */
	r = AP_OK;
out:
	ap_linux_facts_free(ps.f);
	return r;
}

const struct ap_linux_mount *
ap_linux_facts_mount(const struct ap_linux_facts *f, const char *mountpoint)
{
	size_t i;
	const struct ap_linux_mount *found = NULL;

	/* the last one wins: a later mount hides an earlier one */
	for (i = 0; i < f->n_mounts; i++)
		if (strcmp(f->mounts[i].mountpoint, mountpoint) == 0)
			found = &f->mounts[i];
	return found;
}

const struct ap_linux_space *
ap_linux_facts_space(const struct ap_linux_facts *f, const char *label)
{
	size_t i;

	for (i = 0; i < f->n_space; i++)
		if (strcmp(f->space[i].label, label) == 0)
			return &f->space[i];
	return NULL;
}
