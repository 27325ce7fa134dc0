#!/usr/bin/env bash
# Accounts of the vault (agentpush accounts) in real runs: check with
# --account, install from an inventory naming accounts per host and per
# group (agentpush_account=), one with sudo asking for the password; the
# canary password shows up nowhere: outputs, JSON, the job store and its
# WAL, sshd, install and agent logs, the command line and environment of any
# process on this machine (agentpush and the test hosts share its pid
# namespace) while the runs go on.  The lockout rule across runs: a refused
# account is tried on one host, marked in the vault, not offered at all by
# the next run, and tried again once its password changed.  A missing key
# file stops the run before any host is contacted.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init install_accounts
source "$AP_SOURCE_ROOT/tests/integration/install/lib.sh"
R=$HARNESS_RUN/it; mkdir -p "$R"

CANARY="Cn-$(openssl rand -hex 10)"
( umask 077; printf '%s\n' "$CANARY" >"$R/canary" )
it_host ac1
it_host ac2
it_host lk1
it_host lk2
harness_host_add_user ac1 adm "$CANARY" password      # sudo -S: the password on sudo's stdin
harness_host_add_user ac2 ops "$CANARY-2" nopasswd
harness_host_add_user lk1 dep "$CANARY-3" nopasswd
harness_host_add_user lk2 dep "$CANARY-3" nopasswd
kh=$R/kh; harness_known_hosts "$kh" ac1 ac2 lk1 lk2
a1=$(harness_host_addr ac1); a2=$(harness_host_addr ac2)
l1=$(harness_host_addr lk1); l2=$(harness_host_addr lk2)
DB=$LT_STATE/agentpush/jobs.db    # the default store of lt_check / it_install

accounts() {
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" accounts "$@"
}
# scan_proc: "found" when the canary is in any process's cmdline or environ
scan_proc() {
	# processes come and go while cat reads /proc: its status is not
	# ours; grep -c reads it all (-q leaving early would SIGPIPE tr)
	local n
	n=$({ cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null || true; } | tr '\0' '\n' | grep -cF -f "$R/canary" || true)
	if [ "${n:-0}" -gt 0 ]; then echo found; else echo absent; fi
}
has_canary() {   # FILE...: "found" when the canary is in any of them
	# grep on the files, no pipe: with pipefail a cat of a missing file
	# or a SIGPIPE would read as "absent"
	if grep -aqF -f "$R/canary" "$@" 2>/dev/null; then echo found; else echo absent; fi
}
absent() {   # WHAT FILE...: is the canary in none of the files?
	local what=$1
	shift
	lt_expect "$what" absent "$(has_canary "$@")"
}
failed_pw() {   # "Failed password" lines in the sshd logs of lk1 and lk2
	local n=0 c h
	for h in lk1 lk2; do
		c=$(grep -c 'Failed password' "$(harness_host_dir "$h")/log/sshd.log" || true)
		n=$((n + c))
	done
	echo "$n"
}

printf '%s\n' "$CANARY" | accounts add web --user adm >"$R/add1.out" 2>"$R/add1.err"
printf '%s\n' "$CANARY-2" | accounts add ops --user ops >"$R/add2.out" 2>"$R/add2.err"
lt_expect "two accounts added" 2 "$(accounts list --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"

# the sampler: every process's command line and environment while it runs
CANARY_CONTROL="$CANARY" sleep 3 &
sleep 0.5
lt_expect "control: the scan finds the canary in an environment" found "$(scan_proc)"
lt_expect "control: the file search finds the canary" found "$(has_canary /nonexistent "$R/canary")"
wait
(
	while [ ! -e "$R/stop" ]; do
		[ "$(scan_proc)" = found ] && echo found >"$R/proc.hit"
		echo x >>"$R/samples"
		sleep 0.02
	done
) &
sampler=$!

