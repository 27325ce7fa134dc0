#!/bin/sh
# test_daemon.sh - agentpush-agent on its own: pid file, heartbeat, single
# instance, clean stop on SIGTERM, bad options.  usage: test_daemon.sh AGENT
set -u
AGENT=$1
. "$(dirname "$0")/lib.sh"

[ "$("$AGENT" --version)" = "${AGENT_VERSION:?}" ] || fail "--version"
ok "--version prints $AGENT_VERSION"

"$AGENT" --heartbeat 0 2>"$T/err"
[ $? -eq 2 ] && grep -q -- '--heartbeat' "$T/err" || fail "--heartbeat 0 must be refused with exit 2"
"$AGENT" --bogus 2>/dev/null
[ $? -eq 2 ] || fail "an unknown option must exit 2"
ok "bad options are refused"

# Daemon mode: returns once the pid file is written.
"$AGENT" --install-dir "$T/inst" --heartbeat 1 || fail "start exited $?"
PF="$T/inst/run/agentpush-agent.pid"
LOGF="$T/inst/log/agentpush-agent.log"
[ -s "$PF" ] || fail "no pid file at $PF right after start"
pid=$(cat "$PF")
PIDS_TO_KILL="$pid"
pid_alive "$pid" || fail "pid $pid from the pid file is not running"
[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$AGENT")" ] || fail "pid file names another program"
ok "daemon started, pid file $PF names live pid $pid"

wait_until 5 grep -q 'heartbeat uptime=' "$LOGF" || fail "no heartbeat within 5 s"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z \['"$pid"'\] heartbeat uptime=[0-9]+s$' "$LOGF" ||
	fail "heartbeat line without a timestamp"
ok "heartbeat logged with a timestamp"

"$AGENT" --install-dir "$T/inst" --heartbeat 1 2>"$T/err"
rc=$?
[ $rc -eq 3 ] || fail "second start exited $rc, wanted 3"
grep -q "already running (pid $pid" "$T/err" || fail "second start: $(cat "$T/err")"
[ "$(cat "$PF")" = "$pid" ] || fail "second start changed the pid file"
"$AGENT" --foreground --install-dir "$T/inst" 2>/dev/null
[ $? -eq 3 ] || fail "second start in the foreground must be refused too"
ok "second start refused, pid file untouched"

kill -TERM "$pid"
wait_until 5 pid_dead "$pid" || fail "pid $pid still running 5 s after SIGTERM"
[ ! -e "$PF" ] || fail "pid file left after SIGTERM"
tail -n 1 "$LOGF" | grep -q 'stopping (SIGTERM)' || fail "no 'stopping' line"
ok "SIGTERM stops it, removes the pid file, logs stopping"

# A stale pid file (crash) does not block the next start.
echo 999999 >"$PF"
"$AGENT" --foreground --pid-file "$T/fg.pid" --log-file "$T/fg.log" --heartbeat 1 &
fg=$!
PIDS_TO_KILL="$fg"
wait_until 5 test -s "$T/fg.pid" || fail "foreground: no pid file"
[ "$(cat "$T/fg.pid")" = "$fg" ] || fail "foreground: pid file holds $(cat "$T/fg.pid"), not $fg"
"$AGENT" --install-dir "$T/inst" --heartbeat 1 || fail "start over a stale pid file failed"
pid2=$(cat "$PF")
PIDS_TO_KILL="$fg $pid2"
[ "$pid2" != 999999 ] || fail "stale pid file not taken over"
kill -INT "$fg"
kill -TERM "$pid2"
wait_until 5 pid_dead "$fg" || fail "foreground agent ignored SIGINT"
wait "$fg" || fail "foreground agent exited $? after SIGINT"
wait_until 5 pid_dead "$pid2" || fail "second daemon ignored SIGTERM"
ok "stale pid file taken over; --foreground and SIGINT work"
exit 0
