#!/bin/sh
# docs/errors.md lists exactly the catalog's ids: one "### ID NAME: title"
# heading per entry, no more, no fewer.
set -eu
: "${AP_SOURCE_ROOT:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -c '
import sys, tomllib
for e in tomllib.load(open(sys.argv[1], "rb"))["error"]:
    print(e["id"], e["name"])
' "$AP_SOURCE_ROOT/lib/catalog/errors.toml" | sort > "$tmp/catalog"
sed -n 's/^### \([0-9][0-9]*\) \([A-Z0-9_]*\): .*/\1 \2/p' "$AP_SOURCE_ROOT/docs/errors.md" | sort > "$tmp/docs"
[ -s "$tmp/catalog" ] || { echo "docs_ids: empty catalog" >&2; exit 1; }
diff -u "$tmp/catalog" "$tmp/docs"
