#!/usr/bin/env bash
# smb_transport: ap_transport_smb against real smbd test hosts (tests/harness),
# each made to give one answer: good login + 5 MB put/rename/verify, wrong
# password (and exactly one bad-password count), a user without ADMIN$
# access, a disabled account, a locked-out account, the shares removed,
# ADMIN$ removed (C$ fallback), smbd stopped, the route removed, an
# SMB1-only server, and signing/dialect of a live session (smbstatus).
# Passwords only live in 0600 files; the script prints none.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init smb_transport
TOOL=${SMB_PROBE_TOOL:?}
T="$HARNESS_RUN/smb_transport"   # removed with the run dir at exit
mkdir -p "$T"

# probe HOST_ADDR USER PWFILE [ARGS...]: run the tool, keep its output in
# $T/out, print it (the evidence lines never hold a password).
probe() {
	local addr=$1 user=$2 pwf=$3
	shift 3
	SMB_PROBE_PWFILE=$pwf "$TOOL" -t 3000 "$addr" "$user" "$@" >"$T/out" 2>"$T/err" || true
	sed 's/^/  | /' "$T/out" "$T/err"
}
# last_id: "open rc=-5 id=95107: ..." -> 95107 of the last step line
last_id() { grep -E '^[a-z]+ rc=' "$T/out" | tail -1 | sed -E 's/.* id=([0-9]+):.*/\1/'; }
conf() { echo "$(harness_host_dir "$1")/samba/smb.conf"; }
# drop_share HOST NAME: remove [NAME] from the host's smb.conf, restart smbd.
drop_share() {
	local f
	f=$(conf "$1")
	awk -v s="[$2]" '/^\[/ { skip = ($0 == s) } !skip' "$f" >"$f.new" && mv "$f.new" "$f"
	harness_host_restart_service "$1"
}
bad_count() {
	harness_exec "$1" pdbedit -s "$(conf "$1")" -Lv "$2" 2>/dev/null |
		sed -n 's/^Bad password count *: *//p'
}

# ---- good login, 5 MB put, rename, verify ----------------------------------
harness_host_create win1 smbd
A1=$(harness_host_addr win1)
harness_password_file win1 root "$T/root.pw"
head -c 5242880 /dev/urandom >"$T/payload"
mkdir -p "$(harness_host_dir win1)/shares/admin/Temp"
probe "$A1" root "$T/root.pw" probe put "$T/payload" "Temp/agent.part" \
	rename "Temp/agent.part" "Temp/agent.bin" space ""
harness_expect "good login: every step ok" 0 "$(grep -E '^[a-z]+ rc=' "$T/out" | grep -c -v ': ok$' || true)"
want=$(sha256sum <"$T/payload" | cut -d' ' -f1)
got=$(harness_exec win1 sha256sum "$(harness_host_dir win1)/shares/admin/Temp/agent.bin" | cut -d' ' -f1 || true)
harness_expect "5 MB copy lands intact (sha256 on the host)" "$want" "$got"
harness_expect "staging name gone after rename" no \
	"$(harness_exec win1 test -e "$(harness_host_dir win1)/shares/admin/Temp/agent.part" && echo yes || echo no)"
# rename over an existing file replaces it
printf 'v2' >"$T/v2"
probe "$A1" root "$T/root.pw" put "$T/v2" "Temp/agent.part" rename "Temp/agent.part" "Temp/agent.bin"
harness_expect "rename replaces the target" v2 \
	"$(harness_exec win1 cat "$(harness_host_dir win1)/shares/admin/Temp/agent.bin" || true)"

# ---- live session: dialect and signing as smbd sees them -------------------
SMB_PROBE_PWFILE="$T/root.pw" "$TOOL" "$A1" root hold 3 >"$T/hold" 2>&1 &
holdpid=$!
for _ in $(seq 1 50); do grep -q hold "$T/hold" && break; sleep 0.1; done
harness_exec win1 smbstatus -s "$(conf win1)" -b >"$T/status" 2>/dev/null || true
wait "$holdpid" || true
sed 's/^/  | /' "$T/status"
harness_expect "session is SMB3 (smbstatus)" yes "$(grep -qE 'SMB3_[0-9]+' "$T/status" && echo yes || echo no)"
harness_expect "session is signed (smbstatus)" yes "$(grep -qE 'AES-128-(CMAC|GMAC)|HMAC-SHA256' "$T/status" && echo yes || echo no)"

# ---- wrong password: 95107, one bad-password count, no password printed ----
harness_exec win1 pdbedit -s "$(conf win1)" -P "bad lockout attempt" -C 5 >/dev/null 2>&1
printf 'Wr0ng-%s\n' "$RANDOM$RANDOM" >"$T/wrong.pw"
probe "$A1" root "$T/wrong.pw"
harness_expect "wrong password -> 95107" 95107 "$(last_id)"
harness_expect "evidence names NT_STATUS_LOGON_FAILURE" yes "$(grep -q NT_STATUS_LOGON_FAILURE "$T/out" && echo yes || echo no)"
harness_expect "password not in the output" no "$(grep -qF "$(cat "$T/wrong.pw")" "$T/out" "$T/err" && echo yes || echo no)"
harness_expect "one open() = exactly one bad password count" 1 "$(bad_count win1 root)"

