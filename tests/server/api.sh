#!/usr/bin/env bash
# The configuration server's API (docs/api.md) against a real `agentpush
# serve` over HTTPS, with real sshd test hosts for the jobs: every route with
# and without a token; bad bodies (malformed JSON, not an object, unknown
# fields, wrong types, > 1 MiB, a malformed inventory) each a clear 4xx
# naming the field with the store unchanged; a check job submitted, followed
# as Server-Sent Events to its end, shown and filtered; cancel; the catalog
# in English and French; agents: registration (wrong passphrase refused and
# rate-limited), heartbeats, stale, forget; the password, token and
# passphrase in no output, log or store page; a graceful SIGTERM.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init server_api
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
source "$AP_SOURCE_ROOT/tests/server/lib.sh"

R=$HARNESS_RUN/api; mkdir -p "$R"
lt_host good
lt_host closed
lt_host slow
harness_password_file good root "$R/pw"
lt_root_password closed "$R/pw"
lt_root_password slow "$R/pw"
kh=$R/kh; harness_known_hosts "$kh" good closed slow
harness_host_close_port closed
a_good=$(harness_host_addr good); a_closed=$(harness_host_addr closed)
a_slow=$(harness_host_addr slow)

srv_start --heartbeat-interval 2
lt_expect "state folder is private" 700 "$(stat -c %a "$SRV_STATE")"
lt_expect "admin token file 0600" 600 "$(stat -c %a "$SRV_STATE/admin-token")"
lt_expect "TLS key 0600" 600 "$(stat -c %a "$SRV_STATE/tls-key.pem")"
lt_expect "passphrase file 0600" 600 "$(stat -c %a "$SRV_STATE/registration-passphrase")"
lt_expect_match "the log says where the token is, not what" "admin API token was written to $SRV_STATE/admin-token" "$(cat "$SRV_LOG")"

# ---- authentication: every protected route, no token / a wrong token ------
printf 'Authorization: Bearer %s\n' "not-the-token" >"$R/wrong.hdr"
routes=("GET /api/v1/jobs" "POST /api/v1/jobs" "GET /api/v1/jobs/1" "POST /api/v1/jobs/1/cancel"
        "GET /api/v1/jobs/1/events" "GET /api/v1/errors" "GET /api/v1/errors/95108"
        "GET /api/v1/agents" "GET /api/v1/agents/ag-0" "DELETE /api/v1/agents/ag-0"
        "GET /api/v1/nothing/here")
for rt in "${routes[@]}"; do
	set -- $rt
	srv_call_anon "$R/a" "$1" "$2"
	lt_expect "no token: $rt" 401 "$(srv_code "$R/a")"
	lt_expect "no token: $rt says only unauthorized" unauthorized "$(srv_json "$R/a" "d['error']['code']")"
	srv_call_anon "$R/a" "$1" "$2" -H @"$R/wrong.hdr"
	lt_expect "wrong token: $rt" 401 "$(srv_code "$R/a")"
done
# the token in a query string is never taken (it would end up in logs and
# histories); the URL goes through a 0600 curl config, not a command line
( umask 077; printf 'url = "%s/api/v1/jobs/1/events?token=%s"\n' "$SRV_URL" "$(cat "$SRV_STATE/admin-token")" >"$R/qtok.cfg" )
"${SRV_CURL[@]}" -K "$R/qtok.cfg" -o "$R/q.body" -w '%{http_code}' >"$R/q.code" 2>"$R/q.err" || true
lt_expect "token in the query string: 401" 401 "$(srv_code "$R/q")"
srv_call_anon "$R/a" GET /api/v1/health
lt_expect "health needs no token" ok "$(srv_json "$R/a" "d['status']")"
srv_call "$R/a" GET /api/v1/nothing/here
lt_expect "unknown route with a token: 404" 404 "$(srv_code "$R/a")"
srv_call "$R/a" PUT /api/v1/jobs
lt_expect "known route, wrong method: 405" 405 "$(srv_code "$R/a")"
srv_call_anon "$R/a" POST /api/v1/agents/ag-0/heartbeat -d '{}'
lt_expect "heartbeat without a secret: 401" 401 "$(srv_code "$R/a")"

