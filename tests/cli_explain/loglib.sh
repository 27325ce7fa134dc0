# Sourced by the explain --log tests after lib.sh.  LOGS is the corpus
# (logs/README: written for the tests, not captured).
LOGS=$AP_SOURCE_ROOT/tests/cli_explain/logs
# log ARGS...: runs "explain --log ARGS" in the C locale; sets rc, $tmp/out,
# $tmp/err.  A signal (a crash) fails the test at once.
log() {
	set +e
	LC_ALL=C LANGUAGE= "$EXPLAIN" explain --log "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" -lt 128 ] || fail "explain --log $*: killed by signal $((rc - 128))"
}
want_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit $rc, want $1 (stdout: $(head -c 2000 "$tmp/out"); stderr: $(cat "$tmp/err"))"; }
# has LINE: stdout holds this exact line
has() { grep -qxF -- "$1" "$tmp/out" || fail "no line '$1' in: $(cat "$tmp/out")"; }
hasnt() { ! grep -qF -- "$1" "$tmp/out" || fail "'$1' should not be in: $(cat "$tmp/out")"; }
# jq_py EXPR: evaluates a Python expression on the JSON output (as j); prints
# the result.  The output must be valid JSON (python3's json module, as
# python3 -m json.tool reads it).
jq_py() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$tmp/out" "$1" ||
		fail "not valid JSON: $(head -c 2000 "$tmp/out")"
}
# jwant EXPR VALUE [EXPR VALUE...]: each expression's value, in one python3
jwant() {
	python3 - "$tmp/out" "$@" <<'PY' || fail "JSON checks failed (above) on: $(head -c 3000 "$tmp/out")"
import json, sys
j = json.load(open(sys.argv[1]))
a = sys.argv[2:]
bad = 0
for e, want in zip(a[0::2], a[1::2]):
    got = str(eval(e))
    if got != want:
        print("JSON %s is '%s', want '%s'" % (e, got, want), file=sys.stderr)
        bad = 1
sys.exit(bad)
PY
}
# No control character other than newline on stdout (evidence sanitised).
clean_out() {
	if LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$tmp/out"; then
		fail "a control character reached the output"
	fi
}
