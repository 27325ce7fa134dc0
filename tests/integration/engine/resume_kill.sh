#!/usr/bin/env bash
# The acceptance test of the job store: a SIGKILL during a 200-host install
# followed by `agentpush resume` ends with every host installed exactly once.
#
# 200 targets, honestly and cheaply: ONE sshd test host with 200 more
# addresses (harness_host_add_addrs); each target is an address of its own,
# so it gets its own TCP and SSH connection, and its own install folder
# /opt/tNNN and staging folder /var/tmp/tNNN (inventory variables), so each
# install is a separate, complete install.  The agent's installer appends
# "... installed in DIR and running" to the shared install log on each
# completed install, and "already installed" when it finds one: the log
# counts installs.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init resume_kill
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"
PKG=${AP_INSTALL_PACKAGE:?AP_INSTALL_PACKAGE must name the sample package folder (meson test sets it)}
N=${ET_TARGETS:-200}
t0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

R=$HARNESS_RUN/et; mkdir -p "$R"
lt_host fleet
mapfile -t addrs < <(harness_host_add_addrs fleet "$N")
lt_expect "harness gave $N addresses" "$N" "${#addrs[@]}"
harness_password_file fleet root "$R/pw"
kh=$R/kh; : >"$kh"; et_known_hosts "$kh" fleet "${addrs[@]}"
inv=$R/inventory; names=()
{
	echo "[fleet]"
	for i in "${!addrs[@]}"; do
		n=$(printf 't%03d' "$i"); names+=("$n")
		echo "$n ansible_host=${addrs[$i]} agentpush_install_dir=/opt/$n agentpush_staging_dir=/var/tmp/$n"
	done
} >"$inv"
# shellcheck disable=SC2016  # expanded by the host's shell
harness_exec fleet sh -c 'for n in "$@"; do mkdir -m 1777 "/var/tmp/$n"; done' sh "${names[@]}"
db=$R/jobs.db
echo "   setup: $(ms "$t0") ms"

# --- install, killed with SIGKILL once about a third of the fleet is done
t1=$(date +%s%N)
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" install --package "$PKG" -i "$inv" \
	--db "$db" --parallel 16 --password-file "$R/pw" --known-hosts "$kh" --format json \
	>"$R/first.out" 2>"$R/first.err" </dev/null &
ctl=$!
want=$(( N * 3 / 10 )); done_n=0; mid=0
# Kill once 30% are done, preferably at a moment when a host is between
# upload and verify (copied or installed): that is the case resume must get
# right without installing twice.  Bounded: 240 s for the 30% (a bound, not
# a timing: at load 25 here it took more than 60 s), then at most
# 10 s more waiting for such a moment.
poll="import json,sys
try:
    s=json.load(open(sys.argv[1]))['jobs'][0]['states']; print(s['done'], s['copied'] + s['installed'])
except Exception: print(0, 0)"
deadline=$(( $(date +%s) + 240 )); reached=""
while kill -0 "$ctl" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
	et_run "$R/poll" jobs --db "$db" --format json
	read -r done_n mid < <(python3 -c "$poll" "$R/poll.out")
	if [ -z "$reached" ] && [ "$done_n" -ge "$want" ]; then
		reached=1; deadline=$(( $(date +%s) + 10 ))
	fi
	[ -n "$reached" ] && [ "$mid" -gt 0 ] && break
	sleep 0.05
done
kill -KILL "$ctl" 2>/dev/null || true
rc=0; wait "$ctl" || rc=$?
echo "   install ran $(ms "$t1") ms; killed with $done_n of $N done, $mid copied or installed at the last poll"
lt_expect "the controller died of SIGKILL (137), not before" 137 "$rc"
lt_expect_match "at least 30% done before the kill" '^(yes)$' "$([ "$done_n" -ge "$want" ] && echo yes || echo "no: $done_n")"

et_run "$R/jobs1" jobs --db "$db" --format json
lt_expect "after the kill: one job, still running" "1 running" \
	"$(lt_json "$R/jobs1" "'%d %s' % (len(d['jobs']), d['jobs'][0]['status'])")"
job=$(lt_json "$R/jobs1" "d['jobs'][0]['id']")
nonterm=$(lt_json "$R/jobs1" "sum(v for k, v in d['jobs'][0]['states'].items() if k not in ('done', 'failed', 'skipped'))")
lt_expect_match "after the kill: some targets not terminal" '^[1-9][0-9]*$' "$nonterm"
lt_expect "after the kill: none failed or skipped" "0 0" \
	"$(lt_json "$R/jobs1" "'%d %d' % (d['jobs'][0]['states']['failed'], d['jobs'][0]['states']['skipped'])")"
echo "   states at the kill: $(lt_json "$R/jobs1" "' '.join('%s=%d' % kv for kv in d['jobs'][0]['states'].items() if kv[1])")"
et_run "$R/show1" show "$job" --db "$db" --format json
# targets the kill caught in the middle of their install (copied or installed)
lt_expect "show after the kill: every unfinished target says where it was interrupted" "$nonterm" \
	"$(lt_json "$R/show1" "sum(1 for x in d['targets'] if x['note'].startswith('interrupted at ') and x['note'].endswith('(resume with: agentpush resume %d)' % d['job']['id']))")"
midway=$(lt_json "$R/show1" "' '.join(x['target'] for x in d['targets'] if x['note'].split(' (')[0] in ('interrupted at copied', 'interrupted at installed'))")
echo "   caught mid-install: ${midway:-none}"

