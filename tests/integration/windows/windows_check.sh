#!/usr/bin/env bash
# windows_check: `agentpush check --os windows` against REAL Samba smbd test
# hosts, each given one condition, with a RECORDED-RESPONSE WinRM server
# (tests/winrm/server.py, not Windows) beside the ones that get that far:
#   ok1     healthy (Server 2019 facts)                     -> ok
#   pwbad   wrong password for root (its OWN run: the credential gate blocks
#           a rejected credential for the rest of a run)    -> 95107 LOGON_FAILURE
#   noadm   bob, not allowed on ADMIN$/C$                   -> 95517 + LATFP hint
#   dis     carol, smbpasswd -d                             -> 95519
#   lock    dave, policy 3 + 3 bad smbclient logons         -> 95520
#   noshare ADMIN$ and C$ removed from smb.conf             -> 95106
#   nosmb   smbd stopped                                    -> 95105
#   noroute host-side route removed                         -> 95523
#   nowinrm no WinRM server on 5986                         -> 95103 + netsh fix
#   badca   WinRM certificate from a CA not in --ca-file    -> 95103, TLS evidence
#   ok1 again with --kerberos and no ticket -> 95107 "Kerberos only", and
#           Samba counts no bad password (no fallback to NTLM)
#   old     Server 2008 R2 facts (server2008r2-bad.json)    -> 95213 and what the
#           fixture's other facts trigger (95224 95572 95524, 95107 warning)
# and a fleet run: one healthy Linux sshd host and two healthy Windows hosts
# (ansible_connection=winrm / os=windows) in one inventory -> all ok, exit 0.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init windows_check
source "$AP_SOURCE_ROOT/tests/integration/windows/lib.sh"
R=$WT_DIR/out; mkdir -p "$R"

declare -A A
for h in ok1 pwbad noadm dis lock noshare nosmb noroute nowinrm badca old; do
	wt_host "$h"; A[$h]=$(harness_host_addr "$h")
done
wt_winrm ok1 badca old:server2008r2-bad.json
wt_user noadm bob none
wt_user dis carol nopasswd
harness_exec dis smbpasswd -c "$(wt_conf dis)" -d carol >/dev/null
wt_user lock dave nopasswd
wt_lockout lock 3
wt_bad_logons lock dave 3
lt_expect "setup: dave has 3 bad passwords" 3 "$(wt_bad_count lock dave)"
lt_expect "setup: dave is locked (pdbedit flags; control for wt_locked)" yes "$(wt_locked lock dave)"
wt_drop_share noshare 'ADMIN$'
wt_drop_share noshare 'C$'
harness_host_stop_service nosmb
harness_route_del noroute
# --ca-file: the CAs of ok1 and old; badca's own CA left out on purpose
cat "$(wt_ca ok1)" "$(wt_ca old)" "$(wt_other_ca badca)" >"$WT_DIR/bundle.pem"

common=(--os windows --winrm-auth basic --ca-file "$WT_DIR/bundle.pem" --timeout 10)
targets=("root@${A[ok1]}" "bob@${A[noadm]}" "carol@${A[dis]}" "dave@${A[lock]}"
	"root@${A[noshare]}" "root@${A[nosmb]}" "root@${A[noroute]}"
	"root@${A[nowinrm]}" "root@${A[badca]}" "root@${A[old]}")
for fmt in json text; do
	lt_check "$R/main.$fmt" "${common[@]}" --password-file "$WT_PW" --format "$fmt" "${targets[@]}"
	lt_expect "$fmt: exit 1 (some targets failed)" 1 "$(lt_rc "$R/main.$fmt")"
done
sed 's/^/  | /' "$R/main.text.out"
J=$R/main.json
st() { lt_json "$J" "t('${A[$1]}')['status'] + ' ' + ids('${A[$1]}')"; }
ev() { lt_json "$J" "err('${A[$1]}', $2).get('evidence', '')"; }
fix() { lt_json "$J" "err('${A[$1]}', $2).get('remediation', '')"; }

