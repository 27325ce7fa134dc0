#!/usr/bin/env bash
# windows_accounts: a Windows account of the vault (agentpush accounts add
# --kind windows) against real Samba smbd hosts with a lockout threshold of
# 3.  A wrong password in the account: one `check --os windows --account`
# over two hosts makes exactly one bad logon in total, and the account is
# marked refused in the vault; the next run makes none at all (800105 on
# both, "an earlier run"); once `accounts passwd` gives the right password,
# the SMB logon and WinRM (the recorded server) accept it and the hosts are
# ok.  Nobody is locked out; the password is in no output.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init windows_accounts
source "$AP_SOURCE_ROOT/tests/integration/windows/lib.sh"
R=$WT_DIR/out; mkdir -p "$R"

wt_host wa1
wt_host wa2
wt_lockout wa1 3
wt_lockout wa2 3
wt_winrm wa1 wa2
cat "$(wt_ca wa1)" "$(wt_ca wa2)" >"$WT_DIR/ca.pem"
a1=$(harness_host_addr wa1); a2=$(harness_host_addr wa2)
( umask 077; printf 'Wr0ng-%s\n' "$(openssl rand -hex 12)" >"$WT_DIR/wrong" )

accounts() {
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" accounts "$@"
}
bad_total() { echo $(( $(wt_bad_count wa1 root) + $(wt_bad_count wa2 root) )); }
common=(--os windows --winrm-auth basic --ca-file "$WT_DIR/ca.pem" --timeout 10 --account win)

accounts add win --user root --kind windows <"$WT_DIR/wrong" >"$R/add.out" 2>"$R/add.err"
lt_expect "before: no bad password" 0 "$(bad_total)"
lt_check "$R/r1" "${common[@]}" --parallel 2 --format json "$a1" "$a2"
lt_expect "wrong password: exit 1" 1 "$(lt_rc "$R/r1")"
lt_expect "wrong password: one bad logon over both hosts" 1 "$(bad_total)"
lt_expect "wrong password: 95107 and 800105" "800105 95107" \
	"$(lt_json "$R/r1" "' '.join(sorted(str(e['id']) for x in d['targets'] for e in x['errors']))")"
wt_expect_match "the vault marks the account refused" "^($a1|$a2)\$" \
	"$(accounts list --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["refused_by"])')"

lt_check "$R/r2" "${common[@]}" --format json "$a1" "$a2"
lt_expect "next run: exit 1" 1 "$(lt_rc "$R/r2")"
lt_expect "next run: no logon tried" 1 "$(bad_total)"
lt_expect "next run: 800105 on both" "800105 800105" \
	"$(lt_json "$R/r2" "' '.join(str(e['id']) for x in d['targets'] for e in x['errors'])")"

accounts passwd win <"$WT_PW" >"$R/pw.out" 2>"$R/pw.err"
lt_check "$R/r3" "${common[@]}" --format json "$a1" "$a2"
lt_expect "right password: both hosts ok" "ok ok" \
	"$(lt_json "$R/r3" "' '.join(x['status'] for x in d['targets'])")"
# (Samba resets the bad password count at a good logon: nothing to count)
lt_expect "nobody locked out" "no no" "$(wt_locked wa1 root) $(wt_locked wa2 root)"

lt_expect "control: the search finds the password in its own file" 1 \
	"$(grep -l -F -f "$WT_PW" "$WT_PW" | wc -l)"
lt_expect "neither password in any output" 0 \
	"$( { grep -l -F -f "$WT_PW" -f "$WT_DIR/wrong" "$R"/* 2>/dev/null || true; } | wc -l)"
lt_done
