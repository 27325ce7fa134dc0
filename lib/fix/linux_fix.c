/*
 * linux_fix.c - the Linux remedies of `agentpush fix` (fix_int.h).
 *
 * Each script runs as root through `sh -s` on the host and is shown to the
 * user exactly as it will run.  Rules every script keeps:
 *   - it decides nothing it could get wrong from the controller: paths that
 *     differ between distributions (sftp-server, the folder with room) are
 *     found on the host, and the script says which it took;
 *   - it changes one thing, and on any failure puts back what it changed
 *     (sshd_config: the copy taken first, written back byte for byte, and
 *     sshd is not reloaded) and exits non-zero;
 *   - it never deletes data, restarts the host, or touches GRUB or fstab.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/catalog.h"
#include "fix_int.h"

/* Whether s is a plain Unix login name we may put in a file name and a
 * sudoers line as it is. */
static int
plain_user(const char *s)
{
	return ap_fix_word_ok(s, 32, 0, "_-") && ((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_');
}

/* Whether s is an absolute path made of [A-Za-z0-9._/-] only (a folder we
 * put in a script without quoting surprises). */
static int
plain_path(const char *s)
{
	return ap_fix_word_ok(s, 200, 1, "._/-") && s[0] == '/' && strstr(s, "..") == NULL;
}

static int
set_sh(struct ap_fix_remedy *r, char *commands, char *undo, const char *setting,
       struct ap_ctx *ctx)
{
	r->commands = commands;
	r->undo = undo;
	r->shell = strdup("sh");
	r->setting = setting != NULL ? strdup(setting) : NULL;
	if (commands == NULL || undo == NULL || r->shell == NULL ||
	    (setting != NULL && r->setting == NULL))
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	r->remote = 1;
	return AP_OK;
}

/*
 * Waits for sshd to listen again after a reload: a reload closes the
 * listening socket and opens it anew, and a connection in between is
 * refused.  First up to 2 s for the socket to go (it may already have come
 * back), then up to 15 s for it to be back; /proc/net/tcp and tcp6 of the
 * host's network namespace, port in hex.
 */
#define SSHD_RELOAD \
	"reload_sshd() {\n" \
	"\tport=$(\"$sshd\" -T -f \"$cfg\" 2>/dev/null | awk '$1 == \"port\" { print $2; exit }')\n" \
	"\tpidf=$(\"$sshd\" -T -f \"$cfg\" 2>/dev/null | awk '$1 == \"pidfile\" { print $2; exit }')\n" \
	"\tif [ -n \"$pidf\" ] && [ -s \"$pidf\" ] && kill -0 \"$(cat \"$pidf\")\" 2>/dev/null; then\n" \
	"\t\tkill -HUP \"$(cat \"$pidf\")\" || return 1\n" \
	"\telif command -v systemctl >/dev/null 2>&1; then\n" \
	"\t\tsystemctl reload ssh 2>/dev/null || systemctl reload sshd || return 1\n" \
	"\telse\n" \
	"\t\techo \"agentpush: no running sshd found to reload\" >&2; return 1\n" \
	"\tfi\n" \
	"\thex=$(printf ':%%04X ' \"${port:-22}\")\n" \
	"\tlistening() { cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p=\"$hex\" 'index($2 \" \", p) && $4 == \"0A\" { f = 1 } END { exit !f }'; }\n" \
	"\ti=0; while listening && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done\n" \
	"\ti=0; until listening; do [ $i -ge 150 ] && { echo \"agentpush: sshd does not listen again after the reload\" >&2; return 1; }; sleep 0.1; i=$((i + 1)); done\n" \
	"\treturn 0\n" \
	"}\n"

/* 800106: the Subsystem sftp line, checked with sshd -t, then a reload. */
static int
build_sftp(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	char *cmd = NULL, *undo = NULL;

	cmd = ap_fix_strf(
		"# agentpush fix 800106: add the sftp Subsystem line to sshd_config\n"
		"set -u\n"
		"cfg=/etc/ssh/sshd_config\n"
		"copy=/etc/ssh/sshd_config.agentpush-%s\n"
		"new=/etc/ssh/sshd_config.agentpush-%s.new\n"
		"sshd=$(command -v sshd || echo /usr/sbin/sshd)\n"
		SSHD_RELOAD
		"restore() {\n"
		"\tcat \"$copy\" >\"$cfg\" && rm -f \"$new\" &&\n"
		"\t\techo \"agentpush: $1; $cfg restored from $copy, sshd not reloaded\" >&2\n"
		"\texit \"$2\"\n"
		"}\n"
		"[ -e \"$copy\" ] && { echo \"agentpush: $copy exists already\" >&2; exit 10; }\n"
		"cp -p \"$cfg\" \"$copy\" || { echo \"agentpush: cannot copy $cfg\" >&2; exit 10; }\n"
		"p=internal-sftp\n"
		"for c in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server \\\n"
		"         /usr/libexec/sftp-server /usr/lib/sftp-server /usr/lib/misc/sftp-server; do\n"
		"\tif [ -x \"$c\" ]; then p=$c; break; fi\n"
		"done\n"
		"echo \"sftp server: $p\"\n"
		"# an active Subsystem sftp line is commented out; the new line goes\n"
		"# before the first Match block (a Match block takes no Subsystem)\n"
		"awk -v line=\"Subsystem sftp $p\" '\n"
		"\ttolower($1) == \"subsystem\" && $2 == \"sftp\" { print \"#\" $0 \"  # agentpush fix\"; next }\n"
		"\tdone == 0 && tolower($1) == \"match\" { print line; done = 1 }\n"
		"\t{ print }\n"
		"\tEND { if (done == 0) print line }' \"$cfg\" >\"$new\" || restore \"cannot write $new\" 11\n"
		"cat \"$new\" >\"$cfg\" || restore \"cannot write $cfg\" 11\n"
		"rm -f \"$new\"\n"
		"\"$sshd\" -t -f \"$cfg\" || restore \"sshd -t rejects the new configuration\" 12\n"
		"reload_sshd || restore \"sshd could not be reloaded\" 13\n"
		"echo \"Subsystem sftp $p added to $cfg (copy of the old one: $copy); sshd reloaded\"\n",
		in->tag, in->tag);
	undo = ap_fix_strf(
		"# agentpush fix --undo 800106: put sshd_config back as it was before the fix\n"
		"set -u\n"
		"cfg=/etc/ssh/sshd_config\n"
		"copy=/etc/ssh/sshd_config.agentpush-%s\n"
		"now=/etc/ssh/sshd_config.agentpush-%s.undo\n"
		"sshd=$(command -v sshd || echo /usr/sbin/sshd)\n"
		SSHD_RELOAD
		"[ -f \"$copy\" ] || { echo \"agentpush: $copy is gone: nothing to put back\" >&2; exit 10; }\n"
		"cp -p \"$cfg\" \"$now\" || exit 10\n"
		"cat \"$copy\" >\"$cfg\" || { cat \"$now\" >\"$cfg\"; exit 11; }\n"
		"if ! \"$sshd\" -t -f \"$cfg\" || ! reload_sshd; then\n"
		"\tcat \"$now\" >\"$cfg\"; rm -f \"$now\"\n"
		"\techo \"agentpush: the old sshd_config was refused; the fixed one is kept\" >&2; exit 12\n"
		"fi\n"
		"rm -f \"$now\" \"$copy\"\n"
		"echo \"$cfg put back as it was before the fix; sshd reloaded\"\n",
		in->tag, in->tag);
	return set_sh(r, cmd, undo, NULL, ctx);
}

/* 95524 on the staging folder: a folder with room, as a per-host setting. */
static int
build_staging(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	const char *cur = ap_fix_var(in->t, "agentpush_staging_dir");
	const char *inst = ap_fix_var(in->t, "agentpush_install_dir");
	const char *ev = in->f->evidence;
	long long need = 0, freekb = 0;
	char *cmd = NULL, *undo = NULL, owner[64] = "";
	size_t n;

	if (cur == NULL)
		cur = "/var/tmp";
	if (inst == NULL)
		inst = "/opt/agentpush-agent";
	n = strlen(cur);
	/* "PATH: N KB free, M KB needed" about the staging folder only: a full
	 * install folder (or both on one file system) is freed by a person. */
	if (ev == NULL || strncmp(ev, cur, n) != 0 || strncmp(ev + n, ": ", 2) != 0 ||
	    sscanf(ev + n + 2, "%lld KB free, %lld KB needed", &freekb, &need) != 2 ||
	    need <= 0 || !plain_path(cur) || !plain_path(inst)) {
		r->advice = strdup(N_("the full file system is not the staging folder's alone: free space on it "
		                   "(agentpush deletes no data)"));
		return r->advice != NULL ? AP_OK : ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	if (in->user != NULL && strcmp(in->user, "root") != 0) {
		if (!plain_user(in->user)) {
			r->advice = strdup(N_("the login name cannot be written into a command as it is: "
			                   "choose the staging folder by hand (inventory variable agentpush_staging_dir)"));
			return r->advice != NULL ? AP_OK : ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		}
		snprintf(owner, sizeof(owner), " -o %s", in->user);
	}
	cmd = ap_fix_strf(
		"# agentpush fix 95524: a staging folder on a file system with room\n"
		"# (nothing is deleted; the folder becomes this host's agentpush_staging_dir)\n"
		"set -u\n"
		"cur=%s\n"
		"inst=%s\n"
		"need=%lld\n"
		"mnt() { d=$1; while [ ! -e \"$d\" ]; do d=$(dirname \"$d\"); done; df -Pk \"$d\" | awk 'NR == 2 { print $6 }'; }\n"
		"cur_fs=$(mnt \"$cur\")\n"
		"inst_fs=$(mnt \"$inst\")\n"
		"for d in /opt /srv /var/lib /home /var/tmp /tmp; do\n"
		"\t[ -d \"$d\" ] || continue\n"
		"\tfs=$(mnt \"$d\")\n"
		"\t[ \"$fs\" = \"$cur_fs\" ] && continue\n"
		"\tavail=$(df -Pk \"$d\" | awk 'NR == 2 { print $4 }')\n"
		"\twant=$need\n"
		"\t# the install folder on the same file system needs its room too\n"
		"\t[ \"$fs\" = \"$inst_fs\" ] && want=$((need * 2))\n"
		"\t[ \"${avail:-0}\" -ge \"$want\" ] || continue\n"
		"\tdir=$d/agentpush-staging\n"
		"\tif [ -e \"$dir\" ]; then echo \"agentpush: $dir exists already\" >&2; exit 10; fi\n"
		"\tinstall -d -m 0700%s \"$dir\" || exit 11\n"
		"\techo \"$dir: $avail KB free on $fs (needed: $want KB)\"\n"
		"\techo \"" AP_FIX_SETTING_PREFIX "$dir\"\n"
		"\texit 0\n"
		"done\n"
		"echo \"agentpush: no file system among /opt /srv /var/lib /home /var/tmp /tmp has $need KB free\" >&2\n"
		"exit 12\n",
		cur, inst, need, owner);
	undo = strdup("# agentpush fix --undo 95524: remove the staging folder the fix made,\n"
	              "# only if it is empty (nothing is deleted)\n"
	              "rmdir -- " AP_FIX_SETTING_MARK " && echo \"removed \"" AP_FIX_SETTING_MARK "\n");
	return set_sh(r, cmd, undo, "agentpush_staging_dir", ctx);
}

/* 95108/95525 for an account that is not root: sudo rights, a privilege
 * change the caller must allow. */
static int
build_sudo(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	const char *ev = in->f->evidence;
	char *cmd = NULL, *undo = NULL;

	if (ev == NULL || strstr(ev, "not root") == NULL || in->user == NULL ||
	    strcmp(in->user, "root") == 0 || !plain_user(in->user)) {
		r->advice = strdup(N_("the logon itself was refused: check the user name and the password"));
		return r->advice != NULL ? AP_OK : ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	cmd = ap_fix_strf(
		"# agentpush fix %d: let %s run any command as root with sudo (a privilege change)\n"
		"set -u\n"
		"f=/etc/sudoers.d/agentpush-%s\n"
		"[ -e \"$f\" ] && { echo \"agentpush: $f exists already\" >&2; exit 10; }\n"
		"# sudo reads no file of sudoers.d whose name holds a dot: the draft is inert\n"
		"printf '%%s ALL=(ALL:ALL) NOPASSWD: ALL\\n' %s >\"$f.new\" && chmod 0440 \"$f.new\" &&\n"
		"\tvisudo -c -f \"$f.new\" && mv \"$f.new\" \"$f\" || { rm -f \"$f.new\"; exit 11; }\n"
		"echo \"$f written\"\n",
		in->f->id, in->user, in->user, in->user);
	undo = ap_fix_strf("# agentpush fix --undo: take back the sudo rights the fix gave %s\n"
	                   "rm -f /etc/sudoers.d/agentpush-%s && echo \"removed /etc/sudoers.d/agentpush-%s\"\n",
	                   in->user, in->user, in->user);
	return set_sh(r, cmd, undo, NULL, ctx);
}

const struct ap_fix_entry ap_fix_linux_table[] = {
	{ 800106, "sftp-subsystem", 0, build_sftp, NULL },
	{ 95524, "staging-folder", 0, build_staging, NULL },
	{ 95108, "sudo-rights", 1, build_sudo, NULL },
	{ 95525, "sudo-rights", 1, build_sudo, NULL },
	{ 95224, "restart", 0, NULL, N_("needs a restart: agentpush never restarts a host") },
	{ 95309, "boot-layout", 0, NULL, N_("changes the disk layout: agentpush never moves /boot") },
	{ 95320, "device-names", 0, NULL, N_("touches GRUB or fstab: agentpush never changes them") },
	{ 95213, "os", 0, NULL, N_("needs another operating system or kernel") },
	{ 95572, "memory", 0, NULL, N_("frees memory by stopping programs: a person decides which") },
};
const size_t ap_fix_linux_table_n = sizeof(ap_fix_linux_table) / sizeof(ap_fix_linux_table[0]);
