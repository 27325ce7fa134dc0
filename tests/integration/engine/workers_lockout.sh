#!/usr/bin/env bash
# The lockout rule across workers: two `agentpush worker`s share one job of
# four real sshd hosts and the same wrong password.  The store's credential
# gate lets one host of one worker try it; every other host, whichever
# worker holds it, gets 800105 naming the host that refused it.  Exactly one
# "Failed password" line across the four sshd logs (LogLevel VERBOSE).
# Then the same through a vault account, and with the shared gate failing.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init workers_lockout
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"
R=$HARNESS_RUN/wl; mkdir -p "$R"
hosts=(wl1 wl2 wl3 wl4)
targets=(); addrs=()
kh=$R/kh; : >"$kh"
for h in "${hosts[@]}"; do
	lt_host "$h"
	targets+=("root@$(harness_host_addr "$h")"); addrs+=("$(harness_host_addr "$h")")
	et_known_hosts "$kh" "$h" "$(harness_host_addr "$h")"
done
( umask 077; printf 'Wr0ng-%s\n' "$(openssl rand -hex 12)" >"$R/wrong"
  printf 'R1ght-%s\n' "$(openssl rand -hex 12)" >"$R/right" )
for h in "${hosts[@]}"; do lt_root_password "$h" "$R/right"; done
db=$R/jobs.db
et_run "$R/sub" check --submit --db "$db" --known-hosts "$kh" --timeout 10 --format json "${targets[@]}"
lt_expect "submit: exit 0" 0 "$(lt_rc "$R/sub")"
job=$(lt_json "$R/sub" "d['job_id']")
# Both workers must hold hosts of the job.  Started one after the other,
# the first could claim, run and refill the whole job before the second's
# first claim (a slow start under ASan at load 40 did).  So the job is
# hidden (marked done) until both poll for work; then the test holds the
# store's write lock while it shows the job again, until both wait at
# their next claim: each claim then takes two hosts (--parallel 2).  And
# the hosts answer slowly: what each sends leaves its eth0 at 8 kbit/s
# (tc tbf in its namespace; an SSH greeting, key exchange and refusal
# are about 2.5 KB, some 2 s), so that the worker whose claim got the
# lock first cannot end its two hosts and claim the other two before the
# other worker's next try for the lock (SQLite's busy handler retries
# every 100 ms by then).  Shaping only our side of the link (32 kbit/s,
# what the host receives) was not enough: CI's run still lost the race.
for h in "${hosts[@]}"; do
	tc -n "$(harness_host_netns "$h")" qdisc replace dev eth0 root tbf rate 8kbit burst 2kb latency 10s
