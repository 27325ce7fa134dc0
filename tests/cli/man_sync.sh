#!/bin/sh
# The options in each command's --help and in its section of the man page
# must be the same set.
. "$AP_SOURCE_ROOT/tests/cli/lib.sh"
MAN="$AP_SOURCE_ROOT/man/agentpush.1"

# Long options of --help: those on its option lines (lines starting "  -")
# and on its usage line (the first; passphrase has no option lines), and
# --help itself.
help_opts() {
	"$AGENTPUSH" "$@" --help >"$T/help"
	{ sed -n 1p "$T/help"; grep -E '^ +-' "$T/help"; echo --help; } |
		grep -oE -- '--[a-z][a-z-]*' | sort -u
}

# Long options on the tag lines (after .TP) of man section $1 (.SS or .SH).
man_opts() {
	awk -v sec="$1" '
		/^\.S[SH] / { name = $2; gsub(/"/, "", name); insec = (name == sec); next }
		insec && tp { print; tp = 0; next }
		insec && /^\.TP/ { tp = 1 }
	' "$MAN" | sed 's/\\-/-/g' | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

for cmd in check install explain resume worker fix jobs show serve passphrase accounts; do
	help_opts "$cmd" >"$T/h"
	man_opts "$cmd" >"$T/m"
	if [ ! -s "$T/help" ] || ! cmp -s "$T/h" "$T/m"; then
		echo "FAIL: options of '$cmd' differ (< --help, > man page):"
		diff "$T/h" "$T/m"
		fails=$((fails + 1))
	fi
done
"$AGENTPUSH" --help | grep -E '^ +-' | grep -oE -- '--[a-z][a-z-]*' | sort -u >"$T/h"
man_opts OPTIONS >"$T/m"
if ! cmp -s "$T/h" "$T/m"; then
	echo "FAIL: top-level options differ (< --help, > man page):"
	diff "$T/h" "$T/m"
	fails=$((fails + 1))
fi
finish
