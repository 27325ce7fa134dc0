#!/usr/bin/env bash
# Chaos, the SMB copy of a Windows push (issue 15): smbd killed at a random
# moment inside the copy of the payload.
#
# The hosts are those of tests/integration/windows (lib.sh there): real
# Samba smbd test hosts whose ADMIN$ folder stands for C:\Windows, the
# payload really travels over SMB3; the Windows side is tests/winrm/server.py
# --simulate (it hashes the real uploaded file and acts out the installer,
# counting its installs).  CH_SMB_HOSTS hosts (default 20): on w1..w10 every
# smbd process of the host (listener and the session's child) is SIGKILLed
# 0 to 1.5 s after the upload's .part file appeared in the staging folder;
# the others get no fault.  The copy is slowed (8 Mbit/s toward the hosts:
# about 4 s for the 4 MiB payload) so that the kill lands inside it.
#
# Checks: every host ends ok (verified; the kill came after the rename) or
# failed with 800402 (the copy or the rename failed), its evidence naming
# the upload or the rename; the run ends within a bound far above its stage
# limits; the staging folder holds no .part and no payload (the cleanup goes
# through WinRM, which lives on); the store passes PRAGMA integrity_check;
# then, with smbd started again, the same install finishes every host with
# the installer run exactly once on each (the simulator's count).
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init chaos_smb
source "$AP_SOURCE_ROOT/tests/integration/windows/lib.sh"
source "$AP_SOURCE_ROOT/tests/integration/chaos/lib.sh"
# NTLM logons through gss-ntlmssp: its known leak is matched by
# tests/lsan.supp only with full stacks (as windows_install.sh does)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

R=$HARNESS_RUN/ch; mkdir -p "$R"
N=${CH_SMB_HOSTS:-20}
KILLED=${CH_SMB_KILLED:-10}
# the simulators must outlive both runs
export WT_SIM_LIFETIME=1500

# --- the package: a 4 MiB payload
PKG=$R/pkg
wt_test_package "$PKG" 4

# --- the hosts: two at a time (each makes its smbd, its account)
hosts=()
for i in $(seq 1 "$N"); do hosts+=("w$i"); done
for ((i = 0; i < N; i += 2)); do
	pids=()
	for h in "${hosts[@]:i:2}"; do
		( wt_host "$h" ) >"$R/mk-$h.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || { cat "$R"/mk-*.log >&2; _harness_die "making the hosts failed"; }; done
done
HARNESS_HOSTS+=("${hosts[@]}")
wt_winrm_sim "${hosts[@]}"
for h in "${hosts[@]}"; do cat "$(wt_ca "$h")"; done >"$R/bundle.pem"
for h in "${hosts[@]:0:KILLED}"; do ch_slow "$h" 8mbit; done
echo "   $N smbd hosts with their WinRM simulators: $(ch_ms) ms"

# the stage limit: 60 s, not 20: under ASan (full stacks on every malloc)
# at load 45, 20 hosts at once did not get their WinRM answers within 20 s
# (docs/reliability.md); the kill fails the copy at once whatever the limit
TIMEOUT=${CH_SMB_TIMEOUT:-60}
BOUND=$(( TIMEOUT * 3 * 8 + 60 ))
opts=(--os windows --ca-file "$R/bundle.pem" --timeout "$TIMEOUT" --password-file "$WT_PW"
      --package "$PKG" --format json --parallel "$N" --db "$R/jobs.db")
targets=(); for h in "${hosts[@]}"; do targets+=("root@$(harness_host_addr "$h")"); done
staging_left() { find "$(wt_admin "$1")/Temp" -name 'agentpush-test-setup.exe' -o -name '.agentpush-*'; }
installs() { [ -f "$(wt_sim "$1")/installs" ] && wc -l <"$(wt_sim "$1")/installs" || echo 0; }
# the report's lines are per address: HOST's line
outcome() { grep -E "^root@$(harness_host_addr "$1") " <<<"$2" | cut -d' ' -f2- || true; }