# --- check with --account: the account's user and password, sudo -S
lt_check "$R/chk" --known-hosts "$kh" --account web --format json "$a1"
lt_expect "check --account: exit 0" 0 "$(lt_rc "$R/chk")"
lt_expect "check --account: status ok" ok "$(lt_json "$R/chk" "t('$a1')['status']")"
lt_expect_match "check --account: logged in as adm with the password" '^[1-9]' "$(grep -c 'Accepted password for adm' "$(harness_host_dir ac1)/log/sshd.log" || true)"

# --- resume logs in with the job's account (its options): the job put
# back to where a killed controller would have left it
job=$(sqlite3 "$DB" "SELECT MAX(id) FROM jobs")
sqlite3 "$DB" "UPDATE jobs SET status = 'running' WHERE id = $job; UPDATE targets SET state = 'planned' WHERE job_id = $job"
rc=0
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" resume --known-hosts "$kh" --format json "$job" \
	>"$R/res.out" 2>"$R/res.err" </dev/null || rc=$?
echo "$rc" >"$R/res.rc"
lt_expect "resume with the job's account: exit 0" 0 "$(lt_rc "$R/res")"
lt_expect "resume with the job's account: status ok" ok "$(lt_json "$R/res" "t('$a1')['status']")"

# --- install from an inventory: a host's account and a group's
cat >"$R/inv" <<EOF
[web]
ac1 ansible_host=$a1 agentpush_account=web
[ops]
ac2 ansible_host=$a2
[ops:vars]
agentpush_account=ops
EOF
it_install "$R/inst" --package "$IT_PKG" --known-hosts "$kh" --format json -i "$R/inv"
lt_expect "install -i (accounts): exit 0" 0 "$(lt_rc "$R/inst")"
lt_expect "install: ac1 note" "installed agentpush-agent 0.1.0" "$(lt_json "$R/inst" "t('$a1')['note']")"
lt_expect "install: ac2 note" "installed agentpush-agent 0.1.0" "$(lt_json "$R/inst" "t('$a2')['note']")"
lt_expect_match "install: agent running on ac1" '^[0-9]+$' "$(it_agent_pid ac1)"
lt_expect_match "install: agent running on ac2" '^[0-9]+$' "$(it_agent_pid ac2)"
lt_expect "install: ac1 files owned by root (sudo -S)" root "$(harness_exec ac1 stat -c %U "$IT_DIR/bin/agentpush-agent")"
it_install "$R/inst2" --package "$IT_PKG" --known-hosts "$kh" -i "$R/inv"
lt_expect "install again: 800408 twice" 2 "$(grep -c '800408' "$R/inst2.out" || true)"

touch "$R/stop"
wait "$sampler"
lt_expect_match "the sampler ran during the runs" '^[1-9][0-9]*$' "$(wc -l <"$R/samples")"
lt_expect "canary on no command line and in no environment during the runs" absent \
	"$([ -e "$R/proc.hit" ] && echo found || echo absent)"
{ harness_exec ac1 sh -c 'cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null; true' || true; } | tr '\0' '\n' >"$R/proc.after"
absent "canary in no process of ac1 after" "$R/proc.after"
absent "canary not in stdout/stderr/JSON" "$R"/chk.* "$R"/res.* "$R"/inst.* "$R"/inst2.* "$R"/add*.out "$R"/add*.err
absent "canary not in the job store or its WAL" "$DB" "$DB-wal"
absent "canary not in the sshd logs" "$(harness_host_dir ac1)/log/sshd.log" "$(harness_host_dir ac2)/log/sshd.log"
harness_exec ac1 cat /var/log/agentpush-agent-install.log "$IT_DIR/log/agentpush-agent.log" >"$R/ac1.logs" 2>/dev/null || true
lt_expect_match "the install log was fetched" "installed in" "$(cat "$R/ac1.logs")"
absent "canary not in the install or agent log" "$R/ac1.logs"
if grep -rqaF -f "$R/canary" "$LT_STATE" "$LT_HOME"; then st=found; else st=absent; fi
lt_expect "canary in no file under XDG_STATE_HOME/HOME" absent "$st"
lt_expect "the job records the account's name, no password" "web" \
	"$(sqlite3 "$DB" "SELECT json_extract(options_json, '\$.account') FROM jobs ORDER BY id LIMIT 1")"

