# shellcheck shell=bash
# tests/integration/chaos/lib.sh: faults injected in the middle of a push on
# real harness hosts (issue 15; docs/reliability.md "Chaos on real hosts").
# Source after harness_init; it sources tests/integration/engine/lib.sh (et_run,
# and through it lt_expect, lt_json, lt_rc, lt_done, LT_AP, LT_HOME...).
#
#   ch_package DIR MB          a test package in DIR: an MB MiB payload (random,
#                              so nothing compresses it away), an installer
#                              that appends "start" then "end" to
#                              {install_dir}.runs on the host (the count of
#                              installer runs) and takes ~1.5 s, a verify
#                              that takes ~1 s; install_timeout 3 s
#   ch_fleet N PREFIX          N sshd hosts PREFIX1..PREFIXN with the sandbox
#                              folders and one root password ($CH_PW);
#                              their names in CH_HOSTS, known_hosts in $CH_KH
#   ch_slow HOST RATE          the host side's veth sends at RATE (tbf), so an
#                              upload lasts long enough to be cut inside
#   ch_wait_file HOST GLOB S   waits (S seconds at most) until a file
#                              matching GLOB exists on HOST; 0 if it did
#   ch_wait_line HOST FILE RE S  waits until FILE on HOST has a line
#                              matching RE; 0 if it did
#   ch_jitter MS               sleeps a random 0..MS ms (the random moment)
#   ch_root HOST               HOST's file system as this machine sees it
#                              (/proc/HOLDER/root: its mount namespace)
#   ch_plan PLAN NAME KIND PATH PATTERN JITTER FIRE [AFTER UNDO]
#                              adds a fault to PLAN for watch.py (see there)
#   ch_watch PLAN LOG          starts watch.py on PLAN in the background
#                              (its pid in CH_WATCHER), returns once it watches
#   ch_unwatch                 stops it (it undoes what it fired)
#   ch_link_cmds HOST          sets CH_DOWN and CH_UP: the commands that take
#                              HOST's link down and up (harness_link_down/up)
#   ch_runs HOST DIR           installer runs (start lines) of DIR on HOST
#   ch_left HOST DIR           what an install left in staging folder DIR
#                              on HOST (payload, .part, unpack folder)
#   ch_integrity DB            PRAGMA integrity_check of DB ("ok" when sound)
#   ch_outcomes OUT            "target status ids" lines of a JSON report
#   ch_evidence OUT            "target id: evidence" of its failed targets
#   ch_check_outcome NAME OUT TARGET RE
#                              TARGET ended done, or failed with IDs matching RE
#   ch_timeline DB OUT         prints, for the newest job of DB, each target's
#                              events as seconds since the job's first event
#                              (where a slow run spent its time; OUT.* kept)

source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"
source "$AP_SOURCE_ROOT/tests/integration/install/lib.sh"

CH_HOSTS=()
CH_PW=$HARNESS_RUN/ch-pw
CH_KH=$HARNESS_RUN/ch-kh
CH_T0=$(date +%s%N)
ch_ms() { echo $(( ($(date +%s%N) - ${1:-$CH_T0}) / 1000000 )); }

ch_package() {
	local dir=$1 mb=$2 sha size
	mkdir -p "$dir"
	head -c "$((mb * 1048576))" /dev/urandom >"$dir/payload.bin"
	sha=$(sha256sum <"$dir/payload.bin"); sha=${sha%% *}
	size=$(stat -c %s "$dir/payload.bin")
	# The installer: count the run, copy the payload in, write VERSION last
	# (the probe reads it), count the end.  {install_dir}.runs sits beside
	# the install folder, on the host's own /opt.
	cat >"$dir/manifest.json" <<-EOF
	{
	  "format": 1,
	  "name": "chaos-agent",
	  "version": "1.0.0",
	  "linux": {
	    "payload": "payload.bin",
	    "sha256": "$sha",
	    "size": $size,
	    "architectures": ["x86_64"],
	    "staging_dir": "/var/tmp",
	    "install_dir": "/opt/chaos-agent",
	    "space_kb": { "staging": $((size / 1024 + 64)), "install": $((size / 1024 + 64)) },
	    "install_timeout": 3,
	    "commands": {
	      "install": "echo start >> {install_dir}.runs; sleep 1.5; mkdir -p {install_dir} && cp {payload} {install_dir}/payload.bin && echo {version} > {install_dir}/VERSION && echo end >> {install_dir}.runs",
	      "uninstall": "rm -rf {install_dir}",
	      "verify": "echo verify >> {install_dir}.verifies; sleep 1; [ \"\$(cat {install_dir}/VERSION)\" = {version} ] && [ -s {install_dir}/payload.bin ]",
	      "version": "cat {install_dir}/VERSION"
	    },
	    "log_path": "/var/log/chaos-agent-install.log",
	    "exit_codes": {
	      "0": { "meaning": "installed", "outcome": "ok", "error": null, "reboot": false }
	    },
	    "capabilities": { "boot_on_separate_disk": true, "root_multi_disk": true,
	                      "lvm_root": true, "kernel_driver": false }
	  }
	}
	EOF
}

