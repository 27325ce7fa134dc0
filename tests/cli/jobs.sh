#!/bin/sh
# agentpush jobs / agentpush show JOB over the job store: an empty store, a
# store with jobs written as the engine writes them, bad input, JSON output,
# show --id (a search by the product's number finds the refining IDs too).
. "$AP_SOURCE_ROOT/tests/cli/lib.sh"

json_ok() { # the last stdout is one JSON document; $1: python expression on d
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$T/out" ||
		failed "JSON check failed: $1"
}

# An empty store (created on first use, private).
run jobs
[ "$rc" -eq 0 ] || failed "jobs on an empty store: exit $rc"
grep -q "No job in $AGENTPUSH_DB" "$T/out" || failed "jobs on an empty store: no 'No job' line"
[ "$(stat -c %a "$AGENTPUSH_DB")" = 600 ] || failed "store mode is not 600"
run jobs --format json
[ "$rc" -eq 0 ] || failed "jobs --format json: exit $rc"
json_ok 'd == {"jobs": []}'

bad show 42
expect_err "agentpush show: no job 42 in $AGENTPUSH_DB"
bad show
bad show x1
bad show 1 2
bad show 1 --limit 3
bad jobs extra
bad jobs --limit 0
bad jobs --limit many
bad jobs --format xml
bad jobs --events
bad jobs --password secret
expect_err "never accepted on the command line"
bad jobs --db "$T/no/such/../x" --bogus
echo "garbage garbage garbage" >"$T/garbage.db"
bad jobs --db "$T/garbage.db"
expect_err "$T/garbage.db"

# Two jobs written the way the library writes them.
python3 - "$AGENTPUSH_DB" <<'PY' || failed "cannot fill the store"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
at = "2026-01-02T03:04:05.123Z"
db.execute("INSERT INTO jobs VALUES (1,'check','done',?,?,NULL,NULL,'{}',NULL)", (at, at))
db.execute("INSERT INTO jobs VALUES (2,'install','running',?,?,'/tmp/agent.tar.gz','0.1.0','{}',NULL)", (at, at))
rows = [(1, 1, 0, "root@198.18.0.1:22", "root", "198.18.0.1", 22, "linux", "done", None),
        (2, 1, 1, "198.18.0.2", None, "198.18.0.2", 0, "auto", "failed", None),
        (3, 2, 0, "198.18.0.3", None, "198.18.0.3", 0, "auto", "copied", None)]
for r in rows:
    db.execute("INSERT INTO targets (id, job_id, idx, spec, user_name, host, port, os,"
               " group_name, vars_json, state, updated, note) VALUES (?,?,?,?,?,?,?,?,NULL,'{}',?,?,?)",
               r[:9] + (at, r[9]))
db.execute("UPDATE targets SET result_os = 'linux' WHERE id IN (1, 2)")
db.execute("INSERT INTO findings VALUES (2, 0, 95108, 'error', 'rejected', 'Permission denied (password).')")
db.execute("INSERT INTO events (job_id, target_id, at, what, detail) VALUES (1, 2, ?, 'state', 'planned -> failed')", (at,))
db.commit()
PY

run jobs
[ "$rc" -eq 0 ] || failed "jobs: exit $rc"
[ "$(wc -l <"$T/out")" -eq 2 ] || failed "jobs: want 2 lines"
head -1 "$T/out" | grep -q "^2 .*install.*running.*1 target: 1 copied" || failed "jobs: newest first with its states"
sed -n 2p "$T/out" | grep -q "^1 .*check.*done.*2 targets: 1 done, 1 failed" || failed "jobs: job 1 line"
run jobs --limit 1 --format json
json_ok 'len(d["jobs"]) == 1 and d["jobs"][0]["id"] == 2 and d["jobs"][0]["states"]["copied"] == 1 and d["jobs"][0]["package_version"] == "0.1.0"'

run show 1
[ "$rc" -eq 1 ] || failed "show 1: exit $rc, want 1 (a target failed)"
grep -q "95108" "$T/out" || failed "show 1: lacks the ErrorID"
run show 1 --format json --events
[ "$rc" -eq 1 ] || failed "show 1 --format json: exit $rc"
json_ok 'd["summary"] == {"ok": 1, "warning": 0, "failed": 1} and d["targets"][1]["errors"][0]["id"] == 95108 and d["targets"][1]["os"] == "linux" and d["job"]["id"] == 1 and d["events"][0]["target"] == "198.18.0.2"'
run show 2 --format=json
[ "$rc" -eq 0 ] || failed "show 2: exit $rc"
json_ok '"interrupted at copied" in d["targets"][0]["note"] and "agentpush resume 2" in d["targets"][0]["note"] and "events" not in d'
run show --events 1
grep -q "planned -> failed" "$T/out" || failed "show --events: lacks the event"

