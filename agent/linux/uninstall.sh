#!/bin/sh
# uninstall.sh - stops and removes agentpush-agent.
#
# usage: uninstall.sh [--log FILE] INSTALL_DIR
#
# Removes only the files install.sh puts there (never rm -r on the folder),
# then the folders if they are left empty.  Idempotent: nothing installed is
# success.  Exit codes: 0 removed or not installed, 96 bad command line,
# 97 something could not be removed, 119 not root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
LOG=/var/log/agentpush-agent-install.log
. "$here/common.sh"

parse_args "$@"
[ "$(id -u)" -eq 0 ] || fail 119 "must be run as root (running as uid $(id -u))"

if [ ! -e "$dir/VERSION" ] && [ ! -e "$dir/bin/$AGENT" ]; then
	log "$AGENT is not installed in $dir; nothing to do"
	exit 0
fi
log "removing $AGENT $(cat "$dir/VERSION" 2>/dev/null) from $dir"
stop_agent "$dir"
if use_systemd && [ -f "$UNIT_PATH" ]; then
	systemctl disable "$UNIT" >/dev/null 2>&1 || true
	rm -f "$UNIT_PATH"
	systemctl daemon-reload || true
fi
# VERSION first: from here on the agent counts as not installed.
rm -f "$dir/VERSION" "$dir/bin/$AGENT" "$dir/bin/$AGENT.new" \
	"$dir/run/$AGENT.pid" "$dir/log/$AGENT.log" \
	"$dir/lib/common.sh" "$dir/lib/uninstall.sh" "$dir/lib/verify.sh" ||
	fail 97 "cannot remove the files under $dir"
for d in bin lib run log; do
	rmdir "$dir/$d" 2>/dev/null || true
done
rmdir "$dir" 2>/dev/null || log "$dir is not empty; left in place"
[ ! -e "$dir/VERSION" ] && [ ! -e "$dir/bin/$AGENT" ] || fail 97 "files remain under $dir"
log "$AGENT removed"
exit 0
