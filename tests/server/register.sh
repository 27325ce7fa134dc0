#!/usr/bin/env bash
# Agent registration end to end, on real sshd hosts (tests/harness) and a
# real `agentpush serve` over HTTPS: an install job submitted to the server
# puts the agent on two hosts, each agent registers with the passphrase the
# install handed it (etc/register.conf, 0600, gone once used) and the pin of
# the server's key, the hosts end done only then, with their agent ids;
# heartbeats arrive; an agent stopped goes stale after 3 missed beats; a
# wrong passphrase sent from a host is refused, logged with the host's
# address, and rate-limited; a host whose route back to the server is cut
# ends 800502 naming the address and port that failed from its side (the
# CLI's `install --server`); no secret in any process's command line during
# the install, nor in any output, log or store file.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init server_register
source "$AP_SOURCE_ROOT/tests/integration/install/lib.sh"
source "$AP_SOURCE_ROOT/tests/server/lib.sh"

R=$HARNESS_RUN/reg; mkdir -p "$R"
for h in web1 web2 walled; do it_host "$h"; done
harness_password_file web1 root "$R/pw"
lt_root_password web2 "$R/pw"
lt_root_password walled "$R/pw"
kh=$R/kh; harness_known_hosts "$kh" web1 web2 walled
a1=$(harness_host_addr web1); a2=$(harness_host_addr web2); aw=$(harness_host_addr walled)

# The server listens on web1's gateway address, on the controller's side:
# every host routes 198.18.0.0/15 back through the controller, so all can
# reach it, and nothing outside the test range can.
SRV_LISTEN=$(cat "$(harness_host_dir web1)/hostip")
srv_start --heartbeat-interval 2
SRV_HOSTPORT=${SRV_URL#https://}
pass=$(cat "$SRV_STATE/registration-passphrase")

# Every command line on the machine, sampled while the installs run: the
# hosts share this pid namespace, so their processes are here too.
cmdline_watch() {
	local stop=$1 out=$2
	: >"$out"
	while [ ! -e "$stop" ]; do
		grep -laF -f "$R/canaries.now" /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null >>"$out" || true
		sleep 0.05
	done
}
{ cat "$R/pw"; echo "$pass"; cat "$SRV_STATE/admin-token"; } >"$R/canaries.now"

# ---- an install job from the server: two hosts, both register ---------------
python3 - "$R/pw" "$kh" "$a1" "$a2" "$IT_PKG" "$SRV_URL" >"$R/job.json" <<'PY'
import json, sys
pw, kh, a1, a2, pkg, url = sys.argv[1:]
print(json.dumps({"kind": "install", "targets": ["root@" + a1, "root@" + a2],
                  "password": open(pw).read().strip(), "known_hosts": kh,
                  "package": pkg, "server": url, "register_timeout": 60}))
PY
cmdline_watch "$R/stop.watch" "$R/watch.out" &
watch_pid=$!
srv_call "$R/j" POST /api/v1/jobs --data-binary @"$R/job.json"
lt_expect "install job accepted" 202 "$(srv_code "$R/j")"
job=$(srv_json "$R/j" "d['job']['id']")
srv_call "$R/ev" GET "/api/v1/jobs/$job/events" --max-time 240
touch "$R/stop.watch"; wait "$watch_pid" || true
lt_expect_match "the job's event stream ends" 'event: end' "$(tail -3 "$R/ev.body")"
lt_expect "no secret on any command line or in any environment during the install" "" "$(sort -u "$R/watch.out" | paste -sd' ')"
srv_call "$R/s" GET "/api/v1/jobs/$job"
lt_expect "both hosts ok" "ok ok" "$(srv_json "$R/s" "' '.join(t['status'] for t in d['targets'])")"
lt_expect "both registered (note)" "True True" \
	"$(srv_json "$R/s" "' '.join(str('registered as ag-' in (t.get('note') or '')) for t in d['targets'])")"
srv_call "$R/al" GET /api/v1/agents
lt_expect "the server knows both agents by host name" "web1 web2" \
	"$(srv_json "$R/al" "' '.join(sorted(a['hostname'] for a in d['agents']))")"
lt_expect "each agent registered from its host's address" "$a1 $a2" \
	"$(srv_json "$R/al" "' '.join(a['address'] for a in sorted(d['agents'], key=lambda a: a['hostname']))")"
lt_expect "the job's note names the agent id the server has" True \
	"$(python3 -c "
import json
s = json.load(open('$R/s.body')); a = json.load(open('$R/al.body'))
ids = {x['id'] for x in a['agents']}
print(all(t['note'].split('registered as ')[1].split(';')[0] in ids for t in s['targets']))")"
aid1=$(srv_json "$R/al" "[a['id'] for a in d['agents'] if a['hostname'] == 'web1'][0]")
aid2=$(srv_json "$R/al" "[a['id'] for a in d['agents'] if a['hostname'] == 'web2'][0]")

for h in web1 web2; do
	lt_expect "$h: register.conf (the passphrase) is gone" no \
		"$(harness_exec "$h" test -e "$IT_DIR/etc/register.conf" && echo yes || echo no)"
	lt_expect "$h: agent.conf is 0600" 600 "$(harness_exec "$h" stat -c %a "$IT_DIR/etc/agent.conf")"
	lt_expect_match "$h: the agent says it registered" '^registered ag-' \
		"$(harness_exec "$h" cat "$IT_DIR/run/register.status")"
	harness_exec "$h" sed -n 's/^secret=//p' "$IT_DIR/etc/agent.conf" >>"$R/agent-secrets"
done
lt_expect "two agent secrets, different" 2 "$(sort -u "$R/agent-secrets" | grep -c .)"

# ---- heartbeats, then stale once an agent stops ------------------------------
beat_state() { # AGENT-ID: "state last_heartbeat-is-set"
	srv_call "$R/ag" GET "/api/v1/agents/$1"
	srv_json "$R/ag" "d['state'] + ' ' + str(d['last_heartbeat'] is not None)"
}
got=""
for _ in $(seq 1 40); do
	got="$(beat_state "$aid1") $(beat_state "$aid2")"
	[ "$got" = "ok True ok True" ] && break
	sleep 0.5
done
lt_expect "heartbeats arrive from both agents" "ok True ok True" "$got"
pid1=$(it_agent_pid web1)
lt_expect_match "web1's agent runs" '^[0-9]+$' "$pid1"
harness_exec web1 kill -TERM "$pid1"
got=""
for _ in $(seq 1 60); do
	got="$(beat_state "$aid1")"
	[ "$got" = "stale True" ] && break
	sleep 0.5
done
lt_expect "web1 stale after 3 missed beats" "stale True" "$got"
lt_expect "web2 still ok" "ok True" "$(beat_state "$aid2")"

# ---- a wrong passphrase from a real host: refused, logged, rate-limited -------
pin=$(harness_exec web2 sed -n 's/^pin=//p' "$IT_DIR/etc/agent.conf")
printf '%s\nserver=%s\npin=%s\npassphrase=%s\nenrollment=%s\n' "# test" "$SRV_URL" "$pin" \
	"not-the-passphrase-$RANDOM$RANDOM" "0123" |
	harness_exec web2 sh -c "umask 077; cat > $IT_DIR/etc/register.conf"
got=""
for _ in $(seq 1 60); do
	got=$(harness_exec web2 cat "$IT_DIR/run/register.status" 2>/dev/null || true)
	case $got in "error refused"*) break ;; esac
	sleep 0.5