# ---- the catalog ------------------------------------------------------------
srv_call "$R/e" GET /api/v1/errors
lt_expect "errors: 200" 200 "$(srv_code "$R/e")"
lt_expect "errors: the whole catalog" True "$(srv_json "$R/e" "d['count'] == len(d['errors']) and d['count'] > 40")"
"$LT_AP" explain --list --format json >"$R/cli.body"
lt_expect "errors: what explain --list --format json prints" True \
	"$(python3 -c "import json,sys; print(json.load(open('$R/e.body')) == json.load(open('$R/cli.body')))")"
srv_call "$R/e" GET /api/v1/errors/95108 -H 'Accept-Language: fr-FR,fr;q=0.9,en;q=0.5'
lt_expect_match "errors/95108 in French" 'compte Linux' "$(srv_json "$R/e" "d['title']")"
srv_call "$R/e" GET /api/v1/errors/95108 -H 'Accept-Language: en;q=1, fr;q=0.3'
lt_expect_match "errors/95108 in English when English is preferred" '^The Linux account' "$(srv_json "$R/e" "d['title']")"
srv_call "$R/e" GET /api/v1/errors/LINUX_BAD_CREDENTIALS -H 'Accept-Language: de'
lt_expect "errors by name, German falls back to English" 95108 "$(srv_json "$R/e" "d['id']")"
srv_call "$R/e" GET /api/v1/errors/1
lt_expect "errors/1: 404" 404 "$(srv_code "$R/e")"

# ---- bad job submissions: a clear 4xx each, the store unchanged -------------
bad_job() { # NAME STATUS CODE FIELD BODY-FILE-OR-STRING
	local name=$1 st=$2 code=$3 field=$4 body=$5
	if [ -f "$body" ]; then srv_call "$R/b" POST /api/v1/jobs --data-binary @"$body"
	else srv_call "$R/b" POST /api/v1/jobs --data-binary "$body"; fi
	lt_expect "$name: $st" "$st" "$(srv_code "$R/b")"
	lt_expect "$name: code $code" "$code" "$(srv_json "$R/b" "d['error']['code']")"
	[ -n "$field" ] && lt_expect "$name: names $field" "$field" "$(srv_json "$R/b" "d['error'].get('field')")"
	lt_expect "$name: one-line message" 1 "$(srv_json "$R/b" "d['error']['message']" | wc -l)"
}
bad_job "malformed JSON" 400 bad_json "" '{"kind": "check", '
bad_job "not an object" 400 bad_json "" '["check"]'
bad_job "empty body" 400 bad_json "" ''
bad_job "unknown field" 400 unknown_field frobnicate '{"kind":"check","targets":["198.18.0.9"],"frobnicate":1}'
bad_job "kind missing" 400 bad_field kind '{"targets":["198.18.0.9"]}'
bad_job "kind wrong" 400 bad_field kind '{"kind":"reboot","targets":["198.18.0.9"]}'
bad_job "targets not strings" 400 bad_field targets '{"kind":"check","targets":[1,2]}'
bad_job "targets empty" 400 bad_field targets '{"kind":"check","targets":[]}'
bad_job "a bad target" 400 bad_field targets '{"kind":"check","targets":["root@bad host"]}'
bad_job "targets and inventory" 400 bad_field targets '{"kind":"check","targets":["198.18.0.9"],"inventory":"198.18.0.9\n"}'
bad_job "parallel out of range" 400 bad_field parallel '{"kind":"check","targets":["198.18.0.9"],"parallel":0}'
bad_job "timeout not a number" 400 bad_field timeout '{"kind":"check","targets":["198.18.0.9"],"timeout":"30"}'
bad_job "install without a package" 400 bad_field package '{"kind":"install","targets":["198.18.0.9"]}'
bad_job "package not readable" 400 bad_field package '{"kind":"install","targets":["198.18.0.9"],"package":"/no/such/pkg"}'
bad_job "server on a check" 400 bad_field server '{"kind":"check","targets":["198.18.0.9"],"server":"https://198.18.0.1:8443"}'
bad_job "host key policy" 400 bad_field host_key_policy '{"kind":"check","targets":["198.18.0.9"],"host_key_policy":"yolo"}'
bad_job "malformed inventory" 400 bad_inventory inventory '{"kind":"check","inventory":"[web\n198.18.0.9\n"}'
lt_expect_match "malformed inventory: line named" 'inventory:1' "$(srv_json "$R/b" "d['error']['message']")"
python3 -c "import json; print(json.dumps({'kind':'check','targets':['198.18.0.9'],'inventory':'x'*(1100*1024)}))" >"$R/big.json"
bad_job "body over 1 MiB" 413 too_large "" "$R/big.json"
python3 -c "import sys; sys.stdout.write('{\"kind\":\"check\",\"targets\":[' + ','.join(['\"198.18.0.9\"']*200000) + ']}')" >"$R/big2.json"
bad_job "body over 1 MiB (no field reached)" 413 too_large "" "$R/big2.json"
srv_call "$R/b" POST /api/v1/jobs --data-binary @"$R/big.json" -H 'Transfer-Encoding: chunked'
lt_expect "chunked body over 1 MiB: 413" 413 "$(srv_code "$R/b")"
srv_call "$R/l" GET /api/v1/jobs
lt_expect "after all of that, no job in the store" "[]" "$(srv_json "$R/l" "d['jobs']")"
lt_expect "the server still answers" 200 "$(srv_call_anon "$R/h" GET /api/v1/health; srv_code "$R/h")"

