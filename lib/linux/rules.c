/*
 * rules.c - turns Linux facts into findings (docs/linux-checks.md lists each
 * rule, the facts it reads, its ErrorID and its severity).
 *
 * Every rule runs on its own and reports what it sees, so one check shows
 * every independent problem, not just the first.  Evidence quotes the facts
 * ("/var/tmp: 51200 KB free, 102400 KB needed").
 *
 * Disk layout.  A mount is tied to a block device by the MAJ:MIN mountinfo
 * gives (which sees through "/dev/root"), else by its source path.  A device
 * is resolved to the physical disks under it: a partition to its disk, a
 * device-mapper or md device through its slaves, recursively.  A multipath
 * map (dm uuid "mpath-") counts as one disk: its slaves are paths to the same
 * LUN.  The boot disks are the disks under /boot, or under / when /boot is not
 * a separate mount; /boot/efi (the ESP) is not considered.  An / that is no
 * block device at all (overlay, tmpfs, NFS: a container or a diskless host)
 * has no boot disk: 95310, because there is no disk the agent could protect.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentpush/catalog.h"
#include "agentpush/linux.h"
#include "linux_int.h"

#define EVID_MAX 2048
#define DISKS_MAX 16
#define RESOLVE_DEPTH 16
#define BLK_MAX 512 /* facts.c keeps at most this many of a kind */

void
ap_linux_requirements_init(struct ap_linux_requirements *req)
{
	memset(req, 0, sizeof(*req));
	req->staging_dir = "/var/tmp";
	req->install_dir = "/opt/agentpush-agent";
	req->min_free_kb_staging = 102400;
	req->min_free_kb_install = 102400;
	req->min_mem_kb = 262144;
}

/* Appends printf output to buf[n], cutting (never overflowing) when full. */
static void
app(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void
app(char *buf, size_t n, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, n - len, fmt, ap);
	va_end(ap);
}

/* Adds a finding with severity sev; sev < 0 means the catalog default. */
static int
add(struct ap_result *r, struct ap_ctx *ctx, int id, int sev,
    const char *message, const char *evidence)
{
	const struct ap_catalog_entry *e = ap_catalog_find(id);
	int rc;

	if (e == NULL)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "linux rules: ErrorID %d is not in the catalog", id);
	rc = ap_result_add_sev(r, id, sev < 0 ? e->severity : (enum ap_severity)sev,
	                       message, evidence);
	if (rc != AP_OK)
		return ap_ctx_fail(ctx, rc, 0, "linux rules: cannot add finding %d: %s", id, ap_rc_str(rc));
	return AP_OK;
}

/* --- disk resolution --------------------------------------------------------- */

struct diskset {
	const char *disk[DISKS_MAX];
	size_t n;
	int lvm;        /* an LVM volume is on the way down */
	int mpath;      /* a multipath map is */
	int found;      /* the mount is a known block device */
	/* devices already walked (index into f->blk): the slave graph comes
	 * from the target and may hold cycles or fan out; each device is
	 * walked once, so resolution stays linear */
	unsigned char seen[BLK_MAX];
};

static const struct ap_linux_blockdev *
blk_by_name(const struct ap_linux_facts *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n_blk; i++)
		if (strcmp(f->blk[i].name, name) == 0)
			return &f->blk[i];
	return NULL;
}

static const struct ap_linux_blockdev *
mount_blk(const struct ap_linux_facts *f, const struct ap_linux_mount *m)
{
	const char *src = m->source;
	size_t i;

	/* 0:N is an anonymous device (btrfs, overlay): its number names nothing */
	if (m->devnum != NULL && strncmp(m->devnum, "0:", 2) != 0)
		for (i = 0; i < f->n_blk; i++)
			if (f->blk[i].devnum != NULL &&
			    strcmp(f->blk[i].devnum, m->devnum) == 0)
				return &f->blk[i];
	if (strncmp(src, "/dev/mapper/", 12) == 0) {
		for (i = 0; i < f->n_blk; i++)
			if (f->blk[i].dm_name != NULL &&
			    strcmp(f->blk[i].dm_name, src + 12) == 0)
				return &f->blk[i];
		return NULL;
	}
	if (strncmp(src, "/dev/", 5) == 0 && strchr(src + 5, '/') == NULL)
		return blk_by_name(f, src + 5);
	return NULL;
}

