#!/bin/sh
# The committed docs/errors.md and po/agentpush.pot must be what
# tools/update-catalog.sh makes from lib/catalog/errors.toml and po/POTFILES
# now.  POT-Creation-Date is the only line allowed to differ.
set -eu
: "${AP_SOURCE_ROOT:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$AP_SOURCE_ROOT/tools/update-catalog.sh" "$tmp"
rc=0
diff -u "$AP_SOURCE_ROOT/docs/errors.md" "$tmp/errors.md" || rc=1
diff -u -I '^"POT-Creation-Date:' "$AP_SOURCE_ROOT/po/agentpush.pot" "$tmp/agentpush.pot" || rc=1
if [ "$rc" -ne 0 ]; then
	echo "catalog_drift: committed files are stale; run tools/update-catalog.sh and commit" >&2
fi
exit "$rc"
