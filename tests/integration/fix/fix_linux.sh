#!/usr/bin/env bash
# agentpush fix on real sshd hosts, two conditions made for real:
#   nosftp  sshd_config without its Subsystem line              800106
#   full    a 20 MB tmpfs on the staging folder /var/tmp         95524
# --dry-run and "no terminal, no --yes" change nothing (sshd_config's
# sha256, no new folder); --yes fixes both, the store records the commands
# and their output, a new check of both is ok; fix --undo puts sshd_config
# back byte for byte and removes the folder, and a check sees 800106 again.
# A non-root account without sudo: the sudoers remedy is shown, applied
# only with --allow-privilege-changes (and then fails: the account cannot
# become root), never silently.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init fix_linux
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
source "$AP_SOURCE_ROOT/tests/integration/fix/lib.sh"
R=$HARNESS_RUN/fx; mkdir -p "$R"

for h in nosftp full; do lt_host "$h"; done
harness_sshd_config_del nosftp Subsystem
harness_host_tmpfs full /var/tmp 20m
harness_exec full chmod 1777 /var/tmp
declare -A A
for h in nosftp full; do A[$h]=$(harness_host_addr "$h"); done
kh=$R/kh; harness_known_hosts "$kh" nosftp full
harness_password_file nosftp root "$R/pw"
lt_root_password full "$R/pw"
opts=(--known-hosts "$kh" --password-file "$R/pw")
targets=("root@${A[nosftp]}" "root@${A[full]}")
sha0=$(fx_sha nosftp)

