#!/bin/bash
# ssh transport (lib/transport/ssh.c) against a real sshd test host: every
# ErrorID open/exec/put can record, plus the round trips.  Needs root.
set -u
source "$AP_SOURCE_ROOT/tests/harness/harness.sh"
harness_init ssh_transport
TOOL=${SSH_PROBE_TOOL:?}

harness_host_create web1 sshd
A=$(harness_host_addr web1)
D=$(harness_host_dir web1)
T="$HARNESS_RUN/ssh"
mkdir -p "$T"
PWF="$T/pw"
harness_password_file web1 root "$PWF"
BADPW="$T/badpw"
( umask 077; printf 'Wrong-Pass-%s\n' "$$" >"$BADPW" )
KH="$T/known_hosts"
harness_known_hosts "$KH" web1
fails=0

fail() { echo "FAIL: $*" >&2; sed 's/^/  | /' "$T/out" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; grep "=error" "$T/out" | sed "s/^/    /"; }

# run PWFILE ARGS...: the tool's output in $T/out, its exit code in $RC.
run() {
	local pwf=$1
	shift
	AP_PASSWORD_FILE=$pwf "$TOOL" "$@" >"$T/out" 2>&1
	RC=$?
	# no password may ever show, good or bad
	if grep -qF -f "$PWF" "$T/out" || grep -qF -f "$BADPW" "$T/out"; then
		fail "a password appeared in the output of: $*"
	fi
}
has() { grep -qF -- "$1" "$T/out"; }

# expect NAME ID TEXT ARGS...: a failing run with ErrorID ID and TEXT.
expect() {
	local name=$1 id=$2 text=$3
	shift 3
	run "$@"
	if [ "$RC" -eq 2 ] && has "id=$id " && has "$text"; then pass "$name"; else fail "$name (want id=$id, '$text')"; fi
}

# 1. good password, exec with exit status and both streams
run "$PWF" -k "$KH" -c 'echo hi; echo oops >&2; exit 3' "$A"
if [ "$RC" -eq 0 ] && has "exit=3 " && has "stdout=hi" && has "stderr=oops"; then pass "password + exec"; else fail "password + exec"; fi

# 2. wrong password: 95108, names the account, never the password
expect "wrong password" 95108 "password rejected for root@$A" "$BADPW" -k "$KH" "$A"

# 3. key authentication
ssh-keygen -q -t ed25519 -N '' -f "$T/id" </dev/null
harness_exec web1 sh -c 'mkdir -p /root/.ssh && cat >/root/.ssh/authorized_keys' <"$T/id.pub"
run "" -k "$KH" -i "$T/id" -c 'id -u' "$A"
if [ "$RC" -eq 0 ] && has "stdout=0"; then pass "key auth"; else fail "key auth"; fi
# a key the host does not know
ssh-keygen -q -t ed25519 -N '' -f "$T/id2" </dev/null
expect "key rejected" 95108 "key $T/id2 rejected" "" -k "$KH" -i "$T/id2" "$A"

# 4. unknown host key, strict: 800103 with the fingerprint and the file
expect "unknown key strict" 800103 "SHA256:" "$PWF" -k "$T/none" "$A"
has "$T/none" || fail "unknown key: evidence lacks the known_hosts path"

# 5. accept-new records the key (8 workers at once: one line), then strict passes
for i in 1 2 3 4 5 6 7 8; do
	AP_PASSWORD_FILE=$PWF "$TOOL" -k "$T/new" -P accept-new "$A" >"$T/par.$i" 2>&1 &
done
wait
if grep -q open=ok "$T"/par.* && [ "$(grep -c . "$T/new")" -eq 1 ]; then pass "accept-new x8: one line"; else
	cp "$T/new" "$T/out"; fail "accept-new x8 (want 1 line)"; fi
run "$PWF" -k "$T/new" "$A"
if [ "$RC" -eq 0 ]; then pass "accept-new then strict"; else fail "accept-new then strict"; fi

# 5b. 16 threads in one process, each its own connection, one new key file
run "$PWF" -k "$T/threads" -P accept-new -j 16 "$A"
if [ "$RC" -eq 0 ] && has "threads_ok=16" && [ "$(grep -c . "$T/threads")" -eq 1 ]; then pass "16 threads"; else fail "16 threads"; fi

