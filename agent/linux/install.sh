#!/bin/sh
# install.sh - installs or upgrades agentpush-agent from this unpacked payload.
#
# usage: install.sh [--log FILE] INSTALL_DIR
#
# Idempotent: the same version already installed and running is left alone
# (exit 0).  Anything else (not installed, another version, not running) is
# installed: the running agent is stopped, each file is copied next to its
# target and renamed over it (atomic), VERSION is written last, and the agent
# is started again, by a systemd unit when systemd runs the machine, else by
# the daemon's own daemonizing with its pid file.
#
# Exit codes (the manifest's linux.exit_codes table says the same):
#   0   installed, upgraded, or already installed and running
#   96  bad command line
#   97  installation failed (details in the log)
#   99  prerequisites not met (details in the log)
#   119 not run as root
#   149 payload built for another OS or architecture
set -u
umask 022
here=$(cd "$(dirname "$0")" && pwd)
LOG=/var/log/agentpush-agent-install.log
. "$here/common.sh"

parse_args "$@"

[ "$(id -u)" -eq 0 ] || fail 119 "must be run as root (running as uid $(id -u))"
mkdir -p "$(dirname "$LOG")" 2>/dev/null || true

version=$(cat "$here/VERSION" 2>/dev/null) || fail 97 "payload has no VERSION file"
log "installing $AGENT $version into $dir"

# The payload must be for this machine.
[ "$(uname -s)" = Linux ] || fail 149 "this payload is for Linux, this is $(uname -s)"
arch=$(cat "$here/ARCH" 2>/dev/null) || fail 97 "payload has no ARCH file"
[ "$(uname -m)" = "$arch" ] || fail 149 "this payload is for $arch, this machine is $(uname -m)"
[ "$("$here/bin/$AGENT" --version 2>/dev/null)" = "$version" ] ||
	fail 149 "the payload's $AGENT does not run here (wrong architecture or C library?)"

# Prerequisites: the tools we use, a writable folder with room.
for tool in awk cmp cp cut df du head mkdir mv readlink rm; do
	command -v "$tool" >/dev/null 2>&1 || fail 99 "the '$tool' command is missing"
done
mkdir -p "$dir/bin" "$dir/lib" "$dir/run" "$dir/log" ||
	fail 99 "cannot create $dir (read-only file system?)"
need_kb=$(( $(du -sk "$here" | cut -f1) + 1024 ))
free_kb=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
case "$free_kb" in
'' | *[!0-9]*) fail 99 "cannot read the free space of $dir" ;;
esac
[ "$free_kb" -ge "$need_kb" ] ||
	fail 99 "not enough space in $dir: ${free_kb} KB free, ${need_kb} KB needed"

# Already there?
old=$(cat "$dir/VERSION" 2>/dev/null || true)
if [ "$old" = "$version" ] && cmp -s "$here/bin/$AGENT" "$dir/bin/$AGENT"; then
	if pid=$(running_pid "$dir"); then
		log "$AGENT $version is already installed and running (pid $pid); nothing to do"
		exit 0
	fi
	log "$AGENT $version is installed but not running; starting it"
else
	if [ -n "$old" ]; then
		log "replacing $AGENT $old with $version"
	fi
	stop_agent "$dir"
	# Each file is copied beside its target, then renamed over it: a crash
	# leaves either the old or the new file, never half of one.
	install_file() {
		cp "$1" "$2.new" && chmod "$3" "$2.new" && mv -f "$2.new" "$2" ||
			fail 97 "cannot install $2"
	}
	install_file "$here/bin/$AGENT" "$dir/bin/$AGENT" 755
	for s in common.sh uninstall.sh verify.sh; do
		install_file "$here/$s" "$dir/lib/$s" 755
	done
	install_file "$here/VERSION" "$dir/VERSION" 644
fi

start_agent "$dir" || fail 97 "$AGENT did not start; see $dir/log/$AGENT.log"
pid=$(running_pid "$dir") || fail 97 "$AGENT started but is not running; see $dir/log/$AGENT.log"
if use_systemd; then how="systemd unit $UNIT"; else how="its own pid file"; fi
log "$AGENT $version installed in $dir and running (pid $pid, supervised by $how)"
exit 0
