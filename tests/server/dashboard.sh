#!/usr/bin/env bash
# The dashboard (lib/server/dashboard/, served at / by `agentpush serve`) in
# a real headless Chromium (Debian's /usr/bin/chromium, driven through
# playwright-core by tests/server/dashboard.mjs), against a real server over
# HTTPS and two real sshd hosts, one healthy and one with its SSH port
# closed: the static files' headers and the 404 of an unknown one; the
# token form first, a wrong token refused; a check job started from the
# page whose rows turn done / failed live, without a reload; the fleet and
# its filters by state and by ErrorID; ErrorID 95117 in English and, with
# a French browser, in French; a token the server refuses brings the form
# back; nothing requested from anywhere but the server; the token and the
# password in no output, log, store or answer.
#
# Screenshots of each page are taken into the run folder (kept, with what
# the browser saw, in meson-logs/harness/server_dashboard/browser/); with
# AP_DASHBOARD_SHOTS=1 they are also copied over docs/dashboard-*.png
# (committed, shown in README.md), so an ordinary run leaves the work tree
# as it found it.
#
# playwright-core (pinned in tests/server/package.json and its lock) is
# installed by scripts/deps.sh (or, when that version is not there, by
# this test with npm, once, under the build folder); it never downloads a
# browser.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init server_dashboard
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
source "$AP_SOURCE_ROOT/tests/server/lib.sh"

R=$HARNESS_RUN/dashboard; mkdir -p "$R"
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] || _harness_die "FAIL: $CHROMIUM is missing (run scripts/deps.sh)"
command -v node >/dev/null && command -v npm >/dev/null || _harness_die "FAIL: node or npm is missing (run scripts/deps.sh)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || _harness_die "FAIL: node $(node --version) is older than 18"

# ---- playwright-core: scripts/deps.sh's, else once per build folder ----------
pw_want=$(python3 -c "import json; print(json.load(open('$AP_SOURCE_ROOT/tests/server/package.json'))['dependencies']['playwright-core'])")
PW_DIR=/var/lib/agentpush-tests/node
if [ "$(python3 -c "import json; print(json.load(open('$PW_DIR/node_modules/playwright-core/package.json'))['version'])" 2>/dev/null)" != "$pw_want" ]; then
	PW_DIR=${AP_BUILD_ROOT:?}/tests/server/dashboard-node
fi
mkdir -p "$PW_DIR"
(
	flock 9
	if [ "$(python3 -c "import json; print(json.load(open('$PW_DIR/node_modules/playwright-core/package.json'))['version'])" 2>/dev/null)" != "$pw_want" ]; then
		cp "$AP_SOURCE_ROOT/tests/server/package.json" "$AP_SOURCE_ROOT/tests/server/package-lock.json" "$PW_DIR/"
		npm ci --prefix "$PW_DIR" --no-audit --no-fund --ignore-scripts >"$R/npm.log" 2>&1 \
			|| { cat "$R/npm.log" >&2; exit 1; }
	fi
) 9>"$PW_DIR.lock" || _harness_die "FAIL: npm could not install playwright-core $pw_want"

# ---- the hosts and the server ---------------------------------------------------
lt_host good
lt_host closed
harness_password_file good root "$R/pw"
lt_root_password closed "$R/pw"
kh=$R/kh; harness_known_hosts "$kh" good closed
harness_host_close_port closed
a_good=$(harness_host_addr good); a_closed=$(harness_host_addr closed)

srv_start

# the files need no token; their headers; an unknown one is a 404
for f in / /index.html /app.js /app.css /favicon.svg; do
	srv_call_anon "$R/s" GET "$f" -D "$R/s.hdr"
	hdr=$(tr -d '\r' <"$R/s.hdr")
	lt_expect "static $f: 200 without a token" 200 "$(srv_code "$R/s")"
	lt_expect_match "static $f: strict CSP" "^Content-Security-Policy: default-src 'self';" "$hdr"
	lt_expect_match "static $f: Cache-Control: no-cache" '^Cache-Control: no-cache$' "$hdr"
