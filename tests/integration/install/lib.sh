# shellcheck shell=bash
# tests/integration/install/lib.sh: helpers for the `agentpush install`
# integration tests (docs/install-tests.md).  Source after harness_init; it
# sources tests/integration/linux/lib.sh for lt_expect, lt_expect_match,
# lt_json, lt_rc, lt_done and the isolated HOME/XDG_STATE_HOME.
#
#   it_host NAME            sshd host with private /opt, /var/tmp, /var/log
#                           and /lib/modules (harness_host_sandbox_fs)
#   it_install OUT ARGS...  run `agentpush install ARGS...`; stdout, stderr
#                           and exit status in OUT.out, OUT.err, OUT.rc
#   it_agent_pid HOST       the pid of the agent running inside HOST (empty
#                           when none): pid file, kill -0, /proc/PID/exe
#   it_staging_left HOST    what the install left in HOST's /var/tmp
#                           (payload, .part, unpack folder), one per line
#   it_heartbeat HOST [S]   waits up to S seconds (15) for a heartbeat line in
#                           the agent's log; prints "yes" or "no"

source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
# shellcheck disable=SC2034  # used by the test scripts
IT_PKG=${AP_INSTALL_PACKAGE:?AP_INSTALL_PACKAGE must name the sample package folder (meson test sets it)}
IT_DIR=/opt/agentpush-agent

it_host() {
	harness_host_create "$1" sshd
	harness_host_sandbox_fs "$1"
}

it_install() {
	local out=$1 rc=0
	shift
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
		"$LT_AP" install "$@" >"$out.out" 2>"$out.err" </dev/null || rc=$?
	echo "$rc" >"$out.rc"
}

it_agent_pid() {
	harness_exec "$1" sh -c '
		pf=$1/run/agentpush-agent.pid
		pid=$(head -n 1 "$pf" 2>/dev/null) || exit 0
		kill -0 "$pid" 2>/dev/null || exit 0
		exe=$(readlink "/proc/$pid/exe") || exit 0
		[ "$exe" = "$1/bin/agentpush-agent" ] && echo "$pid"
		exit 0' sh "$IT_DIR"
}

it_staging_left() {
	harness_exec "$1" sh -c 'cd /var/tmp && ls -A | grep -E "agentpush" || true'
}

it_heartbeat() {
	local host=$1 s=${2:-15} _
	for _ in $(seq 1 $((s * 4))); do
		if harness_exec "$host" grep -q ' heartbeat uptime=' "$IT_DIR/log/agentpush-agent.log" 2>/dev/null; then
			echo yes; return 0
		fi
		sleep 0.25
	done
	echo no
}