# --- a check job with both failures
lt_check "$R/c0" "${opts[@]}" "${targets[@]}"
lt_expect "check: exit 1" 1 "$(lt_rc "$R/c0")"
job=$(HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" jobs --limit 1 --format json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
echo "   check job: $job"

# --- --dry-run: shown, nothing changed
fx_run "$R/dry" -- fix "${opts[@]}" --job "$job" --dry-run
lt_expect "dry run: exit 0" 0 "$(lt_rc "$R/dry")"
d=$(cat "$R/dry.out")
lt_expect_match "dry run: the sftp remedy, its host and why" "^root@${A[nosftp]}  800106 sftp-subsystem$" "$d"
lt_expect_match "dry run: the staging remedy" "^root@${A[full]}  95524 staging-folder$" "$d"
lt_expect_match "dry run: why with evidence" "why: 95524 .*evidence: /var/tmp: [0-9]+ KB free, 102400 KB needed" "$d"
lt_expect_match "dry run: the exact commands" '\| "\$sshd" -t -f "\$cfg" \|\| restore' "$d"
lt_expect_match "dry run: says so" "^dry run: nothing was applied$" "$d"
lt_expect "dry run: sshd_config unchanged" "$sha0" "$(fx_sha nosftp)"
lt_expect "dry run: no staging folder made" no "$(harness_exec full test -e /opt/agentpush-staging && echo yes || echo no)"

# --- no terminal and no --yes: nothing applied, exit 3
fx_run "$R/nocons" -- fix "${opts[@]}" --job "$job"
lt_expect "no consent: exit 3" 3 "$(lt_rc "$R/nocons")"
lt_expect_match "no consent: says so" "^nothing applied: give --yes" "$(cat "$R/nocons.out")"
lt_expect "no consent: sshd_config unchanged" "$sha0" "$(fx_sha nosftp)"
lt_expect "no consent: no staging folder" no "$(harness_exec full test -e /opt/agentpush-staging && echo yes || echo no)"
# "n" on a pipe is not a terminal either: still nothing
printf 'y\ny\n' >"$R/yes.in"
fx_run "$R/pipe" "$R/yes.in" -- fix "${opts[@]}" --job "$job"
lt_expect "answers on a pipe: not consent (exit 3)" 3 "$(lt_rc "$R/pipe")"

# on a terminal: asked per host; "n" twice applies nothing
fx_pty "$R/ttyn" n n -- fix "${opts[@]}" --job "$job"
lt_expect "terminal, n n: two prompts, exit 1" "2 1" "$(cat "$R/ttyn.prompts") $(lt_rc "$R/ttyn")"
lt_expect_match "terminal: the prompt names the host" "Apply these changes on root@${A[nosftp]}\\? \\[y/N/a\\]" "$(cat "$R/ttyn.out")"
lt_expect "terminal, n n: sshd_config unchanged" "$sha0" "$(fx_sha nosftp)"
lt_expect "terminal, n n: no staging folder" no "$(harness_exec full test -e /opt/agentpush-staging && echo yes || echo no)"

# --- --yes: both fixed, then checked ok
fx_run "$R/fix" -- fix "${opts[@]}" --job "$job" --yes
cat "$R/fix.out" | sed 's/^/   | /' | grep -v '^   |     |' || true
lt_expect "fix: exit 0" 0 "$(lt_rc "$R/fix")"
f=$(cat "$R/fix.out")
lt_expect_match "fix: sftp applied" "^applied on root@${A[nosftp]}: 800106 sftp-subsystem$" "$f"
lt_expect_match "fix: staging applied" "^applied on root@${A[full]}: 95524 staging-folder$" "$f"
lt_expect_match "fix: the setting is shown" "agentpush_staging_dir=/opt/agentpush-staging \\(recorded in job $job: later check and install runs use it\\)" "$f"
lt_expect_match "fix: the new check: both ok" "^2 targets: 2 ok, 0 warning, 0 failed$" "$f"
lt_expect_match "fix: sftp-server found on the host" "sftp server: /usr/lib/openssh/sftp-server" "$f"
cfg="$(harness_host_dir nosftp)/etc/ssh/sshd_config"
lt_expect "fix: Subsystem line added" "Subsystem sftp /usr/lib/openssh/sftp-server" "$(grep '^Subsystem' "$cfg")"
copy=$(ls "$(harness_host_dir nosftp)"/etc/ssh/sshd_config.agentpush-j"$job"-* 2>/dev/null | head -n1)
lt_expect "fix: the copy kept is the old file" "$sha0" "$(sha256sum <"$copy" | cut -d' ' -f1)"
lt_expect "fix: staging folder made (0700 root)" "700 root" "$(harness_exec full stat -c '%a %U' /opt/agentpush-staging)"
after=$(fx_job_after "$R/fix")
lt_check "$R/c1" "${opts[@]}" "root@${A[nosftp]}"
lt_expect "a later check of nosftp: ok" 0 "$(lt_rc "$R/c1")"
# the staging folder is a per-host setting later runs use (and say so)
lt_check "$R/c1f" "${opts[@]}" "root@${A[full]}"
lt_expect "a later check of full: ok" 0 "$(lt_rc "$R/c1f")"
lt_expect_match "a later check of full: uses the recorded folder" \
	"^agentpush check: root@${A[full]}: agentpush_staging_dir=/opt/agentpush-staging, as agentpush fix recorded it in job $job$" "$(cat "$R/c1f.err")"

# --- the store: each remedy with its commands and output
fx_events "$R/ev" "$job"
ev=$(cat "$R/ev.out")
lt_expect_match "store: fix event with the commands" 'fix .*"remedy":"sftp-subsystem".*"commands":"# agentpush fix 800106' "$ev"
lt_expect_match "store: its output" 'fix .*"stdout":"sftp server: /usr/lib/openssh/sftp-server' "$ev"
lt_expect_match "store: the setting" 'fix .*"setting":\{"agentpush_staging_dir":"/opt/agentpush-staging"\}' "$ev"
lt_expect_match "store: the undo commands" '"undo":"# agentpush fix --undo 800106' "$ev"
lt_expect "store: no password" 0 "$(grep -c -F -f "$R/pw" "$R/ev.raw.out" || true)"
lt_expect "outputs: no password" 0 "$(cat "$R"/*.out "$R"/*.err | grep -c -F -f "$R/pw" || true)"

# --- undo: no consent first, then --yes
fx_run "$R/undo0" -- fix "${opts[@]}" --undo "$job"
lt_expect "undo without consent: exit 3" 3 "$(lt_rc "$R/undo0")"
lt_expect "undo without consent: still fixed" 1 "$(grep -c '^Subsystem sftp' "$cfg")"
fx_run "$R/undo" -- fix "${opts[@]}" --undo "$job" --yes
sed 's/^/   | /' "$R/undo.out" | grep -v '^   |     |' || true
lt_expect "undo: exit 0" 0 "$(lt_rc "$R/undo")"
lt_expect "undo: sshd_config byte-identical to before the fix" "$sha0" "$(fx_sha nosftp)"
lt_expect "undo: staging folder removed" no "$(harness_exec full test -e /opt/agentpush-staging && echo yes || echo no)"
lt_check "$R/c2" "${opts[@]}" --format json "root@${A[nosftp]}"
lt_expect "after undo: 800106 again" 800106 "$(lt_json "$R/c2" "ids('${A[nosftp]}')")"
lt_check "$R/c2f" "${opts[@]}" --format json "root@${A[full]}"
lt_expect "after undo: full's folder setting gone, 95524 again" "95524 0" \
	"$(lt_json "$R/c2f" "ids('${A[full]}')") $(grep -c agentpush_staging_dir "$R/c2f.err" || true)"
fx_run "$R/undo2" -- fix "${opts[@]}" --undo "$job" --yes
lt_expect "undo again: nothing left (exit 0)" 0 "$(lt_rc "$R/undo2")"
lt_expect_match "undo again: says so" "no applied remedy left to undo" "$(cat "$R/undo2.out")"

# --- a fresh check inside fix (TARGET...), --only
fx_run "$R/only" -- fix "${opts[@]}" --yes --only 95524 "root@${A[nosftp]}"
lt_expect "--only 95524 on an sftp host: nothing to apply (exit 1)" 1 "$(lt_rc "$R/only")"
lt_expect "--only: sshd_config untouched" "$sha0" "$(fx_sha nosftp)"
# fix TARGET on a terminal, "a": applied without more questions
fx_pty "$R/fresh" a -- fix "${opts[@]}" "root@${A[nosftp]}"
lt_expect "fix TARGET on a terminal, a: one prompt, exit 0" "1 0" "$(cat "$R/fresh.prompts") $(lt_rc "$R/fresh")"
lt_expect_match "fix TARGET: its check first" "check \(job [0-9]+\):" "$(cat "$R/fresh.out")"
lt_expect_match "fix TARGET: then ok" "^1 targets?: 1 ok, 0 warning, 0 failed$" "$(cat "$R/fresh.out")"

# --- a privilege change is never applied silently
harness_host_add_user full bob - none
harness_password_file full bob "$R/bobpw"
bopts=(--known-hosts "$kh" --password-file "$R/bobpw")
fx_run "$R/priv" -- fix "${bopts[@]}" --yes "bob@${A[full]}"
lt_expect "non-root: nothing applied without the flag (exit 1)" 1 "$(lt_rc "$R/priv")"
p=$(cat "$R/priv.out")
lt_expect_match "non-root: the sudoers remedy shown" "^bob@${A[full]}  95108 sudo-rights$" "$p"
lt_expect_match "non-root: marked as a privilege change" "a privilege change: shown only; applied with --allow-privilege-changes" "$p"
lt_expect "non-root: no sudoers file" no "$(harness_exec full test -e /etc/sudoers.d/agentpush-bob && echo yes || echo no)"
fx_run "$R/priv2" -- fix "${bopts[@]}" --yes --allow-privilege-changes "bob@${A[full]}"
lt_expect "non-root with the flag: tried, failed (exit 1)" 1 "$(lt_rc "$R/priv2")"
lt_expect_match "non-root with the flag: says it failed" "^FAILED on bob@${A[full]}: 95108 sudo-rights" "$(cat "$R/priv2.out")"
lt_expect "non-root with the flag: still no sudoers file" no "$(harness_exec full test -e /etc/sudoers.d/agentpush-bob && echo yes || echo no)"
lt_expect "bob's password in no output" 0 "$(cat "$R"/priv*.out "$R"/priv*.err | grep -c -F -f "$R/bobpw" || true)"
# under ASan/UBSan a report goes to stderr: none in any run
lt_expect "no sanitizer report" 0 "$(cat "$R"/*.err | grep -c -E 'Sanitizer|runtime error' || true)"
lt_done
