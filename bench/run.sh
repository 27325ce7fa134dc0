#!/usr/bin/env bash
# bench/run.sh - agentpush against Ansible and a minimal libssh floor, on N
# real sshd targets on this machine (bench/README.md explains every figure).
#
#   bench/run.sh [-n N] [-P PARALLEL] [-r REPS] [-o check,install]
#                [-t agentpush,floor,ansible] [-b BUILDDIR] [-k]
#
#   -n N          targets (default 200), at 127.1.X.Y (127/8 only)
#   -P PARALLEL   hosts in flight for every tool (default 32 = agentpush's
#                 default --parallel; Ansible gets forks=PARALLEL)
#   -r REPS       runs of each (tool, operation); the table shows medians
#                 (default 3; Ansible install is run once unless -R)
#   -R            repeat Ansible install REPS times too
#   -o OPS        operations (default check,install)
#   -t TOOLS      tools (default agentpush,floor,floor_nagle,ansible); also
#                 floor_probe, floor_probe_buf (diagnosis: see FLOORS below)
#   -b BUILDDIR   agentpush build folder (default: build-bench, set up here)
#   -k            keep the work folder (printed) for inspection
#
# Needs root (mount + network namespace) and bench/setup.sh's packages.
# The whole run lives in a private mount and network namespace: one sshd
# listens on 0.0.0.0:22 of a network namespace that has only `lo`, so it
# answers every 127.x address and nothing else; each target address is
# chrooted (Match LocalAddress) into its own root: a read-only bind of the
# machine's / with its own tmpfs on /opt, /var/tmp, /var/log, /root, /tmp
# and /usr/lib/modules, so N installs really write N times and nothing
# reaches the machine's own /opt.  Everything disappears with the namespace.
set -euo pipefail

N=200 P=32 REPS=3 OPS=check,install TOOLS=agentpush,floor,floor_nagle,ansible BUILD= KEEP=0 REP_ANSIBLE_INSTALL=0
SRC=$(cd "$(dirname "$0")/.." && pwd)
ARGS=("$@")
while getopts "n:P:r:o:t:b:kRh" opt; do
	case $opt in
	n) N=$OPTARG ;; P) P=$OPTARG ;; r) REPS=$OPTARG ;; o) OPS=$OPTARG ;;
	t) TOOLS=$OPTARG ;; b) BUILD=$OPTARG ;; k) KEEP=1 ;; R) REP_ANSIBLE_INSTALL=1 ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done
case $N in ''|*[!0-9]*) echo "run.sh: -n '$N' is not a number" >&2; exit 2 ;; esac
case $P in ''|*[!0-9]*) echo "run.sh: -P '$P' is not a number" >&2; exit 2 ;; esac
if [ "$N" -lt 1 ] || [ "$N" -gt 60000 ]; then echo "run.sh: -n must be 1..60000" >&2; exit 2; fi
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (namespaces, chroot targets)" >&2; exit 2; }

if [ "${APBENCH_NS:-}" != 1 ]; then
	# Build outside the namespace (meson may want the network-free host as is).
	if [ -z "$BUILD" ]; then
		BUILD=$SRC/build-bench
		[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$SRC" >/dev/null
		ninja -C "$BUILD" src/cli/agentpush agent/package >/dev/null
	fi
	export APBENCH_NS=1 APBENCH_BUILD=$BUILD
	exec unshare -m -n --propagation private bash "$0" "${ARGS[@]}"
fi
BUILD=${APBENCH_BUILD:-$BUILD}
AGENTPUSH=$BUILD/src/cli/agentpush
# AGENTPUSH_WRAP: a command prefix for profiling, e.g.
#   AGENTPUSH_WRAP="perf record -g -o /tmp/ap.perf" bench/run.sh -t agentpush -o check -r 1
# (the figures of a wrapped run measure the wrapper too: profile, don't compare)
read -r -a AP_WRAP <<<"${AGENTPUSH_WRAP:-}"
[ -x "$AGENTPUSH" ] || { echo "run.sh: no agentpush at $AGENTPUSH" >&2; exit 2; }
has_tool() { case ",$TOOLS," in *",$1,"*) return 0 ;; esac; return 1; }
has_op() { case ",$OPS," in *",$1,"*) return 0 ;; esac; return 1; }
if has_tool ansible; then
	command -v ansible >/dev/null || { echo "run.sh: ansible not installed: run bench/setup.sh" >&2; exit 2; }
fi

