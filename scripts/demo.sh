#!/usr/bin/env bash
# The README's first command: a sandbox fleet of real test hosts, each a
# network namespace on 198.18.0.0/15 running its own OpenSSH sshd, checked and
# then pushed to with agentpush.  Some hosts are healthy; others were given a
# real fault (wrong account, full staging disk, GRUB naming /dev/sda1, SFTP
# switched off, an unsupported OS).  Two Windows hosts (real Samba smbd with
# a recorded-response WinRM server beside it: no Windows host here) join the
# check and the install (the sample package has no Windows payload, which
# the install reports as 800401).  Everything is torn down at the end.
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
# under the harness' run dir, removed by its EXIT trap (a trap set here
# would replace the harness' one and leave the namespaces behind)
work=$(mktemp -d "$HARNESS_RUN/demo.XXXXXX")
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

# Two Windows hosts: each is a REAL Samba smbd (the SMB logon and the ADMIN$
# share are real) with tests/winrm/server.py beside it on port 5986, a
# recorded-response WinRM server that replays captured Windows replies and
# answers the facts command with a fixture: no Windows host exists here.
#   win1: "root" is the administrator (ADMIN$ allowed) -> ok
#   win2: "operator" has the password but no administrator rights (not
#         allowed on ADMIN$ nor C$) -> 95517; a different user from win1's
#         so that the credential gate of the run does not mix them up
say "Windows hosts: real smbd + recorded-response WinRM server (no Windows host here)"
for h in win1 win2; do harness_host_create "$h" smbd; done
# win1's root gets the shared password (the harness' shares let only root
# in: the share folders are not reachable for other Unix users)
{ cat "$pwfile"; cat "$pwfile"; } | harness_exec win1 smbpasswd -c "$(harness_host_dir win1)/samba/smb.conf" -a -s root >/dev/null 2>&1
harness_host_add_user win2 operator "$password" none
( umask 077; { printf 'WORKGROUP:root:'; head -n1 "$pwfile"; } >"$work/ntlm-users" )
wca="$work/winrm-ca.pem"
: >"$wca"
for h in win1 win2; do
	wd="$work/winrm-$h"
	mkdir -p "$wd"
	# logs on like a default Windows listener: Negotiate/NTLM (judged by
	# gss-ntlmssp), Kerberos offered, no Basic
	harness_exec "$h" sh -c 'echo $$ >"$1/pid"; exec /usr/bin/python3 "$2" --workdir "$1" --bind "$3" --port 5986 --lifetime 600 --auth ntlm --offer windows --ntlm-user-file "$4" --scenario facts --facts server2019-ok.json' \
		sh "$wd" "$top/tests/winrm/server.py" "$(harness_host_addr "$h")" "$work/ntlm-users" >"$wd/log" 2>&1 </dev/null &
done
for h in win1 win2; do
	for _ in $(seq 1 300); do [ -s "$work/winrm-$h/port" ] && break; sleep 0.1; done
	[ -s "$work/winrm-$h/port" ] || { cat "$work/winrm-$h/log"; echo "demo: the WinRM stand-in of $h did not start" >&2; exit 1; }
	cat "$work/winrm-$h/ca.pem" >>"$wca"
	echo "  $h $(harness_host_addr "$h"): smbd on 445, recorded-response WinRM server (no Windows host here) on 5986"
done
# the whole fleet, Linux and Windows, for check and install
fleet="$work/inventory-all"
{
	cat "$inv"
	echo "[windows]"
	echo "win1 ansible_host=$(harness_host_addr win1) ansible_user=root ansible_connection=winrm"
	echo "win2 ansible_host=$(harness_host_addr win2) ansible_user=operator ansible_connection=winrm"
} >"$fleet"

say "agentpush check -i inventory-all   (Linux + Windows; diagnose only: nothing changes on the hosts)"
"$AP" check -i "$fleet" --known-hosts "$kh" --password-file "$pwfile" \
	--ca-file "$wca" || true

say "agentpush install --package $PKG -i inventory-all   (the sample package is Linux-only: Windows hosts get 800401)"
"$AP" install --package "$PKG" -i "$fleet" --known-hosts "$kh" --password-file "$pwfile" \
	--ca-file "$wca" || true

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