# ---- user without ADMIN$ access: 95517 with the remote-UAC hint ------------
harness_host_add_user win1 bob - none
harness_password_file win1 bob "$T/bob.pw"
probe "$A1" bob "$T/bob.pw"
harness_expect "no access to ADMIN\$ -> 95517" 95517 "$(last_id)"
harness_expect "evidence names NT_STATUS_ACCESS_DENIED and LocalAccountTokenFilterPolicy" yes \
	"$(grep -q 'NT_STATUS_ACCESS_DENIED.*LocalAccountTokenFilterPolicy' "$T/out" && echo yes || echo no)"

# ---- disabled account: 95519 -----------------------------------------------
harness_host_add_user win1 carol - nopasswd
harness_password_file win1 carol "$T/carol.pw"
harness_exec win1 smbpasswd -c "$(conf win1)" -d carol >/dev/null
probe "$A1" carol "$T/carol.pw"
harness_expect "disabled account -> 95519" 95519 "$(last_id)"
harness_expect "evidence names NT_STATUS_ACCOUNT_DISABLED" yes "$(grep -q NT_STATUS_ACCOUNT_DISABLED "$T/out" && echo yes || echo no)"

# ---- locked out (policy 3, three bad smbclient logons): 95520 --------------
harness_host_add_user win1 dave - nopasswd
harness_password_file win1 dave "$T/dave.pw"
harness_exec win1 pdbedit -s "$(conf win1)" -P "bad lockout attempt" -C 3 >/dev/null 2>&1
( umask 077; printf 'username = dave\npassword = %s\ndomain = WORKGROUP\n' "$(cat "$T/wrong.pw")" >"$T/dave.bad" )
for _ in 1 2 3; do
	smbclient -s /dev/null -A "$T/dave.bad" -m SMB3 "//$A1/ADMIN\$" -c ls >/dev/null 2>&1 || true
done
harness_expect "dave has 3 bad passwords" 3 "$(bad_count win1 dave)"
probe "$A1" dave "$T/dave.pw"
harness_expect "locked-out account (right password) -> 95520" 95520 "$(last_id)"
harness_expect "evidence names NT_STATUS_ACCOUNT_LOCKED_OUT" yes "$(grep -q NT_STATUS_ACCOUNT_LOCKED_OUT "$T/out" && echo yes || echo no)"

# ---- ADMIN$ removed: falls back to C$ (same folder, under Windows\) --------
harness_host_create win2 smbd
A2=$(harness_host_addr win2)
harness_password_file win2 root "$T/root2.pw"
mkdir -p "$(harness_host_dir win2)/shares/c/Windows/Temp"
drop_share win2 'ADMIN$'
probe "$A2" root "$T/root2.pw" put "$T/v2" "Temp/x.part" rename "Temp/x.part" "Temp/x.bin"
harness_expect "no ADMIN\$: C\$ used, file in C:\\Windows\\Temp" v2 \
	"$(harness_exec win2 cat "$(harness_host_dir win2)/shares/c/Windows/Temp/x.bin" 2>/dev/null || echo missing)"

# ---- both shares removed: 95106 --------------------------------------------
drop_share win2 'C$'
probe "$A2" root "$T/root2.pw"
harness_expect "no ADMIN\$ nor C\$ -> 95106" 95106 "$(last_id)"
harness_expect "evidence names NT_STATUS_BAD_NETWORK_NAME" yes "$(grep -q NT_STATUS_BAD_NETWORK_NAME "$T/out" && echo yes || echo no)"

# ---- smbd stopped: 95105 ----------------------------------------------------
harness_host_stop_service win2
probe "$A2" root "$T/root2.pw"
harness_expect "smbd stopped (port 445 refused) -> 95105" 95105 "$(last_id)"

# ---- route removed: 95523 ---------------------------------------------------
harness_route_del win2
probe "$A2" root "$T/root2.pw"
harness_expect "route removed -> 95523" 95523 "$(last_id)"
harness_route_add win2

# ---- SMB1-only server: the client refuses it (95105, before any logon) -----
harness_host_create win3 smbd
A3=$(harness_host_addr win3)
harness_password_file win3 root "$T/root3.pw"
harness_host_stop_service win3
sed -i 's/^\(  server min protocol = \).*/\1NT1\n  server max protocol = NT1/' "$(conf win3)"
d3=$(harness_host_dir win3)
# started by hand: the harness' readiness check speaks SMB2, which this
# server no longer answers; wait for the port instead.
_harness_spawn "$d3/daemon" "$d3/log/smbd.stderr" nsenter -t "$(cat "$d3/holder")" -m -u -n -- \
	"$HARNESS_SMBD" --foreground --no-process-group -s "$(conf win3)"
for _ in $(seq 1 100); do
	python3 "$HARNESS_DIR/connect_probe.py" "$A3" 445 1 2>/dev/null | grep -q '^OK' && break
	sleep 0.05
done
probe "$A3" root "$T/root3.pw"
harness_expect "SMB1-only server -> 95105" 95105 "$(last_id)"
harness_expect "SMB1-only server: smbd saw no authentication" 0 \
	"$(grep -c 'check_ntlm_password' "$d3/log/smbd.log" || true)"

# ---- port 445 filtered (packets dropped): 95105 after the connect timeout --
harness_host_drop win1
probe "$A1" root "$T/root.pw"
harness_expect "port 445 filtered -> 95105" 95105 "$(last_id)"
harness_expect "filtered: rc is AP_ETIMEOUT" -7 "$(sed -nE 's/^open rc=(-?[0-9]+).*/\1/p' "$T/out")"
harness_host_undrop win1

harness_summary smb_transport
