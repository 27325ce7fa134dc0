#!/bin/sh
# Both directions of refines: explain 800106 names the product ID it refines
# and how it differs, explain 95108 lists the IDs refining it, in text and in
# JSON; in the whole list every refines has its refined_by and back again.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
LC_ALL=C "$EXPLAIN" explain 800106 > "$tmp/out" || fail "explain 800106 exited $?"
grep -qx 'Refines: 95108 LINUX_BAD_CREDENTIALS (the product'"'"'s ErrorID)' "$tmp/out" || fail "800106: no Refines line"
grep -qx 'How it differs from 95108:' "$tmp/out" || fail "800106: no How it differs block"
grep -q '^  The SSH logon itself worked' "$tmp/out" || fail "800106: no condition under How it differs"
grep -q '^Refined by:' "$tmp/out" && fail "800106: a refining ID is refined by nothing"
LC_ALL=C "$EXPLAIN" explain 95108 > "$tmp/out" || fail "explain 95108 exited $?"
grep -qx 'Refined by: 800106 LINUX_SFTP_MISSING' "$tmp/out" || fail "95108: no Refined by line"
grep -q '^Refines:' "$tmp/out" && fail "95108: a product ID refines nothing"
LC_ALL=C "$EXPLAIN" explain HOST_UNREACHABLE > "$tmp/out" || fail "explain 95117 exited $?"
grep -qx 'Refined by: 800101 NAME_UNRESOLVED, 800104 SSH_HANDSHAKE_FAILED' "$tmp/out" || fail "95117: want both refining IDs"
LC_ALL=C "$EXPLAIN" explain 95524 > "$tmp/out" || fail "explain 95524 exited $?"
grep -q '^Refine' "$tmp/out" && fail "95524: nothing refines it, nothing to say"

LC_ALL=C "$EXPLAIN" explain 800106 --format json > "$tmp/a.json" || fail "json 800106 exited $?"
LC_ALL=C "$EXPLAIN" explain 95108 --format json > "$tmp/b.json" || fail "json 95108 exited $?"
LC_ALL=C "$EXPLAIN" explain 95524 --format json > "$tmp/c.json" || fail "json 95524 exited $?"
python3 -c '
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
assert a["refines"] == 95108 and a["refines_when"].startswith("The SSH logon"), a
assert "refined_by" not in a, a
assert b["refined_by"] == [800106] and "refines" not in b and "refines_when" not in b, b
assert not any(k in c for k in ("refines", "refines_when", "refined_by")), c
' "$tmp/a.json" "$tmp/b.json" "$tmp/c.json" || fail "bad refines JSON"

LC_ALL=C "$EXPLAIN" explain --list --format json > "$tmp/list.json" || fail "list exited $?"
python3 -c '
import json, sys
es = {e["id"]: e for e in json.load(open(sys.argv[1]))["errors"]}
for i, e in es.items():
    if "refines" in e:
        t = es[e["refines"]]
        assert i >= 800000 and e["refines"] < 100000 and "refines" not in t, i
        assert i in t["refined_by"] and e["refines_when"], i
    for s in e.get("refined_by", []):
        assert es[s]["refines"] == i, (i, s)
assert sum("refines" in e for e in es.values()) >= 6
' "$tmp/list.json" || fail "list: refines and refined_by disagree"
echo "explain_refines: ok"