done
lt_expect "index.html is the file in the tree" "" "$(srv_call_anon "$R/s" GET /; cmp -s "$R/s.body" "$AP_SOURCE_ROOT/lib/server/dashboard/index.html" || echo differs)"
for f in / /app.js /app.css /favicon.svg; do
	srv_call_anon "$R/s" GET "$f" -D "$R/s.hdr"
	echo "$f $(tr -d '\r' <"$R/s.hdr" | sed -n 's/^Content-Type: //p')"
done >"$R/types"
lt_expect "static files: their content types" "/ text/html; charset=utf-8
/app.js text/javascript; charset=utf-8
/app.css text/css; charset=utf-8
/favicon.svg image/svg+xml" "$(cat "$R/types")"
for f in /nope.js /app.js/x /.. /index.htm; do
	srv_call_anon "$R/s" GET "$f" --path-as-is
	lt_expect "static $f: 404" 404 "$(srv_code "$R/s")"
done
srv_call_anon "$R/s" POST /app.js
lt_expect "static file, POST: 405" 405 "$(srv_code "$R/s")"
srv_call_anon "$R/s" GET /api/v1/jobs
lt_expect "the API still wants the token" 401 "$(srv_code "$R/s")"

# ---- two agents: one on the healthy host, one on a host no job has seen ------------
for name in "$a_good" web-agent-only; do
	python3 - "$SRV_STATE/registration-passphrase" "$name" >"$R/reg.json" <<'PY'
import hashlib, json, sys
print(json.dumps({"passphrase": open(sys.argv[1]).read().strip(), "hostname": sys.argv[2],
                  "machine_id": hashlib.md5(sys.argv[2].encode()).hexdigest(), "os": "Debian GNU/Linux 12",
                  "kernel": "6.1.0", "agent_version": "0.1.0", "enrollment": "e0e0"}))
PY
	srv_call_anon "$R/reg" POST /api/v1/agents/register --data-binary @"$R/reg.json"
	lt_expect "agent $name registered" 201 "$(srv_code "$R/reg")"
	( umask 077; printf 'Authorization: Bearer %s\n' "$(srv_json "$R/reg" "d['secret']")" >"$R/agent.hdr" )
	srv_call_anon "$R/hb" POST "/api/v1/agents/$(srv_json "$R/reg" "d['agent_id']")/heartbeat" -H @"$R/agent.hdr" \
		-d '{"agent_version":"0.1.1","health":"ok","uptime_s":5}'
	lt_expect "agent $name beats" 200 "$(srv_code "$R/hb")"
done
rm -f "$R/reg.body" "$R/agent.hdr"  # the agents' secrets
sleep 1.5   # heartbeats are written once a second

# ---- the browser ------------------------------------------------------------------
spki=$(openssl x509 -in "$SRV_STATE/tls-cert.pem" -pubkey -noout | openssl pkey -pubin -outform der \
	| openssl dgst -sha256 -binary | base64)
DASH_PID=""
# Chromium runs under node, in node's own session: the exit hook ends both,
# and keeps what the browser saw (never a profile: it holds the token) with
# the harness' logs, pass or fail.
_dash_on_exit() {
	local keep=$AP_BUILD_ROOT/meson-logs/harness/server_dashboard/browser
	[ -n "$DASH_PID" ] && kill -KILL -- "-$DASH_PID" 2>/dev/null
	mkdir -p "$keep" && cp "$R"/result.json "$R"/node.* "$R"/dashboard-*.png "$keep/" 2>/dev/null
	return 0
}
HARNESS_EXIT_HOOKS+=("_dash_on_exit")
t0=$(date +%s)
DASH_URL=$SRV_URL DASH_SPKI=$spki DASH_TOKEN_FILE=$SRV_STATE/admin-token DASH_PW_FILE=$R/pw \
DASH_TARGETS="root@$a_good root@$a_closed" DASH_KH=$kh DASH_OUT=$R DASH_PLAYWRIGHT=$PW_DIR/node_modules/playwright-core \
	setsid node "$AP_SOURCE_ROOT/tests/server/dashboard.mjs" >"$R/node.out" 2>"$R/node.err" </dev/null &