static void
set_add(struct diskset *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->disk[i], name) == 0)
			return;
	if (s->n < DISKS_MAX)
		s->disk[s->n++] = name;
}

static void
resolve(const struct ap_linux_facts *f, const struct ap_linux_blockdev *b,
        struct diskset *s, int depth)
{
	const struct ap_linux_blockdev *p = NULL;
	int had_slaves = 0;
	size_t i, idx;

	if (b == NULL || depth > RESOLVE_DEPTH)
		return;
	idx = (size_t)(b - f->blk);
	if (idx < BLK_MAX) {
		if (s->seen[idx])
			return;
		s->seen[idx] = 1;
	}
	if (b->dm_uuid != NULL && strncmp(b->dm_uuid, "LVM-", 4) == 0)
		s->lvm = 1;
	if (b->dm_uuid != NULL && strncmp(b->dm_uuid, "mpath-", 6) == 0) {
		s->mpath = 1;
		set_add(s, b->dm_name != NULL ? b->dm_name : b->name);
		return;
	}
	for (i = 0; i < f->n_slaves; i++) {
		if (strcmp(f->slaves[i].holder, b->name) != 0)
			continue;
		had_slaves = 1;
		if ((p = blk_by_name(f, f->slaves[i].slave)) != NULL)
			resolve(f, p, s, depth + 1);
		else
			set_add(s, f->slaves[i].slave);
	}
	if (had_slaves)
		return;
	if (b->kind == AP_LINUX_BLK_PART && b->parent != NULL) {
		if ((p = blk_by_name(f, b->parent)) != NULL)
			resolve(f, p, s, depth + 1);
		else
			set_add(s, b->parent);
		return;
	}
	set_add(s, b->name);
}

/* Resolves mount point mp; NULL mount leaves s empty. */
static const struct ap_linux_mount *
mount_disks(const struct ap_linux_facts *f, const char *mp, struct diskset *s)
{
	const struct ap_linux_mount *m = ap_linux_facts_mount(f, mp);
	const struct ap_linux_blockdev *b = NULL;

	memset(s, 0, sizeof(*s));
	if (m == NULL)
		return NULL;
	if ((b = mount_blk(f, m)) != NULL) {
		s->found = 1;
		resolve(f, b, s, 0);
	}
	return m;
}

/* "/: /dev/mapper/vg-root (ext4) on disks sda, sdb, LVM" into buf. */
static void
describe(char *buf, size_t n, const struct ap_linux_mount *m,
         const struct diskset *s)
{
	size_t i;

	app(buf, n, "%s: %s (%s)", m->mountpoint, m->source, m->fstype);
	if (!s->found) {
		app(buf, n, " is not a block device");
		return;
	}
	app(buf, n, " on disk%s ", s->n == 1 ? "" : "s");
	for (i = 0; i < s->n; i++)
		app(buf, n, "%s%s", i > 0 ? ", " : "", s->disk[i]);
	if (s->lvm)
		app(buf, n, ", LVM");
	if (s->mpath)
		app(buf, n, ", multipath");
}

static int
disjoint(const struct diskset *a, const struct diskset *b)
{
	size_t i, j;

	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++)
			if (strcmp(a->disk[i], b->disk[j]) == 0)
				return 0;
	return 1;
}

static int
fs_ok(const char *fstype, int boot)
{
	static const char *const ok[] = {"ext3", "ext4", "xfs", "btrfs"};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(fstype, ok[i]) == 0)
			return 1;
	return boot && strcmp(fstype, "ext2") == 0;
}

static int
source_state_is(const struct ap_linux_facts *f, const char *name,
                const char *state)
{
	size_t i;

	for (i = 0; i < f->n_sources; i++)
		if (strcmp(f->sources[i].name, name) == 0)
			return strcmp(f->sources[i].state, state) == 0;
	return 0;
}

