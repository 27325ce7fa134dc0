#!/usr/bin/env bash
# Installing as a non-root account: passwordless sudo works; sudo that asks
# for a password works with the password on sudo's stdin, and that password
# shows up nowhere (output, JSON, sshd log, install log, any process's
# command line during and after the run, agentpush's state folder); an
# account without sudo gets 95108 and nothing is installed.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init install_sudo
source "$AP_SOURCE_ROOT/tests/integration/install/lib.sh"

it_host snopw
it_host spw
it_host snone
harness_host_add_user snopw ops - nopasswd
harness_host_add_user spw adm - password
harness_host_add_user snone plain - none
R=$HARNESS_RUN/it; mkdir -p "$R"
kh=$R/kh; harness_known_hosts "$kh" snopw spw snone
harness_password_file snopw ops "$R/pw.ops"
harness_password_file spw adm "$R/pw.adm"
harness_password_file snone plain "$R/pw.plain"

# lt_expect on "found"/"absent" without ever printing the secret
absent() {   # WHAT FILE...: is the adm password in none of the files?
	local what=$1
	shift
	# grep reads the files itself: with cat | grep -q under pipefail, grep
	# leaving at the first match made cat's SIGPIPE the pipeline's status,
	# and a password found read as absent
	if grep -qsF -f "$R/pw.adm" -- "$@"; then lt_expect "$what" absent found
	else lt_expect "$what" absent absent; fi
}

# --- passwordless sudo
a=$(harness_host_addr snopw)
it_install "$R/nopw" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw.ops" --format json "ops@$a"
lt_expect "sudo NOPASSWD: exit 0" 0 "$(lt_rc "$R/nopw")"
lt_expect "sudo NOPASSWD: note" "installed agentpush-agent 0.1.0" "$(lt_json "$R/nopw" "t('$a')['note']")"
lt_expect_match "sudo NOPASSWD: agent running" '^[0-9]+$' "$(it_agent_pid snopw)"
lt_expect "sudo NOPASSWD: agent files owned by root" root "$(harness_exec snopw stat -c %U "$IT_DIR/bin/agentpush-agent")"
lt_expect "sudo NOPASSWD: staging empty" "" "$(it_staging_left snopw)"

# --- sudo with a password (sudo -S, password on stdin).  A sampler reads
# every process's command line on this machine (test hosts share its pid
# namespace) while the install runs.
a=$(harness_host_addr spw)
(
	while [ ! -e "$R/stop" ]; do
		if cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' | grep -qF -f "$R/pw.adm"; then
			echo found >"$R/cmdline.hit"
		fi
		echo x >>"$R/samples"
		sleep 0.02
	done
) &
sampler=$!
it_install "$R/pw" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw.adm" --format json "adm@$a"
it_install "$R/pwt" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw.adm" "adm@$a"
touch "$R/stop"
wait "$sampler"
lt_expect "sudo -S: exit 0" 0 "$(lt_rc "$R/pw")"
lt_expect "sudo -S: status ok" ok "$(lt_json "$R/pw" "t('$a')['status']")"
lt_expect "sudo -S: note" "installed agentpush-agent 0.1.0" "$(lt_json "$R/pw" "t('$a')['note']")"
lt_expect_match "sudo -S: agent running" '^[0-9]+$' "$(it_agent_pid spw)"
lt_expect "sudo -S: agent files owned by root" root "$(harness_exec spw stat -c %U "$IT_DIR/bin/agentpush-agent")"
lt_expect "sudo -S: second run 800408" 800408 "$(grep -oE '800408' "$R/pwt.out" | head -n 1)"
lt_expect "sudo -S: staging empty" "" "$(it_staging_left spw)"
lt_expect_match "the sampler ran during the installs" '^[1-9][0-9]*$' "$(wc -l <"$R/samples")"
lt_expect "password on no command line during the run" absent "$([ -e "$R/cmdline.hit" ] && echo found || echo absent)"
# Processes come and go while cat reads /proc: a vanished one is not a failure.
{ harness_exec spw sh -c 'cat /proc/[0-9]*/cmdline 2>/dev/null; true' || true; } | tr '\0' '\n' >"$R/cmdline.after"
absent "password on no command line inside spw after" "$R/cmdline.after"
absent "password not in stdout/stderr/JSON" "$R/pw.out" "$R/pw.err" "$R/pwt.out" "$R/pwt.err"
absent "password not in the sshd log" "$(harness_host_dir spw)/log/sshd.log"
harness_exec spw cat /var/log/agentpush-agent-install.log >"$R/install.log"
lt_expect_match "the install log was fetched" "installed in .* and running" "$(cat "$R/install.log")"
absent "password not in the install log" "$R/install.log"
harness_exec spw cat "$IT_DIR/log/agentpush-agent.log" >"$R/agent.log"
absent "password not in the agent log" "$R/agent.log"
if grep -rqF -f "$R/pw.adm" "$LT_STATE" "$LT_HOME"; then st=found; else st=absent; fi
lt_expect "password in no file under XDG_STATE_HOME/HOME" absent "$st"
# (no job store is written yet: the search covers whatever lands there later)
echo "   files under XDG_STATE_HOME: $(find "$LT_STATE" -type f | wc -l)"

# --- no sudo at all
a=$(harness_host_addr snone)
it_install "$R/none" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw.plain" --format json "plain@$a"
lt_expect "no sudo: exit 1" 1 "$(lt_rc "$R/none")"
lt_expect "no sudo: status failed" failed "$(lt_json "$R/none" "t('$a')['status']")"
lt_expect_match "no sudo: 95108" "(^| )95108( |$)" "$(lt_json "$R/none" "ids('$a')")"
lt_expect "no sudo: 95108 is the first error" 95108 "$(lt_json "$R/none" "[e['id'] for e in t('$a')['errors'] if e['severity'] == 'error'][0]")"
lt_expect "no sudo: nothing installed" absent "$(harness_exec snone test -e "$IT_DIR" && echo present || echo absent)"
lt_expect "no sudo: nothing uploaded" "" "$(it_staging_left snone)"
lt_expect "no sudo: no agent process" "" "$(it_agent_pid snone)"
it_install "$R/nonet" --package "$IT_PKG" --known-hosts "$kh" --password-file "$R/pw.plain" "plain@$a"
lt_expect_match "no sudo (text): FAILED line with 95108" "^FAILED +plain@$a +95108 " "$(cat "$R/nonet.out")"
lt_done