done
db_sql() { python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
for row in c.execute(sys.argv[2]): print("|".join(str(x) for x in row))' "$db" "$1"; }
db_sql "UPDATE jobs SET status = 'done' WHERE id = $job"
pids=()
for w in a b; do
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" worker --db "$db" --name "w$w" \
		--parallel 2 --password-file "$R/wrong" >"$R/w$w.out" 2>"$R/w$w.log" </dev/null &
	pids+=("$!")
done
deadline=$(( $(date +%s) + 60 ))
until grep -qs "claiming up to" "$R/wa.log" && grep -qs "claiming up to" "$R/wb.log" ||
      [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.1; done
# a worker polls every second (AP_WORKER_DEFAULT_POLL_MS): within 2.5 s
# both are waiting for the lock (their busy timeout is 10 s)
python3 - "$db" "$job" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("UPDATE jobs SET status = 'running' WHERE id = ?", (int(sys.argv[2]),))
time.sleep(2.5)
c.execute("COMMIT")
PY
deadline=$(( $(date +%s) + 120 ))
until [ "$(db_sql "SELECT status FROM jobs WHERE id = $job")" = done ] ||
      [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.2; done
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
rcs=""
for p in "${pids[@]}"; do rc=0; wait "$p" || rc=$?; rcs+="$rc "; done
lt_expect "both workers exit 0" "0 0 " "$rcs"
[ "$rcs" = "0 0 " ] || tail -n 40 "$R"/wa.log >&2
for h in "${hosts[@]}"; do tc -n "$(harness_host_netns "$h")" qdisc del dev eth0 root; done
failed=$(lt_failed_passwords "${hosts[@]}")
lt_expect "exactly one failed password across the four sshd logs" 1 "$failed"
et_run "$R/show" show "$job" --db "$db" --format json --events
echo "   claims: $(grep -h "claimed\|took" "$R"/wa.log "$R"/wb.log | sed 's/^[^ ]* agentpush worker: //' | tr '\n' ';')"
lt_expect "both workers claimed hosts" "wa wb" \
	"$(lt_json "$R/show" "' '.join(sorted({e['detail'].split()[1].split('/')[0] for e in d['events'] if e['what'] == 'claim'}))")"
lt_expect "one host refused it (95108), three were never offered it (800105)" "1 3" \
	"$(lt_json "$R/show" "'%d %d' % (sum(1 for x in d['targets'] if [e['id'] for e in x['errors']] == [95108]), sum(1 for x in d['targets'] if [e['id'] for e in x['errors']] == [800105]))")"
rej=$(lt_json "$R/show" "[x['host'] for x in d['targets'] if [e['id'] for e in x['errors']] == [95108]][0]")
lt_expect "every 800105 names the host that refused it" 3 \
	"$(lt_json "$R/show" "sum(1 for x in d['targets'] for e in x['errors'] if e['id'] == 800105 and 'rejected by $rej' in e['evidence'])")"
lt_expect "the wrong password is in no output" "" \
	"$(grep -F -l -f "$R/wrong" "$R"/w*.log "$R"/w*.out "$R"/show.out "$R"/sub.out 2>/dev/null || true)"

# --- the same fleet through a vault account: the workers open the vault
# (its key beside the store file) and log in as the account, never with
# their own (wrong) --password-file
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" accounts add fleet --user root --db "$db" \
	<"$R/right" >"$R/acc.out" 2>"$R/acc.err"
lt_expect "accounts add: the vault holds the account" 1 \
	"$(HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" accounts list --db "$db" --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
et_run "$R/sub2" check --submit --db "$db" --known-hosts "$kh" --timeout 10 --account fleet --format json "${addrs[@]}"
job2=$(lt_json "$R/sub2" "d['job_id']")
before=$failed
# a worker --once without the vault's key cannot run this job: it says so
# and stops (it used to claim the same hosts again forever), touching none
rc=0
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" timeout 300 "$LT_AP" worker --db "$db" --once --name we \
	--parallel 2 --vault-key "$R/no-such.key" --password-file "$R/wrong" \
	>"$R/we.out" 2>"$R/we.log" </dev/null || rc=$?
lt_expect "a worker --once that cannot run the job stops (exit 0)" 0 "$rc"
lt_expect_match "it says why it stopped" 'stopping \(--once\)' "$(cat "$R/we.log")"
et_run "$R/show1" show "$job2" --db "$db" --format json
lt_expect "it ran no host of it: all four still planned" 4 "$(lt_json "$R/show1" "d['job']['states']['planned']")"
pids=()
for w in c d; do
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" worker --db "$db" --once --name "w$w" \
		--parallel 2 --password-file "$R/wrong" >"$R/w$w.out" 2>"$R/w$w.log" </dev/null &
	pids+=("$!")
done
for p in "${pids[@]}"; do wait "$p" || true; done
et_run "$R/show2" show "$job2" --db "$db" --format json
lt_expect "with the account: all four hosts ok" 4 "$(lt_json "$R/show2" "d['summary']['ok']")"
failed=$(lt_failed_passwords "${hosts[@]}")
lt_expect "no new failed password: the workers' own wrong password was not used" "$before" "$failed"
lt_expect "neither password is in any output" "" \
	"$(grep -F -l -f "$R/right" "$R"/w*.log "$R"/w*.out "$R"/show2.out "$R"/sub2.out 2>/dev/null || true)"

# --- the shared gate cannot be asked (a trigger makes every write to
# cred_gate fail): that is the store's failure, not a refusal.  No host
# gets 800105 for it, none is offered the password, and a worker that can
# ask the gate again afterwards runs the job as the first part did.
et_run "$R/sub3" check --submit --db "$db" --known-hosts "$kh" --timeout 10 --format json "${targets[@]}"
job3=$(lt_json "$R/sub3" "d['job_id']")
before=$failed
python3 - "$db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for op in ('INSERT', 'UPDATE'):
    c.execute("CREATE TRIGGER gate_fault_%s BEFORE %s ON cred_gate"
              " BEGIN SELECT RAISE(ABORT, 'injected: cred_gate refuses writes'); END" % (op.lower(), op))
c.commit()
PY
rc=0
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" timeout 300 "$LT_AP" worker --db "$db" --once --name wf \
	--parallel 2 --password-file "$R/wrong" >"$R/wf.out" 2>"$R/wf.log" </dev/null || rc=$?
lt_expect "gate failing: the worker stops (--once, exit 0)" 0 "$rc"
lt_expect_match "gate failing: the worker logs the store's error" \
	'asking the job store whether .* may be offered its credential: .*injected: cred_gate refuses writes' \
	"$(cat "$R/wf.log")"
et_run "$R/show3" show "$job3" --db "$db" --format json
lt_expect "gate failing: no host ended (no 800105 for a store fault)" \
	"4 0" "$(lt_json "$R/show3" "'%d %d' % (d['job']['states']['planned'], sum(1 for x in d['targets'] for e in x['errors'] if e['id'] == 800105))")"
failed=$(lt_failed_passwords "${hosts[@]}")
lt_expect "gate failing: the password was offered to no host" "$before" "$failed"
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("DROP TRIGGER gate_fault_insert"); c.execute("DROP TRIGGER gate_fault_update"); c.commit()' "$db"
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" timeout 300 "$LT_AP" worker --db "$db" --once --name wg \
	--parallel 2 --password-file "$R/wrong" >"$R/wg.out" 2>"$R/wg.log" </dev/null || true
et_run "$R/show4" show "$job3" --db "$db" --format json
lt_expect "gate back: one host refused it (95108), three were never offered it (800105)" "1 3" \
	"$(lt_json "$R/show4" "'%d %d' % (sum(1 for x in d['targets'] if [e['id'] for e in x['errors']] == [95108]), sum(1 for x in d['targets'] if [e['id'] for e in x['errors']] == [800105]))")"
lt_expect "the wrong password is in no output" "" \
	"$(grep -F -l -f "$R/wrong" "$R"/w*.log "$R"/w*.out "$R"/show*.out "$R"/sub*.out 2>/dev/null || true)"
lt_done