lt_expect "ok1 healthy: ok, no finding" "ok " "$(st ok1)"
lt_expect "ok1: os windows" windows "$(lt_json "$J" "t('${A[ok1]}')['os']")"
lt_expect "noadm: 95517" "failed 95517" "$(st noadm)"
wt_expect_match "noadm: NT_STATUS_ACCESS_DENIED + LocalAccountTokenFilterPolicy hint" \
	'ADMIN\$.*NT_STATUS_ACCESS_DENIED.*LocalAccountTokenFilterPolicy=1' "$(ev noadm 95517)"
lt_expect "dis: 95519" "failed 95519" "$(st dis)"
wt_expect_match "dis: NT_STATUS_ACCOUNT_DISABLED" 'carol .*NT_STATUS_ACCOUNT_DISABLED' "$(ev dis 95519)"
lt_expect "lock: 95520" "failed 95520" "$(st lock)"
wt_expect_match "lock: NT_STATUS_ACCOUNT_LOCKED_OUT" 'dave .*NT_STATUS_ACCOUNT_LOCKED_OUT' "$(ev lock 95520)"
lt_expect "noshare: 95106" "failed 95106" "$(st noshare)"
wt_expect_match "noshare: NT_STATUS_BAD_NETWORK_NAME for ADMIN\$ and C\$" \
	'ADMIN\$ and C\$ .*NT_STATUS_BAD_NETWORK_NAME' "$(ev noshare 95106)"
lt_expect "nosmb: 95105" "failed 95105" "$(st nosmb)"
wt_expect_match "nosmb: port 445 refused" "${A[nosmb]} port 445: Connection refused" "$(ev nosmb 95105)"
lt_expect "noroute: 95523" "failed 95523" "$(st noroute)"
wt_expect_match "noroute: network unreachable" 'port 445: Network is unreachable' "$(ev noroute 95523)"
lt_expect "nowinrm: 95103" "failed 95103" "$(st nowinrm)"
wt_expect_match "nowinrm: evidence names port 5986" '5986' "$(ev nowinrm 95103)"
wt_expect_match "nowinrm: remediation has the netsh advfirewall fix" 'netsh advfirewall' "$(fix nowinrm 95103)"
lt_expect "badca: 95103" "failed 95103" "$(st badca)"
wt_expect_match "badca: TLS verification in the evidence" '(certificate|SSL|TLS)' "$(ev badca 95103)"
echo "   badca evidence: $(ev badca 95103)"
lt_expect "old: what server2008r2-bad.json triggers" "failed 95107 95213 95224 95572 95524" "$(st old)"
wt_expect_match "old: 95213 names Server 2008 R2" 'Windows Server 2008 R2.*not on the support list' "$(ev old 95213)"
lt_expect "old: 95107 is a warning (LATFP 0, local account)" warning \
	"$(lt_json "$J" "err('${A[old]}', 95107)['severity']")"
lt_expect "summary" "1 0 9" "$(lt_json "$J" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])")"

# text output: one FAILED line per id, the NTSTATUS on the evidence lines
T=$(cat "$R/main.text.out")
for p in "bob@${A[noadm]} +95517" "carol@${A[dis]} +95519" "dave@${A[lock]} +95520" \
	"root@${A[noshare]} +95106" "root@${A[nosmb]} +95105" "root@${A[noroute]} +95523" \
	"root@${A[nowinrm]} +95103" "root@${A[badca]} +95103" "root@${A[old]} +95107"; do
	wt_expect_match "text: FAILED $p" "FAILED +${p//./\\.} " "$T"
done
for s in NT_STATUS_ACCESS_DENIED NT_STATUS_ACCOUNT_DISABLED NT_STATUS_ACCOUNT_LOCKED_OUT NT_STATUS_BAD_NETWORK_NAME; do
	wt_expect_match "text: evidence line with $s" "evidence: .*$s" "$T"
