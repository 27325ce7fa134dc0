#!/bin/sh
# test_install.sh - the Linux installer scripts of the sample package, run
# locally as root against a temporary install folder: install, verify,
# idempotency, upgrade from an older version, restart of a dead agent,
# uninstall, and the documented exit codes (96, 119, 149).  The plain
# supervised start is tested (systemd is not PID 1 on the test machine).
#
# usage: test_install.sh PACKAGE_DIR MKPACKAGE OLD_AGENT SCRIPTS_DIR MANIFEST_IN
# (OLD_AGENT: the agent built as version 0.0.9)
set -u
PKG=$1 MKPACKAGE=$2 OLD_AGENT=$3 SCRIPTS=$4 MANIFEST_IN=$5
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root"
	exit 77
fi
if [ "$(cat /proc/1/comm)" = systemd ] && systemctl is-system-running >/dev/null 2>&1; then
	echo "SKIP: systemd runs this machine; this test covers the plain start"
	exit 77
fi

DIR="$T/opt agent"  # a space, to keep the scripts' quoting honest
ILOG="$T/install.log"
NEW=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$PKG/manifest.json")
[ -n "$NEW" ] || fail "cannot read the version of $PKG/manifest.json"

# unpack PAYLOAD_TGZ WORKDIR
unpack() {
	rm -rf "$2" && mkdir -p "$2" && tar -xzf "$1" -C "$2" || fail "cannot unpack $1"
}
agent_pid() {
	cat "$DIR/run/agentpush-agent.pid" 2>/dev/null
}

# An older package, built by the same script.
python3 "$MKPACKAGE" --binary "$OLD_AGENT" --scripts "$SCRIPTS" --manifest-in "$MANIFEST_IN" \
	--version 0.0.9 --outdir "$T/old" >/dev/null || fail "mkpackage 0.0.9"
unpack "$T/old/package/"*.tar.gz "$T/w-old"
unpack "$PKG/"*-linux-*.tar.gz "$T/w-new"

# Exit codes before anything is installed.  (nobody must read the payload.)
chmod 755 "$T"
sh "$T/w-new/install.sh" --log "$ILOG" relative/dir 2>/dev/null
[ $? -eq 96 ] || fail "relative install dir must exit 96"
sh "$T/w-new/install.sh" --bogus "$DIR" 2>/dev/null
[ $? -eq 96 ] || fail "unknown option must exit 96"
setpriv --reuid=65534 --regid=65534 --clear-groups sh "$T/w-new/install.sh" --log "$ILOG" "$DIR" 2>/dev/null
[ $? -eq 119 ] || fail "non-root must exit 119"
cp -r "$T/w-new" "$T/w-arch" && echo s390x >"$T/w-arch/ARCH"
sh "$T/w-arch/install.sh" --log "$ILOG" "$DIR" 2>/dev/null
[ $? -eq 149 ] || fail "another architecture must exit 149"
grep -q 'ERROR: this payload is for s390x' "$ILOG" || fail "149 not explained in the install log"
[ ! -e "$DIR/VERSION" ] || fail "a refused install left files"
ok "exit codes 96, 119, 149; errors in the install log"

# Install the old version.
sh "$T/w-old/install.sh" --log "$ILOG" "$DIR" >/dev/null || fail "install 0.0.9 exited $?"
[ "$(sh "$DIR/lib/verify.sh" "$DIR" 0.0.9 2>/dev/null)" = 0.0.9 ] || fail "verify after install 0.0.9"
pid1=$(agent_pid)
PIDS_TO_KILL="$pid1"
ok "0.0.9 installed and verified (pid $pid1)"

# Upgrade: the old agent stops, the new one runs.
sh "$T/w-new/install.sh" --log "$ILOG" "$DIR" >/dev/null || fail "upgrade exited $?"
sh "$DIR/lib/verify.sh" "$DIR" "$NEW" >/dev/null 2>&1 || fail "verify after upgrade"
pid2=$(agent_pid)
PIDS_TO_KILL="$pid1 $pid2"
[ "$pid2" != "$pid1" ] || fail "upgrade did not restart the agent"
wait_until 5 pid_dead "$pid1" || fail "old agent $pid1 still running"
grep -q "replacing agentpush-agent 0.0.9 with $NEW" "$ILOG" || fail "upgrade not logged"
[ "$(cat "$DIR/VERSION")" = "$NEW" ] || fail "VERSION not replaced"
[ ! -e "$DIR/bin/agentpush-agent.new" ] || fail "temporary file left"
ok "upgrade 0.0.9 -> $NEW replaced the files and restarted the agent ($pid1 -> $pid2)"

# Idempotent: same version, running: nothing happens.
sh "$T/w-new/install.sh" --log "$ILOG" "$DIR" >"$T/out" || fail "second install exited $?"
grep -q 'already installed and running' "$T/out" || fail "second install: $(cat "$T/out")"
[ "$(agent_pid)" = "$pid2" ] || fail "second install restarted the agent"
ok "installing the same version again is a no-op"

# verify.sh exit codes.
sh "$DIR/lib/verify.sh" "$DIR" 9.9.9 >/dev/null 2>&1
[ $? -eq 2 ] || fail "verify with another version must exit 2"
kill -TERM "$pid2"
wait_until 5 pid_dead "$pid2" || fail "agent ignored SIGTERM"
sh "$DIR/lib/verify.sh" "$DIR" "$NEW" >/dev/null 2>&1
[ $? -eq 3 ] || fail "verify of a stopped agent must exit 3"
ok "verify: 2 for another version, 3 when not running"

# Same version but stopped: install starts it again.
sh "$T/w-new/install.sh" --log "$ILOG" "$DIR" >/dev/null || fail "restart install exited $?"
pid3=$(agent_pid)
PIDS_TO_KILL="$pid3"
sh "$DIR/lib/verify.sh" "$DIR" "$NEW" >/dev/null 2>&1 || fail "verify after restart"
ok "install restarts a stopped agent (pid $pid3)"

# Uninstall, twice.
sh "$DIR/lib/uninstall.sh" --log "$ILOG" "$DIR" >/dev/null || fail "uninstall exited $?"
wait_until 5 pid_dead "$pid3" || fail "uninstall left the agent running"
[ ! -e "$DIR" ] || fail "uninstall left $DIR: $(ls -R "$DIR")"
sh "$T/w-new/verify.sh" "$DIR" >/dev/null 2>&1
[ $? -eq 1 ] || fail "verify after uninstall must exit 1"
sh "$T/w-new/uninstall.sh" --log "$ILOG" "$DIR" >/dev/null || fail "second uninstall exited $?"
ok "uninstall stops and removes everything; again is a no-op"
exit 0
