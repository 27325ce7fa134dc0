#!/usr/bin/env bash
# windows_install: `agentpush install` on Windows targets.  The SMB side is
# REAL: each host is a Samba smbd test host (tests/harness) whose ADMIN$
# folder stands for C:\Windows, and the payload really travels over SMB3,
# lands on its disk, is renamed there and removed again.  The Windows side is
# SIMULATED by tests/winrm/server.py --simulate (no Windows here): it answers
# in recorded WS-Management envelopes, hashes the real uploaded file for
# Get-FileHash, and acts out the test package's installer (exit code and
# UTF-16 log chosen per host through control files).
#
#   ok      installer exit 0, verify passes       -> ok, "installed ..."; staging
#           left empty; the simulator saw the package's exact bytes once
#           then a second run                      -> 800408 already installed,
#           nothing copied or run again
#   vss     exit 511, log "VSS error -2147023170"  -> 800301 (antivirus)
#   cscript exit 806                               -> 800305 (CScript denied)
#   prereq  exit 99 (manifest: INSTALL_PREREQ)     -> 800407, log line as evidence
#   hash    Get-FileHash answers another hash      -> 800403, installer never run
#   reboot  exit 3010 (manifest: warning)          -> warning 95266, verified
#   verify  installed but the verify command fails -> 800406
#   reboot  again with a package needing 60 GB     -> 95524, nothing run
#   hash    again with its staging disk filling up during the copy
#           (a 1 MiB tmpfs, a 2 MiB payload)       -> 95524 from the SMB
#           write, nothing run, staging empty
#   cscript, prereq again: an 8 s installer under --timeout 5, with the
#           package's install_timeout 60 -> ok; with 1 (raised to the
#           stage's 5 s) -> 800405 INSTALL_TIMEOUT, staging cleaned
#   res     SIGKILL of the controller during the installer, then `resume`:
#           installed exactly once, and the stale upload of a dead controller
#           removed
# The simulators log on like a default Windows listener (Negotiate with NTLM
# judged by gss-ntlmssp, Kerberos offered, no Basic) and agentpush runs with
# its default --winrm-auth.  In every case the staging folder ends empty,
# and the password appears in no output, store or simulator log.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init windows_install
source "$AP_SOURCE_ROOT/tests/integration/windows/lib.sh"
R=$WT_DIR/out; mkdir -p "$R"

wi_run() { # OUT ARGS...: agentpush ARGS, like lt_check
	local out=$1 rc=0
	shift
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
		"$LT_AP" "$@" >"$out.out" 2>"$out.err" </dev/null || rc=$?
	echo "$rc" >"$out.rc"
}

# --- the test package: a 2 MiB payload (two SMB writes)
PKG=$WT_DIR/pkg
wt_test_package "$PKG" 2
SHA=$(sha256sum "$PKG/agentpush-test-setup.exe" | cut -c1-64)

declare -A A
hosts=(ok vss cscript prereq hash reboot verify res)
for h in "${hosts[@]}"; do wt_host "$h"; A[$h]=$(harness_host_addr "$h"); done
wt_winrm_sim "${hosts[@]}"
ctl() { printf '%s' "$3" >"$(wt_sim "$1")/$2"; } # HOST FILE CONTENT
ctl vss install.exit 511
ctl vss install.log $'Installing the agent\nVSS provider registration failed: VSS error -2147023170\nRollback complete\n'
ctl cscript install.exit 806
ctl prereq install.exit 99
ctl prereq install.log $'checking prerequisites\nERROR: .NET Framework 4.5 or later is required (exit 99)\n'
ctl hash hash.corrupt x
ctl reboot install.exit 3010
ctl verify verify.fail x
for h in "${hosts[@]}"; do cat "$(wt_ca "$h")"; done >"$WT_DIR/bundle.pem"
# resume takes the job's targets and OS from the store: no --os there
# no --winrm-auth: the default, NTLM through GSS-API, against simulators
# that offer what a default Windows listener offers (Negotiate, Kerberos)
conn=(--ca-file "$WT_DIR/bundle.pem" --timeout 20 --password-file "$WT_PW")
# ASan build: gss-ntlmssp's per-credential leak is suppressed in
# tests/lsan.supp, which LeakSanitizer can match only with the slow unwinder
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
common=(--os windows "${conn[@]}" --package "$PKG")
staging_left() { find "$(wt_admin "$1")/Temp" -name 'agentpush-test-setup.exe' -o -name '.agentpush-*'; }
installs() { [ -f "$(wt_sim "$1")/installs" ] && wc -l <"$(wt_sim "$1")/installs" || echo 0; }

