/*
 * linux.h - what `agentpush check` learns about a Linux target, and the rules
 * that turn it into findings.
 *
 * Three steps, one round trip:
 *   1. the caller sends ap_linux_probe_script() over the transport and runs it
 *      as the login user with `sh -s -- STAGING_DIR INSTALL_DIR`; the script
 *      reads only and prints one fact per line (docs/linux-checks.md);
 *   2. ap_linux_facts_parse() turns that output, which is untrusted input from
 *      the network, into struct ap_linux_facts, or rejects it with AP_EPROTO
 *      and a one-line reason naming the line;
 *   3. ap_linux_rules_apply() adds one finding per independent problem to a
 *      result, each with evidence quoting the facts.
 * The support matrix (data/support-matrix.json, compiled in) says which
 * distributions, versions, architectures and kernels are supported.
 *
 * Ownership: ap_linux_facts_parse() returns facts the caller frees with
 * ap_linux_facts_free(); every string in them is owned by the facts.  A
 * matrix from ap_linux_matrix_load()/_builtin()/_parse() is freed with
 * ap_linux_matrix_free().  Both free functions accept NULL.  The requirements
 * struct only borrows its strings and its matrix.
 */
#ifndef AGENTPUSH_LINUX_H
#define AGENTPUSH_LINUX_H

#include <stddef.h>

#include "agentpush/ctx.h"
#include "agentpush/report.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The probe script's text (NUL-terminated, static, never NULL). */
const char *ap_linux_probe_script(void);

/* Tri-state facts: a source may be unreadable as a plain user. */
#define AP_LINUX_UNKNOWN (-1)

enum ap_linux_blk_kind {
	AP_LINUX_BLK_DISK = 0,
	AP_LINUX_BLK_PART,
	AP_LINUX_BLK_DM,   /* device mapper: LVM, multipath, crypt */
	AP_LINUX_BLK_MD,   /* software RAID */
	AP_LINUX_BLK_LOOP,
	AP_LINUX_BLK_OTHER /* ram, rom, or a kind this version does not know */
};

struct ap_linux_blockdev {
	char *name;      /* kernel name: "sda", "sda1", "dm-0" */
	enum ap_linux_blk_kind kind;
	char *devnum;    /* "8:1" */
	char *parent;    /* a partition's disk, else NULL */
	char *dm_name;   /* device mapper name ("vg0-root"), else NULL */
	char *dm_uuid;   /* "LVM-...", "mpath-...", "part1-mpath-...", else NULL */
};

/* holder is built on slave (dm-0 on sda2): from /sys/block/HOLDER/slaves. */
struct ap_linux_slave {
	char *holder;
	char *slave;
};

struct ap_linux_mount {
	char *devnum;     /* MAJ:MIN from mountinfo ("0:27" for btrfs/overlay) */
	char *mountpoint;
	char *fstype;
	char *source;     /* "/dev/sda1", "/dev/mapper/vg-root", "overlay" */
};

struct ap_linux_space {
	char *label;      /* "root", "boot", "staging", "install" */
	char *asked;      /* the directory asked about */
	char *checked;    /* its nearest existing parent, where df ran */
	long long avail_kb;
	long long total_kb;
	char *mountpoint;
};

/* A quoted line of a config file naming /dev/sdX-like devices. */
struct ap_linux_line {
	char *file;       /* "/etc/fstab", "/boot/grub2/grub.cfg" */
	long lineno;
	char *text;
};

/* A source the probe looked at: "present", "absent" or "unreadable". */
struct ap_linux_source {
	char *name;       /* "os-release", "fstab", "grub:/boot/grub/grub.cfg" */
	char *state;
};

struct ap_linux_facts {
	int version;             /* probe output format, 1 */
	char *staging_dir, *install_dir; /* as the probe received them */
	long uid;                /* -1 unknown */
	char *user;
	int is_root;             /* 0/1 */
	int sudo_present;        /* 0/1 */
	int sudo_nopasswd;       /* 0/1: `sudo -n true` succeeded */
	/* os-release (NULL when absent) */
	char *os_id, *os_version_id, *os_id_like, *os_name, *os_pretty_name;
	char *redhat_release;    /* first line of /etc/redhat-release, or NULL */
	char *suse_release;      /* first line of /etc/SuSE-release, or NULL */
	char *kernel_release, *machine; /* uname -r, uname -m */
	int modules_present;     /* /lib/modules/$(uname -r) is a directory */
	char *modules_path;
	int efi;                 /* 0/1 */
	int secure_boot;         /* 0/1/AP_LINUX_UNKNOWN */
	int reboot_required;     /* 0/1/AP_LINUX_UNKNOWN */
	char *reboot_source;     /* what said so */
	long long mem_total_kb;  /* -1 unknown */
	long long mem_avail_kb;  /* -1 unknown */
	int mem_estimated;       /* MemAvailable absent, estimated */
	char *installed_version; /* INSTALL_DIR/VERSION, or NULL */
	int staging_exists;      /* 0/1/AP_LINUX_UNKNOWN (older probe) */
	int staging_writable;    /* the login user may create files there */