ulimit -n "$(ulimit -Hn)"   # the hard limit here is 20000: ample for 1000 hosts
ip link set lo up
W=$(mktemp -d /tmp/apbench.XXXXXX)
ROOTS=/mnt/apbench   # a tmpfs over /mnt inside this namespace only
cleanup() {
	[ -f "$W/sshd.pid" ] && kill "$(cat "$W/sshd.pid")" 2>/dev/null || true
	if [ "$KEEP" = 1 ]; then echo "work folder kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# ---- tools ------------------------------------------------------------------
CFLAGS="-O2 -Wall -Wextra -Werror -std=c17"
cc $CFLAGS -D_GNU_SOURCE "$SRC/bench/floor.c" -o "$W/floor" $(pkg-config --cflags --libs libssh) -pthread
cc $CFLAGS "$SRC/bench/measure.c" -o "$W/measure"

# ---- addresses, keys, inventory --------------------------------------------
addr() { echo "127.1.$(( ($1 - 1) / 250 )).$(( ($1 - 1) % 250 + 1 ))"; }
HOSTS=()
for i in $(seq 1 "$N"); do HOSTS+=("$(addr "$i")"); done
ssh-keygen -q -t ed25519 -N '' -f "$W/id" -C apbench
ssh-keygen -q -t ed25519 -N '' -f "$W/hostkey" -C apbench-host
cp "$W/id.pub" "$W/authorized_keys"
hk=$(cut -d' ' -f1,2 "$W/hostkey.pub")
{ for h in "${HOSTS[@]}"; do echo "$h $hk"; done; } >"$W/known_hosts"
{ echo "[bench]"; for h in "${HOSTS[@]}"; do echo "$h"; done; } >"$W/inventory"

# ---- target roots -----------------------------------------------------------
mount -t tmpfs -o mode=0755,size=90% apbench "$(dirname "$ROOTS")"
mkdir -p "$ROOTS"
log "making $N target roots"
for i in $(seq 1 "$N"); do
	r=$ROOTS/$i
	mkdir -p "$r"
	# the machine's root file system, read-only (so the disk rules see a
	# real / on a real disk), with private writable folders on top
	mount --bind / "$r"
	mount -o remount,bind,ro "$r"
	for d in opt var/tmp var/log root tmp usr/lib/modules; do mount -t tmpfs -o mode=0755 "apbench$i" "$r/$d"; done
	chmod 1777 "$r/tmp" "$r/var/tmp"
	# this machine has no kernel modules; a target would (as the harness does)
	mkdir "$r/usr/lib/modules/$(uname -r)"
	mount --bind /dev "$r/dev"
	mount -t proc proc "$r/proc"
	mount --bind -o ro /sys "$r/sys"
done

# ---- sshd -------------------------------------------------------------------
mkdir -p /run/sshd
{
	cat <<-EOF
	# bench/run.sh: one sshd for all targets, inside a network namespace
	Port 22
	ListenAddress 0.0.0.0
	HostKey $W/hostkey
	PidFile $W/sshd.pid
	AuthorizedKeysFile $W/authorized_keys
	StrictModes no
	PermitRootLogin prohibit-password
	PubkeyAuthentication yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	UseDNS no
	PrintMotd no
	PrintLastLog no
	MaxStartups 4000
	MaxSessions 100
	LoginGraceTime 300
	LogLevel ERROR
	Subsystem sftp internal-sftp
	EOF
	for i in $(seq 1 "$N"); do
		printf 'Match LocalAddress %s\n\tChrootDirectory %s/%d\n' "$(addr "$i")" "$ROOTS" "$i"
	done
} >"$W/sshd_config"
/usr/sbin/sshd -t -f "$W/sshd_config"
/usr/sbin/sshd -f "$W/sshd_config" -E "$W/sshd.log"
for _ in $(seq 50); do [ -s "$W/sshd.pid" ] && break; sleep 0.1; done
ssh -q -i "$W/id" -o UserKnownHostsFile="$W/known_hosts" -o BatchMode=yes root@"${HOSTS[0]}" true \
	|| { echo "run.sh: sshd does not answer (see $W/sshd.log)" >&2; cat "$W/sshd.log" >&2; exit 1; }

# ---- the 5 MB package -------------------------------------------------------
# A payload tar.gz holding VERSION and a 5 MiB random blob (incompressible,
# so the tarball is ~5 MiB).  Its install command does a real unpack and puts
# the files in install_dir; verify reads VERSION back.  The floor and the
# Ansible playbook do the same shell work.
PKG=$W/pkg
mkdir -p "$PKG" "$W/payload"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$W/payload/blob"
echo 1.0.0 >"$W/payload/VERSION"
tar -C "$W/payload" -czf "$PKG/apbench-1.0.0-linux-x86_64.tar.gz" VERSION blob
PAYLOAD=$PKG/apbench-1.0.0-linux-x86_64.tar.gz
SHA=$(sha256sum "$PAYLOAD" | cut -d' ' -f1)
SIZE=$(stat -c %s "$PAYLOAD")
INSTALL_CMD='umask 022; rm -rf {workdir} && mkdir -p {workdir} && tar -xzf {payload} -C {workdir} && mkdir -p {install_dir} && mv {workdir}/blob {install_dir}/blob && mv {workdir}/VERSION {install_dir}/VERSION && echo installed >{log}; rc=$?; rm -rf {workdir}; exit $rc'
python3 - "$SRC/agent/manifest.json.in" "$PKG/manifest.json" "$SHA" "$SIZE" "$INSTALL_CMD" "$(uname -m)" <<'EOF'
import json, sys
src, dst, sha, size, install, arch = sys.argv[1:]
m = json.load(open(src))
m["name"] = "apbench"
m["version"] = "1.0.0"
lin = m["linux"]
lin.update(payload="apbench-1.0.0-linux-x86_64.tar.gz", sha256=sha, size=int(size),
           architectures=[arch], staging_dir="/var/tmp", install_dir="/opt/apbench",
           log_path="/var/log/apbench-install.log",
           space_kb={"staging": 2 * int(size) // 1024 + 64, "install": int(size) // 1024 + 64})
lin["commands"] = {"install": install,
                   "uninstall": "rm -rf {install_dir}",
                   "verify": "test \"$(cat {install_dir}/VERSION)\" = {version}",
                   "version": "cat {install_dir}/VERSION"}
lin["capabilities"]["kernel_driver"] = False
json.dump(m, open(dst, "w"), indent=2)
EOF
# The floor's one command: what agentpush does after its upload, in one exec.
FLOOR_CMD="set -e; umask 022; cd /var/tmp; echo '$SHA  apbench.tar.gz.part' | sha256sum -c --quiet; mv apbench.tar.gz.part apbench.tar.gz; rm -rf apbench.d; mkdir apbench.d; tar -xzf apbench.tar.gz -C apbench.d; mkdir -p /opt/apbench; mv apbench.d/blob /opt/apbench/blob; mv apbench.d/VERSION /opt/apbench/VERSION; rm -rf apbench.d apbench.tar.gz; test \"\$(cat /opt/apbench/VERSION)\" = 1.0.0"
# Ansible: copy (its own checksum + atomic rename) then the same unpack,
# install and verify, as one shell task.
cat >"$W/install.yml" <<EOF
- hosts: bench
  gather_facts: false
  tasks:
    - copy:
        src: $PAYLOAD
        dest: /var/tmp/apbench.tar.gz
        checksum: "$(sha1sum "$PAYLOAD" | cut -d' ' -f1)"
    - shell: "umask 022; cd /var/tmp; rm -rf apbench.d; mkdir apbench.d; tar -xzf apbench.tar.gz -C apbench.d && mkdir -p /opt/apbench && mv apbench.d/blob /opt/apbench/blob && mv apbench.d/VERSION /opt/apbench/VERSION; rc=\$?; rm -rf apbench.d apbench.tar.gz; [ \$rc = 0 ] && test \"\$(cat /opt/apbench/VERSION)\" = 1.0.0"
EOF
cat >"$W/ansible.cfg" <<EOF
[defaults]
inventory = $W/inventory
forks = $P
host_key_checking = True
interpreter_python = /usr/bin/python3
remote_user = root
private_key_file = $W/id
local_tmp = $W/ansible-local
stdout_callback = minimal
timeout = 60
[ssh_connection]
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$W/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes
control_path_dir = $W/cp
EOF
export ANSIBLE_CONFIG=$W/ansible.cfg HOME=$W XDG_STATE_HOME=$W/state

wipe_installs() {
	local i
	for i in $(seq 1 "$N"); do rm -rf "$ROOTS/$i/opt/apbench" "$ROOTS/$i/var/tmp/"apbench* "$ROOTS/$i/var/log/"apbench*; done
	rm -rf "$W/state" "$W/cp"
}
# Stop Ansible's ControlPersist masters so measure reaps them (their CPU is
# the controller's) instead of waiting 60 s.
stop_masters() {
	local s
	for s in "$W"/cp/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null || true; done
}

RES=$W/results.tsv
: >"$RES"
# run_one TOOL OP REP N PAR CMD...: measures CMD, appends a result row.
run_one() {
	local tool=$1 op=$2 rep=$3 n=$4 par=$5 m ok
	shift 5
	m=$W/m.$tool.$op.$rep.$n
	"$W/measure" "$m" -- "$@" >"$m.out" 2>"$m.err" &
	local mp=$!
	if [ "$tool" = ansible ]; then
		while kill -0 "$mp" 2>/dev/null && ! grep -q '' "$m" 2>/dev/null; do
			# once ansible itself has exited, close its masters
			if ! pgrep -P "$mp" -f 'ansible' >/dev/null 2>&1; then stop_masters; fi
			sleep 0.5
		done
	fi
	wait "$mp" || true
	case $tool in
	agentpush) ok=$(python3 -c 'import json,sys
try:
    d=json.load(open(sys.argv[1]))
    ts=d.get("targets", d if isinstance(d,list) else [])
    print(sum(1 for t in ts if t.get("status") in ("ok","warning","installed","already_installed")))
except Exception: print(-1)' "$m.out") ;;
	floor*) ok=$(sed -n 's/^floor: [0-9]* hosts, \([0-9]*\) ok.*/\1/p' "$m.out") ;;
	ansible) ok=$(grep -c '| CHANGED | rc=0 >>' "$m.out" || true) ;;  # the raw/shell task's line
	esac
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$op" "$rep" "$n" "$par" "${ok:-?}" "$(cat "$m")" >>"$RES"
	log "$tool $op n=$n P=$par rep $rep: $(cat "$m") ok=$ok/$n"
}

ap_args=(--identity "$W/id" --known-hosts "$W/known_hosts" --user root --format json --timeout 300)
FLOOR_ARGS=(-k "$W/id" -K "$W/known_hosts" -u root)
# The floor variants (bench/README.md): floor = connect, auth, one exec (and
# for install one SFTP upload), TCP_NODELAY on; floor_nagle = the same with
# libssh's default (Nagle on; agentpush sets TCP_NODELAY); floor_probe = floor whose
# check runs agentpush's probe script over stdin as agentpush does, its
# output streamed line by line; floor_probe_buf = the same probe with its
# output collected by the target's shell and sent in one write.
FLOORS="floor floor_nagle floor_probe floor_probe_buf"
PROBE=$SRC/lib/linux/probe.sh
PROBE_BUF_CMD='sh -c '\''o=$(sh -s -- /var/tmp /opt/apbench); printf "%s\n" "$o"'\'
floor_args() {   # TOOL OP: sets fk, or returns 1 when TOOL does not do OP
	fk=()
	[ "$1" = floor_nagle ] || fk+=(-D)
	case $1:$2 in
	floor_probe*:install) return 1 ;;
	floor_probe:check) fk+=(-i "$PROBE" -x "sh -s -- /var/tmp /opt/apbench") ;;
	floor_probe_buf:check) fk+=(-i "$PROBE" -x "$PROBE_BUF_CMD") ;;
	*:install) fk+=(-f "$PAYLOAD" -r /var/tmp/apbench.tar.gz.part -c "$FLOOR_CMD") ;;
	esac
	return 0
}