# --- one install over seven hosts
main=(ok vss cscript prereq hash reboot verify)
targets=(); for h in "${main[@]}"; do targets+=("root@${A[$h]}"); done
wi_run "$R/main" install "${common[@]}" --db "$R/jobs.db" --format json "${targets[@]}"
lt_expect "main: exit 1 (some targets failed)" 1 "$(lt_rc "$R/main")"
lt_expect "main: stderr empty (json)" "" "$(cat "$R/main.err")"
J=$R/main
st() { lt_json "$J" "t('${A[$1]}')['status'] + ' ' + ids('${A[$1]}')"; }
ev() { lt_json "$J" "err('${A[$1]}', $2).get('evidence', '')"; }

lt_expect "ok: ok, no finding" "ok " "$(st ok)"
lt_expect "ok: note" "installed agentpush-test 0.2.0" "$(lt_json "$J" "t('${A[ok]}')['note']")"
lt_expect "ok: the simulator installed the package's exact bytes, once" "$SHA" "$(cat "$(wt_sim ok)/installs")"
lt_expect "ok: staging folder empty afterwards" "" "$(staging_left ok)"
wt_expect_match "ok: logged on with NTLM under Negotiate, judged by gss-ntlmssp" \
	'^Auth NTLM 3 accepted .*root' "$(grep '^Auth NTLM 3' "$(wt_sim ok)/actions.log")"
lt_expect "ok: no Basic tried, no NTLM refused" "" "$(grep -E '^Auth (Basic|NTLM 3 refused)' "$(wt_sim ok)/actions.log")"
lt_expect "ok: commands in order (the rename is SMB's)" "facts version hash install verify remove" \
	"$(sed -n 's/^Sim //p' "$(wt_sim ok)/actions.log" | paste -sd' ')"

lt_expect "vss: 800301" "failed 800301" "$(st vss)"
wt_expect_match "vss: exit code, VSS error and the log's path" \
	'exit code 511, VSS error -2147023170 .*agentpush-test-install.log' "$(ev vss 800301)"
wt_expect_match "vss: the UTF-16 log's line" '^VSS provider registration failed: VSS error -2147023170$' "$(ev vss 800301)"
lt_expect "vss: nothing counted as installed" no "$([ -f "$(wt_sim vss)/installed" ] && echo yes || echo no)"
lt_expect "vss: staging folder empty" "" "$(staging_left vss)"
lt_expect "cscript: 800305" "failed 800305" "$(st cscript)"
wt_expect_match "cscript: exit 806 in the evidence" 'exit code 806' "$(ev cscript 800305)"
lt_expect "prereq: 800407 (from the manifest's table)" "failed 800407" "$(st prereq)"
wt_expect_match "prereq: the log's ERROR line" 'exited 99 \(prerequisites not met\).*ERROR: .NET Framework 4.5' "$(ev prereq 800407)"
lt_expect "hash: 800403" "failed 800403" "$(st hash)"
wt_expect_match "hash: both hashes named" "sha256 [0-9a-f]{64}, the package says $SHA" "$(ev hash 800403)"
lt_expect "hash: the installer never ran" 0 "$(installs hash)"
lt_expect "hash: staging folder empty" "" "$(staging_left hash)"
lt_expect "reboot: warning 95266, installed and verified" "warning 95266" "$(st reboot)"
lt_expect "reboot: note" "installed agentpush-test 0.2.0" "$(lt_json "$J" "t('${A[reboot]}')['note']")"
lt_expect "verify: 800406" "failed 800406" "$(st verify)"
wt_expect_match "verify: the verify command's stderr" 'exited 1; stderr: the agent service is not running' "$(ev verify 800406)"
for h in "${main[@]}"; do
	lt_expect "$h: staging folder empty at the end" "" "$(staging_left "$h")"
done

# --- the same package again on ok: nothing copied, nothing run
before=$(grep -c '^Sim ' "$(wt_sim ok)/actions.log")
wi_run "$R/again" install "${common[@]}" --db "$R/jobs.db" --format json "root@${A[ok]}"
lt_expect "again: exit 0" 0 "$(lt_rc "$R/again")"
J=$R/again
lt_expect "again: 800408 already installed" "ok 800408" "$(st ok)"
lt_expect "again: installed once in all" 1 "$(installs ok)"
lt_expect "again: facts, version and verify only" "facts version verify" \
	"$(grep '^Sim ' "$(wt_sim ok)/actions.log" | sed -n "$((before + 1)),\$p" | sed 's/^Sim //' | paste -sd' ')"

# --- text output names the ErrorIDs
wi_run "$R/text" install "${common[@]}" --format text "root@${A[vss]}"
wt_expect_match "text: 800301 and its host" "${A[vss]}.*|800301" "$(cat "$R/text.out")"

# --- SIGKILL during the installer, then resume
ctl res install.sleep 4
wi_run "$R/res0" install "${common[@]}" --db "$R/res.db" --format json "root@${A[res]}" &
bg=$!
for _ in $(seq 1 200); do
	grep -q '/install /log' "$(wt_sim res)/actions.log" 2>/dev/null && break
	sleep 0.1
done
lt_expect "res: the installer was started before the kill" yes \
	"$(grep -q '/install /log' "$(wt_sim res)/actions.log" && echo yes || echo no)"
