#!/usr/bin/env bash
# agentpush fix on Windows targets.  No Windows here: each "Windows host" is
# a REAL Samba smbd test host (its SMB side: logons, ADMIN$, port 445) with
# tests/winrm/server.py --simulate beside it (its WinRM side: recorded
# envelopes; the fix scripts acted out on SIMULATED host state that is the
# Samba host's own where SMB must see it; tests/winrm/SOURCES.md):
#   fw      File and Printer Sharing blocked (nftables drops TCP 445)  95105
#   dis     carol's account disabled (smbpasswd -d)                   95519
#   lat     bob, a local administrator whose network token remote
#           UAC filters (no ADMIN$, WinRM refused)                   95517
#   nowinrm no WinRM listener at all                                 95103
# --dry-run shows the exact PowerShell and the channel of each; 95517 and
# 95519 are printed (with the reason) without --fix-account; a firewall
# remedy forced to fail leaves the port blocked, exit 1, recorded, no new
# check; then --yes --allow-privilege-changes --fix-account admin (a vault
# account of the "built-in Administrator") fixes fw over WinRM as the
# check's account and dis and lat as admin, 95103 stays printed, and the
# check after the fix is ok for the three (before that: a --fix-account
# whose WinRM logon is refused runs nothing and says why; one that is the
# check's own login is printed); fix --undo (as the recorded
# account) puts every state back and a check sees the three findings again.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init fix_windows
source "$AP_SOURCE_ROOT/tests/integration/windows/lib.sh"
source "$AP_SOURCE_ROOT/tests/integration/fix/lib.sh"
R=$WT_DIR/fx; mkdir -p "$R"
export WT_SIM_LIFETIME=1500   # the simulators outlive the slowest (ASan) run
# ASan build: gss-ntlmssp's per-credential leak is suppressed in
# tests/lsan.supp, which LeakSanitizer can match only with the slow unwinder
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

declare -A A
for h in fw dis lat nowinrm; do wt_host "$h"; A[$h]=$(harness_host_addr "$h"); done
wt_user dis carol nopasswd
harness_exec dis smbpasswd -c "$(wt_conf dis)" -d carol >/dev/null
wt_user lat bob none
# members of the Unix group sudo stand for the local Administrators: on
# Windows they have full access to ADMIN$, so here they act as root on it
for h in dis lat; do
	sed -i 's/^\(  valid users = root @sudo\)$/\1\n  admin users = @sudo/' "$(wt_conf "$h")"
	harness_host_restart_service "$h"
done
# carol and bob log on to the simulators' WinRM too (gss-ntlmssp's file)
for u in carol bob; do { printf 'WORKGROUP:%s:' "$u"; head -n1 "$WT_PW"; } >>"$WT_NTLM_USERS"; done
wt_winrm_sim fw dis lat
echo bob >"$(wt_sim lat)/filtered-admins"
# the firewall group blocked: the table the simulator's Enable-NetFirewallRule deletes
fw_blocked() { harness_exec fw nft list table inet agentpush_sim_fw >/dev/null 2>&1 && echo yes || echo no; }
harness_exec fw nft -f - <<<'table inet agentpush_sim_fw { chain input { type filter hook input priority 0; tcp dport 445 drop; }; }'
carol_disabled() { harness_exec dis pdbedit -s "$(wt_conf dis)" -Lv carol 2>/dev/null |
	grep -qE '^Account Flags *: *\[[A-Z ]*D' && echo yes || echo no; }
bob_admin() { harness_exec lat grep -qE '^sudo:.*[:,]bob(,|$)' /etc/group && echo yes || echo no; }
state() { echo "$(fw_blocked) $(carol_disabled) $(bob_admin) $(cat "$(wt_sim lat)/latfp" 2>/dev/null || echo -)"; }
lt_expect "setup: 445 blocked, carol disabled, bob filtered, no LATFP" "yes yes no -" "$(state)"

