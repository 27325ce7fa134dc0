#!/usr/bin/env bash
# windows_domain: `agentpush check --os windows` with a DOMAIN account against
# a REAL Samba AD member server whose domain breaks (tests/integration/windows/
# ad.sh): a Samba AD DC (`samba`, provisioned by samba-tool) in test host dc,
# a member server (smbd + winbindd, security = ads, `net ads join`) in test
# host mem, each in its own namespaces; user APDOM\alice exists on the DC.
# What the member's smbd answers alice's SMB logon, and the ErrorID:
#   healthy                                   logon and ADMIN$ fine -> 95103
#                                             (no WinRM listener on mem)
#   winbindd stopped on the member            NO_LOGON_SERVERS      -> 95521
#   the DC's samba stopped                    NO_LOGON_SERVERS      -> 95521
#   the DC unreachable (route inside mem)     NO_LOGON_SERVERS      -> 95521
#   the DC without its netlogon endpoint      CONNECTION_REFUSED    -> 95521
#   machine password of MEM$ reset on the DC  ACCESS_DENIED         -> 95107
#   machine account MEM$ deleted on the DC    LOGON_FAILURE         -> 95107
# The last two are trust failures on Windows (95518, TRUSTED_RELATIONSHIP_
# FAILURE / NO_TRUST_SAM_ACCOUNT); Samba 4.17's member does not use those
# statuses: it passes on what its own logon to the DC got.  Recorded here as
# measured; docs/windows-tests.md.  No password in any output or log.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init windows_domain
source "$AP_SOURCE_ROOT/tests/integration/windows/lib.sh"
source "$AP_SOURCE_ROOT/tests/integration/windows/ad.sh"
R=$WT_DIR/out; mkdir -p "$R"

ad_dc dc mem
ad_user dc alice
ad_member mem
ad_member_user mem alice
M=$(harness_host_addr mem)
MD=$(harness_host_dir mem)
lt_expect "setup: mem's trust with the DC works (wbinfo -t)" 0 \
	"$(harness_exec mem wbinfo -t >/dev/null 2>&1; echo $?)"

# check NAME: one run as APDOM\alice against mem, JSON in $R/NAME.out
check() {
	local t0
	t0=$(date +%s%N)
	lt_check "$R/$1" --os windows --user 'APDOM\alice' --password-file "$WT_PW" \
		--winrm-auth basic --timeout 30 --format json "$M"
	echo "   ($1: agentpush ran $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
}
st() { lt_json "$R/$1" "t('$M')['status'] + ' ' + ids('$M')"; }
ev() { lt_json "$R/$1" "err('$M', $2).get('evidence', '')"; }
# the member's own record of the last logon of alice (smbd's auth log)
auth_status() {
	cat "$MD"/log/*.log 2>/dev/null | grep -a 'Auth: \[SMB2.*\[APDOM\]\\\[alice\]' | tail -n1 |
		sed -n 's/.* status \[\([A-Z_]*\)\].*/\1/p'
}

# --- healthy: the logon goes through the DC, ADMIN$ is allowed; the run stops
# at WinRM (none on mem)
check ok
lt_expect "healthy: 95103 (SMB passed, no WinRM on 5986)" "failed 95103" "$(st ok)"
lt_expect "healthy: the member logged alice on" NT_STATUS_OK "$(auth_status)"

# --- winbindd stopped: smbd cannot reach the domain at all
ad_winbind_stop mem
check nowinbind
lt_expect "winbindd stopped: 95521" "failed 95521" "$(st nowinbind)"
wt_expect_match "winbindd stopped: NT_STATUS_NO_LOGON_SERVERS" \
	'SMB logon of APDOM\\alice on .* refused: NT_STATUS_NO_LOGON_SERVERS' "$(ev nowinbind 95521)"
ad_winbind_start mem

# --- the DC's samba stopped
ad_dc_stop dc
check dcdown
lt_expect "DC stopped: 95521" "failed 95521" "$(st dcdown)"
wt_expect_match "DC stopped: NT_STATUS_NO_LOGON_SERVERS" 'NT_STATUS_NO_LOGON_SERVERS' "$(ev dcdown 95521)"
lt_expect "DC stopped: the member's own answer" NT_STATUS_NO_LOGON_SERVERS "$(auth_status)"
ad_dc_start dc
ad_winbind_restart mem
check back
lt_expect "DC back: logon works again (95103)" "failed 95103" "$(st back)"

