#!/bin/sh
# The committed docs/errors.md and po/agentpush.pot must be what
# tools/update-catalog.sh makes from lib/catalog/errors.toml and po/POTFILES
# now.  POT-Creation-Date is the only line allowed to differ.  The .pot names
# files, not lines, so only a changed msgid makes it stale.
set -eu
: "${AP_SOURCE_ROOT:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$AP_SOURCE_ROOT/tools/update-catalog.sh" "$tmp"
rc=0
diff -u "$AP_SOURCE_ROOT/docs/errors.md" "$tmp/errors.md" || rc=1
diff -u -I '^"POT-Creation-Date:' "$AP_SOURCE_ROOT/po/agentpush.pot" "$tmp/agentpush.pot" || rc=1
# A C file with marked strings that po/POTFILES does not list would have its
# strings silently left out of the .pot, so never translated.
cd "$AP_SOURCE_ROOT"
for f in $(grep -rlE '(\b_|\bN_|\bap_tr)\("|\bd?ngettext\(' src lib --include='*.c' | sort); do
	grep -qx "$f" po/POTFILES ||
		{ echo "catalog_drift: $f marks strings for translation but po/POTFILES does not list it" >&2; rc=1; }
done
if [ "$rc" -ne 0 ]; then
	echo "catalog_drift: committed files are stale; run tools/update-catalog.sh and commit" >&2
fi
exit "$rc"