# ---- a check job: submit, follow, show --------------------------------------
python3 - "$R/pw" "$kh" "$a_good" "$a_closed" >"$R/job.json" <<'PY'
import json, sys
pw = open(sys.argv[1]).read().strip()
print(json.dumps({"kind": "check", "targets": ["root@" + sys.argv[3], "root@" + sys.argv[4]],
                  "password": pw, "known_hosts": sys.argv[2], "timeout": 10}))
PY
srv_call "$R/j" POST /api/v1/jobs --data-binary @"$R/job.json" -D "$R/j.hdr"
lt_expect "submit: 202" 202 "$(srv_code "$R/j")"
job=$(srv_json "$R/j" "d['job']['id']")
lt_expect_match "submit: Location" "^Location: /api/v1/jobs/$job" "$(tr -d '\r' <"$R/j.hdr" | grep -i '^Location')"
lt_expect "submit: the job is in the store with its targets" 2 "$(srv_json "$R/j" "d['job']['targets']")"
srv_call "$R/ev" GET "/api/v1/jobs/$job/events" -H 'Accept: text/event-stream'
lt_expect "events: 200" 200 "$(srv_code "$R/ev")"
lt_expect_match "events: ends with end" 'event: end' "$(tail -3 "$R/ev.body")"
python3 - "$R/ev.body" "$a_good" "$a_closed" >"$R/ev.check" <<'PY'
import json, sys
ev, cur = [], {}
for line in open(sys.argv[1]).read().split("\n"):
    if line == "":
        if cur: ev.append(cur); cur = {}
        continue
    k, _, v = line.partition(": ")
    cur[k] = v
last = {}
for e in ev:
    if e.get("event") == "state":
        d = json.loads(e["data"]); last[d["host"]] = d["to"]
print(last.get("root@" + sys.argv[2]), last.get("root@" + sys.argv[3]),
      all("id" in e for e in ev if e.get("event") == "state"))
