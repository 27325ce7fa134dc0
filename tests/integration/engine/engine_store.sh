#!/usr/bin/env bash
# Small real runs recorded in the job store.  First a check of a healthy
# host and one whose port 22 is closed: `jobs` counts the states, `show`
# reproduces check's own report, `show --events` has the healthy host's
# states in order and no "retry" for the refused port (95117 is not
# retried).  Then a host whose packets are dropped, alone with --timeout 1:
# two "retry" events (97118 is retried, 3 attempts).  (Alone: a timeout
# short enough for the dropped host also cut the healthy host's probe,
# 800203, on the 2-core machine at a load of 80.)  A wrong password is never
# retried: one attempt, one failed login in sshd's log.
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

start=$(date +%s%N)
et_run "$R/check" check --db "$db" --password-file "$R/pw" --known-hosts "$kh" --format json "root@$a_good" "root@$a_closed"
echo "   check of 2 hosts: $(( ($(date +%s%N) - start) / 1000000 )) ms"
echo "   findings: $(lt_json "$R/check" "'; '.join('%s %d %s' % (x['host'], e['id'], e['evidence']) for x in d['targets'] for e in x['errors'])")"
lt_expect "check: exit 1" 1 "$(lt_rc "$R/check")"
lt_expect "check: good ok, closed 95117" "ok [] failed [95117]" \
	"$(lt_json "$R/check" "' '.join('%s %s' % (x['status'], [e['id'] for e in x['errors'] if e['severity'] == 'error']) for x in d['targets'])")"

# --- jobs
et_run "$R/jobs" jobs --db "$db" --format json
lt_expect "jobs: exit 0" 0 "$(lt_rc "$R/jobs")"
lt_expect "jobs: one check job, done, 2 targets" "1 check done 2" \
	"$(lt_json "$R/jobs" "'%d %s %s %d' % (len(d['jobs']), d['jobs'][0]['kind'], d['jobs'][0]['status'], d['jobs'][0]['targets'])")"
lt_expect "jobs: states 1 done, 1 failed, nothing else" \
	"checked=0 connected=0 copied=0 done=1 failed=1 installed=0 planned=0 skipped=0" \
	"$(lt_json "$R/jobs" "' '.join('%s=%d' % kv for kv in sorted(d['jobs'][0]['states'].items()))")"
job=$(lt_json "$R/jobs" "d['jobs'][0]['id']")
et_run "$R/jobst" jobs --db "$db"
lt_expect_match "jobs (text): the job's line" "^$job +check +done .* 2 targets: 1 done, 1 failed\$" "$(cat "$R/jobst.out")"

# --- show reproduces the check's report
et_run "$R/show" show "$job" --db "$db" --format json --events
lt_expect "show: exit 1 (as the check)" 1 "$(lt_rc "$R/show")"
view="[(x['target'], x['host'], x['status'], x['note'], [(e['id'], e['severity'], e['evidence']) for e in x['errors']]) for x in d['targets']] + [d['summary']]"
lt_expect "show: same targets, statuses, notes, findings and summary as check" \
	"$(lt_json "$R/check" "$view")" "$(lt_json "$R/show" "$view")"
lt_expect "show: job field says done" "done" "$(lt_json "$R/show" "d['job']['status']")"

# --- events
# ev SHOW TARGET WHAT: the details of TARGET's WHAT events, in order
ev() { lt_json "$1" "' | '.join(e['detail'] for e in d['events'] if e['target'] == '$2' and e['what'] == '$3')"; }
lt_expect "events: good host planned -> connected -> checked -> done, in order" \
	"planned -> connected | connected -> checked | checked -> done" "$(ev "$R/show" "root@$a_good" state)"
lt_expect "events: each target's event times never go backwards" True \
	"$(lt_json "$R/show" "all([e['at'] for e in d['events'] if e['target'] == t] == sorted(e['at'] for e in d['events'] if e['target'] == t) for t in set(e['target'] for e in d['events']))")"
lt_expect "events: refused port never retried (95117)" 0 \
	"$(lt_json "$R/show" "sum(1 for e in d['events'] if e['target'] == 'root@$a_closed' and e['what'] == 'retry')")"
