#!/usr/bin/env bash
# Upgrade and downgrade with real packages: 0.0.9 installed, then 0.1.0 over
# it (upgraded: a new agent process, VERSION 0.1.0, verify passes), then
# 0.0.9 again over 0.1.0: not downgraded (800408 as a warning, status
# warning, exit 0) and the 0.1.0 agent keeps running untouched.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init install_upgrade
source "$AP_SOURCE_ROOT/tests/integration/install/lib.sh"
OLD=${AP_INSTALL_OLD_PACKAGE:?AP_INSTALL_OLD_PACKAGE must name the 0.0.9 package}

it_host up1
R=$HARNESS_RUN/it; mkdir -p "$R"
pw=$R/pw; harness_password_file up1 root "$pw"
kh=$R/kh; harness_known_hosts "$kh" up1
a=$(harness_host_addr up1)
opts=(--known-hosts "$kh" --password-file "$pw" --format json)
sum="'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])"

lt_expect "the old package is 0.0.9" 0.0.9 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$OLD/manifest.json")"

# --- 0.0.9 onto a fresh host
it_install "$R/old" --package "$OLD" "${opts[@]}" "root@$a"
lt_expect "0.0.9: exit 0" 0 "$(lt_rc "$R/old")"
lt_expect "0.0.9: note" "installed agentpush-agent 0.0.9" "$(lt_json "$R/old" "t('$a')['note']")"
pid_old=$(it_agent_pid up1)
lt_expect_match "0.0.9: agent running" '^[0-9]+$' "$pid_old"
lt_expect "0.0.9: binary says 0.0.9" 0.0.9 "$(harness_exec up1 "$IT_DIR/bin/agentpush-agent" --version)"

# --- 0.1.0 over it: upgraded
it_install "$R/new" --package "$IT_PKG" "${opts[@]}" "root@$a"
lt_expect "upgrade: exit 0" 0 "$(lt_rc "$R/new")"
lt_expect "upgrade: status ok" ok "$(lt_json "$R/new" "t('$a')['status']")"
lt_expect "upgrade: note" "installed agentpush-agent 0.1.0" "$(lt_json "$R/new" "t('$a')['note']")"
lt_expect "upgrade: no findings" "" "$(lt_json "$R/new" "ids('$a')")"
pid_new=$(it_agent_pid up1)
lt_expect_match "upgrade: agent running" '^[0-9]+$' "$pid_new"
lt_expect "upgrade: a new agent process" yes "$([ -n "$pid_new" ] && [ "$pid_new" != "$pid_old" ] && echo yes || echo no)"
lt_expect "upgrade: the old process is gone" gone "$(harness_exec up1 kill -0 "$pid_old" 2>/dev/null && echo alive || echo gone)"
lt_expect "upgrade: VERSION" 0.1.0 "$(harness_exec up1 cat "$IT_DIR/VERSION")"
lt_expect "upgrade: binary says 0.1.0" 0.1.0 "$(harness_exec up1 "$IT_DIR/bin/agentpush-agent" --version)"
lt_expect "upgrade: verify.sh passes" 0 "$(harness_exec up1 sh "$IT_DIR/lib/verify.sh" "$IT_DIR" 0.1.0 >/dev/null 2>&1; echo $?)"
lt_expect_match "upgrade: install log says replaced" "replacing agentpush-agent 0\.0\.9 with 0\.1\.0" "$(harness_exec up1 cat /var/log/agentpush-agent-install.log)"
lt_expect "upgrade: staging empty" "" "$(it_staging_left up1)"

# --- 0.0.9 over 0.1.0: not downgraded
it_install "$R/down" --package "$OLD" "${opts[@]}" "root@$a"
lt_expect "downgrade: exit 0 (a warning is not a failure)" 0 "$(lt_rc "$R/down")"
lt_expect "downgrade: status warning" warning "$(lt_json "$R/down" "t('$a')['status']")"
lt_expect "downgrade: 800408 only" 800408 "$(lt_json "$R/down" "ids('$a')")"
lt_expect "downgrade: 800408 is a warning" warning "$(lt_json "$R/down" "err('$a', 800408)['severity']")"
lt_expect_match "downgrade: evidence names both versions" "0\.1\.0 is installed; the package holds the older 0\.0\.9" "$(lt_json "$R/down" "err('$a', 800408)['evidence']")"
lt_expect "downgrade: note" "newer version 0.1.0 installed; not downgraded" "$(lt_json "$R/down" "t('$a')['note']")"
lt_expect "downgrade: summary 0 ok 1 warning" "0 1 0" "$(lt_json "$R/down" "$sum")"
lt_expect "downgrade: agent untouched (same pid)" "$pid_new" "$(it_agent_pid up1)"
lt_expect "downgrade: VERSION still 0.1.0" 0.1.0 "$(harness_exec up1 cat "$IT_DIR/VERSION")"
lt_expect "downgrade: nothing uploaded" "" "$(it_staging_left up1)"
it_install "$R/downt" --package "$OLD" --known-hosts "$kh" --password-file "$pw" "root@$a"
lt_expect_match "downgrade (text): WARNING line with 800408" "^WARNING +root@$a +800408" "$(cat "$R/downt.out")"
lt_expect_match "downgrade (text): summary" "^1 target: 0 ok, 1 warning, 0 failed$" "$(cat "$R/downt.out")"
lt_done