PY
lt_expect "events: each host's last state as it happened" "done failed True" "$(cat "$R/ev.check")"
first_id=$(sed -n 's/^id: //p' "$R/ev.body" | head -1)
srv_call "$R/ev2" GET "/api/v1/jobs/$job/events" -H "Last-Event-ID: $first_id"
lt_expect "events after Last-Event-ID: one fewer" "$(( $(grep -c '^id: ' "$R/ev.body") - 1 ))" "$(grep -c '^id: ' "$R/ev2.body")"
srv_call "$R/s" GET "/api/v1/jobs/$job"
lt_expect "show: done" done "$(srv_json "$R/s" "d['job']['status']")"
lt_expect "show: the failed host has 95117" "[95117]" "$(srv_json "$R/s" "[e['id'] for t in d['targets'] if t['host'] == '$a_closed' for e in t['errors']]")"
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" show "$job" --db "$SRV_DB" --format json >"$R/cli.body" || true
lt_expect "show: what agentpush show --format json prints" True \
	"$(python3 -c "import json; print(json.load(open('$R/s.body')) == json.load(open('$R/cli.body')))")"
srv_call "$R/f" GET "/api/v1/jobs/$job?id=95117"
lt_expect "show ?id=95117: only the failed host" "['$a_closed']" "$(srv_json "$R/f" "[t['host'] for t in d['targets']]")"
srv_call "$R/f" GET "/api/v1/jobs/$job?id=x"
lt_expect "show ?id=x: 400" 400 "$(srv_code "$R/f")"
srv_call "$R/f" GET "/api/v1/jobs/999"
lt_expect "show of no job: 404" 404 "$(srv_code "$R/f")"
srv_call "$R/f" GET "/api/v1/jobs/999/events"
lt_expect "events of no job: 404" 404 "$(srv_code "$R/f")"
srv_call "$R/f" GET "/api/v1/jobs?limit=1"
lt_expect "list: newest first" "$job" "$(srv_json "$R/f" "d['jobs'][0]['id']")"
srv_call "$R/c" POST "/api/v1/jobs/$job/cancel"
lt_expect "cancel a done job: 409" 409 "$(srv_code "$R/c")"
srv_call "$R/c" POST "/api/v1/jobs/999/cancel"
lt_expect "cancel no job: 404" 404 "$(srv_code "$R/c")"

# ---- cancel: the host in flight finishes, the others are skipped ------------
harness_host_drop slow  # connect() hangs until the timeout
python3 - "$R/pw" "$kh" "$a_slow" "$a_good" >"$R/job2.json" <<'PY'
import json, sys
pw = open(sys.argv[1]).read().strip()
print(json.dumps({"kind": "check", "targets": ["root@" + sys.argv[3], "root@" + sys.argv[4], "root@" + sys.argv[4] + ":22"],
                  "password": pw, "known_hosts": sys.argv[2], "timeout": 3, "parallel": 1}))
PY
srv_call "$R/j2" POST /api/v1/jobs --data-binary @"$R/job2.json"
job2=$(srv_json "$R/j2" "d['job']['id']")
# the runner's "resume started" event comes just before it takes the
# first host (parallel 1): cancelling before it would skip all three
python3 - "$SRV_DB" "$job2" <<'PY' || lt_expect "the runner started job 2 within 60 s" started late
import sqlite3, sys, time
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
for _ in range(600):
    if db.execute("SELECT COUNT(*) FROM events WHERE job_id = ? AND what = 'resume'",
                  (int(sys.argv[2]),)).fetchone()[0]:
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
srv_call "$R/c" POST "/api/v1/jobs/$job2/cancel"
lt_expect "cancel a running job: 202" 202 "$(srv_code "$R/c")"
lt_expect "cancel: the job says so" True "$(srv_json "$R/c" "d['job'].get('cancelled')")"
srv_call "$R/ev3" GET "/api/v1/jobs/$job2/events"
lt_expect_match "cancel: a cancel event in the stream" 'event: cancel' "$(cat "$R/ev3.body")"
srv_call "$R/s2" GET "/api/v1/jobs/$job2"
lt_expect "cancel: the host in flight ended by itself, the others skipped" "failed skipped skipped" \
	"$(srv_json "$R/s2" "' '.join(['failed' if t['errors'] else ('skipped' if 'cancelled' in (t.get('note') or '') else 'other') for t in d['targets']])")"
harness_host_undrop slow

