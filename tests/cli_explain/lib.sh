# Sourced by the explain tests, whose first argument is the explain_driver
# program.  EXPLAIN runs "explain ARGS": the real agentpush when its main()
# dispatches "explain", else explain_driver, which calls the same
# cmd_explain() with the same locale set-up.
EXPLAIN_DRIVER=${1:?usage: $0 EXPLAIN_DRIVER}
: "${AGENTPUSH:?}" "${AP_SOURCE_ROOT:?}"
if "$AGENTPUSH" explain --help 2>/dev/null | grep -q 'agentpush explain'; then
	EXPLAIN=$AGENTPUSH
else
	EXPLAIN=$EXPLAIN_DRIVER
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# bad_usage WANT ARGS...: "explain ARGS" must exit 2 with one line on stderr
# (WANT exactly, unless WANT is empty) and nothing on stdout.
bad_usage() {
	want_line=$1
	shift
	set +e
	LC_ALL=C "$EXPLAIN" explain "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "explain $*: exit $rc, want 2"
	[ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "explain $*: stderr is not one line: $(cat "$tmp/err")"
	[ ! -s "$tmp/out" ] || fail "explain $*: wrote to stdout"
	[ -z "$want_line" ] || grep -qxF "$want_line" "$tmp/err" || fail "explain $*: got: $(cat "$tmp/err")"
}