done
lt_expect_match "web2's agent: refused, with the server's reason" \
	"^error refused $SRV_HOSTPORT HTTP 403: wrong registration passphrase" "$got"
lt_expect_match "the server logged the refusal with web2's address" \
	"registration from $a2 \\(host web2\\) refused: wrong passphrase" "$(cat "$SRV_LOG")"
harness_exec web2 rm -f "$IT_DIR/etc/register.conf"
codes=""
for _ in 1 2 3 4 5 6; do
	codes+=$(harness_exec web2 curl -s -k -o /dev/null -w '%{http_code} ' --max-time 20 \
		-H 'Content-Type: application/json' --data-binary '{"passphrase":"nope-nope-nope","machine_id":"x","hostname":"web2"}' \
		"$SRV_URL/api/v1/agents/register" || true)
done
lt_expect_match "6 more tries from web2 within the minute: 403s, then 429" '^(403 )+(429 )+$' "$codes"
lt_expect "web2 keeps its registration" "ok True" "$(beat_state "$aid2")"

# ---- a host that cannot reach the server back: 800502 ------------------------
ip -n "$(harness_host_netns walled)" route add unreachable "$SRV_LISTEN/32"
it_install "$R/w" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw" \
	--server "$SRV_URL" --register-timeout 8 --db "$SRV_DB" --state-dir "$SRV_STATE" \
	--format json "root@$aw"
lt_expect "walled: install exits 1" 1 "$(cat "$R/w.rc")"
lt_expect "walled: failed with 800502" "[800502]" \
	"$(python3 -c "import json; r = json.load(open('$R/w.out')); print([e['id'] for t in r['targets'] for e in t['errors'] if e['severity'] == 'error'])")"
lt_expect_match "walled: the evidence names the address and port tried from the host" \
	"from the host, $SRV_URL could not be reached: $SRV_HOSTPORT curl exit 7" \
	"$(python3 -c "import json; r = json.load(open('$R/w.out')); print([e['evidence'] for t in r['targets'] for e in t['errors']][0])")"
lt_expect "walled: register.conf removed after the failure" no \
	"$(harness_exec walled test -e "$IT_DIR/etc/register.conf" && echo yes || echo no)"
lt_expect "walled: the server has no agent for it" False \
	"$(srv_call "$R/al2" GET /api/v1/agents; srv_json "$R/al2" "any(a['hostname'] == 'walled' for a in d['agents'])")"
it_install "$R/bad" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw" \
	--server "ftp://$SRV_HOSTPORT" "root@$aw"
lt_expect "install --server ftp://: exit 2" 2 "$(cat "$R/bad.rc")"
lt_expect_match "install --server ftp://: one line naming it" "^agentpush install: --server 'ftp://" "$(cat "$R/bad.err")"
it_install "$R/bad2" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw" \
	--server "$SRV_URL" --state-dir "$R/nowhere" "root@$aw"
lt_expect "install --server without the server's state: exit 2" 2 "$(cat "$R/bad2.rc")"
lt_expect "... one line" 1 "$(wc -l <"$R/bad2.err")"

srv_stop
lt_expect "serve stopped cleanly" 0 "$SRV_STOP_RC"

# ---- secrets: in no output, log or store file ---------------------------------
{ cat "$R/canaries.now"; cat "$R/agent-secrets"; } >"$R/canaries"
for h in web1 web2 walled; do
	harness_exec "$h" sh -c "cat $IT_DIR/log/*.log /var/log/agentpush-agent-install.log 2>/dev/null" >"$R/hostlogs-$h.txt" || true
done
leaks=$(grep -rlF -f "$R/canaries" "$SRV_LOG" "$SRV_DB"* "$LT_HOME" "$LT_STATE" \
	"$R"/*.body "$R"/*.out "$R"/*.err "$R"/hostlogs-*.txt 2>/dev/null | paste -sd' ' || true)
lt_expect "no secret in any output, log or store file" "" "$leaks"
lt_done