# 6. changed key: refused, even with accept-new
ssh-keygen -q -t ed25519 -N '' -f "$T/fakehost" </dev/null
printf '%s %s\n' "$A" "$(cut -d' ' -f1,2 "$T/fakehost.pub")" >"$T/changed"
expect "changed key strict" 800102 "changed" "$PWF" -k "$T/changed" "$A"
expect "changed key accept-new" 800102 "the host offered ssh-ed25519 SHA256:" "$PWF" -k "$T/changed" -P accept-new "$A"
[ "$(grep -c . "$T/changed")" -eq 1 ] || fail "changed key: known_hosts was modified"
fake_fp=$(ssh-keygen -lf "$T/fakehost.pub" | cut -d' ' -f2)
has "expects ssh-ed25519 $fake_fp" || fail "changed key: evidence lacks the expected fingerprint $fake_fp"

# 7. exec: 1 MiB stdin round trip through cat
head -c 1048576 /dev/urandom >"$T/in"
run "$PWF" -k "$KH" -c cat -s "$T/in" -o "$T/back" "$A"
if [ "$RC" -eq 0 ] && cmp -s "$T/in" "$T/back"; then pass "1 MiB stdin round trip"; else fail "1 MiB stdin round trip"; fi

# 8. exec: output cap (4 MiB), flagged
run "$PWF" -k "$KH" -c 'head -c 5000000 /dev/zero; echo done >&2' -o "$T/big" "$A"
if [ "$RC" -eq 0 ] && has "out_len=4194304 " && has "out_truncated=1" && has "exit=0 "; then pass "output cap"; else fail "output cap"; fi

# 9. exec timeout
expect "exec timeout" 0 "command did not finish within 1 s" "$PWF" -k "$KH" -T 1000 -c 'sleep 5' "$A"

# 10. upload 5 MiB to a staging name, rename over an existing file, check
head -c 5242880 /dev/urandom >"$T/up"
harness_exec web1 sh -c 'echo old >/root/up.bin'
run "$PWF" -k "$KH" -S -U "$T/up:/root/up.bin.part:0750" -R /root/up.bin.part:/root/up.bin -F /root "$A"
if [ "$RC" -eq 0 ] && has "sftp=ok" && has "put=ok" && has "rename=ok" && has "free_space="; then pass "upload + rename"; else fail "upload + rename"; fi
want=$(sha256sum "$T/up" | cut -d' ' -f1)
run "$PWF" -k "$KH" -c 'sha256sum /root/up.bin; stat -c %a /root/up.bin; ls /root' "$A"
if has "$want" && has "750" && ! has "up.bin.part"; then pass "upload sha256 + mode"; else fail "upload sha256 + mode"; fi

# 10b. the disk fills during the upload: the pipelined writes
# (lib/transport/sftp_pipe.c) end with 95524, and the SFTP session still
# answers afterwards (free_space below runs on it)
harness_host_tmpfs web1 /root/small 1m
run "$PWF" -k "$KH" -U "$T/up:/root/small/up.bin.part:0644" -F /root/small "$A"
if [ "$RC" -eq 2 ] && has "put=error rc=" && has "id=95524 " && has "no space left on the file system" && has "free_space="; then pass "disk full during upload"; else fail "disk full during upload"; fi

# 10c. an SFTP server that misbehaves mid-upload (tests/integration/ssh/
# fake_sftp.py): each is a one-line 800402 naming what happened, within
# the I/O timeout, and the next SFTP call opens a fresh session
cfg="$D/etc/ssh/sshd_config"
cp "$cfg" "$T/sshd_config.orig"
for m in "badid:answered a write that was not outstanding" \
         "close:closed its channel in the middle of the upload" \
         "stall:stopped answering in the middle of the upload"; do
	sed -i "s|^Subsystem.*|Subsystem sftp /usr/bin/python3 $AP_SOURCE_ROOT/tests/integration/ssh/fake_sftp.py ${m%%:*}|" "$cfg"
	harness_host_stop_service web1; harness_host_start_service web1
	t0=$(date +%s)
	run "$PWF" -k "$KH" -T 1000 -U "$T/up:/root/x.part:0644" -F /root "$A"
	t1=$(date +%s)
	if [ "$RC" -eq 2 ] && has "put=error rc=" && has "id=800402 " && has "${m#*:}" &&
	   has "free_space=error" && [ $((t1 - t0)) -le 5 ]; then
		pass "sftp server ${m%%:*} mid-upload"
	else
		fail "sftp server ${m%%:*} mid-upload ($((t1 - t0)) s)"
	fi