# --- the DC unreachable from the member (route)
ad_dc_unreachable mem
check noroute
lt_expect "DC unreachable: 95521" "failed 95521" "$(st noroute)"
wt_expect_match "DC unreachable: NT_STATUS_NO_LOGON_SERVERS" 'NT_STATUS_NO_LOGON_SERVERS' "$(ev noroute 95521)"
ad_dc_reachable mem
ad_winbind_restart mem

# --- the DC up but without its netlogon endpoint (the closest Samba has to a
# stopped Netlogon service; Windows' NETLOGON_NOT_STARTED, 95522, is about
# the HOST's own Netlogon, whose Samba counterpart is winbindd, above)
ad_dc_netlogon dc off
ad_winbind_restart mem
check nonetlogon
lt_expect "DC without netlogon: 95521" "failed 95521" "$(st nonetlogon)"
wt_expect_match "DC without netlogon: NT_STATUS_CONNECTION_REFUSED" \
	'SMB logon of APDOM\\alice on .* refused: NT_STATUS_CONNECTION_REFUSED' "$(ev nonetlogon 95521)"
lt_expect "DC without netlogon: the member's own answer" NT_STATUS_CONNECTION_REFUSED "$(auth_status)"
ad_dc_netlogon dc on
ad_winbind_restart mem
check back2
lt_expect "netlogon back: logon works again (95103)" "failed 95103" "$(st back2)"

# --- machine password reset on the DC: mem's secure channel is refused
( umask 077; printf 'Mx-%s\n' "$(openssl rand -hex 16)" >"$WT_DIR/mempw" )
AD_PW=$WT_DIR/mempw ad_tool dc user setpassword 'MEM$' --newpassword=@PW@ >>"$(harness_host_dir dc)/log/ad-tool.log" 2>&1
ad_winbind_restart mem
lt_expect "reset: mem's trust is broken (wbinfo -t fails)" 1 \
	"$(harness_exec mem wbinfo -t >/dev/null 2>&1; echo $?)"
check reset
lt_expect "machine password reset: 95107 (Samba answers ACCESS_DENIED, not a trust status)" \
	"failed 95107" "$(st reset)"
wt_expect_match "machine password reset: NT_STATUS_ACCESS_DENIED" \
	'SMB logon of APDOM\\alice on .* refused: NT_STATUS_ACCESS_DENIED' "$(ev reset 95107)"
lt_expect "machine password reset: the member's own answer" NT_STATUS_ACCESS_DENIED "$(auth_status)"

# --- machine account deleted on the DC
ad_tool dc computer delete MEM >>"$(harness_host_dir dc)/log/ad-tool.log" 2>&1
ad_winbind_restart mem
check deleted
lt_expect "machine account deleted: 95107 (Samba answers LOGON_FAILURE)" "failed 95107" "$(st deleted)"
wt_expect_match "machine account deleted: NT_STATUS_LOGON_FAILURE" \
	'refused: NT_STATUS_LOGON_FAILURE' "$(ev deleted 95107)"
lt_expect "machine account deleted: the member's own answer" NT_STATUS_LOGON_FAILURE "$(auth_status)"

# --- no password (alice's, the DC's provisioning secret, MEM$'s) anywhere
files=("$R"/*.out "$R"/*.err)
for h in dc mem; do
	while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$(harness_host_dir "$h")/log" -type f -print0)
done
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$LT_HOME" "$LT_STATE" -type f -print0)
for pw in "$WT_PW" "$AD_PW" "$WT_DIR/mempw"; do
	lt_expect "control: the search finds $(basename "$pw") in its own file" 1 \
		"$(grep -l -F -f "$pw" "$pw" | wc -l)"
	lt_expect "$(basename "$pw") appears in none of ${#files[@]} files" 0 \
		"$( { grep -l -F -f "$pw" "${files[@]}" 2>/dev/null || true; } | wc -l)"
done
lt_done