# ---- agents -----------------------------------------------------------------
# (the agent's own side, end to end on installed hosts: tests/agent)
python3 - "$SRV_STATE/registration-passphrase" >"$R/reg.json" <<'PY'
import json, sys
print(json.dumps({"passphrase": open(sys.argv[1]).read().strip(), "machine_id": "0123456789abcdef0123456789abcdef",
                  "hostname": "web1", "os": "Debian GNU/Linux 12", "kernel": "6.1.0", "agent_version": "0.1.0",
                  "enrollment": "e0e0"}))
PY
srv_call_anon "$R/r" POST /api/v1/agents/register --data-binary @"$R/reg.json" --interface 127.0.0.2
lt_expect "register: 201" 201 "$(srv_code "$R/r")"
aid=$(srv_json "$R/r" "d['agent_id']")
lt_expect_match "register: an agent id" '^ag-[0-9a-f]{16}$' "$aid"
lt_expect "register: the interval" 2 "$(srv_json "$R/r" "d['heartbeat_interval']")"
( umask 077; printf 'Authorization: Bearer %s\n' "$(srv_json "$R/r" "d['secret']")" >"$R/agent.hdr" )
srv_call_anon "$R/hb" POST "/api/v1/agents/$aid/heartbeat" -H @"$R/agent.hdr" -d '{"agent_version":"0.1.1","health":"ok","uptime_s":5}' --interface 127.0.0.2
lt_expect "heartbeat: 200" 200 "$(srv_code "$R/hb")"
srv_call_anon "$R/hb" POST "/api/v1/agents/$aid/heartbeat" -H @"$R/wrong.hdr" -d '{}'
lt_expect "heartbeat with another secret: 401" 401 "$(srv_code "$R/hb")"
srv_call_anon "$R/hb" POST "/api/v1/agents/$aid/heartbeat" -H @"$R/agent.hdr" -d '{"cpu":1}'
lt_expect "heartbeat with an unknown field: 400" unknown_field "$(srv_json "$R/hb" "d['error']['code']")"
sleep 1.5   # heartbeats are written once a second
srv_call "$R/ag" GET "/api/v1/agents/$aid"
cp "$R/ag.body" "$R/ag-first.body"
lt_expect "agent: host, version, address" "web1 0.1.1 127.0.0.2 ok" "$(srv_json "$R/ag" "' '.join([d['hostname'], d['version'], d['address'], d['state']])")"
lt_expect "agent: never its secret" False "$(srv_json "$R/ag" "'secret' in json.dumps(d)")"
srv_call "$R/al" GET /api/v1/agents
lt_expect "agents: one" "['$aid']" "$(srv_json "$R/al" "[a['id'] for a in d['agents']]")"
sleep 7     # 3 missed beats at 2 s
srv_call "$R/ag" GET "/api/v1/agents/$aid"
lt_expect "agent: stale after 3 missed beats" stale "$(srv_json "$R/ag" "d['state']")"
srv_call_anon "$R/hb" POST "/api/v1/agents/$aid/heartbeat" -H @"$R/agent.hdr" -d '{}'
sleep 1.5
srv_call "$R/ag" GET "/api/v1/agents/$aid"
lt_expect "agent: ok again after a beat" ok "$(srv_json "$R/ag" "d['state']")"

# a wrong passphrase: 403 and logged with its source; the 6th try in a minute: 429
python3 -c "import json; print(json.dumps({'passphrase':'wrong-passphrase-0000','machine_id':'m2','hostname':'intruder'}))" >"$R/bad.json"
for i in 1 2 3 4 5; do
	srv_call_anon "$R/x$i" POST /api/v1/agents/register --data-binary @"$R/bad.json" --interface 127.0.0.3
