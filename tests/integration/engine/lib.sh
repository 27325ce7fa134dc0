# shellcheck shell=bash
# tests/integration/engine/lib.sh: helpers for the fleet engine and
# `agentpush resume` integration tests (docs/engine-tests.md).  Source after
# harness_init; it sources tests/integration/linux/lib.sh for lt_expect,
# lt_expect_match, lt_json, lt_rc, lt_done and the isolated HOME and
# XDG_STATE_HOME of agentpush.
#
#   et_run OUT CMD ARGS...   run `agentpush CMD ARGS...`; stdout, stderr and
#                            exit status in OUT.out, OUT.err, OUT.rc
#   et_known_hosts F H A...  append known_hosts lines for addresses A... that
#                            all lead to sshd host H (its real host keys)
#   et_fleet_host H PW KH N  a fleet host (tests/integration/engine/workers.sh,
#                            bench/workers.sh): sshd host H (lt_host) with N
#                            extra addresses, each a target of its own
#                            (harness_host_add_addrs), root's password from
#                            file PW, every address in known_hosts file KH;
#                            ET_ADDRS holds the addresses.  The first host's
#                            keys serve every later one (HARNESS_HOSTKEYS_DIR):
#                            key generation is most of a host's setup
#   et_fleet N PER PW KH     fleet hosts f1..fN, each as et_fleet_host
#                            with PER addresses; f1 first (its keys serve
#                            the others), then ET_FLEET_JOBS (default 6) at
#                            a time: a host's setup is a hundred short
#                            commands, so making several at once is about
#                            twice as fast here.  Host fH's addresses:
#                            et_fleet_addrs fH
#   et_worker_netns W H...   harness hosts wk1..wkW for `agentpush worker`s,
#                            and forwarding on the veths of those and of
#                            hosts H... only (never net.ipv4.ip_forward)

source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"

et_run() {
	local out=$1 rc=0
	shift
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
		"$LT_AP" "$@" >"$out.out" 2>"$out.err" </dev/null || rc=$?
	echo "$rc" >"$out.rc"
}

et_known_hosts() {
	local f=$1 h=$2 d a k
	shift 2
	d=$(harness_host_dir "$h")
	for a in "$@"; do
		for k in "$d"/etc/ssh/ssh_host_*_key.pub; do
			printf '%s %s\n' "$a" "$(cut -d' ' -f1,2 "$k")" >>"$f"
		done
	done
}

et_fleet_host() {
	local h=$1 pw=$2 kh=$3 n=$4
	lt_host "$h"
	if [ -z "${HARNESS_HOSTKEYS_DIR:-}" ]; then
		mkdir -p "$HARNESS_RUN/et-hostkeys"
		cp "$(harness_host_dir "$h")"/etc/ssh/ssh_host_* "$HARNESS_RUN/et-hostkeys/"
		export HARNESS_HOSTKEYS_DIR=$HARNESS_RUN/et-hostkeys
	fi
	lt_root_password "$h" "$pw"
	mapfile -t ET_ADDRS < <(harness_host_add_addrs "$h" "$n")
	et_known_hosts "$kh" "$h" "${ET_ADDRS[@]}"
}

et_fleet() {
	local n=$1 per=$2 pw=$3 kh=$4 jobs=${ET_FLEET_JOBS:-6} h pids=() p bad=0
	_et_fleet_one() {
		et_fleet_host "f$1" "$pw" "$HARNESS_RUN/et-kh.f$1" "$per"
		printf '%s\n' "${ET_ADDRS[@]}" >"$HARNESS_RUN/et-addrs.f$1"
	}
	_et_fleet_one 1
	for h in $(seq 2 "$n"); do
		( _et_fleet_one "$h" ) &
		pids+=("$!")
		if [ "${#pids[@]}" -ge "$jobs" ] || [ "$h" -eq "$n" ]; then
			for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
			pids=()
		fi
	done
	[ "$bad" -eq 0 ] || _harness_die "et_fleet: $bad of $n fleet hosts could not be made"
	for h in $(seq 1 "$n"); do
		cat "$HARNESS_RUN/et-kh.f$h" >>"$kh"
	done
}

et_fleet_addrs() {
	cat "$HARNESS_RUN/et-addrs.$1"
}

et_worker_netns() {
	local w=$1 h
	shift
	for h in $(seq -f 'wk%g' 1 "$w"); do harness_host_create "$h" sshd; done
	for h in "$@" $(seq -f 'wk%g' 1 "$w"); do
		sysctl -qw "net.ipv4.conf.$(cat "$(harness_host_dir "$h")/veth").forwarding=1"
	done
}