DASH_PID=$!
node_rc=0
wait "$DASH_PID" || node_rc=$?
DASH_PID=""
cat "$R/node.out"
lt_expect "the browser run went through (node: $(tail -1 "$R/node.err" 2>/dev/null))" 0 "$node_rc"
echo "dashboard: the browser part took $(( $(date +%s) - t0 )) s"
[ -f "$R/result.json" ] || _harness_die "FAIL: dashboard.mjs wrote no result"
res() { python3 - "$R/result.json" "$1" <<-'PY'
	import json, sys
	d = json.load(open(sys.argv[1]))
	try:
	    print(eval(sys.argv[2]))
	except Exception as e:
	    print("<%s: %s>" % (type(e).__name__, e))
	PY
}

lt_expect "page: / answers 200 in the browser" 200 "$(res "d['index_status']")"
lt_expect_match "page: CSP seen by the browser" "^default-src 'self'" "$(res "d['index_headers']['csp']")"
lt_expect "page: the token form first" True "$(res "d.get('token_form_first')")"
lt_expect_match "page: a wrong token is refused, the form says so" 'refused' "$(res "d.get('wrong_token_message')")"
lt_expect "page: a wrong token is not kept" None "$(res "d.get('wrong_token_stored')")"
lt_expect "page: the token is never in the URL" False "$(res "d.get('token_in_url')")"

# the job: both rows reached their end state live, on the same page
lt_expect "job: the one the page submitted is in the store" True \
	"$(srv_call "$R/j" GET "/api/v1/jobs/$(res "d.get('job_id')")"; srv_json "$R/j" "d['job']['kind'] == 'check' and d['job']['targets'] == 2")"
lt_expect "job: rows and their end states" "root@$a_good done / root@$a_closed failed" \
	"$(res "' / '.join(r['target'] + ' ' + r['state'] for r in d['job_rows'])")"
lt_expect "job: each row's state cell changed while watched (more than one state shown)" "True True" \
	"$(res "' '.join(str(len(r['states'].split()) > 1) for r in d['job_rows'])")"
lt_expect_match "job: the healthy host went through connected" '^waiting( [a-z]+)* connected( [a-z]+)* done$' "$(res "d['job_rows'][0]['states']")"
lt_expect_match "job: the closed host ended failed" 'failed$' "$(res "d['job_rows'][1]['states']")"
lt_expect "job: states came from the stream, not a reload" kept "$(res "d.get('no_reload')")"
# what the page showed, one entry per rendering (a MutationObserver loaded
# with the first document, so it also proves there was no reload)
lt_expect_match "job: the healthy host's cell was seen waiting, then turning done" \
	'^waiting( [a-z]+)* done$' "$(res "' '.join(d['seen'].get('root@$a_good', []))")"
lt_expect_match "job: the closed host's cell was seen waiting, then turning failed" \
	'^waiting( [a-z]+)* failed$' "$(res "' '.join(d['seen'].get('root@$a_closed', []))")"
lt_expect "job: followed on the event stream to its end (not polled)" ended "$(res "d.get('job_live')")"
lt_expect "job: the closed host shows 95117 once done" "[] [95117]" "$(res "' '.join(str(r['errors']) for r in d['job_rows'])")"
lt_expect "job: the states are what the store says" "done failed" \
	"$(srv_json "$R/j" "' '.join('failed' if t['errors'] else 'done' for t in d['targets'])")"

# the fleet
lt_expect "fleet: the job's hosts then the agent-only one: state, ErrorIDs, agent version" \
	"$a_good ok [] 0.1.1 / $a_closed failed [95117]  / web-agent-only ok [] 0.1.1" \
	"$(res "' / '.join('%s %s %s %s' % (r['host'], r['state'], r['errors'], r['version']) for r in d['fleet'])")"
