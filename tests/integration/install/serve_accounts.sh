#!/usr/bin/env bash
# A job of `agentpush serve` naming a vault account (POST /api/v1/jobs
# "account", docs/api.md) runs with the account's user and password against
# a real sshd host; an unknown account, or an account with a user or
# password beside it, is a 400 naming the field with nothing recorded; the
# canary password is in no answer, in the server's log, nor in its store.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init serve_accounts
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
source "$AP_SOURCE_ROOT/tests/server/lib.sh"
R=$HARNESS_RUN/sa; mkdir -p "$R"

CANARY="Cs-$(openssl rand -hex 10)"
( umask 077; printf '%s\n' "$CANARY" >"$R/canary" )
lt_host sa1
harness_host_add_user sa1 ops "$CANARY" nopasswd
kh=$R/kh; harness_known_hosts "$kh" sa1
a1=$(harness_host_addr sa1)

srv_start
printf '%s\n' "$CANARY" | HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
	"$LT_AP" accounts add ops --user ops --db "$SRV_DB" >"$R/add.out" 2>"$R/add.err"
lt_expect "account added to the server's store" "" "$(cat "$R/add.out")"

srv_code() { cat "$1.code"; }
post() {   # OUT JSON
	srv_call "$1" POST /api/v1/jobs --data-binary "$2"
}
post "$R/bad1" '{"kind": "check", "targets": ["'"$a1"'"], "account": "nobody"}'
lt_expect "unknown account: 400" 400 "$(srv_code "$R/bad1")"
lt_expect "unknown account: names the field" account "$(srv_json "$R/bad1" "d['error']['field']")"
post "$R/bad2" '{"kind": "check", "targets": ["'"$a1"'"], "account": "ops", "user": "root"}'
lt_expect "account and user: 400" 400 "$(srv_code "$R/bad2")"
post "$R/bad3" '{"kind": "check", "targets": ["'"$a1"'"], "account": "a b"}'
lt_expect "bad account name: 400" 400 "$(srv_code "$R/bad3")"
srv_call "$R/l" GET /api/v1/jobs
lt_expect "refused submissions recorded nothing" "[]" "$(srv_json "$R/l" "d['jobs']")"

post "$R/j" '{"kind": "check", "targets": ["'"$a1"'"], "account": "ops", "known_hosts": "'"$kh"'"}'
lt_expect "submit with an account: 202" 202 "$(srv_code "$R/j")"
job=$(srv_json "$R/j" "d['job']['id']")
st=""
for _ in $(seq 1 240); do
	srv_call "$R/s" GET "/api/v1/jobs/$job"
	st=$(srv_json "$R/s" "d['job']['status']")
	[ "$st" = done ] && break
	sleep 0.25
done
lt_expect "the job ran to its end" done "$st"
lt_expect "the host is ok: logged in with the account" ok "$(srv_json "$R/s" "d['targets'][0]['status']")"
lt_expect_match "sshd saw the account's user" '^[1-9]' "$(grep -c 'Accepted password for ops' "$(harness_host_dir sa1)/log/sshd.log" || true)"

srv_stop
if grep -aqF -f "$R/canary" "$R"/*.body "$SRV_LOG" "$SRV_DB" "$SRV_DB-wal" "$R"/add.* 2>/dev/null; then st=found; else st=absent; fi
lt_expect "canary in no answer, log or store file" absent "$st"
lt_expect "control: the search finds the canary" found \
	"$(grep -aqF -f "$R/canary" "$R/canary" && echo found || echo absent)"
lt_done
