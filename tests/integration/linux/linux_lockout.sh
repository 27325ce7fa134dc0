#!/usr/bin/env bash
# The lockout rule and password hygiene: one wrong password against several
# real sshd hosts in one `agentpush check` run is tried on exactly one of
# them (one "Failed password" line across all the hosts' sshd logs, which
# log at LogLevel VERBOSE); the others get 800105 naming the host that
# rejected it.  The password never shows in stdout, stderr, the JSON, the
# sshd logs, the known_hosts file agentpush wrote (accept-new), nor anything
# under agentpush's $HOME / $XDG_STATE_HOME.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init linux_lockout
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
R=$HARNESS_RUN/lt; mkdir -p "$R"

hosts=(lock1 lock2 lock3 lock4)
declare -A A
targets=()
for h in "${hosts[@]}"; do lt_host "$h"; A[$h]=$(harness_host_addr "$h"); targets+=("root@${A[$h]}"); done
# a wrong password: random, distinctive, only ever in this 0600 file
( umask 077; printf 'Wr0ng-%s\n' "$(openssl rand -hex 12)" >"$R/wrong" )
kh=$R/known_hosts   # starts empty: accept-new writes it

for fmt in json text; do
	before=$(lt_failed_passwords "${hosts[@]}")
	lt_check "$R/run.$fmt" --known-hosts "$kh" --host-key-policy accept-new \
		--password-file "$R/wrong" --format "$fmt" "${targets[@]}"
	lt_expect "$fmt: exit 1" 1 "$(lt_rc "$R/run.$fmt")"
	lt_expect "$fmt: exactly one failed password across the ${#hosts[@]} sshd logs" 1 $(( $(lt_failed_passwords "${hosts[@]}") - before ))
done

# JSON: one host says 95108, every other one 800105 naming that host
rej=$(lt_json "$R/run.json" "' '.join(x['host'] for x in d['targets'] if [e['id'] for e in x['errors']] == [95108])")
lt_expect_match "one host rejected the password (95108)" '^198\.[0-9.]+$' "$rej"
for h in "${hosts[@]}"; do
	a=${A[$h]}
	[ "$a" = "$rej" ] && continue
	lt_expect "$h: 800105" 800105 "$(lt_json "$R/run.json" "ids('$a')")"
	lt_expect_match "$h: evidence names $rej" "rejected by $rej" "$(lt_json "$R/run.json" "err('$a', 800105)['evidence']")"
done
echo "   evidence: $(lt_json "$R/run.json" "[e['evidence'] for x in d['targets'] for e in x['errors'] if e['id'] == 800105][0]")"
lt_expect "summary" "0 0 4" "$(lt_json "$R/run.json" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])")"
lt_expect_match "text: one 95108 line" "^FAILED +root@[0-9.]+ +95108 " "$(cat "$R/run.text.out")"
lt_expect "text: three 800105 lines" 3 "$(grep -c -E '^FAILED +root@[0-9.]+ +800105 ' "$R/run.text.out" || true)"

# accept-new recorded the keys of the hosts it reached (the others were never
# contacted for authentication, but their keys may be learnt too)
lt_expect_match "accept-new wrote known_hosts" "${A[lock1]}|${A[lock2]}" "$(cat "$kh")"

# --- hygiene: the wrong password is nowhere
files=("$R"/run.*.out "$R"/run.*.err "$kh")
for h in "${hosts[@]}"; do files+=("$(harness_host_dir "$h")"/log/*); done
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$LT_HOME" "$LT_STATE" -type f -print0)
lt_expect_match "searched stdout, stderr, JSON, sshd logs, known_hosts, HOME, XDG_STATE_HOME" "^[0-9]+$" "${#files[@]}"
hits=$( { grep -l -F -f "$R/wrong" "${files[@]}" 2>/dev/null || true; } | wc -l)
# the search itself finds the password where it is (so it can fail)
lt_expect "control: the search finds the password file" 1 "$(grep -l -F -f "$R/wrong" "$R/wrong" | wc -l)"
lt_expect "the wrong password appears in none of ${#files[@]} files" 0 "$hits"
lt_done
