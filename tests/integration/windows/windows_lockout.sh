#!/usr/bin/env bash
# windows_lockout: THE acceptance test of the credential gate on Windows.
# "A wrong password against 10 Samba hosts with a lockout threshold of 3
# produces exactly one failed attempt in total."
#   10 real smbd hosts, each with the account policy "bad lockout attempt" 3;
#   one `agentpush check --os windows --parallel 10` with a wrong password
#   for root over all 10 -> exactly one host says 95107 (the SMB logon was
#   refused: NT_STATUS_LOGON_FAILURE), nine say 800105 naming that host;
#   the "Bad password count" of root summed over the 10 hosts (pdbedit -Lv)
#   is exactly 1; no account is locked; the password is in no output.
# A second run (text output) adds exactly one more bad password in total,
# and still locks nothing out (2 < 3).
# No WinRM server is needed: the SMB logon comes first, and it is refused.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init windows_lockout
source "$AP_SOURCE_ROOT/tests/integration/windows/lib.sh"
R=$WT_DIR/out; mkdir -p "$R"

hosts=(lk1 lk2 lk3 lk4 lk5 lk6 lk7 lk8 lk9 lk10)
declare -A A
targets=()
for h in "${hosts[@]}"; do
	wt_host "$h"
	wt_lockout "$h" 3
	A[$h]=$(harness_host_addr "$h")
	targets+=("${A[$h]}")
done
( umask 077; printf 'Wr0ng-%s\n' "$(openssl rand -hex 12)" >"$WT_DIR/wrong" )

bad_total() {
	local h n=0 c
	for h in "${hosts[@]}"; do
		c=$(wt_bad_count "$h" root)
		n=$((n + ${c:-0}))
	done
	echo "$n"
}
locked_hosts() {
	local h out=""
	for h in "${hosts[@]}"; do [ "$(wt_locked "$h" root)" = yes ] && out+="$h "; done
	echo "${out% }"
}

lt_expect "before: no bad password on any host" 0 "$(bad_total)"
lt_check "$R/run.json" --os windows --user root --password-file "$WT_DIR/wrong" \
	--winrm-auth basic --parallel 10 --format json "${targets[@]}"
lt_expect "json: exit 1" 1 "$(lt_rc "$R/run.json")"
lt_expect "ONE run over 10 hosts: exactly one failed attempt in total" 1 "$(bad_total)"
lt_expect "no account locked" "" "$(locked_hosts)"

rej=$(lt_json "$R/run.json" "' '.join(x['host'] for x in d['targets'] if [e['id'] for e in x['errors']] == [95107])")
wt_expect_match "exactly one host reports 95107" '^198\.[0-9.]+$' "$rej"
wt_expect_match "its evidence: NT_STATUS_LOGON_FAILURE" 'root on .*NT_STATUS_LOGON_FAILURE' \
	"$(lt_json "$R/run.json" "err('$rej', 95107).get('evidence', '')")"
lt_expect "the host that reports 95107 is the one with the bad password" 1 \
	"$(for h in "${hosts[@]}"; do [ "${A[$h]}" = "$rej" ] && wt_bad_count "$h" root; done)"
n800105=0
for h in "${hosts[@]}"; do
	a=${A[$h]}
	[ "$a" = "$rej" ] && continue
	if [ "$(lt_json "$R/run.json" "ids('$a')")" = 800105 ] &&
		grep -q "rejected by $rej" <<<"$(lt_json "$R/run.json" "err('$a', 800105)['evidence']")"; then
		n800105=$((n800105 + 1))
	fi
done
lt_expect "nine hosts report 800105 naming $rej" 9 "$n800105"
echo "   800105 evidence: $(lt_json "$R/run.json" "[e['evidence'] for x in d['targets'] for e in x['errors'] if e['id'] == 800105][0]")"
lt_expect "summary" "0 0 10" "$(lt_json "$R/run.json" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])")"

# the same in text output: one more attempt in total, still nobody locked
lt_check "$R/run.text" --os windows --user root --password-file "$WT_DIR/wrong" \
	--winrm-auth basic --parallel 10 "${targets[@]}"
lt_expect "text: exit 1" 1 "$(lt_rc "$R/run.text")"
lt_expect "second run: one more failed attempt (2 in total)" 2 "$(bad_total)"
lt_expect "still no account locked" "" "$(locked_hosts)"
T=$(cat "$R/run.text.out")
lt_expect "text: one 95107 line" 1 "$(grep -c -E '^FAILED +[0-9.]+ +95107 ' <<<"$T" || true)"
lt_expect "text: nine 800105 lines" 9 "$(grep -c -E '^FAILED +[0-9.]+ +800105 ' <<<"$T" || true)"

# --- the wrong password is in no output, no smbd log, nothing agentpush wrote
files=("$R"/run.*.out "$R"/run.*.err)
for h in "${hosts[@]}"; do files+=("$(harness_host_dir "$h")"/log/*); done
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$LT_HOME" "$LT_STATE" -type f -print0)
lt_expect "control: the search finds the password in its own file" 1 \
	"$(grep -l -F -f "$WT_DIR/wrong" "$WT_DIR/wrong" | wc -l)"
lt_expect "the wrong password appears in none of ${#files[@]} files" 0 \
	"$( { grep -l -F -f "$WT_DIR/wrong" "${files[@]}" 2>/dev/null || true; } | wc -l)"
lt_done