# --- the run: smbd killed inside the copy on w1..w$KILLED
: >"$R/plan"
for h in "${hosts[@]:0:KILLED}"; do
	ns=$(harness_host_netns "$h")
	ch_plan "$R/plan" "$h-smbd-killed" file "$(wt_admin "$h")/Temp/.agentpush-agentpush-test-0.2.0.part.*" - 1500 \
		"for p in \$(ip netns pids $ns); do case \$(cat /proc/\$p/comm 2>/dev/null) in smbd*) kill -KILL \$p ;; esac; done; true"
done
ch_watch "$R/plan" "$R/fired"
t=$(date +%s%N)
it_install "$R/a" "${opts[@]}" "${targets[@]}"
ms=$(ch_ms "$t")
ch_unwatch
grep -v '^watching' "$R/fired" | sort -V | sed 's/^/   /'
out=$(ch_outcomes "$R/a" || true)
echo "   run: $ms ms, exit $(cat "$R/a.rc")"
for h in "${hosts[@]}"; do echo "   $h $(outcome "$h" "$out")"; done
ch_evidence "$R/a" 2>/dev/null | sed '/^$/d' | sed 's/^/   evidence: /'
lt_expect_match "run: exit 0 or 1, a report" '^[01]$' "$(cat "$R/a.rc")"
lt_expect "run: stderr empty (json)" "" "$(cat "$R/a.err")"
lt_expect_match "run: ended within $BOUND s" '^yes$' \
	"$([ "$ms" -lt $(( BOUND * 1000 )) ] && echo yes || echo "no: $ms ms")"
evs=$(ch_evidence "$R/a" 2>/dev/null || true)
for h in "${hosts[@]:0:KILLED}"; do
	lt_expect_match "$h: smbd was killed during the copy" "^$h-smbd-killed fired " "$(grep "^$h-" "$R/fired")"
	wt_expect_match "$h: ok, or failed 800402" '^(ok [0-9,-]+|failed 800402)$' "$(outcome "$h" "$out")"
	if [ "$(outcome "$h" "$out")" = "failed 800402" ]; then
		wt_expect_match "$h: the evidence names the upload or the rename" \
			"^root@$(harness_host_addr "$h") 800402: (upload to|rename) " "$(grep -E "^root@$(harness_host_addr "$h") " <<<"$evs")"
	fi
done
for h in "${hosts[@]:KILLED}"; do
	wt_expect_match "$h (no fault): ok" '^ok ' "$(outcome "$h" "$out")"
done
for h in "${hosts[@]}"; do
	lt_expect "$h: staging folder empty after the run" "" "$(staging_left "$h")"
	lt_expect_match "$h: the installer ran at most once" '^[01]$' "$(installs "$h")"
done
lt_expect "run: store integrity" ok "$(ch_integrity "$R/jobs.db")"

# --- smbd back: the same install again finishes every host, no second installer
for h in "${hosts[@]:0:KILLED}"; do
	harness_host_start_service "$h"
	tc qdisc del dev "$(cat "$(harness_host_dir "$h")/veth")" root 2>/dev/null || true
done
it_install "$R/b" "${opts[@]}" "${targets[@]}"
ch_evidence "$R/b" 2>/dev/null | sed '/^$/d' | sed 's/^/   evidence: /'
lt_expect "again: exit 0, all $N ok" "0 $N" "$(cat "$R/b.rc") $(lt_json "$R/b" "d['summary']['ok']")"
for h in "${hosts[@]}"; do
	lt_expect "$h: the installer ran exactly once in all" 1 "$(installs "$h")"
	lt_expect "$h: staging folder empty at the end" "" "$(staging_left "$h")"
done
lt_expect "store integrity at the end" ok "$(ch_integrity "$R/jobs.db")"
lt_expect "simulators still up: stopped cleanly" 0 "$(wt_winrm_stop)"
echo "   whole test: $(ch_ms) ms"
lt_done