ch_fleet() {
	local n=$1 p=$2 i h
	( umask 077; openssl rand -base64 32 | tr -dc 'A-Za-z0-9' | head -c 20 >"$CH_PW" )
	# one set of host keys for the whole fleet (harness.sh)
	export HARNESS_HOSTKEYS_DIR=$HARNESS_RUN/hostkeys
	mkdir -p "$HARNESS_HOSTKEYS_DIR"
	for i in ed25519 ecdsa rsa; do
		ssh-keygen -q -t "$i" -N '' -C chaos -f "$HARNESS_HOSTKEYS_DIR/ssh_host_${i}_key" </dev/null >/dev/null
	done
	# two at a time: most of a host's making is waiting (forks on a loaded
	# machine, sshd's start; more at once timed out on the harness' lock at
	# load 40); each in a subshell, whose failure fails here
	local pids=() rc=0 j
	for i in $(seq 1 "$n"); do
		h=$p$i
		CH_HOSTS+=("$h")
		HARNESS_HOSTS+=("$h")
		( it_host "$h" && lt_root_password "$h" "$CH_PW" ) >"$HARNESS_RUN/mk-$h.log" 2>&1 &
		pids+=($!)
		if [ "${#pids[@]}" -ge 2 ] || [ "$i" -eq "$n" ]; then
			for j in "${pids[@]}"; do wait "$j" || rc=1; done
			pids=()
		fi
	done
	if [ "$rc" -ne 0 ]; then
		cat "$HARNESS_RUN"/mk-*.log >&2
		_harness_die "making the fleet failed"
	fi
	harness_known_hosts "$CH_KH" "${CH_HOSTS[@]}"
}

ch_slow() {
	tc qdisc replace dev "$(cat "$(harness_host_dir "$1")/veth")" root tbf rate "$2" burst 16kb latency 2s
}

ch_wait_file() {
	local host=$1 glob=$2 s=$3 end
	end=$(( $(date +%s%N) + s * 1000000000 ))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		# shellcheck disable=SC2016  # expanded by the host's shell
		harness_exec "$host" sh -c 'for f in $1; do [ -e "$f" ] && exit 0; done; exit 1' sh "$glob" && return 0
		sleep 0.02
	done
	return 1
}

