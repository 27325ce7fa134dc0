#!/bin/sh
# --help on every command: exit 0, usage on stdout, nothing on stderr.
. "$AP_SOURCE_ROOT/tests/cli/lib.sh"

ok_help() {
	run "$@"
	if [ "$rc" -ne 0 ] || [ -s "$T/err" ] || ! grep -q '^Usage: agentpush' "$T/out"; then
		failed "agentpush $*: want usage on stdout and exit 0"
	fi
}
ok_help --help
ok_help -h
ok_help help
for cmd in check install explain; do
	ok_help $cmd --help
	ok_help $cmd -h
	ok_help help $cmd
	# --help wins over bad arguments
	ok_help $cmd 'x;y' --help
done
run --version
[ "$rc" -eq 0 ] && grep -q '^agentpush [0-9]' "$T/out" || failed "--version"
# man page renders
if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 man --warnings -l "$AP_SOURCE_ROOT/man/agentpush.1" >"$T/out" 2>"$T/err"
	rc=$?
	{ [ "$rc" -eq 0 ] && [ ! -s "$T/err" ] && grep -q 'EXIT STATUS' "$T/out"; } ||
		failed "man ./man/agentpush.1 does not render cleanly"
fi
finish
