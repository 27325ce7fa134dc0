#!/usr/bin/env bash
# A job whose every host is finished but which still says "running": what
# is left when the share that ran its last host ended on a store error
# before it could complete the job (engine.c: ap_run_resume completes a
# share's job at its end only).  An idle worker marks such jobs done, with
# their "status" event, and leaves a job with a host still to run alone.
#
# No host is contacted: two jobs are submitted to a SQLite store, and the
# store is edited as such a share would leave it (every target of the
# first job done or failed, one of the second's still planned, with a
# live lease so no worker claims it); one `agentpush worker --once` then
# finds nothing to claim.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init workers_sweep
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"
PKG=${AP_INSTALL_PACKAGE:?AP_INSTALL_PACKAGE must name the sample package folder (meson test sets it)}
R=$HARNESS_RUN/ws; mkdir -p "$R"
db=$R/jobs.db
for j in 1 2; do
	et_run "$R/sub$j" install --submit --db "$db" --package "$PKG" --format json \
		"root@198.18.250.$j" "root@198.18.250.1$j"
	lt_expect "submit $j: exit 0" 0 "$(lt_rc "$R/sub$j")"
done
j1=$(lt_json "$R/sub1" "d['job_id']")
j2=$(lt_json "$R/sub2" "d['job_id']")
python3 - "$db" "$j1" "$j2" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
j1, j2 = int(sys.argv[2]), int(sys.argv[3])
# job 1: as its last share left it, every host terminal
c.execute("UPDATE targets SET state = 'done' WHERE job_id = ? AND host = '198.18.250.1'", (j1,))
c.execute("UPDATE targets SET state = 'failed' WHERE job_id = ? AND host = '198.18.250.11'", (j1,))
# job 2: one host done, the other held by a live worker for an hour
c.execute("UPDATE targets SET state = 'done' WHERE job_id = ? AND host = '198.18.250.2'", (j2,))
c.execute("UPDATE targets SET lease_owner = 'elsewhere', lease_until = ?, lease_gen = 1"
          " WHERE job_id = ? AND host = '198.18.250.12'", (int(time.time() * 1000) + 3600000, j2))
c.commit()
PY

rc=0
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" timeout 120 "$LT_AP" worker --db "$db" --once --name ws \
	>"$R/w.out" 2>"$R/w.log" </dev/null || rc=$?
lt_expect "the worker exits 0" 0 "$rc"
lt_expect_match "the worker says it completed one job" "1 job had no host left to run: marked done" \
	"$(cat "$R/w.log")"
for j in 1 2; do
	et_run "$R/show$j" show "$(lt_json "$R/sub$j" "d['job_id']")" --db "$db" --format json
done
lt_expect "job 1 (every host finished): done" done "$(lt_json "$R/show1" "d['job']['status']")"
lt_expect "job 2 (a host still held): running" running "$(lt_json "$R/show2" "d['job']['status']")"
lt_expect "job 1 has one \"status done\" event, job 2 none" "1 0" "$(python3 - "$db" "$j1" "$j2" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(*(c.execute("SELECT count(*) FROM events WHERE job_id = ? AND what = 'status' AND detail = 'done'",
                  (int(j),)).fetchone()[0] for j in sys.argv[2:]))
PY
)"
lt_done
