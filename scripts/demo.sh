#!/usr/bin/env bash
# The README's first command: a sandbox fleet of real test hosts, each a
# network namespace on 198.18.0.0/15 running its own OpenSSH sshd, checked and
# then pushed to with agentpush.  Some hosts are healthy; others were given a
# real fault (wrong account, full staging disk, GRUB naming /dev/sda1, SFTP
# switched off, an unsupported OS).  Everything is torn down at the end.
#
# Usage (as root, from the source tree): bash scripts/demo.sh
set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
bash scripts/deps.sh

build="$top/build-demo"
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dtests=false >/dev/null
fi
ninja -C "$build" >/dev/null
AP="$build/src/cli/agentpush"
PKG="$build/agent/package"

export AP_SOURCE_ROOT="$top"
# shellcheck source=../tests/harness/harness.sh
source "$top/tests/harness/harness.sh"
harness_init demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Each host gets a private /opt, /var/tmp and /var/log, and the module
# folder of the running kernel, so what agentpush installs stays inside it.
host() {
	local h=$1
	harness_host_create "$h" sshd
	harness_host_sandbox_fs "$h"
}

say "starting the sandbox fleet (real sshd in network namespaces)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pwfile="$work/password"
( umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$pwfile" )
password=$(cat "$pwfile")

for h in web1 web2 db1 db2 app1 legacy; do host "$h"; done
# healthy: an operator account with sudo, the same password everywhere
for h in web1 web2 db1 db2 app1 legacy; do
	harness_host_add_user "$h" pusher "$password" nopasswd
done
harness_host_add_user db1 backup - none                 # neither root nor sudo
harness_exec db2 umount /var/tmp                        # staging disk too small
harness_host_tmpfs db2 /var/tmp 20m
harness_exec db2 chmod 1777 /var/tmp
harness_host_loopdisk app1 /boot 32                     # GRUB names /dev/sda1
harness_exec app1 mkdir -p /boot/grub
harness_host_set_file app1 /boot/grub/grub.cfg 'menuentry "Debian" {
	linux /vmlinuz root=/dev/sda1 ro quiet
}'
harness_sshd_config_del web2 Subsystem                  # SFTP switched off
harness_host_set_file legacy /etc/os-release 'NAME="CentOS"
VERSION_ID="5.1"
ID="centos"
PRETTY_NAME="CentOS release 5.1"'

kh="$work/known_hosts"
harness_known_hosts "$kh" web1 web2 db1 db2 app1 legacy
inv="$work/inventory"
{
	echo "[web]"
	echo "web1 ansible_host=$(harness_host_addr web1) ansible_user=pusher"
	echo "web2 ansible_host=$(harness_host_addr web2) ansible_user=pusher"
	echo "[db]"
	echo "db1 ansible_host=$(harness_host_addr db1) ansible_user=backup"
	echo "db2 ansible_host=$(harness_host_addr db2) ansible_user=pusher"
	echo "[app]"
	echo "app1 ansible_host=$(harness_host_addr app1) ansible_user=pusher"
	echo "legacy ansible_host=$(harness_host_addr legacy) ansible_user=pusher"
} >"$inv"
# db1's "backup" account has its own password, which we do not have; the
# shared password file is for "pusher".  That is a real wrong-credential case.

say "agentpush check -i inventory   (diagnose only: nothing changes on the hosts)"
"$AP" check -i "$inv" --known-hosts "$kh" --password-file "$pwfile" || true

say "agentpush install --package $PKG -i inventory"
"$AP" install --package "$PKG" -i "$inv" --known-hosts "$kh" --password-file "$pwfile" || true

say "the agent runs inside the hosts that passed"
for h in web1 db2 app1 legacy web2 db1; do
	if harness_exec "$h" sh -c 'test -f /opt/agentpush-agent/run/agentpush-agent.pid && kill -0 "$(cat /opt/agentpush-agent/run/agentpush-agent.pid)"' 2>/dev/null; then
		echo "  $h: agentpush-agent running (pid $(harness_exec "$h" cat /opt/agentpush-agent/run/agentpush-agent.pid))"
	else
		echo "  $h: no agent"
	fi
done

say "a second install is idempotent (JSON output)"
"$AP" install --package "$PKG" --known-hosts "$kh" --password-file "$pwfile" \
	--user pusher --format json "$(harness_host_addr web1)" || true
echo
say "done: tearing the sandbox fleet down"
