#!/bin/sh
# explain 95108 (and by name) prints the title, cause and numbered steps.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
LC_ALL=C "$EXPLAIN" explain 95108 > "$tmp/out" || fail "explain 95108 exited $?"
grep -q '^95108 LINUX_BAD_CREDENTIALS: The Linux account was rejected or lacks root rights$' "$tmp/out" || fail "no title line"
grep -q '^Cause:$' "$tmp/out" || fail "no cause"
grep -q '^  1\. ' "$tmp/out" || fail "no numbered step"
grep -q 'PasswordAuthentication yes' "$tmp/out" || fail "no PasswordAuthentication fix"
grep -q '^Evidence:$' "$tmp/out" || fail "no evidence"
LC_ALL=C "$EXPLAIN" explain ap_err_linux_bad_credentials > "$tmp/byname" || fail "by name exited $?"
cmp -s "$tmp/out" "$tmp/byname" || fail "by name differs from by id"
LC_ALL=C "$EXPLAIN" explain 800301 --format json > "$tmp/json" || fail "json exited $?"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["id"] == 800301 and d["vss_error"] == -2147023170 and d["exit_code"] == 511, d
assert isinstance(d["remediation"], list) and d["remediation"]
' "$tmp/json" || fail "bad JSON for 800301"
LC_ALL=C "$EXPLAIN" explain --help > "$tmp/help" || fail "--help exited $?"
grep -q 'Usage: agentpush explain' "$tmp/help" || fail "no usage"
echo "explain_text: ok"