lt_expect "events: refused port failed from planned" "planned -> failed" "$(ev "$R/show" "root@$a_closed" state)"

# --- packets dropped: 97118, retried, 3 attempts
start=$(date +%s%N)
et_run "$R/drop" check --db "$db" --password-file "$R/pw" --known-hosts "$kh" --timeout 1 --format json "root@$a_dropped"
echo "   check of the dropped host: $(( ($(date +%s%N) - start) / 1000000 )) ms"
lt_expect "dropped: exit 1, 97118" "1 [97118]" \
	"$(lt_rc "$R/drop") $(lt_json "$R/drop" "[e['id'] for e in d['targets'][0]['errors'] if e['severity'] == 'error']")"
et_run "$R/jobsd" jobs --db "$db" --format json
jobd=$(lt_json "$R/jobsd" "d['jobs'][0]['id']")
et_run "$R/showd" show "$jobd" --db "$db" --format json --events
lt_expect "events: dropped host retried twice after 97118" \
	"attempt 1 failed with 97118; retrying | attempt 2 failed with 97118; retrying" "$(ev "$R/showd" "root@$a_dropped" retry)"
lt_expect "events: dropped host failed from planned" "planned -> failed" "$(ev "$R/showd" "root@$a_dropped" state)"

# --- a wrong password is not retried
printf 'not-the-password\n' >"$R/badpw"; chmod 0600 "$R/badpw"
log=$(harness_host_dir good)/log/sshd.log
before=$(grep -c 'Failed password for root ' "$log" || true)
et_run "$R/bad" check --db "$db" --password-file "$R/badpw" --known-hosts "$kh" --format json "root@$a_good"
lt_expect "wrong password: exit 1, 95108" "1 [95108]" \
	"$(lt_rc "$R/bad") $(lt_json "$R/bad" "[e['id'] for e in d['targets'][0]['errors'] if e['severity'] == 'error']")"
et_run "$R/jobs2" jobs --db "$db" --format json
job2=$(lt_json "$R/jobs2" "d['jobs'][0]['id']")
lt_expect "wrong password: a third job, newest first" "3 True" \
	"$(lt_json "$R/jobs2" "'%d %s' % (len(d['jobs']), d['jobs'][0]['id'] > d['jobs'][1]['id'])")"
et_run "$R/show2" show "$job2" --db "$db" --format json --events
lt_expect "wrong password: no retry event" 0 "$(lt_json "$R/show2" "sum(1 for e in d['events'] if e['what'] == 'retry')")"
lt_expect "wrong password: sshd saw one failed login" 1 "$(( $(grep -c 'Failed password for root ' "$log" || true) - before ))"
lt_expect "wrong password: not in the store" 0 "$(cat "$db"* | grep -c -a -F -f "$R/pw" || true)"

# --- an install: every arrow is an event, in two commits (engine.c:
# connected and checked go with copied after the upload, before the
# installer; installed with done); one record's events share its time
PKG=${AP_INSTALL_PACKAGE:?AP_INSTALL_PACKAGE must name the sample package folder (meson test sets it)}
et_run "$R/inst" install --db "$db" --package "$PKG" --password-file "$R/pw" --known-hosts "$kh" --format json "root@$a_good"
lt_expect "install: exit 0, ok" "0 ok" "$(lt_rc "$R/inst") $(lt_json "$R/inst" "d['targets'][0]['status']")"
et_run "$R/jobs3" jobs --db "$db" --format json
job3=$(lt_json "$R/jobs3" "d['jobs'][0]['id']")
et_run "$R/show3" show "$job3" --db "$db" --format json --events
lt_expect "install: planned -> ... -> done, every arrow, in order" \
	"planned -> connected | connected -> checked | checked -> copied | copied -> installed | installed -> done" \
	"$(ev "$R/show3" "root@$a_good" state)"
lt_expect "install: the arrows in two records (connected+checked+copied, installed+done)" "3 2" \
	"$(lt_json "$R/show3" "' '.join(str(len(list(g))) for _, g in __import__('itertools').groupby(e['at'] for e in d['events'] if e['target'] == 'root@$a_good' and e['what'] == 'state'))")"
lt_done