	struct ap_linux_blockdev *blk;  size_t n_blk;
	struct ap_linux_slave *slaves;  size_t n_slaves;
	struct ap_linux_mount *mounts;  size_t n_mounts;
	struct ap_linux_space *space;   size_t n_space;
	struct ap_linux_line *lines;    size_t n_lines;
	struct ap_linux_source *sources; size_t n_sources;
};

/*
 * Parses probe output (text, len bytes; need not be NUL-terminated).  On
 * success returns AP_OK and stores new facts in *out.  Otherwise returns
 * AP_EPROTO (malformed, cut short, too big) or AP_ENOMEM, records a one-line
 * reason naming the line number on ctx, and leaves *out NULL.  Unknown fact
 * kinds are skipped, so a newer probe still parses.
 */
int ap_linux_facts_parse(const char *text, size_t len,
                         struct ap_linux_facts **out, struct ap_ctx *ctx);
void ap_linux_facts_free(struct ap_linux_facts *f);

/* Lookups used by the rules and the pipeline; NULL when absent. */
const struct ap_linux_mount *ap_linux_facts_mount(const struct ap_linux_facts *f,
                                                  const char *mountpoint);
const struct ap_linux_space *ap_linux_facts_space(const struct ap_linux_facts *f,
                                                  const char *label);

/* --- support matrix ------------------------------------------------------- */

struct ap_linux_matrix;

/* The compiled-in data/support-matrix.json. */
int ap_linux_matrix_builtin(struct ap_linux_matrix **out, struct ap_ctx *ctx);
/* A matrix from a JSON file (an override); AP_EIO/AP_EINVAL with the path. */
int ap_linux_matrix_load(const char *path, struct ap_linux_matrix **out,
                         struct ap_ctx *ctx);
/* A matrix from JSON text; AP_EINVAL naming what was wrong. */
int ap_linux_matrix_parse(const char *json, size_t len,
                          struct ap_linux_matrix **out, struct ap_ctx *ctx);
void ap_linux_matrix_free(struct ap_linux_matrix *m);

/*
 * Whether the facts' distribution, version, architecture and kernel are in
 * the matrix: returns 1 (supported) or 0 (not), and writes a one-line
 * explanation (the facts and the rule they failed, or the entry that
 * matched) into why[n] when why is not NULL.
 */
int ap_linux_matrix_check(const struct ap_linux_matrix *m,
                          const struct ap_linux_facts *f, char *why, size_t n);

/* --- rules ------------------------------------------------------------------ */

/* What the package tolerates (from its manifest); a set bit loosens a rule
 * from error to warning. */
#define AP_LINUX_CAP_BOOT_SEPARATE_DISK 0x01u /* 95309 */
#define AP_LINUX_CAP_ROOT_MULTI_DISK    0x02u /* 95313 */
#define AP_LINUX_CAP_LVM_ROOT           0x04u /* 800201 */
/* The agent loads no kernel module: Secure Boot (800205) and a missing
 * /lib/modules/$(uname -r) (800206) are then warnings. */
#define AP_LINUX_CAP_NO_KERNEL_DRIVER   0x08u

struct ap_linux_requirements {
	const char *staging_dir;        /* default "/var/tmp" */
	const char *install_dir;        /* default "/opt/agentpush-agent" */
	long long min_free_kb_staging;  /* default 102400 (100 MB, 95524) */
	long long min_free_kb_install;  /* default 102400 */
	long long min_mem_kb;           /* MemAvailable; default 262144 (95572) */
	unsigned caps;                  /* AP_LINUX_CAP_* */
	/* A password is at hand, so the pipeline retries through `sudo -S` when
	 * sudo is present but wants one: then 95108 is left to that retry. */
	int password_available;
	const struct ap_linux_matrix *matrix; /* NULL: the built-in one */
};

/* Fills req with the defaults above. */
void ap_linux_requirements_init(struct ap_linux_requirements *req);

/*
 * Adds to r one finding per independent problem the facts show (credentials,
 * OS and kernel, disk layout, device names, file systems, firmware, restart,
 * memory, space), each with evidence quoting the facts.  Returns AP_OK (even
 * when findings were added), or AP_ENOMEM/AP_EINVAL with ctx set.
 */
int ap_linux_rules_apply(const struct ap_linux_facts *f,
                         const struct ap_linux_requirements *req,
                         struct ap_result *r, struct ap_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_LINUX_H */