# --- resume
t2=$(date +%s%N)
et_run "$R/resume" resume --db "$db" --password-file "$R/pw" --known-hosts "$kh" --format json "$job"
echo "   resume: $(ms "$t2") ms for $nonterm targets"
lt_expect "resume: exit 0" 0 "$(lt_rc "$R/resume")"
lt_expect "resume: stderr empty (json)" "" "$(cat "$R/resume.err")"
lt_expect "resume: $N ok, 0 warning, 0 failed" "$N 0 0" \
	"$(lt_json "$R/resume" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])")"
lt_expect "resume: targets in inventory order" "${names[*]}" "$(lt_json "$R/resume" "' '.join(x['target'] for x in d['targets'])")"

# --- the store agrees, and shows the resume
et_run "$R/show" show "$job" --db "$db" --format json --events
lt_expect "show: exit 0, job done, $N done" "0 done $N" \
	"$(lt_rc "$R/show") $(lt_json "$R/show" "'%s %d' % (d['job']['status'], d['job']['states']['done'])")"
lt_expect "show: $N ok" "$N" "$(lt_json "$R/show" "d['summary']['ok']")"
lt_expect "show: same targets, statuses and ids as resume" \
	"$(lt_json "$R/resume" "[(x['target'], x['status'], [e['id'] for e in x['errors']]) for x in d['targets']]")" \
	"$(lt_json "$R/show" "[(x['target'], x['status'], [e['id'] for e in x['errors']]) for x in d['targets']]")"
lt_expect "show --events: one resume event" 1 "$(lt_json "$R/show" "sum(1 for e in d['events'] if e['what'] == 'resume')")"
# Every DONE target's verify passed: a fresh install says so in its note, a
# found install in its 800408 evidence.
lt_expect "every ok target was verified (installed note or 800408 with a passed verify)" "$N" "$(lt_json "$R/show" "sum(1 for x in d['targets'] if x['status'] == 'ok' and (x['note'] == 'installed agentpush-agent 0.1.0' or any(e['id'] == 800408 and 'verify command passed' in e['evidence'] for e in x['errors'])))")"

# --- exactly once, on the host itself
# shellcheck disable=SC2016  # expanded by the host's shell
per_dir=$(harness_exec fleet sh -c '
	for n in "$@"; do
		d=/opt/$n
		inst=$(grep -c " installed in $d and running" /var/log/agentpush-agent-install.log)
		starts=$(grep -c "^.*starting agentpush-agent " "$d/log/agentpush-agent.log" 2>/dev/null)
		ver=$(cat "$d/VERSION" 2>/dev/null)
		pid=$(head -n 1 "$d/run/agentpush-agent.pid" 2>/dev/null)
		alive=no
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
		   [ "$(readlink "/proc/$pid/exe")" = "$d/bin/agentpush-agent" ]; then alive=yes; fi
		echo "$n ${inst:-0} ${starts:-0} ${ver:-none} $alive"
	done' sh "${names[@]}")
printf '%s\n' "$per_dir" >"$R/per_dir"
lt_expect "every /opt/tNNN/VERSION is 0.1.0" "$N" "$(awk '$4 == "0.1.0"' "$R/per_dir" | wc -l)"
lt_expect "$N agents alive, each from its own folder" "$N" "$(awk '$5 == "yes"' "$R/per_dir" | wc -l)"
lt_expect "$N distinct agent processes" "$N" "$(harness_exec fleet sh -c 'cat /opt/t*/run/agentpush-agent.pid' | sort -u | wc -l)"
lt_expect "no target installed twice (completion lines <= 1)" "" "$(awk '$2 > 1 { printf "%s ", $1 }' "$R/per_dir")"
lt_expect "every agent started exactly once" "" "$(awk '$3 != 1 { printf "%s(%s) ", $1, $3 }' "$R/per_dir")"
# A target with no completion line is only acceptable if the kill cut its
# installer between starting the agent and logging (the installer's log
# line died with the SSH channel): it was caught mid-install and resume
# found it installed and verified (800408).
missing=$(awk '$2 == 0 { printf "%s ", $1 }' "$R/per_dir")
bad=""
for n in $missing; do
	case " $midway " in *" $n "*) ;; *) bad+="$n(not-midway) " ;; esac
	[ "$(lt_json "$R/resume" "[e['id'] for x in d['targets'] if x['target'] == '$n' for e in x['errors']]")" = "[800408]" ] || bad+="$n(not-800408) "
done
lt_expect "every target without a completion line was caught mid-install and found installed" "" "$bad"
echo "   targets whose completion line the kill cut: ${missing:-none}"
lt_expect "completion lines in the shared install log: one per target" "$(( N - $(echo "$missing" | wc -w) ))" \
	"$(harness_exec fleet grep -c ' installed in /opt/t[0-9]* and running' /var/log/agentpush-agent-install.log)"
echo "   found installed on resume (800408): $(lt_json "$R/resume" "sum(1 for x in d['targets'] if any(e['id'] == 800408 for e in x['errors']))")"
# The killed run never cleaned its staging folders up (payload, partial
# upload named after its pid): resume must.
# shellcheck disable=SC2016  # expanded by the host's shell
left=$(harness_exec fleet sh -c 'cd /var/tmp && for n in "$@"; do ls -A "$n" | sed "s,^,$n/,"; done; echo end' sh "${names[@]}")
lt_expect "staging folders empty after resume" "end" "$(printf '%s' "$left" | paste -sd' ')"
echo "   whole test: $(ms "$t0") ms"
lt_done
