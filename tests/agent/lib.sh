# lib.sh - helpers for the agent tests (POSIX sh, sourced).

T=$(mktemp -d "${TMPDIR:-/tmp}/ap-agent-test-XXXXXX")
PIDS_TO_KILL=""

cleanup() {
	for p in $PIDS_TO_KILL; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/*.log "$T"/*/log/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
	done
	exit 1
}

ok() {
	echo "ok: $*"
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds
# or the time is up (then fails).
wait_until() {
	_limit=$(($1 * 10))
	shift
	_i=0
	until "$@"; do
		_i=$((_i + 1))
		[ "$_i" -le "$_limit" ] || return 1
		sleep 0.1
	done
}

pid_alive() {
	kill -0 "$1" 2>/dev/null
}

# Dead, or a zombie waiting for this shell to reap it.
pid_dead() {
	! kill -0 "$1" 2>/dev/null ||
		grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
}
