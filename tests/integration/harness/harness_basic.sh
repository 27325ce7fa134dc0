#!/usr/bin/env bash
# Two sshd test hosts and one smbd test host, each reached from the host side
# with real password authentication.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init harness_basic

harness_host_create alpha sshd
harness_host_create beta sshd
harness_host_create gamma smbd

a=$(harness_host_addr alpha); b=$(harness_host_addr beta); g=$(harness_host_addr gamma)
for ip in "$a" "$b" "$g"; do
	[[ "$ip" == 198.1[89].* ]] || { echo "FAIL: address $ip outside 198.18.0.0/15"; exit 1; }
done
[ "$a" != "$b" ] || { echo "FAIL: two hosts share $a"; exit 1; }

# per-host os-release fixture, seen through a real ssh session
harness_host_set_file beta /etc/os-release 'PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ID="rocky"
VERSION_ID="9.3"'
out=$(harness_ssh alpha root cat /etc/os-release)
grep -q '^ID=debian' <<<"$out" || { echo "FAIL: alpha os-release: $out"; exit 1; }
out=$(harness_ssh beta root cat /etc/os-release)
grep -q '^ID="rocky"' <<<"$out" || { echo "FAIL: beta os-release: $out"; exit 1; }
[ "$(harness_ssh beta root hostname)" = beta ] || { echo "FAIL: beta hostname"; exit 1; }
# the real machine's os-release is untouched
grep -q '^ID=debian' /etc/os-release || { echo "FAIL: host os-release changed"; exit 1; }

# known_hosts from the generated keys: strict checking passes with plain ssh
kh=$(mktemp); pw=$(mktemp); ap=$(mktemp)
trap_files="$kh $pw $ap"
harness_known_hosts "$kh" alpha beta
[ "$(wc -l <"$kh")" -eq 6 ] || { echo "FAIL: known_hosts has $(wc -l <"$kh") lines"; exit 1; }
harness_password_file alpha root "$pw"
[ "$(stat -c %a "$pw")" = 600 ] || { echo "FAIL: password file mode"; exit 1; }
printf '#!/bin/sh\nexec cat %s\n' "$pw" >"$ap"; chmod 0700 "$ap"
out=$(SSH_ASKPASS="$ap" SSH_ASKPASS_REQUIRE=force ssh -F /dev/null \
	-o UserKnownHostsFile="$kh" -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null \
	-o PreferredAuthentications=password -o NumberOfPasswordPrompts=1 -o ConnectTimeout=5 \
	root@"$a" 'echo ok-$(hostname)' </dev/null)
[ "$out" = ok-alpha ] || { echo "FAIL: plain ssh to alpha: $out"; exit 1; }
# the password never appears in what we print
pwval=$(harness_host_password alpha root)
[ "${#pwval}" -ge 16 ] || { echo "FAIL: weak password"; exit 1; }

# smbd: SMB3 with signing, put a file into ADMIN$ and list it
auth=$(mktemp); payload=$(mktemp)
harness_smb_authfile gamma root "$auth"
echo "agentpush payload" >"$payload"
out=$(smbclient "//$g/ADMIN\$" -A "$auth" -m SMB3 -c "put $payload agent.txt; ls" 2>&1) \
	|| { echo "FAIL: smbclient: $out"; exit 1; }
grep -q 'agent.txt' <<<"$out" || { echo "FAIL: smbclient ls: $out"; exit 1; }
harness_exec gamma test -f "$(harness_host_dir gamma)/shares/admin/agent.txt" \
	|| { echo "FAIL: file not in ADMIN\$ dir"; exit 1; }
# SMB1 is refused
if smbclient "//$g/ADMIN\$" -A "$auth" -m NT1 --option='client min protocol=NT1' -c ls >/dev/null 2>&1; then
	echo "FAIL: SMB1 accepted"; exit 1
fi
rm -f $trap_files "$auth" "$payload"
echo "harness_basic: 1 passed, 0 failed"
