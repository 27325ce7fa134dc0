#!/usr/bin/env bash
# agentpush serve --workers: the server records a submitted job and runs
# nothing; `agentpush worker` runs it from the same store, and the server's
# API follows the job the worker runs.  A job password is refused (it could
# never reach the workers).  One real sshd host and one closed port.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init server_queue
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
source "$AP_SOURCE_ROOT/tests/server/lib.sh"
R=$HARNESS_RUN/q; mkdir -p "$R"

lt_host good
lt_host closed
harness_password_file good root "$R/pw"
kh=$R/kh; harness_known_hosts "$kh" good closed
harness_host_close_port closed
a_good=$(harness_host_addr good); a_closed=$(harness_host_addr closed)

srv_start --workers

# a password in the job: refused, nothing recorded
python3 - "$R/pw" "$a_good" >"$R/pwjob.json" <<'PY'
import json, sys
print(json.dumps({"kind": "check", "targets": ["root@" + sys.argv[2]], "password": open(sys.argv[1]).read().strip()}))
PY
srv_call "$R/p" POST /api/v1/jobs --data-binary @"$R/pwjob.json"
lt_expect "a job password: 400 bad_field password" "400 password" \
	"$(srv_code "$R/p") $(srv_json "$R/p" "d['error']['field']")"
lt_expect_match "the refusal says why" 'agentpush worker' "$(srv_json "$R/p" "d['error']['message']")"
srv_call "$R/l" GET /api/v1/jobs
lt_expect "nothing recorded" "[]" "$(srv_json "$R/l" "d['jobs']")"

# a check job without a password: recorded, left to the workers
python3 - "$kh" "$a_good" "$a_closed" >"$R/job.json" <<'PY'
import json, sys
print(json.dumps({"kind": "check", "targets": ["root@" + sys.argv[2], "root@" + sys.argv[3]],
                  "known_hosts": sys.argv[1], "timeout": 10}))
PY
srv_call "$R/j" POST /api/v1/jobs --data-binary @"$R/job.json"
lt_expect "submit: 202" 202 "$(srv_code "$R/j")"
job=$(srv_json "$R/j" "d['job']['id']")
sleep 2
srv_call "$R/s" GET "/api/v1/jobs/$job"
lt_expect "2 s later the server has run nothing: running, 2 planned" "running 2" \
	"$(srv_json "$R/s" "'%s %d' % (d['job']['status'], d['job']['states']['planned'])")"
lt_expect_match "the server's log says the job was queued" 'queued for the workers' "$(cat "$SRV_LOG")"

# a worker runs it, with its own password file, and stops when done
rc=0
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" worker --db "$SRV_DB" --once --name qw \
	--password-file "$R/pw" >"$R/w.out" 2>"$R/w.log" </dev/null || rc=$?
lt_expect "worker --once: exit 0" 0 "$rc"
lt_expect_match "the worker's exit line" '2 claimed, 1 done, 1 failed or skipped, 0 abandoned, 0 database errors' "$(tail -1 "$R/w.log")"
srv_call "$R/s" GET "/api/v1/jobs/$job"
lt_expect "the API shows the job the worker ran: done, 1 done, 1 failed" "done 1 1" \
	"$(srv_json "$R/s" "'%s %d %d' % (d['job']['status'], d['job']['states']['done'], d['job']['states']['failed'])")"
rc=0
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" check --db "$R/direct.db" --known-hosts "$kh" \
	--timeout 10 --format json "root@$a_closed" >"$R/direct.out" 2>/dev/null </dev/null || rc=$?
lt_expect "the closed port's ErrorID is the one a direct check gives" \
	"$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['targets'][0]['errors'][0]['id'])" "$R/direct.out")" \
	"$(srv_json "$R/s" "[e['id'] for t in d['targets'] if t['target'].endswith('$a_closed') for e in t['errors']][0]")"
lt_expect "the password is nowhere in the worker's output" "" "$(grep -F -f "$R/pw" "$R/w.log" "$R/w.out" || true)"
srv_stop
lt_done