# --- the lockout rule across runs
printf 'wrong-%s\n' "$(openssl rand -hex 6)" | accounts add dep --user dep >/dev/null 2>&1
before=$(failed_pw)
lt_check "$R/lk1" --known-hosts "$kh" --account dep --parallel 2 --format json "$l1" "$l2"
lt_expect "refused account: exit 1" 1 "$(lt_rc "$R/lk1")"
lt_expect "refused account: one failed password across both hosts" 1 $(( $(failed_pw) - before ))
lt_expect "refused account: 95108 and 800105" "800105 95108" \
	"$(lt_json "$R/lk1" "' '.join(sorted(str(e['id']) for x in d['targets'] for e in x['errors']))")"
accounts list --format json >"$R/list1"
by=$(python3 -c 'import json,sys; a=[x for x in json.load(open(sys.argv[1])) if x["name"]=="dep"][0]; print(a["refused_by"], a["refused_at"] is not None)' "$R/list1")
lt_expect_match "the vault marks the account refused, with the host" "^($l1|$l2) True$" "$by"
accounts list >"$R/list1.txt"
lt_expect_match "accounts list shows the refusal" "^dep .*refused by ($l1|$l2) at " "$(cat "$R/list1.txt")"

before=$(failed_pw)
lt_check "$R/lk2" --known-hosts "$kh" --account dep --format json "$l1" "$l2"
lt_expect "next run: exit 1" 1 "$(lt_rc "$R/lk2")"
lt_expect "next run: no logon tried" 0 $(( $(failed_pw) - before ))
lt_expect "next run: 800105 on both" "800105 800105" \
	"$(lt_json "$R/lk2" "' '.join(str(e['id']) for x in d['targets'] for e in x['errors'])")"
lt_expect_match "next run: evidence says an earlier run" "refused by .* \\(an earlier run\\).*accounts passwd dep" \
	"$(lt_json "$R/lk2" "t('$l1')['errors'][0]['evidence']")"

printf '%s\n' "$CANARY-3" | accounts passwd dep >/dev/null 2>&1
lt_expect "passwd clears the refusal" "None" \
	"$(accounts list --format json | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin) if x["name"]=="dep"][0]["refused_at"])')"
lt_check "$R/lk3" --known-hosts "$kh" --account dep --format json "$l1" "$l2"
lt_expect "after passwd: exit 0" 0 "$(lt_rc "$R/lk3")"

# --- a missing key file: one line, exit 2, no host contacted
mv "$LT_STATE/agentpush/vault.key" "$R/vault.key"
before=$(grep -c 'Accepted password\|Failed password' "$(harness_host_dir lk1)/log/sshd.log" || true)
lt_check "$R/nokey" --known-hosts "$kh" --account dep "$l1"
lt_expect "missing key: exit 2" 2 "$(lt_rc "$R/nokey")"
lt_expect "missing key: one line" 1 "$(wc -l <"$R/nokey.err")"
lt_expect_match "missing key: says so" "vault key file .* is missing" "$(cat "$R/nokey.err")"
lt_expect "missing key: no logon" "$before" "$(grep -c 'Accepted password\|Failed password' "$(harness_host_dir lk1)/log/sshd.log" || true)"
lt_check "$R/noacct" --known-hosts "$kh" --account nobody "$l1"
mv "$R/vault.key" "$LT_STATE/agentpush/vault.key"
lt_check "$R/noacct" --known-hosts "$kh" --account nobody "$l1"
lt_expect "unknown account: exit 2" 2 "$(lt_rc "$R/noacct")"
lt_expect_match "unknown account: says so" "no account named nobody" "$(cat "$R/noacct.err")"
lt_done
