#!/usr/bin/env bash
# A fleet in one run: five hosts from an Ansible-style inventory
# (ansible_host, ansible_user), four healthy and one with SFTP switched off.
# The four get the agent, running; the fifth fails with 800106; the exit
# status is 1 and the summary says 4 ok, 1 failed.  The same command again
# installs nothing new: four 800408 (info), agents not restarted.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init install_fleet
source "$AP_SOURCE_ROOT/tests/integration/install/lib.sh"

R=$HARNESS_RUN/it; mkdir -p "$R"
( umask 077; openssl rand -base64 32 | tr -dc 'A-Za-z0-9' | head -c 20 >"$R/pw" )
password=$(cat "$R/pw")
healthy=(f1 f2 f4 f5)
for h in f1 f2 f3 f4 f5; do
	it_host "$h"
	harness_host_add_user "$h" pusher "$password" nopasswd
done
unset password
harness_sshd_config_del f3 Subsystem            # SFTP switched off
kh=$R/kh; harness_known_hosts "$kh" f1 f2 f3 f4 f5
inv=$R/inventory
{
	echo "[web]"
	for h in f1 f2 f3; do echo "$h ansible_host=$(harness_host_addr "$h") ansible_user=pusher"; done
	echo "[db]"
	for h in f4 f5; do echo "$h ansible_host=$(harness_host_addr "$h") ansible_user=pusher"; done
} >"$inv"
sum="'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])"
opts=(--package "$IT_PKG" -i "$inv" --known-hosts "$kh" --password-file "$R/pw")

# --- first run
start=$(date +%s%N)
it_install "$R/first" "${opts[@]}" --format json
echo "   first run: $(( ($(date +%s%N) - start) / 1000000 )) ms for 5 hosts"
lt_expect "first run: exit 1 (one host failed)" 1 "$(lt_rc "$R/first")"
lt_expect "first run: summary 4 ok, 0 warning, 1 failed" "4 0 1" "$(lt_json "$R/first" "$sum")"
lt_expect "first run: hosts in inventory order" \
	"$(for h in f1 f2 f3 f4 f5; do printf '%s ' "$(harness_host_addr "$h")"; done | sed 's/ $//')" \
	"$(lt_json "$R/first" "' '.join(x['host'] for x in d['targets'])")"
declare -A pid
for h in "${healthy[@]}"; do
	a=$(harness_host_addr "$h")
	lt_expect "$h: status ok" ok "$(lt_json "$R/first" "t('$a')['status']")"
	lt_expect "$h: note" "installed agentpush-agent 0.1.0" "$(lt_json "$R/first" "t('$a')['note']")"
	pid[$h]=$(it_agent_pid "$h")
	lt_expect_match "$h: agent running inside it" '^[0-9]+$' "${pid[$h]}"
	lt_expect "$h: staging empty" "" "$(it_staging_left "$h")"
done
a3=$(harness_host_addr f3)
lt_expect "f3: status failed" failed "$(lt_json "$R/first" "t('$a3')['status']")"
lt_expect "f3: 800106" 800106 "$(lt_json "$R/first" "ids('$a3')")"
lt_expect "f3: target is the inventory name" f3 "$(lt_json "$R/first" "t('$a3')['target']")"
for h in f1 f2 f3 f4 f5; do   # ansible_user was used: pusher logged in, root never
	lt_expect "$h: sshd saw pusher log in, never root" "yes no" \
		"$(grep -q 'Accepted password for pusher ' "$(harness_host_dir "$h")/log/sshd.log" && echo yes || echo no) $(grep -q 'for root ' "$(harness_host_dir "$h")/log/sshd.log" && echo yes || echo no)"
done
echo "   f3 evidence: $(lt_json "$R/first" "err('$a3', 800106)['evidence']")"
lt_expect "f3: nothing installed" absent "$(harness_exec f3 test -e "$IT_DIR" && echo present || echo absent)"
lt_expect "f3: nothing uploaded" "" "$(it_staging_left f3)"

# --- the same command again (text, then JSON)
it_install "$R/againt" "${opts[@]}"
lt_expect "second run (text): exit 1" 1 "$(lt_rc "$R/againt")"
lt_expect_match "second run (text): summary" "^5 targets: 4 ok, 0 warning, 1 failed$" "$(cat "$R/againt.out")"
lt_expect_match "second run (text): FAILED f3 with 800106" "^FAILED +f3 +800106 " "$(cat "$R/againt.out")"
lt_expect "second run (text): four OK lines with 800408" 4 "$(grep -cE '^OK +f[1245] +800408 ' "$R/againt.out")"
it_install "$R/again" "${opts[@]}" --format json
lt_expect "second run: exit 1" 1 "$(lt_rc "$R/again")"
lt_expect "second run: summary" "4 0 1" "$(lt_json "$R/again" "$sum")"
lt_expect "second run: four 800408 (info), nothing else" "800408/info 800408/info 800408/info 800408/info" \
	"$(lt_json "$R/again" "' '.join('%d/%s' % (e['id'], e['severity']) for x in d['targets'] if x['host'] != '$a3' for e in x['errors'])")"
for h in "${healthy[@]}"; do
	lt_expect "$h: agent not restarted" "${pid[$h]}" "$(it_agent_pid "$h")"
done
lt_expect "f3: still 800106" 800106 "$(lt_json "$R/again" "ids('$a3')")"
lt_done
