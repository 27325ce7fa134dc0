#!/usr/bin/env bash
# A remedy forced to fail leaves the host as it was: on an sftp-less host
# whose sshd_config also Includes a file sshd -t rejects (the running sshd
# read its config before the Include was planted, so it still answers),
# fix --yes adds the Subsystem line, sshd -t refuses, and the script writes
# the copy back: sshd_config byte-identical (sha256 before/after), sshd not
# reloaded and still answering, exit 1, the failure recorded in the store,
# and nothing to undo.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init fix_failure
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
source "$AP_SOURCE_ROOT/tests/integration/fix/lib.sh"
R=$HARNESS_RUN/fx; mkdir -p "$R"

lt_host bad
harness_sshd_config_del bad Subsystem
a=$(harness_host_addr bad)
kh=$R/kh; harness_known_hosts "$kh" bad
harness_password_file bad root "$R/pw"
opts=(--known-hosts "$kh" --password-file "$R/pw")
d=$(harness_host_dir bad)
printf 'ThisIsNotAnOption yes\n' >"$d/etc/ssh/agentpush-test-bad.conf"
printf 'Include /etc/ssh/agentpush-test-bad.conf\n' >>"$d/etc/ssh/sshd_config"
sha0=$(fx_sha bad)
pid0=$(cat "$d/sshd.pid")
lt_expect "setup: sshd -t rejects the planted Include" 1 \
	"$(harness_exec bad /usr/sbin/sshd -t -f /etc/ssh/sshd_config >/dev/null 2>&1 && echo 0 || echo 1)"

fx_run "$R/fix" -- fix "${opts[@]}" --yes "root@$a"
sed 's/^/   | /' "$R/fix.out" | grep -v '^   |     |' || true
lt_expect "fix: exit 1" 1 "$(lt_rc "$R/fix")"
f=$(cat "$R/fix.out")
lt_expect_match "fix: says it failed, and why" "^FAILED on root@$a: 800106 sftp-subsystem: exit status 12: agentpush: sshd -t rejects the new configuration; /etc/ssh/sshd_config restored from" "$f"
lt_expect "sshd_config byte-identical (sha256)" "$sha0" "$(fx_sha bad)"
lt_expect "sshd still answers" yes "$(fx_answers bad)"
lt_expect "sshd not reloaded (same pid, no SIGHUP in its log)" "$pid0 0" \
	"$(cat "$d/sshd.pid") $(grep -c 'Received SIGHUP' "$d/log/sshd.log" || true)"
lt_expect "no new check after a failed fix" "" "$(fx_job_after "$R/fix")"
job=$(fx_job "$R/fix")
fx_events "$R/ev" "$job"
lt_expect_match "store: the failure recorded" 'fix .*"remedy":"sftp-subsystem".*"ok":false,"exit":12' "$(cat "$R/ev.out")"
fx_run "$R/undo" -- fix "${opts[@]}" --undo "$job" --yes
lt_expect "nothing to undo: exit 0" 0 "$(lt_rc "$R/undo")"
lt_expect_match "nothing to undo: says so" "no applied remedy left to undo" "$(cat "$R/undo.out")"

# a reload that fails: the sshd's pid file names no process (the script
# then has no sshd to signal and no systemd unit): the copy goes back too
sed -i '/agentpush-test-bad.conf/d' "$d/etc/ssh/sshd_config"
sha1=$(fx_sha bad)
cp "$d/sshd.pid" "$R/pid.keep"
echo 999999 >"$d/sshd.pid"
fx_run "$R/fix2" -- fix "${opts[@]}" --yes "root@$a"
sed 's/^/   | /' "$R/fix2.out" | grep -v '^   |     |' || true
lt_expect "reload fails: exit 1" 1 "$(lt_rc "$R/fix2")"
lt_expect_match "reload fails: says so" "FAILED on root@$a: 800106 sftp-subsystem: exit status 13" "$(cat "$R/fix2.out")"
lt_expect "reload fails: sshd_config byte-identical" "$sha1" "$(fx_sha bad)"
cp "$R/pid.keep" "$d/sshd.pid"
lt_expect "reload fails: sshd still answers" yes "$(fx_answers bad)"
# under ASan/UBSan a report goes to stderr: none in any run
lt_expect "no sanitizer report" 0 "$(cat "$R"/*.err | grep -c -E 'Sanitizer|runtime error' || true)"
lt_done