ch_wait_line() {
	local host=$1 f=$2 re=$3 s=$4 end
	end=$(( $(date +%s%N) + s * 1000000000 ))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		harness_exec "$host" grep -qE -- "$re" "$f" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

ch_jitter() { sleep "$(awk -v m="$1" -v r="$RANDOM" 'BEGIN { printf "%.3f", m * r / 32767 / 1000 }')"; }

# (read through /proc: no process per look; the holder's pid is cached)
declare -A CH_HOLDER=()
ch_root() {
	[ -n "${CH_HOLDER[$1]:-}" ] || CH_HOLDER[$1]=$(cat "$(harness_host_dir "$1")/holder")
	echo "/proc/${CH_HOLDER[$1]}/root"
}

ch_plan() {
	local f=$1
	shift
	( IFS=$'\t'; echo "$*" ) >>"$f"
}

ch_watch() {
	local i
	python3 "$AP_SOURCE_ROOT/tests/integration/chaos/watch.py" "$1" "$2" 600 &
	CH_WATCHER=$!
	for i in $(seq 1 600); do
		grep -q '^watching' "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	_harness_die "watch.py did not start"
}

ch_unwatch() {
	kill -TERM "$CH_WATCHER" 2>/dev/null || true
	wait "$CH_WATCHER" || true
}

ch_link_cmds() {
	local d v
	d=$(harness_host_dir "$1")
	v=$(cat "$d/veth")
	# shellcheck disable=SC2034  # used by the test scripts
	CH_DOWN="ip link set $v down"
	# shellcheck disable=SC2034
	CH_UP="ip link set $v up && ip route replace $(_harness_slot_ip "$(cat "$d/slot")" 0)/29 dev $v proto kernel scope link src $(cat "$d/hostip")"
}


# ch_wait_unconnected SECONDS HOST...: waits up to SECONDS until no HOST
# has an established TCP connection on its port 22; prints the hosts that
# still had one then (nothing when all were free).  A controller that gave
# up on a host closes its connection, but the kernel goes on delivering
# what it had queued, after retransmission back-off (and once a cut link
# is back), so sftp-server may write a .part again long after its last
# write: a wait for "untouched for N s" alone can end inside such a gap
# (install_slow_link in CI, chaos_network under ASan), and the next run's
# cleanup then rightly leaves the freshly written .part alone.
ch_wait_unconnected() {
	local secs=$1 h left i
	shift
	for i in $(seq 0 $((secs * 2))); do
		left=""
		for h in "$@"; do
			[ -z "$(harness_exec "$h" ss -Htn state established '( sport = :22 )' 2>/dev/null)" ] ||
				left+=" $h"
		done
		[ -z "$left" ] && return 0
		[ "$i" -lt $((secs * 2)) ] && sleep 0.5
	done
	echo "$left"
}

ch_runs() {
	local n=0 l
	while read -r l; do [ "$l" = start ] && n=$((n + 1)); done 2>/dev/null <"$(ch_root "$1")$2.runs" || true
	echo "$n"
}

ch_left() {
	local f
	for f in "$(ch_root "$1")$2"/.[!.]* "$(ch_root "$1")$2"/*; do
		[ -e "$f" ] || continue
		case ${f##*/} in *payload* | *agent* | *part*) echo "${f##*/}" ;; esac
	done
}

ch_integrity() {
	python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(" ".join(r[0] for r in c.execute("PRAGMA integrity_check")))' "$1"
}

ch_outcomes() {
	lt_json "$1" "'\n'.join('%s %s %s' % (x['target'], x['status'], ','.join(str(e['id']) for e in x['errors']) or '-') for x in d['targets'])"
}

# ch_evidence OUT: the first finding's evidence of every failed target
ch_evidence() {
	lt_json "$1" "'\n'.join('%s %d: %s' % (x['target'], x['errors'][0]['id'], x['errors'][0]['evidence'][:200]) for x in d['targets'] if x['status'] == 'failed' and x['errors'])"
}

ch_check_outcome() {
	local name=$1 out=$2 target=$3 re=$4 line
	line=$(grep -E "^$target " <<<"$(ch_outcomes "$out")" || true)
	lt_expect_match "$name: $target ends ok, or failed with $re" "^$target (ok [0-9,-]+|failed $re)\$" "$line"
}

ch_timeline() {
	et_run "$2.jobs" jobs --db "$1" --format json
	et_run "$2" show --db "$1" --format json --events "$(lt_json "$2.jobs" "d['jobs'][0]['id']")"
	python3 - "$2.out" <<-'PY'
	import datetime, json, re, sys
	d = json.load(open(sys.argv[1]))
	at = lambda e: datetime.datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp()
	ev = sorted(d["events"], key=at)
	t0 = at(ev[0]) if ev else 0
	key = lambda t: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", t)]
	for t in sorted({e["target"] or "-" for e in ev}, key=key):
	    print("%s: %s" % (t, " ".join("+%.0f %s" % (at(e) - t0, e["what"]) for e in ev if (e["target"] or "-") == t)))
	PY
}