done
lt_expect "wrong passphrase: 403 x5" "403 403 403 403 403" "$(for i in 1 2 3 4 5; do srv_code "$R/x$i"; echo; done | paste -sd' ')"
lt_expect "wrong passphrase: code" bad_passphrase "$(srv_json "$R/x1" "d['error']['code']")"
srv_call_anon "$R/x6" POST /api/v1/agents/register --data-binary @"$R/reg.json" --interface 127.0.0.3 -D "$R/x6.hdr"
lt_expect "6th try in a minute, even with the right passphrase: 429" 429 "$(srv_code "$R/x6")"
lt_expect_match "429 has Retry-After" '^Retry-After: [0-9]+' "$(tr -d '\r' <"$R/x6.hdr" | grep -i '^Retry-After')"
srv_call_anon "$R/x7" POST /api/v1/agents/register --data-binary @"$R/bad.json" --interface 127.0.0.4
lt_expect "another source is not limited" 403 "$(srv_code "$R/x7")"
lt_expect_match "refused registration logged with its source" 'registration from 127\.0\.0\.3 \(host intruder\) refused: wrong passphrase' "$(cat "$SRV_LOG")"
srv_call_anon "$R/r2" POST /api/v1/agents/register --data-binary '{"passphrase":"x","hostname":"h"}' --interface 127.0.0.5
lt_expect "register without machine_id: 400 names it" machine_id "$(srv_json "$R/r2" "d['error'].get('field')")"

srv_call "$R/d" DELETE "/api/v1/agents/$aid"
lt_expect "forget: 204" 204 "$(srv_code "$R/d")"
srv_call_anon "$R/hb" POST "/api/v1/agents/$aid/heartbeat" -H @"$R/agent.hdr" -d '{}'
lt_expect "heartbeat of a forgotten agent: 404" 404 "$(srv_code "$R/hb")"
srv_call "$R/d" DELETE "/api/v1/agents/$aid"
lt_expect "forget twice: 404" 404 "$(srv_code "$R/d")"

# ---- passphrase show | rotate -------------------------------------------------
HOME="$LT_HOME" "$LT_AP" passphrase show --db "$SRV_DB" --state-dir "$SRV_STATE" >"$R/pp.out" 2>"$R/pp.err"
lt_expect "passphrase show: the file's passphrase" "$(cat "$SRV_STATE/registration-passphrase")" "$(cat "$R/pp.out")" >/dev/null
grep -qxF -f "$SRV_STATE/registration-passphrase" "$R/pp.out" && lt_expect "passphrase show prints it" 1 1 || lt_expect "passphrase show prints it" 1 0
lt_expect "passphrase: 16+ characters" True "$(python3 -c "print(len(open('$R/pp.out').read().strip()) >= 16)")"
HOME="$LT_HOME" "$LT_AP" passphrase rotate --db "$SRV_DB" --state-dir "$SRV_STATE" >"$R/pr.out" 2>"$R/pr.err"
lt_expect "rotate: nothing on stdout" 0 "$(wc -c <"$R/pr.out")"
cmp -s "$R/pp.out" "$SRV_STATE/registration-passphrase" && lt_expect "rotate: a new passphrase" new same || lt_expect "rotate: a new passphrase" new new
srv_call_anon "$R/r3" POST /api/v1/agents/register --data-binary @"$R/reg.json" --interface 127.0.0.6
lt_expect "the old passphrase no longer registers" 403 "$(srv_code "$R/r3")"

# ---- stop ---------------------------------------------------------------------
srv_stop
lt_expect "SIGTERM: exit 0" 0 "$SRV_STOP_RC"
lt_expect_match "SIGTERM: stopped cleanly" 'agentpush serve: stopped' "$(tail -1 "$SRV_LOG")"

# ---- secrets: in no output, log or store page ------------------------------------
canaries=$R/canaries
{ cat "$R/pw"; cat "$SRV_STATE/admin-token"; cat "$R/pp.out"; cat "$SRV_STATE/registration-passphrase"
  sed -n 's/^Authorization: Bearer //p' "$R/agent.hdr"; } >"$canaries"
leaks=$(grep -rlF -f "$canaries" "$SRV_LOG" "$SRV_DB"* "$LT_HOME" "$LT_STATE" $(ls "$R"/*.body "$R"/*.err 2>/dev/null | grep -v -e '/r\.body$' -e '/pp\.' ) 2>/dev/null | paste -sd' ' || true)
lt_expect "no secret in the log, the store or any answer (but the registration's own)" "" "$leaks"
lt_done