# show --id over a job whose findings use both numbers: 800106 refines
# 95108, 800101 refines 95117.  Written as the engine writes them.
python3 - "$AGENTPUSH_DB" <<'PY' || failed "cannot fill the store for --id"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
at = "2026-01-02T04:00:00.000Z"
db.execute("INSERT INTO jobs VALUES (3,'check','done',?,?,NULL,NULL,'{}',NULL)", (at, at))
hosts = ["sftp", "creds", "dns", "fine"]
for i, h in enumerate(hosts):
    db.execute("INSERT INTO targets (id, job_id, idx, spec, user_name, host, port, os,"
               " group_name, vars_json, state, updated, note, result_os)"
               " VALUES (?,3,?,?,'root',?,22,'linux',NULL,'{}',?,?,NULL,'linux')",
               (10 + i, i, "root@" + h + ":22", h, "done" if h == "fine" else "failed", at))
for f in [(10, 0, 800106, "error", "", "subsystem request failed"),
          (10, 1, 95309, "warning", "", "/boot on sda1, / on sdb1"),
          (11, 0, 95108, "error", "rejected", "Permission denied (password)."),
          (12, 0, 800101, "error", "", "getaddrinfo: Name or service not known")]:
    db.execute("INSERT INTO findings VALUES (?,?,?,?,?,?)", f)
db.commit()
PY

run show 3 --no-color --id 95108
[ "$rc" -eq 1 ] || failed "show --id 95108: exit $rc, want 1 (the shown targets failed)"
grep -q '^targets with ErrorID 95108 or an ErrorID refining it: 2 of 4$' "$T/out" || failed "show --id 95108: no filter line"
grep -q '^FAILED   root@sftp:22  800106 The SFTP subsystem is not available (refines 95108)$' "$T/out" ||
	failed "show --id 95108: lacks the host reported as 800106"
grep -q '^FAILED   root@creds:22  95108 ' "$T/out" || failed "show --id 95108: lacks the host reported as 95108"
grep -q 'root@dns\|root@fine' "$T/out" && failed "show --id 95108: shows hosts without it"
grep -q '^2 targets: 0 ok, 0 warning, 2 failed$' "$T/out" || failed "show --id 95108: summary is not of the shown targets"
run show 3 --format json --id 95108
json_ok '[t["host"] for t in d["targets"]] == ["sftp", "creds"] and d["filter"] == {"ids": [95108], "shown": 2, "targets": 4} and d["summary"]["failed"] == 2 and d["job"]["targets"] == 4'
json_ok 'd["targets"][0]["errors"][0]["refines"] == 95108 and "refines" not in d["targets"][1]["errors"][0]'
# one way only: the narrower ID does not find the broader product condition
run show 3 --format json --id 800106
json_ok '[t["host"] for t in d["targets"]] == ["sftp"]'
# a kept host keeps every finding and its status
run show 3 --format json --id 95309
[ "$rc" -eq 1 ] || failed "show --id 95309: exit $rc, want 1"
json_ok '[t["host"] for t in d["targets"]] == ["sftp"] and d["targets"][0]["status"] == "failed" and [e["id"] for e in d["targets"][0]["errors"]] == [800106, 95309]'
run show 3 --format json --id 95117,800106
json_ok '[t["host"] for t in d["targets"]] == ["sftp", "dns"] and d["filter"]["ids"] == [95117, 800106]'
run show 3 --format json --id 95117 --id=800106
json_ok '[t["host"] for t in d["targets"]] == ["sftp", "dns"] and d["filter"]["ids"] == [95117, 800106]'
run show 3 --no-color --id 95524
[ "$rc" -eq 0 ] || failed "show --id 95524: exit $rc, want 0 (no target shown)"
grep -q '^targets with ErrorID 95524 or an ErrorID refining it: 0 of 4$' "$T/out" || failed "show --id 95524: no filter line"
grep -q '^0 targets: 0 ok, 0 warning, 0 failed$' "$T/out" || failed "show --id 95524: summary"
run show 3 --format json
json_ok 'len(d["targets"]) == 4 and "filter" not in d and d["targets"][0]["errors"][0]["refines"] == 95108'
finish
