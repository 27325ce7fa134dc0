#!/usr/bin/env bash
# `agentpush install` onto one healthy host as root: the agent is installed
# and runs inside the host (pid file, kill -0, /proc/PID/exe), writes its
# heartbeat, and the staging folder is left empty.  A second run is
# ALREADY_INSTALLED (800408, info), status ok, and leaves the agent alone.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init install_healthy
source "$AP_SOURCE_ROOT/tests/integration/install/lib.sh"

it_host web1
R=$HARNESS_RUN/it; mkdir -p "$R"
pw=$R/pw; harness_password_file web1 root "$pw"
kh=$R/kh; harness_known_hosts "$kh" web1
a=$(harness_host_addr web1)
opts=(--package "$IT_PKG" --known-hosts "$kh" --password-file "$pw")

# --- first run: installed
it_install "$R/first" "${opts[@]}" --format json "root@$a"
lt_expect "first run: exit 0" 0 "$(lt_rc "$R/first")"
lt_expect "first run: status ok" ok "$(lt_json "$R/first" "t('$a')['status']")"
lt_expect "first run: note" "installed agentpush-agent 0.1.0" "$(lt_json "$R/first" "t('$a').get('note')")"
lt_expect "first run: no error finding" "" "$(lt_json "$R/first" "' '.join(str(e['id']) for e in t('$a')['errors'] if e['severity'] == 'error')")"
lt_expect "first run: summary 1 ok" "1 0 0" "$(lt_json "$R/first" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])")"

pid1=$(it_agent_pid web1)
lt_expect_match "agent runs inside web1 (pid file, kill -0, /proc/PID/exe)" '^[0-9]+$' "$pid1"
lt_expect "installed VERSION" 0.1.0 "$(harness_exec web1 cat "$IT_DIR/VERSION")"
lt_expect "verify.sh passes inside web1" 0 "$(harness_exec web1 sh "$IT_DIR/lib/verify.sh" "$IT_DIR" 0.1.0 >/dev/null 2>&1; echo $?)"
lt_expect "the real machine's /opt is untouched" no "$([ -e /opt/agentpush-agent ] && echo yes || echo no)"
lt_expect "the install log is in web1's /var/log" yes "$(harness_exec web1 test -s /var/log/agentpush-agent-install.log && echo yes || echo no)"
lt_expect "a heartbeat line in the agent's log" yes "$(it_heartbeat web1 15)"
lt_expect "staging /var/tmp holds nothing left" "" "$(it_staging_left web1)"

# --- second run (text): nothing to do, agent not restarted
it_install "$R/second" "${opts[@]}" "root@$a"
lt_expect "second run (text): exit 0" 0 "$(lt_rc "$R/second")"
lt_expect_match "second run (text): OK line" "^OK +root@$a" "$(cat "$R/second.out")"
lt_expect_match "second run (text): 800408 shown" "800408" "$(cat "$R/second.out")"
lt_expect_match "second run (text): summary" "^1 target: 1 ok, 0 warning, 0 failed$" "$(cat "$R/second.out")"

it_install "$R/third" "${opts[@]}" --format json "root@$a"
lt_expect "third run: exit 0" 0 "$(lt_rc "$R/third")"
lt_expect "third run: status ok" ok "$(lt_json "$R/third" "t('$a')['status']")"
lt_expect "third run: 800408 only" 800408 "$(lt_json "$R/third" "ids('$a')")"
lt_expect "third run: 800408 is info" info "$(lt_json "$R/third" "err('$a', 800408)['severity']")"
lt_expect "third run: note" "already installed 0.1.0" "$(lt_json "$R/third" "t('$a').get('note')")"
lt_expect "agent not restarted (same pid)" "$pid1" "$(it_agent_pid web1)"
lt_expect "staging still empty" "" "$(it_staging_left web1)"
lt_done