# Baselines: agentpush and the floor on 1 host (per-host memory is measured
# above them).
for op in check install; do
	has_op "$op" || continue
	if has_tool agentpush; then
		wipe_installs
		pk=(); [ "$op" = install ] && pk=(--package "$PKG")
		run_one agentpush "$op" base 1 1 ${AP_WRAP[@]+"${AP_WRAP[@]}"} "$AGENTPUSH" "$op" "${pk[@]}" "${ap_args[@]}" --parallel 1 "${HOSTS[0]}"
	fi
	for fl in $FLOORS; do
		has_tool "$fl" || continue
		floor_args "$fl" "$op" || continue
		wipe_installs
		run_one "$fl" "$op" base 1 1 "$W/floor" "$op" "${FLOOR_ARGS[@]}" -P 1 "${fk[@]}" "${HOSTS[0]}"
	done
done

for rep in $(seq 1 "$REPS"); do
	for op in check install; do
		has_op "$op" || continue
		for fl in $FLOORS; do
			has_tool "$fl" || continue
			floor_args "$fl" "$op" || continue
			wipe_installs
			run_one "$fl" "$op" "$rep" "$N" "$P" "$W/floor" "$op" "${FLOOR_ARGS[@]}" -P "$P" "${fk[@]}" "${HOSTS[@]}"
		done
		if has_tool agentpush; then
			wipe_installs
			pk=(); [ "$op" = install ] && pk=(--package "$PKG")
			run_one agentpush "$op" "$rep" "$N" "$P" ${AP_WRAP[@]+"${AP_WRAP[@]}"} "$AGENTPUSH" "$op" "${pk[@]}" "${ap_args[@]}" --parallel "$P" "${HOSTS[@]}"
		fi
		if has_tool ansible; then
			if [ "$op" = install ] && [ "$rep" -gt 1 ] && [ "$REP_ANSIBLE_INSTALL" = 0 ]; then continue; fi
			wipe_installs
			if [ "$op" = check ]; then
				run_one ansible check "$rep" "$N" "$P" ansible all -m raw -a true
			else
				run_one ansible install "$rep" "$N" "$P" ansible-playbook "$W/install.yml"
			fi
		fi
	done
done
wipe_installs

python3 "$SRC/bench/report.py" "$RES" "$N" "$P"
cp "$RES" "/tmp/apbench-results-n$N-p$P.tsv"
log "raw rows: /tmp/apbench-results-n$N-p$P.tsv"
