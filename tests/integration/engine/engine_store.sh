#!/usr/bin/env bash
# A small real run recorded in the job store: three hosts (healthy, port
# closed, packets dropped with --timeout 1).  `jobs` counts the states,
# `show` reproduces check's own report, `show --events` has the healthy
# host's states in order, two "retry" events for the dropped host (97118 is
# retried, 3 attempts) and none for the refused port (95117 is not).  A wrong
# password is never retried: one attempt, one failed login in sshd's log.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init engine_store
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"

R=$HARNESS_RUN/et; mkdir -p "$R"
for h in good closed dropped; do lt_host "$h"; done
harness_password_file good root "$R/pw"
lt_root_password closed "$R/pw"
lt_root_password dropped "$R/pw"
kh=$R/kh; harness_known_hosts "$kh" good closed dropped
harness_host_close_port closed       # port 22 answers RST
harness_host_drop dropped            # SYNs vanish
a_good=$(harness_host_addr good); a_closed=$(harness_host_addr closed); a_dropped=$(harness_host_addr dropped)
db=$R/jobs.db
targets=("root@$a_good" "root@$a_closed" "root@$a_dropped")

start=$(date +%s%N)
et_run "$R/check" check --db "$db" --password-file "$R/pw" --known-hosts "$kh" --timeout 1 --format json "${targets[@]}"
echo "   check of 3 hosts: $(( ($(date +%s%N) - start) / 1000000 )) ms"
lt_expect "check: exit 1" 1 "$(lt_rc "$R/check")"
lt_expect "check: good ok, closed 95117, dropped 97118" "ok [] failed [95117] failed [97118]" \
	"$(lt_json "$R/check" "' '.join('%s %s' % (x['status'], [e['id'] for e in x['errors'] if e['severity'] == 'error']) for x in d['targets'])")"

# --- jobs
et_run "$R/jobs" jobs --db "$db" --format json
lt_expect "jobs: exit 0" 0 "$(lt_rc "$R/jobs")"
lt_expect "jobs: one check job, done, 3 targets" "1 check done 3" \
	"$(lt_json "$R/jobs" "'%d %s %s %d' % (len(d['jobs']), d['jobs'][0]['kind'], d['jobs'][0]['status'], d['jobs'][0]['targets'])")"
lt_expect "jobs: states 1 done, 2 failed, nothing else" \
	"checked=0 connected=0 copied=0 done=1 failed=2 installed=0 planned=0 skipped=0" \
	"$(lt_json "$R/jobs" "' '.join('%s=%d' % kv for kv in sorted(d['jobs'][0]['states'].items()))")"
job=$(lt_json "$R/jobs" "d['jobs'][0]['id']")
et_run "$R/jobst" jobs --db "$db"
lt_expect_match "jobs (text): the job's line" "^$job +check +done .* 3 targets: 1 done, 2 failed\$" "$(cat "$R/jobst.out")"

# --- show reproduces the check's report
et_run "$R/show" show "$job" --db "$db" --format json --events
lt_expect "show: exit 1 (as the check)" 1 "$(lt_rc "$R/show")"
view="[(x['target'], x['host'], x['status'], x['note'], [(e['id'], e['severity'], e['evidence']) for e in x['errors']]) for x in d['targets']] + [d['summary']]"
lt_expect "show: same targets, statuses, notes, findings and summary as check" \
	"$(lt_json "$R/check" "$view")" "$(lt_json "$R/show" "$view")"
lt_expect "show: job field says done" "done" "$(lt_json "$R/show" "d['job']['status']")"

# --- events
ev() { lt_json "$R/show" "' | '.join(e['detail'] for e in d['events'] if e['target'] == '$1' and e['what'] == '$2')"; }
lt_expect "events: good host planned -> connected -> checked -> done, in order" \
	"planned -> connected | connected -> checked | checked -> done" "$(ev "root@$a_good" state)"
lt_expect "events: event times never go backwards" True \
	"$(lt_json "$R/show" "[e['at'] for e in d['events']] == sorted(e['at'] for e in d['events'])")"
lt_expect "events: dropped host retried twice after 97118" \
	"attempt 1 failed with 97118; retrying | attempt 2 failed with 97118; retrying" "$(ev "root@$a_dropped" retry)"
lt_expect "events: dropped host failed from planned" "planned -> failed" "$(ev "root@$a_dropped" state)"
lt_expect "events: refused port never retried (95117)" 0 \
	"$(lt_json "$R/show" "sum(1 for e in d['events'] if e['target'] == 'root@$a_closed' and e['what'] == 'retry')")"
lt_expect "events: refused port failed from planned" "planned -> failed" "$(ev "root@$a_closed" state)"

# --- a wrong password is not retried
printf 'not-the-password\n' >"$R/badpw"; chmod 0600 "$R/badpw"
log=$(harness_host_dir good)/log/sshd.log
before=$(grep -c 'Failed password for root ' "$log" || true)
et_run "$R/bad" check --db "$db" --password-file "$R/badpw" --known-hosts "$kh" --format json "root@$a_good"
lt_expect "wrong password: exit 1, 95108" "1 [95108]" \
	"$(lt_rc "$R/bad") $(lt_json "$R/bad" "[e['id'] for e in d['targets'][0]['errors'] if e['severity'] == 'error']")"
et_run "$R/jobs2" jobs --db "$db" --format json
job2=$(lt_json "$R/jobs2" "d['jobs'][0]['id']")
lt_expect "wrong password: a second job, newest first" "2 True" \
	"$(lt_json "$R/jobs2" "'%d %s' % (len(d['jobs']), d['jobs'][0]['id'] > d['jobs'][1]['id'])")"
et_run "$R/show2" show "$job2" --db "$db" --format json --events
lt_expect "wrong password: no retry event" 0 "$(lt_json "$R/show2" "sum(1 for e in d['events'] if e['what'] == 'retry')")"
lt_expect "wrong password: sshd saw one failed login" 1 "$(( $(grep -c 'Failed password for root ' "$log" || true) - before ))"
lt_expect "wrong password: not in the store" 0 "$(cat "$db"* | grep -c -a -F -f "$R/pw" || true)"
lt_done