cat "$(wt_ca fw)" "$(wt_ca dis)" "$(wt_ca lat)" >"$WT_DIR/ca.pem"
opts=(--os windows --ca-file "$WT_DIR/ca.pem" --password-file "$WT_PW" --timeout 10)
targets=("root@${A[fw]}" "carol@${A[dis]}" "bob@${A[lat]}" "root@${A[nowinrm]}")
accounts() { HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" accounts "$@"; }
# the "built-in Administrator" of every host, kept in the vault
accounts add admin --user root --kind windows <"$WT_PW" >"$R/acc.out" 2>"$R/acc.err"

# --- the check job
lt_check "$R/c0" "${opts[@]}" --format json "${targets[@]}"
lt_expect "check: exit 1" 1 "$(lt_rc "$R/c0")"
st() { lt_json "$1" "t('${A[$2]}')['status'] + ' ' + ids('${A[$2]}')"; }
lt_expect "check: fw 95105" "failed 95105" "$(st "$R/c0" fw)"
lt_expect "check: dis 95519" "failed 95519" "$(st "$R/c0" dis)"
lt_expect "check: lat 95517" "failed 95517" "$(st "$R/c0" lat)"
lt_expect "check: nowinrm 95103" "failed 95103" "$(st "$R/c0" nowinrm)"
job=$(HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" jobs --limit 1 --format json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
echo "   check job: $job"

# --- --dry-run: the exact PowerShell and each one's channel; nothing changes
fx_run "$R/dry" -- fix "${opts[@]}" --job "$job" --dry-run --fix-account admin
lt_expect "dry run: exit 0" 0 "$(lt_rc "$R/dry")"
d=$(cat "$R/dry.out")
wt_expect_match "dry run: 95105 over WinRM as the check's account" \
	"^root@${A[fw]}  95105 firewall-file-sharing\$" "$d"
wt_expect_match "dry run: its channel" "runs on ${A[fw]//./\\.} over WinRM as the check's account \\(powershell\\):" "$d"
wt_expect_match "dry run: the exact script" "\\|\\s+Enable-NetFirewallRule -Group \\\$g -ErrorAction Stop" "$d"
wt_expect_match "dry run: 95519 as the --fix-account account" \
	"runs on ${A[dis]//./\\.} over WinRM as root, the --fix-account account admin \\(powershell\\):" "$d"
wt_expect_match "dry run: net user" "\\| net user carol /active:yes" "$d"
wt_expect_match "dry run: 95517's registry value" "\\| New-ItemProperty -Path \\\$k -Name LocalAccountTokenFilterPolicy" "$d"
wt_expect_match "dry run: 95103 printed, and why" "not applied by agentpush: WinRM itself is blocked" "$d"
wt_expect_match "dry run: 95103 as a script for the host" "to run on ${A[nowinrm]//./\\.} \\(powershell\\):" "$d"
lt_expect "dry run: nothing changed" "yes yes no -" "$(state)"

# --- no --fix-account: 95517 and 95519 printed with the reason; the firewall
# remedy forced to fail (simulated "Access is denied"): nothing changes
touch "$(wt_sim fw)/fail.firewall"
fx_run "$R/fail" -- fix "${opts[@]}" --job "$job" --yes --allow-privilege-changes
sed 's/^/   | /' "$R/fail.out" | grep -v '^   |     |' || true
lt_expect "forced failure: exit 1" 1 "$(lt_rc "$R/fail")"
f=$(cat "$R/fail.out")
wt_expect_match "forced failure: says so, and that the rules were left" \
	"^FAILED on root@${A[fw]//./\\.}: 95105 firewall-file-sharing: exit status 11: agentpush: Enable-NetFirewallRule failed: .*left as they were" "$f"
wt_expect_match "no --fix-account: 95519 printed with the reason" \
	"not applied by agentpush: the check's own account cannot apply it: give --fix-account NAME" "$f"
lt_expect "forced failure: no new check" "" "$(fx_job_after "$R/fail")"
lt_expect "forced failure: every state as it was" "yes yes no -" "$(state)"
lt_check "$R/c1" "${opts[@]}" --format json "root@${A[fw]}"
lt_expect "forced failure: a check still sees 95105" "failed 95105" "$(st "$R/c1" fw)"
fx_events "$R/ev0" "$job"
wt_expect_match "store: the failure recorded, over WinRM" \
	'fix .*"remedy":"firewall-file-sharing".*"shell":"powershell","via":"winrm".*"ok":false,"exit":11' "$(cat "$R/ev0.out")"
rm "$(wt_sim fw)/fail.firewall"

# --- the --fix-account account's WinRM logon fails (a wrong password in the
# vault): the remedy is not run, says why, and nothing changes; an account
# that is the check's own login: printed, with the reason
( umask 077; printf 'Wr0ng-%s\n' "$(openssl rand -hex 12)" >"$WT_DIR/wrong" )
accounts add wrongadm --user root --kind windows <"$WT_DIR/wrong" >"$R/acc2.out" 2>"$R/acc2.err"
accounts add self --user carol --kind windows <"$WT_PW" >"$R/acc3.out" 2>"$R/acc3.err"
fx_run "$R/nologon" -- fix "${opts[@]}" --job "$job" --yes --allow-privilege-changes --only 95519 --fix-account wrongadm
lt_expect "admin logon refused: exit 1" 1 "$(lt_rc "$R/nologon")"
wt_expect_match "admin logon refused: not run, and why" \
	"^FAILED on carol@${A[dis]//./\\.}: 95519 enable-account: not run: no WinRM logon to ${A[dis]//./\\.} as root: .*; run the script on the host" \
	"$(cat "$R/nologon.out")"
fx_run "$R/self" -- fix "${opts[@]}" --job "$job" --yes --allow-privilege-changes --only 95519 --fix-account self
wt_expect_match "the check's own login as --fix-account: printed, with the reason" \
	"not applied by agentpush: the --fix-account account is the check's own login" "$(cat "$R/self.out")"
lt_expect "neither changed anything" "yes yes no -" "$(state)"
fx_events "$R/ev1" "$job"
lt_expect "nothing not run was recorded" 0 "$(grep -c '"remedy":"enable-account"' "$R/ev1.out" || true)"

# --- the fix: fw as the check's account, dis and lat as admin
fx_run "$R/fix" -- fix "${opts[@]}" --job "$job" --yes --allow-privilege-changes --fix-account admin
sed 's/^/   | /' "$R/fix.out" | grep -v '^   |     |' || true
# 95103 stays printed: not everything could be applied
lt_expect "fix: exit 1 (95103 only printed)" 1 "$(lt_rc "$R/fix")"
f=$(cat "$R/fix.out")
wt_expect_match "fix: 95105 applied" "^applied on root@${A[fw]//./\\.}: 95105 firewall-file-sharing\$" "$f"
wt_expect_match "fix: 95519 applied" "^applied on carol@${A[dis]//./\\.}: 95519 enable-account\$" "$f"
wt_expect_match "fix: 95517 applied" "^applied on bob@${A[lat]//./\\.}: 95517 token-filter-policy\$" "$f"
wt_expect_match "fix: the host's own output" "> firewall rule group @FirewallAPI.dll,-28502 enabled" "$f"
wt_expect_match "fix: the check after the fix: the three ok" "^3 targets: 3 ok, 0 warning, 0 failed\$" "$f"
lt_expect "fix: 445 open, carol enabled, bob's token whole, LATFP 1" "no no yes 1" "$(state)"
for h in fw dis lat; do
	u=root; [ "$h" = dis ] && u=carol; [ "$h" = lat ] && u=bob
	lt_check "$R/ok-$h" "${opts[@]}" --format json "$u@${A[$h]}"
	lt_expect "a later check of $h: ok" "ok " "$(st "$R/ok-$h" "$h")"
done
fx_events "$R/ev" "$job"
ev=$(cat "$R/ev.out")
wt_expect_match "store: 95519 ran as the admin account, with its undo" \
	'fix .*"remedy":"enable-account".*"via":"winrm","account":"admin".*"undo":"# agentpush fix --undo 95519' "$ev"
wt_expect_match "store: 95105 as the check's account (no account field)" \
	'fix \{"remedy":"firewall-file-sharing","id":95105,"privilege":false,"shell":"powershell","via":"winrm","commands":.*"ok":true' "$ev"
wt_expect_match "store: net user's output" '"stdout":"The command completed successfully' "$ev"

# --- undo: as the recorded account, read from the vault
fx_run "$R/undo" -- fix "${opts[@]}" --undo "$job" --yes
sed 's/^/   | /' "$R/undo.out" | grep -v '^   |     |' || true
lt_expect "undo: exit 0" 0 "$(lt_rc "$R/undo")"
wt_expect_match "undo: the three undone" "undone on bob@.*undone on carol@|undone on carol@.*undone on bob@" "$(tr '\n' ' ' <"$R/undo.out")"
lt_expect "undo: every state back" "yes yes no -" "$(state)"
lt_check "$R/c2" "${opts[@]}" --format json "root@${A[fw]}" "carol@${A[dis]}" "bob@${A[lat]}"
lt_expect "after undo: the three findings again" "95105 95519 95517" \
	"$(lt_json "$R/c2" "ids('${A[fw]}')") $(lt_json "$R/c2" "ids('${A[dis]}')") $(lt_json "$R/c2" "ids('${A[lat]}')")"
fx_run "$R/undo2" -- fix "${opts[@]}" --undo "$job" --yes
lt_expect_match "undo again: nothing left" "no applied remedy left to undo" "$(cat "$R/undo2.out")"

# --- secrets and sanitizers
files=("$R"/*.out "$R"/*.err)
for h in fw dis lat; do files+=("$(wt_sim "$h")/actions.log" "$(wt_sim "$h")/server.log"); done
while IFS= read -r -d '' x; do files+=("$x"); done < <(find "$LT_HOME" "$LT_STATE" -type f ! -name vault.key -print0)
lt_expect "neither password in any of ${#files[@]} outputs, logs or store files" 0 \
	"$( { grep -l -F -f "$WT_PW" -f "$WT_DIR/wrong" "${files[@]}" 2>/dev/null || true; } | wc -l)"
grep -H -E -A12 'Sanitizer|runtime error' "$R"/*.err | head -60 || true
lt_expect "no sanitizer report" 0 "$(cat "$R"/*.err | grep -c -E 'Sanitizer|runtime error' || true)"
lt_expect "simulators stopped" 0 "$(wt_winrm_stop)"
lt_done
