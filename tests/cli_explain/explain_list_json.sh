#!/bin/sh
# --list --format json is valid JSON holding every id of the catalog; the
# text list has one line per entry.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
LC_ALL=C "$EXPLAIN" explain --list --format json > "$tmp/list.json" || fail "exited $?"
python3 -c '
import json, sys, tomllib
d = json.load(open(sys.argv[1]))
want = sorted(e["id"] for e in tomllib.load(open(sys.argv[2], "rb"))["error"])
got = [e["id"] for e in d["errors"]]
assert got == want, (set(want) ^ set(got))
assert d["count"] == len(want)
for e in d["errors"]:
    for k in ("name", "stage", "platform", "severity", "title", "cause", "remediation", "evidence"):
        assert e[k], (e["id"], k)
' "$tmp/list.json" "$AP_SOURCE_ROOT/lib/catalog/errors.toml" || fail "list JSON does not hold every id"
LC_ALL=C "$EXPLAIN" explain --list > "$tmp/list.txt" || fail "text list exited $?"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["errors"]))' "$tmp/list.json")
[ "$(wc -l < "$tmp/list.txt")" -eq "$n" ] || fail "text list has not one line per entry"
echo "explain_list_json: ok"
