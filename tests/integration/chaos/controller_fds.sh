#!/usr/bin/env bash
# The controller out of file descriptors is the controller's fault, said
# so: 800107 (CONTROLLER_OUT_OF_RESOURCES), never 95117 (host unreachable)
# nor any other ID that blames the host.  The fast, normal-suite half of
# chaos_fds (which also runs 200 targets under the limit).
#
# One real sshd host, its key known; `agentpush check` of it under `ulimit
# -n` 5 to 10 (soft and hard), a fresh process each: the descriptor runs
# out at each step in turn (here: 5 the job store, 6 the socket, 7 the ssh
# config read once the socket is open; 8 and up pass).  Each check ends ok, or failed with 800107 alone whose
# evidence names the limit, or exit 2 naming the store (the store opens
# first: there the run itself cannot start).  At least one limit must stop
# it at the socket ("the controller cannot open a socket to ADDR port 22:
# Too many open files", the failure that was 95117) and the highest must
# pass (the host is fine).  The same with a key from ~/.ssh and no password
# must never be 95108 (wrong credential: libssh counts a key file it cannot
# open as no key, and the credential gate would then keep every other host
# from it).  In one check the ssh config and known_hosts, read before the
# keys, run out at the same limit and are what is named; the keys' own case
# needs another thread to take the last descriptor in between, as in a
# fleet run, so this proves only that no limit files it 95108.
# `agentpush explain 800107` works.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init controller_fds
source "$AP_SOURCE_ROOT/tests/integration/chaos/lib.sh"

R=$HARNESS_RUN/cf; mkdir -p "$R"
ch_fleet 1 cf
a=$(harness_host_addr "${CH_HOSTS[0]}")
chk=(check --password-file "$CH_PW" --known-hosts "$CH_KH" --format json "root@$a")

et_run "$R/free" "${chk[@]}"
lt_expect "no limit: the check passes" "0 ok" "$(lt_rc "$R/free") $(ch_outcomes "$R/free" | cut -d' ' -f2)"

# what one check under a limit came to: store / ok / controller: EVIDENCE /
# anything else as it is (which fails the checks below)
outcome() {
	local rc o
	rc=$(lt_rc "$1")
	if [ "$rc" = 2 ]; then
		grep -qE '^agentpush [a-z]+: job store .*(unable to open|open files)' "$1.err" &&
			echo store || echo "exit 2: $(head -c 200 "$1.err")"
		return
	fi
	o=$(ch_outcomes "$1" | cut -d' ' -f2-)
	case $o in
	"ok -") echo ok ;;
	"failed 800107") echo "controller: $(ch_evidence "$1" | cut -d' ' -f3-)" ;;
	*) echo "exit $rc: $o: $(ch_evidence "$1")" ;;
	esac
}
all=""
for l in $(seq 5 10); do
	( ulimit -n "$l"; et_run "$R/l$l" "${chk[@]}" )
	o=$(outcome "$R/l$l")
	echo "   ulimit -n $l: $o"
	all+="$o"$'\n'
	lt_expect_match "ulimit -n $l: ok, 800107 naming the limit, or the store" \
		'^(ok|store|controller: .*Too many open files.*)$' "$o"
	lt_expect "ulimit -n $l: not blamed on the host (no 95117)" "" "$(grep -o 95117 "$R/l$l.out" || true)"
done
lt_expect_match "one limit stopped the connect at socket(), filed 800107" \
	"controller: the controller cannot open a socket to $a port 22: Too many open files" "$all"
lt_expect "ulimit -n 10: the check passes" ok "$(outcome "$R/l10")"

# --- a key from ~/.ssh (what ssh would offer), no password.  libssh finds
# ~/.ssh through getpwuid(), not HOME: each run gets a private mount
# namespace with a tmpfs over that folder holding the test's key, so the
# machine's own ~/.ssh is never read or written (as linux_sshagent does).
ssh-keygen -q -t ed25519 -N '' -C controller_fds -f "$R/key" </dev/null >/dev/null
harness_exec "${CH_HOSTS[0]}" sh -c 'mkdir -p /root/.ssh && cat >/root/.ssh/authorized_keys' <"$R/key.pub"
home=$(getent passwd "$(id -un)" | cut -d: -f6)
keycheck() {   # OUT LIMIT
	local rc=0
	unshare -m --propagation private sh -c '
		mkdir -p "$1/.ssh" && mount -t tmpfs -o size=1m,mode=0700 cf-ssh "$1/.ssh" &&
		cp "$2" "$1/.ssh/id_ed25519" && cp "$2.pub" "$1/.ssh/id_ed25519.pub" || exit 99
		ulimit -n "$3"; shift 3; exec "$@"' sh "$home" "$R/key" "$2" \
		env HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" SSH_AUTH_SOCK= \
		"$LT_AP" check --known-hosts "$CH_KH" --format json "root@$a" >"$1.out" 2>"$1.err" </dev/null || rc=$?
	echo "$rc" >"$1.rc"
}
keycheck "$R/kfree" 1024
lt_expect "key, no limit: the check passes" "0 ok" "$(lt_rc "$R/kfree") $(ch_outcomes "$R/kfree" | cut -d' ' -f2)"
all=""
for l in $(seq 5 10); do
	keycheck "$R/kl$l" "$l"
	o=$(outcome "$R/kl$l")
	echo "   key, ulimit -n $l: $o"
	all+="$o"$'\n'
	lt_expect_match "key, ulimit -n $l: ok, 800107 naming the limit, or the store" \
		'^(ok|store|controller: .*Too many open files.*)$' "$o"
done
lt_expect_match "key: some limit stopped it, filed 800107" "controller: .*Too many open files" "$all"
lt_expect "key: the highest limit (10) passes" ok "$(outcome "$R/kl10")"

et_run "$R/explain" explain 800107
lt_expect_match "explain 800107" 'CONTROLLER_OUT_OF_RESOURCES|open files' "$(cat "$R/explain.out")"
lt_expect "explain 800107: exit 0" 0 "$(lt_rc "$R/explain")"
lt_done