static int
rules_disk(const struct ap_linux_facts *f, const struct ap_linux_requirements *req,
           struct ap_result *r, struct ap_ctx *ctx)
{
	struct diskset rs, bs;
	const struct ap_linux_mount *rm = NULL, *bm = NULL;
	const struct diskset *boot = NULL;
	char ev[EVID_MAX] = "";
	char bev[EVID_MAX] = "";
	int rc;
	int sev;

	if (source_state_is(f, "mountinfo", "absent") || f->n_mounts == 0)
		return add(r, ctx, AP_ERR_PROBE_FAILED, AP_SEV_WARNING,
		           "the mount table could not be read; disk layout not checked",
		           "/proc/self/mountinfo: absent");
	rm = mount_disks(f, "/", &rs);
	bm = mount_disks(f, "/boot", &bs);
	if (rm == NULL)
		return add(r, ctx, AP_ERR_LINUX_NO_BOOT_DISK, -1, NULL,
		           "no mount for / in /proc/self/mountinfo");
	describe(ev, sizeof(ev), rm, &rs);
	if (bm != NULL)
		describe(bev, sizeof(bev), bm, &bs);
	boot = bm != NULL ? &bs : &rs;

	/* 95310: nothing to protect */
	if (rs.n == 0 || (bm != NULL && bs.n == 0)) {
		char both[2 * EVID_MAX + 8];

		snprintf(both, sizeof(both), "%s%s%s", ev, bm != NULL ? "; " : "", bev);
		if ((rc = add(r, ctx, AP_ERR_LINUX_NO_BOOT_DISK, -1, NULL, both)) != AP_OK)
			return rc;
	}
	/* 95313 and 800201: the root file system itself */
	if (rs.n > 1) {
		sev = (req->caps & AP_LINUX_CAP_ROOT_MULTI_DISK) ? AP_SEV_WARNING : AP_SEV_ERROR;
		if ((rc = add(r, ctx, AP_ERR_LINUX_ROOT_MULTIPLE_DISKS, sev, NULL, ev)) != AP_OK)
			return rc;
	}
	if (rs.lvm) {
		sev = (req->caps & AP_LINUX_CAP_LVM_ROOT) ? AP_SEV_WARNING : AP_SEV_ERROR;
		if ((rc = add(r, ctx, AP_ERR_LINUX_LVM_ROOT, sev, NULL, ev)) != AP_OK)
			return rc;
	}
	/* 800202 / 95311: boot files on more than one disk */
	if (boot->n > 1) {
		const char *bevid = bm != NULL ? bev : ev;

		if (boot->lvm)
			rc = add(r, ctx, AP_ERR_LINUX_BOOT_LVM_SPANNED, -1,
			         bm != NULL ? NULL : "/boot is a directory of / and / is on LVM spanning disks",
			         bevid);
		else
			rc = add(r, ctx, AP_ERR_LINUX_MULTIPLE_BOOT_DISKS, -1, NULL, bevid);
		if (rc != AP_OK)
			return rc;
	}
	/* 95309: /boot and / share no disk */
	if (bm != NULL && bs.n > 0 && rs.n > 0 && disjoint(&rs, &bs)) {
		char both[2 * EVID_MAX + 8];

		snprintf(both, sizeof(both), "%s; %s", bev, ev);
		sev = (req->caps & AP_LINUX_CAP_BOOT_SEPARATE_DISK) ? AP_SEV_WARNING : AP_SEV_ERROR;
		if ((rc = add(r, ctx, AP_ERR_LINUX_BOOT_SYSTEM_SPLIT, sev, NULL, both)) != AP_OK)
			return rc;
	}
	/* 800204: file systems */
	ev[0] = '\0';
	if (!fs_ok(rm->fstype, 0))
		app(ev, sizeof(ev), "/ is %s (supported: ext3, ext4, xfs, btrfs)", rm->fstype);
	if (bm != NULL && !fs_ok(bm->fstype, 1))
		app(ev, sizeof(ev), "%s/boot is %s (supported: ext2, ext3, ext4, xfs, btrfs)", ev[0] != '\0' ? "; " : "", bm->fstype);
	if (ev[0] != '\0' &&
	    (rc = add(r, ctx, AP_ERR_UNSUPPORTED_FILESYSTEM, -1, NULL, ev)) != AP_OK)
		return rc;
	return AP_OK;
}