pkill -KILL -f "agentpush install .*--db $R/res.db" || true
wait "$bg" || true
# a dead controller's partial upload, as a kill during the copy leaves it
printf 'partial' >"$(wt_admin res)/Temp/.agentpush-agentpush-test-0.2.0.part.99999"
sleep 5 # the simulated installer finishes on its own, as Windows would
job=$(HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" jobs --db "$R/res.db" --format json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
wi_run "$R/res1" resume "${conn[@]}" --db "$R/res.db" --format json "$job"
lt_expect "resume: exit 0" 0 "$(lt_rc "$R/res1")"
lt_expect "resume: stderr empty" "" "$(cat "$R/res1.err")"
J=$R/res1
lt_expect "resume: ok with 800408 (the install had completed)" "ok 800408" "$(st res)"
lt_expect "resume: installed exactly once" 1 "$(installs res)"
lt_expect "resume: the dead controller's upload was removed" "" "$(staging_left res)"

# --- a package that needs more room than the system drive has (the
# facts say 50 GB free): 95524 before anything is copied
BIG=$WT_DIR/pkg-big; cp -r "$PKG" "$BIG"
python3 - "$BIG/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["windows"]["space_kb"]["install"] = 60 * 1024 * 1024
json.dump(m, open(sys.argv[1], "w"))
PY
before=$(grep -c '^Sim ' "$(wt_sim reboot)/actions.log")
wi_run "$R/big" install --os windows "${conn[@]}" --package "$BIG" --format json "root@${A[reboot]}"
J=$R/big
lt_expect "big: 95524 (the package's space_kb, not the 500 MB default)" "failed 95524" "$(st reboot)"
lt_expect "big: nothing run after the facts" "facts" \
	"$(grep '^Sim ' "$(wt_sim reboot)/actions.log" | sed -n "$((before + 1)),\$p" | sed 's/^Sim //' | paste -sd' ')"

# --- the staging disk fills up during the copy (the facts still say 50 GB
# free): a 1 MiB tmpfs under ADMIN$\Temp of the hash host (its case is
# done) and the 2 MiB payload -> 95524 from the SMB write, not the copy's
# generic 800402; nothing run, nothing left in staging
harness_host_tmpfs hash "$(wt_admin hash)/Temp" 1m
before=$(grep -c '^Sim ' "$(wt_sim hash)/actions.log")
wi_run "$R/full" install --os windows "${conn[@]}" --package "$PKG" --format json "root@${A[hash]}"
J=$R/full
lt_expect "full: the disk filled during the copy: 95524" "failed 95524" "$(st hash)"
wt_expect_match "full: the evidence names the upload and the full disk" \
	'^upload to .*No space left on device' "$(ev hash 95524)"
lt_expect "full: the installer never ran" 0 \
	"$(grep '^Sim ' "$(wt_sim hash)/actions.log" | sed -n "$((before + 1)),\$p" | grep -ci install || true)"
lt_expect "full: staging folder empty" "" "$(staging_left hash)"

# --- an installer that runs longer than a stage: --timeout 5, 8 s installer
mkpkg() { # DIR INSTALL_TIMEOUT: a copy of the test package with that limit
	cp -r "$PKG" "$1"
	python3 - "$1/manifest.json" "$2" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["windows"]["install_timeout"] = int(sys.argv[2])
json.dump(m, open(sys.argv[1], "w"))
PY
}
mkpkg "$WT_DIR/pkg-long" 60
mkpkg "$WT_DIR/pkg-short" 1
for h in cscript prereq; do ctl "$h" install.exit 0; ctl "$h" install.sleep 8; done
quick=(--ca-file "$WT_DIR/bundle.pem" --timeout 5 --password-file "$WT_PW" --os windows --format json)
wi_run "$R/long" install "${quick[@]}" --package "$WT_DIR/pkg-long" "root@${A[cscript]}"
J=$R/long
lt_expect "long: install_timeout 60 lets an 8 s installer finish under --timeout 5" "ok " "$(st cscript)"
wi_run "$R/short" install "${quick[@]}" --package "$WT_DIR/pkg-short" "root@${A[prereq]}"
J=$R/short
lt_expect "short: install_timeout 1 is raised to the stage's 5 s, still too short: 800405" "failed 800405" "$(st prereq)"
wt_expect_match "short: the evidence says the command did not finish" 'install command did not finish' "$(ev prereq 800405)"
sleep 4 # the simulated installer finishes; then the staging folder is checked
lt_expect "short: staging folder empty" "" "$(staging_left prereq)"

# --- the password went nowhere
pw=$(head -n1 "$WT_PW")
leaks=$(grep -rlF -- "$pw" "$R" "$WT_DIR"/winrm-*/actions.log 2>/dev/null || true)
lt_expect "password in no output, store or simulator log" "" "$leaks"

lt_expect "simulators still up: stopped cleanly" 0 "$(wt_winrm_stop)"
lt_done
