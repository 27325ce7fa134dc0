#!/bin/sh
# Bad input: exit 2 with exactly one line on stderr and nothing on stdout.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
check() {
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
check "agentpush explain: no ErrorID 12345 in the catalog (see 'agentpush explain --list')" 12345
check "" NO_SUCH_NAME
check "" 95108x
check "" 99999999999999999999
check "" --bogus
check "" 95108 --format xml
check "" --format
check "" --list 95108
check "" 95108 95107
check "" -z
check ""
echo "explain_errors: ok"