static int
rules_devnames(const struct ap_linux_facts *f, struct ap_result *r,
               struct ap_ctx *ctx)
{
	char ev[EVID_MAX] = "";
	size_t i;

	for (i = 0; i < f->n_lines; i++)
		app(ev, sizeof(ev), "%s%s:%ld: %s", i > 0 ? "; " : "",
		    f->lines[i].file, f->lines[i].lineno, f->lines[i].text);
	if (f->n_lines == 0)
		return AP_OK;
	return add(r, ctx, AP_ERR_LINUX_DEVICE_NAMES, -1, NULL, ev);
}

static int
rules_credentials(const struct ap_linux_facts *f,
                  const struct ap_linux_requirements *req, struct ap_result *r,
                  struct ap_ctx *ctx)
{
	char ev[512] = "";

	if (f->is_root || f->sudo_nopasswd)
		return AP_OK;
	/* the pipeline retries through `sudo -S` with the password it holds */
	if (f->sudo_present && req->password_available)
		return AP_OK;
	app(ev, sizeof(ev), "uid=%ld (%s), not root; ", f->uid,
	    f->user != NULL ? f->user : "?");
	if (!f->sudo_present)
		app(ev, sizeof(ev), "sudo is not installed");
	else
		app(ev, sizeof(ev), "`sudo -n true` asks for a password and no password was given");
	return add(r, ctx, AP_ERR_LINUX_BAD_CREDENTIALS, -1, NULL, ev);
}

static int
rules_os(const struct ap_linux_facts *f, const struct ap_linux_requirements *req,
         struct ap_result *r, struct ap_ctx *ctx)
{
	struct ap_linux_matrix *own = NULL;
	const struct ap_linux_matrix *m = req->matrix;
	char why[512];
	char ev[EVID_MAX] = "";
	int rc;

	if (m == NULL) {
		if ((rc = ap_linux_matrix_builtin(&own, ctx)) != AP_OK)
			goto out;
		m = own;
	}
	if (!ap_linux_matrix_check(m, f, why, sizeof(why))) {
		app(ev, sizeof(ev), "%s", why);
		if (f->os_pretty_name != NULL)
			app(ev, sizeof(ev), " (PRETTY_NAME=\"%s\")", f->os_pretty_name);
		else if (f->redhat_release != NULL)
			app(ev, sizeof(ev), " (/etc/redhat-release: \"%s\")", f->redhat_release);
		if ((rc = add(r, ctx, AP_ERR_OS_UNSUPPORTED, -1, NULL, ev)) != AP_OK)
			goto out;
	}
	rc = AP_OK;
out:
	ap_linux_matrix_free(own);
	return rc;
}

static int
rules_host(const struct ap_linux_facts *f, const struct ap_linux_requirements *req,
           struct ap_result *r, struct ap_ctx *ctx)
{
	char ev[512];
	int drv_sev = (req->caps & AP_LINUX_CAP_NO_KERNEL_DRIVER) ? AP_SEV_WARNING : -1;
	int rc;

	if (f->modules_present == 0) {
		snprintf(ev, sizeof(ev), "%s does not exist (uname -r: %s)",
		         f->modules_path != NULL ? f->modules_path : "/lib/modules/$(uname -r)",
		         f->kernel_release != NULL ? f->kernel_release : "?");
		if ((rc = add(r, ctx, AP_ERR_KERNEL_MODULES_MISSING, drv_sev, NULL, ev)) != AP_OK)
			return rc;
	}
	if (f->efi == 1 && f->secure_boot == 1) {
		snprintf(ev, sizeof(ev), "UEFI; efivars SecureBoot-8be4df61-93ca-11d2-aa0d-e0cf1c3b3f5b = 1");
		if ((rc = add(r, ctx, AP_ERR_SECURE_BOOT_ENABLED, drv_sev, NULL, ev)) != AP_OK)
			return rc;
	}
	if (f->reboot_required == 1) {
		const char *src = f->reboot_source != NULL ? f->reboot_source : "?";

		if (src[0] == '/')
			snprintf(ev, sizeof(ev), "%s exists", src);
		else
			snprintf(ev, sizeof(ev), "`%s` says a restart is needed", src);
		if ((rc = add(r, ctx, AP_ERR_RESTART_PENDING, -1, NULL, ev)) != AP_OK)
			return rc;
	}
	if (f->mem_avail_kb >= 0 && req->min_mem_kb > 0 &&
	    f->mem_avail_kb < req->min_mem_kb) {
		snprintf(ev, sizeof(ev), "%s %lld KB, %lld KB needed (MemTotal %lld KB)",
		         f->mem_estimated ? "MemFree+Buffers+Cached" : "MemAvailable",
		         f->mem_avail_kb, req->min_mem_kb, f->mem_total_kb);
		if ((rc = add(r, ctx, AP_ERR_LOW_MEMORY, -1, NULL, ev)) != AP_OK)
			return rc;
	}
	return AP_OK;
}

