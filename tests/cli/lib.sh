# lib.sh - helpers for the tests/cli scripts.  Needs $AGENTPUSH.
: "${AGENTPUSH:?AGENTPUSH must name the built agentpush program}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export AGENTPUSH_DB="$T/jobs.db"
unset AGENTPUSH_PASSWORD NO_COLOR
fails=0

# run ARGS...: runs agentpush, leaves rc, $T/out, $T/err
run() {
	"$AGENTPUSH" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}

failed() {
	echo "FAIL: $*"
	echo "  stdout:"; sed 's/^/    /' "$T/out"
	echo "  stderr:"; sed 's/^/    /' "$T/err"
	fails=$((fails + 1))
}

# bad ARGS...: exit 2, nothing on stdout, exactly one line on stderr
bad() {
	run "$@"
	if [ "$rc" -ne 2 ]; then failed "agentpush $*: exit $rc, want 2"; return; fi
	if [ -s "$T/out" ]; then failed "agentpush $*: wrote to stdout"; return; fi
	if [ "$(wc -l <"$T/err")" -ne 1 ]; then failed "agentpush $*: want one line on stderr"; return; fi
	case "$(cat "$T/err")" in
	agentpush*) ;;
	*) failed "agentpush $*: stderr does not start with 'agentpush'" ;;
	esac
}

# expect_err TEXT: the last stderr holds TEXT
expect_err() {
	grep -qF -- "$1" "$T/err" || failed "stderr lacks '$1'"
}

finish() {
	if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
	echo "ok"
	exit 0
}