done
wt_expect_match "text: totals" '^10 targets: 1 ok, 0 warning, 9 failed' "$T"

# ---- wrong password, alone in its run --------------------------------------
wt_lockout pwbad 5   # so that Samba counts it
( umask 077; printf 'Wr0ng-%s\n' "$(openssl rand -hex 12)" >"$WT_DIR/wrong" )
lt_check "$R/pw" --os windows --winrm-auth basic --password-file "$WT_DIR/wrong" \
	--format json "root@${A[pwbad]}"
J=$R/pw
lt_expect "pwbad: exit 1" 1 "$(lt_rc "$J")"
lt_expect "pwbad: 95107" "failed 95107" "$(st pwbad)"
wt_expect_match "pwbad: NT_STATUS_LOGON_FAILURE" 'root .*NT_STATUS_LOGON_FAILURE' "$(ev pwbad 95107)"
lt_expect "pwbad: exactly one bad password on the host" 1 "$(wt_bad_count pwbad root)"

# ---- Kerberos asked for, no ticket: refused, and never an NTLM try ---------
# (no KDC here: what is proven is that --kerberos does not fall back to the
# password, which Samba's bad-password counter would show)
wt_lockout ok1 3
KRB5CCNAME=FILE:$WT_DIR/no-ccache lt_check "$R/krb" --os windows --kerberos --password-file "$WT_PW" --format json "root@${A[ok1]}"
J=$R/krb
lt_expect "kerberos: 95107" "failed 95107" "$(st ok1)"
wt_expect_match "kerberos: the evidence says Kerberos only, no NTLM" 'Kerberos only, as asked.*no NTLM' "$(ev ok1 95107)"
lt_expect "kerberos: no password was tried on the host" 0 "$(wt_bad_count ok1 root)"

# ---- fleet: Linux sshd + Windows by inventory markers, one run -------------
lt_host lx1
lt_root_password lx1 "$WT_PW"
wt_host wf1; wt_host wf2
wt_winrm wf1 wf2:win11-local-ok.json
harness_known_hosts "$WT_DIR/kh" lx1
cat "$(wt_ca wf1)" "$(wt_ca wf2)" >"$WT_DIR/fleet-ca.pem"
{
	echo "[linux]"
	echo "lx1 ansible_host=$(harness_host_addr lx1) ansible_user=root"
	echo "[windows]"
	echo "wf1 ansible_host=$(harness_host_addr wf1) ansible_user=root ansible_connection=winrm"
	echo "wf2 ansible_host=$(harness_host_addr wf2) ansible_user=root os=windows"
} >"$WT_DIR/inventory"
lt_check "$R/fleet" -i "$WT_DIR/inventory" --known-hosts "$WT_DIR/kh" --password-file "$WT_PW" \
	--ca-file "$WT_DIR/fleet-ca.pem" --winrm-auth basic --format json
J=$R/fleet
lt_expect "fleet: exit 0" 0 "$(lt_rc "$J")"
lt_expect "fleet: every target ok, with its os" "lx1:linux:ok wf1:windows:ok wf2:windows:ok" \
	"$(lt_json "$J" "' '.join('%s:%s:%s' % (x['target'], x['os'], x['status']) for x in sorted(d['targets'], key=lambda x: x['target']))")"

# ---- no password anywhere; the servers this script started are gone ----------
files=("$R"/*.out "$R"/*.err)
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$LT_HOME" "$LT_STATE" -type f -print0)
lt_expect "neither password in ${#files[@]} output/state files" 0 \
	"$( { grep -l -F -f "$WT_PW" -f "$WT_DIR/wrong" "${files[@]}" 2>/dev/null || true; } | wc -l)"
lt_expect "recorded WinRM servers stopped" 0 "$(wt_winrm_stop)"
lt_done