static int
rules_space(const struct ap_linux_facts *f, const struct ap_linux_requirements *req,
            struct ap_result *r, struct ap_ctx *ctx)
{
	const struct ap_linux_space *st = ap_linux_facts_space(f, "staging");
	const struct ap_linux_space *in = ap_linux_facts_space(f, "install");
	char ev[1024];
	int rc;

	/* The payload is uploaded as the login user, before any sudo. */
	if (f->staging_exists == 0 || f->staging_writable == 0) {
		snprintf(ev, sizeof(ev), "%s %s for %s (the upload runs as the login user)",
		         f->staging_dir != NULL ? f->staging_dir : "the staging folder",
		         f->staging_exists == 0 ? "does not exist" : "is not writable",
		         f->user != NULL ? f->user : "the login user");
		if ((rc = add(r, ctx, AP_ERR_COPY_FAILED, -1, NULL, ev)) != AP_OK)
			return rc;
	}
	if (st != NULL && in != NULL && strcmp(st->mountpoint, in->mountpoint) == 0) {
		/* one file system holds both the copy and the installation */
		long long need = req->min_free_kb_staging + req->min_free_kb_install;

		if (st->avail_kb < need) {
			snprintf(ev, sizeof(ev), "%s and %s (both on %s): %lld KB free, %lld KB needed",
			         st->asked, in->asked, st->mountpoint, st->avail_kb, need);
			return add(r, ctx, AP_ERR_INSUFFICIENT_SPACE, -1, NULL, ev);
		}
		return AP_OK;
	}
	if (st != NULL && st->avail_kb < req->min_free_kb_staging) {
		snprintf(ev, sizeof(ev), "%s: %lld KB free, %lld KB needed",
		         st->asked, st->avail_kb, req->min_free_kb_staging);
		if ((rc = add(r, ctx, AP_ERR_INSUFFICIENT_SPACE, -1, NULL, ev)) != AP_OK)
			return rc;
	}
	if (in != NULL && in->avail_kb < req->min_free_kb_install) {
		snprintf(ev, sizeof(ev), "%s: %lld KB free, %lld KB needed",
		         in->asked, in->avail_kb, req->min_free_kb_install);
		if ((rc = add(r, ctx, AP_ERR_INSUFFICIENT_SPACE, -1, NULL, ev)) != AP_OK)
			return rc;
	}
	return AP_OK;
}

int
ap_linux_rules_apply(const struct ap_linux_facts *f,
                     const struct ap_linux_requirements *req,
                     struct ap_result *r, struct ap_ctx *ctx)
{
	struct ap_linux_requirements defaults;
	int rc;

	if (f == NULL || r == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "linux rules: no facts or no result");
	if (req == NULL) {
		ap_linux_requirements_init(&defaults);
		req = &defaults;
	}
	if ((rc = rules_credentials(f, req, r, ctx)) != AP_OK ||
	    (rc = rules_os(f, req, r, ctx)) != AP_OK ||
	    (rc = rules_host(f, req, r, ctx)) != AP_OK ||
	    (rc = rules_disk(f, req, r, ctx)) != AP_OK ||
	    (rc = rules_devnames(f, r, ctx)) != AP_OK ||
	    (rc = rules_space(f, req, r, ctx)) != AP_OK)
		return rc;
	return AP_OK;
}
