#!/usr/bin/env bash
# Faults made for real on test hosts, and the errno each one yields for a
# connect() from the host side (measured with tests/harness/connect_probe.py).
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init harness_faults

harness_host_create web sshd
harness_host_create win smbd
a=$(harness_host_addr web); w=$(harness_host_addr win)
probe() { python3 "$HARNESS_DIR/connect_probe.py" "$@" | cut -d' ' -f1; }

harness_expect "sshd up" OK "$(probe "$a" 22)"
harness_expect "smbd up" OK "$(probe "$w" 445)"

harness_host_close_port web
harness_expect "sshd port closed" ECONNREFUSED "$(probe "$a" 22)"
harness_expect "sshd moved to $(harness_host_port web)" OK "$(probe "$a" "$(harness_host_port web)")"
harness_host_open_port web
harness_expect "sshd port reopened" OK "$(probe "$a" 22)"

harness_host_stop_service web
harness_expect "sshd stopped" ECONNREFUSED "$(probe "$a" 22)"
harness_host_start_service web
harness_expect "sshd restarted" OK "$(probe "$a" 22)"
harness_expect "ssh after restart" web "$(harness_ssh web root hostname </dev/null)"

harness_host_stop_service win
harness_expect "smbd stopped" ECONNREFUSED "$(probe "$w" 445)"
harness_host_start_service win
harness_expect "smbd restarted (SMB2 negotiate)" 0 "$(python3 "$HARNESS_DIR/smb_negotiate.py" "$w" >/dev/null; echo $?)"

harness_route_del web
harness_expect "route deleted" ENETUNREACH "$(probe "$a" 22)"
harness_route_add web
harness_expect "route back" OK "$(probe "$a" 22)"

harness_link_down win
harness_expect "link down" EHOSTUNREACH "$(probe "$w" 445)"
harness_link_up win
harness_expect "link up" OK "$(probe "$w" 445)"

harness_host_drop web
harness_expect "dropped (2 s timeout)" TIMEOUT "$(probe "$a" 22 2)"
harness_host_undrop web
harness_expect "undropped" OK "$(probe "$a" 22)"

harness_expect "unused address" EHOSTUNREACH "$(probe "$(harness_unused_addr web)" 22 10)"

# sshd configuration faults
harness_host_add_user web alice - nopasswd
harness_host_add_user web bob - password
harness_host_add_user web carol - none
harness_expect "alice sudo -n" 0 "$(harness_ssh web alice 'sudo -n id -u' </dev/null)"
harness_expect "bob sudo -n refused" 1 "$(harness_ssh web bob 'sudo -n true 2>/dev/null; echo $?' </dev/null)"
pwf=$(mktemp); harness_password_file web bob "$pwf"
harness_expect "bob sudo -S with password" 0 "$(harness_ssh web bob 'sudo -S -p "" id -u 2>/dev/null' <"$pwf")"
rm -f "$pwf"
harness_expect "carol not a sudoer" 1 "$(harness_ssh web carol 'sudo -n true 2>/dev/null; echo $?' </dev/null)"

sftp_ok() {
	local kh pw ap
	kh=$(mktemp); pw=$(mktemp); ap=$(mktemp)
	harness_known_hosts "$kh" web
	harness_password_file web root "$pw"
	printf '#!/bin/sh\nexec cat %s\n' "$pw" >"$ap"; chmod 0700 "$ap"
	# not sftp -b: batch mode turns password prompts (askpass) off
	if echo pwd | SSH_ASKPASS="$ap" SSH_ASKPASS_REQUIRE=force sftp -q -F /dev/null \
		-o UserKnownHostsFile="$kh" -o PreferredAuthentications=password \
		-o NumberOfPasswordPrompts=1 "root@$a" >/dev/null 2>&1; then echo yes; else echo no; fi
	rm -f "$kh" "$pw" "$ap"
}
harness_expect "sftp available" yes "$(sftp_ok)"
harness_sshd_config_del web Subsystem
harness_expect "sftp removed" no "$(sftp_ok)"

harness_sshd_config_set web PasswordAuthentication no
harness_expect "password auth refused" 255 "$(harness_ssh web root true </dev/null 2>/dev/null; echo $?)"
harness_sshd_config_set web PasswordAuthentication yes
harness_expect "password auth back" ok "$(harness_ssh web root echo ok </dev/null)"

harness_summary harness_faults