lt_expect "fleet: a last heartbeat where an agent beats" "True False True" \
	"$(res "' '.join(str(r['heartbeat'] != '') for r in d['fleet'])")"
lt_expect_match "fleet: the fix shown next to the ErrorID" '^Fix: Check that the host is running' "$(res "[r for r in d['fleet'] if r['errors']][0]['fix']")"
lt_expect "fleet: filter state=failed" "$a_closed" "$(res "' '.join(r['host'] for r in d['fleet_failed'])")"
lt_expect "fleet: filter state=ok" "$a_good web-agent-only" "$(res "' '.join(r['host'] for r in d['fleet_ok'])")"
lt_expect "fleet: filter ErrorID 95117" "$a_closed" "$(res "' '.join(r['host'] for r in d['fleet_95117'])")"
lt_expect "fleet: the recent jobs" 1 "$(res "d['fleet_jobs']")"

# the ErrorID's page, in the browser's language
en_title=$(LANG=C.UTF-8 "$LT_AP" explain 95117 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["title"])')
fr_title=$(LANG=fr_FR.UTF-8 LANGUAGE=fr "$LT_AP" explain 95117 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["title"])')
lt_expect "the catalog has a French title for 95117 (else the next check proves nothing)" True \
	"$(python3 -c "import sys; print(sys.argv[1] != sys.argv[2] and sys.argv[2] != '')" "$en_title" "$fr_title")"
lt_expect "error page: reached from the fleet's link" "#/errors/95117" "$(res "d['error_en']['url_hash']")"
lt_expect "error page: English title in an English browser" "$en_title" "$(res "d['error_en']['title']")"
lt_expect "error page: every fix step" True "$(res "d['error_en']['fixes'] >= 2")"
lt_expect "error page: the French browser says fr" fr-FR "$(res "d['error_fr']['language']")"
lt_expect "error page: French title in a French browser" "$fr_title" "$(res "d['error_fr']['title']")"

# a refused token; what the browser asked for; what it complained about
lt_expect "a token the server refuses: the form again" True "$(res "d.get('revoked_form')")"
lt_expect_match "a token the server refuses: said so" 'refused' "$(res "d.get('revoked_message')")"
lt_expect "the browser asked nothing of anyone but the server" "[]" "$(res "sorted(set(d['outside']))")"
lt_expect "no console error or warning (CSP violations would be)" "[]" "$(res "d['console']")"
lt_expect "the refused tokens' 401s were seen by the browser" True "$(res "d.get('console_401', 0) >= 2")"

# screenshots
for p in token job fleet error; do
	lt_expect "screenshot $p: a PNG" True \
		"$(python3 -c "import sys; b=open(sys.argv[1],'rb').read(); print(b[:8] == b'\x89PNG\r\n\x1a\n' and len(b) > 5000)" "$R/dashboard-$p.png" 2>/dev/null || echo missing)"
	[ "${AP_DASHBOARD_SHOTS:-0}" = 1 ] && cp "$R/dashboard-$p.png" "$AP_SOURCE_ROOT/docs/dashboard-$p.png"
done

# ---- stop; secrets in no output ---------------------------------------------------
srv_stop
lt_expect "SIGTERM: exit 0" 0 "$SRV_STOP_RC"
lt_expect "Chromium is gone" "" "$(pgrep -f -- "--user-data-dir=$R/profile-" || true)"
# The profiles hold the tab's sessionStorage (the token): remove them first.
rm -rf "$R"/profile-*
canaries=$R/canaries
{ cat "$R/pw"; cat "$SRV_STATE/admin-token"; } >"$canaries"
leaks=$(grep -rlF -f "$canaries" "$SRV_LOG" "$SRV_DB"* "$LT_HOME" "$LT_STATE" "$R"/*.json "$R"/*.out "$R"/*.err "$R"/*.body "$R"/*.log 2>/dev/null | paste -sd' ' || true)
lt_expect "the token and the password in no output, log, store or answer" "" "$leaks"
lt_done