done
# 10d. an SFTP server that hangs inside a call libssh makes itself (libssh
# 0.10 would wait forever): the watchdog (lib/transport/watchdog.h) cuts
# the connection after the I/O timeout
for m in "stall-init|-S|97118|while starting the sftp subsystem" \
         "stall-open|-U $T/up:/root/x.part:0644|800402|while creating the file"; do
	IFS='|' read -r mode opt id text <<<"$m"
	sed -i "s|^Subsystem.*|Subsystem sftp /usr/bin/python3 $AP_SOURCE_ROOT/tests/integration/ssh/fake_sftp.py $mode|" "$cfg"
	harness_host_stop_service web1; harness_host_start_service web1
	t0=$(date +%s)
	# shellcheck disable=SC2086
	run "$PWF" -k "$KH" -T 1000 $opt "$A"
	t1=$(date +%s)
	if [ "$RC" -eq 2 ] && has "id=$id " && has "did not answer within 1 s $text" &&
	   [ $((t1 - t0)) -le 5 ]; then
		pass "sftp server hangs: $mode"
	else
		fail "sftp server hangs: $mode ($((t1 - t0)) s)"
	fi
done
cp "$T/sshd_config.orig" "$cfg"
harness_host_stop_service web1; harness_host_start_service web1

# 11. password authentication disabled on the server
sed -i 's/^PasswordAuthentication yes/PasswordAuthentication no/' "$cfg"
harness_host_stop_service web1; harness_host_start_service web1
expect "password auth off" 95108 "set PasswordAuthentication yes in /etc/ssh/sshd_config" "$PWF" -k "$KH" "$A"
has "offers: publickey" || fail "password auth off: offers not listed"

# 12. sftp subsystem removed
cp "$T/sshd_config.orig" "$cfg"
sed -i '/^Subsystem/d' "$cfg"
harness_host_stop_service web1; harness_host_start_service web1
expect "sftp missing" 800106 "refused the sftp subsystem" "$PWF" -k "$KH" -S "$A"
expect "sftp missing on put" 800106 "sftp" "$PWF" -k "$KH" -U "$T/in:/root/x:0644" "$A"
cp "$T/sshd_config.orig" "$cfg"

# 13. port closed: ECONNREFUSED -> 95117
harness_host_stop_service web1
expect "port closed" 95117 "connect to $A port 22: Connection refused" "$PWF" -k "$KH" "$A"
harness_host_start_service web1

# 14. no route (a network namespace with nothing but lo): 95523
run "$PWF" -k "$KH" "$A"  # sanity: back up
cmd_unshare() { AP_PASSWORD_FILE=$PWF unshare -n "$TOOL" "$@" >"$T/out" 2>&1; RC=$?; }
cmd_unshare -k "$KH" "$A"
if [ "$RC" -eq 2 ] && has "id=95523 " && has "Network is unreachable"; then pass "no route"; else fail "no route"; fi

# 15. name that does not resolve (no network: nothing leaves the machine)
cmd_unshare -k "$KH" no-such-host.invalid
if [ "$RC" -eq 2 ] && has "id=800101 " && has "no-such-host.invalid"; then pass "name unresolved"; else fail "name unresolved"; fi

# 16. silence: an unused address of the host's /29 never answers ARP
IFS=. read -r o1 o2 o3 o4 <<<"$A"
silent="$o1.$o2.$o3.$((o4 + 1))"
expect "connect timeout" 97118 "no answer from $silent port 22 within 1 s" "$PWF" -k "$KH" -t 1000 "$silent"

# wait_listen PORT: until something listens on PORT inside web1 (a real
# check, not a sleep: the listeners below start in the background).
wait_listen() {
	local i
	for i in $(seq 1 100); do
		harness_exec web1 ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	echo "FAIL: nothing listens on port $1 in web1 after 5 s" >&2
	fails=$((fails + 1))
}

# 17. not an SSH server: handshake failure (800104)
harness_exec web1 python3 -c '
import socket, os, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 2222)); s.listen(1)
if os.fork(): sys.exit(0)
c, _ = s.accept(); c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n"); c.close()
' &
wait_listen 2222
expect "not ssh" 800104 "handshake" "$PWF" -k "$KH" -p 2222 -t 3000 "$A"

# 18. a server that accepts and never speaks: the handshake deadline (97118)
harness_exec web1 python3 -c '
import socket, os, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 2223)); s.listen(1)
if os.fork(): sys.exit(0)
s.settimeout(5)
try:
    c, _ = s.accept(); time.sleep(3)
except OSError:
    pass
' &
wait_listen 2223
expect "silent server" 97118 "no SSH greeting from $A port 2223 within 1 s" "$PWF" -k "$KH" -p 2223 -t 1000 "$A"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "all ssh transport checks passed"
