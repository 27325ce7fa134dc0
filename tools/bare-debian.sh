#!/usr/bin/env bash
# Proves that the README's two commands work on a bare Debian 12: builds a
# minimal Debian 12 (debootstrap --variant=minbase, nothing but the
# "required" packages and apt) in a folder, puts a clean clone of this
# repository in it, and runs `bash scripts/demo.sh` and then
# `bash scripts/test-all.sh` there, as root, in a chroot.  Every package those
# need must come from scripts/deps.sh, since the chroot has nothing else.
#
# The chroot shares the machine's kernel but gets its own /proc, /sys, /dev,
# /run (tmpfs) and, for the two commands, its own network namespace (only
# loopback, no route out): its test hosts, veths and routes cannot collide
# with a test run on the machine itself, and nothing it starts can reach past
# this machine.  Packages are installed first, by the chroot's own
# `bash scripts/deps.sh` with the machine's network (apt only); the README's
# commands then call deps.sh again, which finds everything there.
#
# Usage (as root, from the source tree):
#   bash tools/bare-debian.sh [DIR]     DIR default /var/tmp/agentpush-bare
# Environment: BARE_KEEP=1 keeps DIR afterwards (default: removed, unless a
# step failed); BARE_STEPS="demo test" (default both; "" only installs); AP_TEST_BUILDS is
# passed through to test-all.sh.
# Output: each step's log in DIR.logs/, and one line per step; exit 0 only
# when every step passed.
set -uo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
dir=${1:-/var/tmp/agentpush-bare}
logs="$dir.logs"
steps=${BARE_STEPS-demo test}
mirror=${BARE_MIRROR:-http://deb.debian.org/debian}

die() { echo "bare-debian: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot, mounts)"
case $dir in /|/usr|/var|/tmp|/etc|"") die "refusing to use $dir" ;; esac

mounted=()
umount_all() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -l "${mounted[$i]}" 2>/dev/null
	done
	mounted=()
}
trap umount_all EXIT
mnt() { # mnt TYPE SRC DST [OPTS]
	mkdir -p "$3"
	mount -t "$1" ${4:+-o "$4"} "$2" "$3" || die "mount $3 failed"
	mounted+=("$3")
}

mkdir -p "$logs"
if ! command -v debootstrap >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
		die "apt-get install debootstrap failed"
fi

if [ ! -x "$dir/usr/bin/apt-get" ]; then
	rm -rf "$dir"
	echo "bare-debian: debootstrap --variant=minbase bookworm $dir"
	debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$logs/debootstrap.log" 2>&1 ||
		{ tail -20 "$logs/debootstrap.log"; die "debootstrap failed (log: $logs/debootstrap.log)"; }
	cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
fi
echo "bare-debian: $(chroot "$dir" dpkg-query -W -f='.\n' | wc -l) packages in the bare system"

# A clean clone: what was committed, nothing of this work tree's builds.
rm -rf "$dir/src/agentpush"
mkdir -p "$dir/src"
git clone -q "$top" "$dir/src/agentpush" || die "git clone into the chroot failed"

cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null
env_clean=(/usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	${AP_TEST_BUILDS:+AP_TEST_BUILDS="$AP_TEST_BUILDS"})

# in_chroot CMD: a plain chroot with the machine's network, for apt only.
in_chroot() {
	mnt proc proc "$dir/proc"
	mnt sysfs sysfs "$dir/sys"
	mnt devtmpfs udev "$dir/dev"
	mnt tmpfs tmpfs "$dir/tmp" mode=1777
	chroot "$dir" "${env_clean[@]}" /bin/bash -c "$1"
	local rc=$?
	umount_all
	return $rc
}

# in_container CMD: the tree as the root of its own mount, network and pid
# namespaces.  A chroot is not enough for the harness: `nsenter -m` into a
# test host's mount namespace resets the root to that namespace's root,
# which for a chroot is the machine's real /.  After pivot_root the new
# namespaces' root is the Debian 12 tree itself, so nothing the tests do can
# reach the machine's files, and the network has only loopback.
in_container() {
	unshare --mount --net --pid --fork --propagation private /bin/bash -s "$dir" "$1" <<'IN'
set -e
dir=$1 cmd=$2
mount --bind "$dir" "$dir"
mount -t proc proc "$dir/proc"
mount -t sysfs sysfs "$dir/sys"
mount --rbind /dev "$dir/dev"
mount -t tmpfs -o mode=1777 tmpfs "$dir/dev/shm"
mount -t tmpfs -o mode=755 tmpfs "$dir/run"
cd "$dir"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
ip link set lo up
exec /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	${AP_TEST_BUILDS:+AP_TEST_BUILDS="$AP_TEST_BUILDS"} /bin/bash -c "$cmd"
IN
}

status=0
t0=$(date +%s)
if in_chroot 'cd /src/agentpush && bash scripts/deps.sh' >"$logs/deps.log" 2>&1; then
	echo "bare-debian: deps: ok ($(( $(date +%s) - t0 )) s, $(chroot "$dir" dpkg-query -W -f='.\n' | wc -l) packages now)"
else
	tail -20 "$logs/deps.log"; die "scripts/deps.sh failed in the chroot (log: $logs/deps.log)"
fi

for s in $steps; do
	case $s in
	demo) cmd='bash scripts/demo.sh' ;;
	test) cmd='bash scripts/test-all.sh' ;;
	*) die "unknown step $s" ;;
	esac
	t0=$(date +%s)
	AP_TEST_BUILDS=${AP_TEST_BUILDS:-} in_container "cd /src/agentpush && $cmd" >"$logs/$s.log" 2>&1
	rc=$?
	echo "bare-debian: $cmd: exit $rc in $(( $(date +%s) - t0 )) s; last line: $(tail -n1 "$logs/$s.log")"
	[ "$rc" -eq 0 ] || status=1
done

umount_all
if [ "$status" -eq 0 ] && [ "${BARE_KEEP:-0}" != 1 ]; then
	rm -rf "$dir"
fi
exit $status
