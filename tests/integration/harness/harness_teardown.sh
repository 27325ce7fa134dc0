#!/usr/bin/env bash
# Teardown leaves nothing behind: after a child test exits normally, after it
# fails (logs saved), and after it is killed with SIGKILL (harness_cleanup_stale).
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init harness_teardown
work=$(mktemp -d)

# a child test: creates an sshd host with a tmpfs and a loop disk and an smbd
# host, writes its pid, its veths and loop devices, then does $1
cat >"$work/child.sh" <<'CHILD'
set -euo pipefail
source "$AP_SOURCE_ROOT/tests/harness/harness.sh"
harness_init harness_teardown_child
harness_host_create c1 sshd
harness_host_tmpfs c1 /tmp 4m
harness_host_loopdisk c1 /boot 8 >"$CHILD_DIR/loopdev"
harness_host_create c2 smbd
for h in c1 c2; do cat "$(harness_host_dir "$h")/veth"; done >"$CHILD_DIR/veths"
echo "$HARNESS_RUN" >"$CHILD_DIR/run"
echo $$ >"$CHILD_DIR/pid"
case "$1" in
ok) exit 0 ;;
fail) false ;;
kill) touch "$CHILD_DIR/ready"; sleep 600 ;;
esac
CHILD

left_behind() {  # prints what the child run left, or "nothing"
	local pid veth out=""
	pid=$(cat "$work/pid")
	ip netns list | grep -q "^aph-$pid-" && out+="netns "
	for veth in $(cat "$work/veths"); do ip link show "$veth" >/dev/null 2>&1 && out+="$veth "; done
	ls -d /etc/netns/aph-"$pid"-* >/dev/null 2>&1 && out+="etc-netns "
	[ -e "$(cat "$work/run")" ] && out+="rundir "
	losetup -a | grep -q "^$(cat "$work/loopdev"):" && out+="loop "
	pgrep -f "$(cat "$work/run")" >/dev/null && out+="processes "
	echo "${out:-nothing}"
}

CHILD_DIR=$work AP_BUILD_ROOT="$work/build" bash "$work/child.sh" ok >/dev/null 2>&1
harness_expect "normal exit leaves" nothing "$(left_behind)"

rc=0
CHILD_DIR=$work AP_BUILD_ROOT="$work/build" bash "$work/child.sh" fail >/dev/null 2>"$work/stderr" || rc=$?
harness_expect "failing child exits non-zero" 1 "$rc"
harness_expect "failure leaves" nothing "$(left_behind)"
harness_expect "sshd log saved" yes "$([ -s "$work/build/meson-logs/harness/harness_teardown_child/c1/sshd.log" ] && echo yes || echo no)"
harness_expect "smbd log saved" yes "$([ -s "$work/build/meson-logs/harness/harness_teardown_child/c2/smbd.log" ] && echo yes || echo no)"
harness_expect "log tail on stderr" yes "$(grep -q 'tail of c1/log/sshd.log' "$work/stderr" && echo yes || echo no)"

rm -f "$work/ready"
CHILD_DIR=$work AP_BUILD_ROOT="$work/build" setsid bash "$work/child.sh" kill >/dev/null 2>&1 &
for _ in $(seq 1 300); do [ -e "$work/ready" ] && break; sleep 0.1; done
kill -KILL "$(cat "$work/pid")"
wait 2>/dev/null || true
harness_expect "SIGKILLed child leaves a netns" yes "$(ip netns list | grep -q "^aph-$(cat "$work/pid")-" && echo yes || echo no)"
harness_cleanup_stale
harness_expect "after harness_cleanup_stale" nothing "$(left_behind)"

rm -rf "$work"
harness_summary harness_teardown
