# shellcheck shell=bash
# tests/integration/windows/lib.sh: helpers for the `agentpush check --os
# windows` integration tests (docs/windows-tests.md).  A "Windows host" here
# is a REAL Samba smbd test host (tests/harness) with, beside it in the same
# network namespace, tests/winrm/server.py: a RECORDED-RESPONSE WS-Man server
# on port 5986 (no Windows anywhere; it replays captured replies and answers
# the facts command with a fixture JSON).
#
# Source after tests/harness/harness.sh and harness_init.  It also sources
# tests/integration/linux/lib.sh for lt_check / lt_json / lt_expect /
# lt_expect_match / lt_done (same isolated $HOME and $XDG_STATE_HOME).
#
#   WT_PW                  0600 file: the one password of every Windows host
#                          built by wt_host (root and wt_user accounts)
#   wt_host NAME           smbd host whose root password is the one in $WT_PW
#   wt_user HOST USER MODE account USER with $WT_PW's password; MODE nopasswd
#                          (in @sudo: ADMIN$ allowed) or none (no ADMIN$)
#   wt_winrm HOST[:FACTS]...  start the recorded WinRM server inside each HOST
#                          on ADDR:5986 (FACTS: a tests/winrm/fixtures/facts
#                          file, default server2019-ok.json), all at once (each
#                          makes its CA and certificate with openssl), then
#                          wait until every one listens
#   wt_winrm_sim HOST...   the same server in its SIMULATE mode, for installs
#                          (server.py --simulate), logging on like a default
#                          Windows listener (Negotiate/NTLM through
#                          gss-ntlmssp, no Basic): it stands for the host's
#                          Windows side, with C:\Windows = the host's real
#                          ADMIN$ folder (given a Temp folder here), so what
#                          agentpush copies over real SMB is what it hashes
#                          and "installs"
#                          (WT_SIM_LIFETIME: its lifetime in seconds, default
#                          300; --samba-conf: the host's smb.conf, for the
#                          fix simulation's accounts)
#   wt_sim HOST            that server's work folder: its control files
#                          (install.exit, install.log, hash.corrupt, ...) and
#                          what it records (installs, installed, actions.log)
#   wt_admin HOST          the host's ADMIN$ folder (C:\Windows)
#   wt_test_package DIR MIB   a test package in DIR: a Windows section only,
#                          a MIB MiB payload whose first line names its
#                          version (0.2.0) for the simulator, staging room
#                          twice the payload, the installer's exit codes
#                          0, 3010, 97 and 99
#   wt_ca HOST             its test CA (PEM file); wt_other_ca HOST: a CA that
#                          did not sign its certificate
#   wt_winrm_stop          kill the servers this script started (by the pid
#                          each wrote); prints how many are still alive
#   wt_conf HOST           the host's smb.conf
#   wt_lockout HOST N      Samba account policy "bad lockout attempt" = N
#                          (without a policy Samba counts no bad password)
#   wt_bad_count HOST USER "Bad password count" of USER (pdbedit -Lv)
#   wt_locked HOST USER    yes when USER's account flags hold L (locked)
#   wt_drop_share HOST S   remove share [S] from smb.conf, restart smbd
#   wt_bad_logons HOST USER N   N smbclient logons with a wrong password
#
#   wt_expect_match NAME ERE TEXT   like lt_expect_match, but TEXT goes to
#                          grep on a here-string: lt_expect_match pipes printf
#                          into grep -q, which under pipefail fails the match
#                          when grep exits before printf has written a long
#                          TEXT (SIGPIPE)
#
# Passwords live only in 0600 files and harness secrets; nothing here prints
# one, and none goes on a command line.

source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"

WT_DIR=$HARNESS_RUN/wt
mkdir -p "$WT_DIR"
WT_PW=$WT_DIR/password
( umask 077; printf 'W1n-%s\n' "$(openssl rand -hex 12)" >"$WT_PW" )
# the simulators' NTLM accounts (gss-ntlmssp's NTLM_USER_FILE format)
WT_NTLM_USERS=$WT_DIR/ntlm-users
( umask 077; { printf 'WORKGROUP:root:'; head -n1 "$WT_PW"; } >"$WT_NTLM_USERS" )
WT_SERVER=$AP_SOURCE_ROOT/tests/winrm/server.py
WT_PIDS=()

wt_expect_match() {
	if grep -q -E -- "$2" <<<"$3"; then
		HARNESS_PASSES=$((HARNESS_PASSES + 1)); echo "ok: $1"
	else
		HARNESS_FAILS=$((HARNESS_FAILS + 1)); echo "FAIL: $1: [$3] does not match /$2/"
	fi
}

wt_conf() { echo "$(harness_host_dir "$1")/samba/smb.conf"; }

# _wt_set_smb_password HOST USER: USER's Samba password := the one in $WT_PW
# (fed on stdin to smbpasswd; the harness' secrets file follows it).
_wt_set_smb_password() {
	local d
	d=$(harness_host_dir "$1")
	{ cat "$WT_PW"; cat "$WT_PW"; } |
		harness_exec "$1" smbpasswd -c "$d/samba/smb.conf" -a -s "$2" >/dev/null 2>>"$d/log/smbpasswd.log"
	( umask 077; head -n1 "$WT_PW" | tr -d '\n' >"$d/secrets/$2" )
}

wt_test_package() {
	local dir=$1 mib=$2
	mkdir -p "$dir"
	{ printf 'agentpush-test-payload version=0.2.0\n'; head -c $((mib * 1048576)) /dev/urandom; } \
		>"$dir/agentpush-test-setup.exe"
	python3 - "$dir" "$mib" <<'PY'
import hashlib, json, os, sys
d, mib = sys.argv[1], int(sys.argv[2])
data = open(os.path.join(d, "agentpush-test-setup.exe"), "rb").read()
row = lambda m, o, e, rb=False: {"meaning": m, "outcome": o, "error": e, "reboot": rb}
man = {"format": 1, "name": "agentpush-test", "version": "0.2.0", "windows": {
    "payload": "agentpush-test-setup.exe",
    "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
    "architectures": ["x64"],
    "staging_dir": "C:\\Windows\\Temp",
    "install_dir": "C:\\Program Files\\AgentPush Test",
    "space_kb": {"staging": 2 * mib * 1024, "install": 10240},
    "commands": {
        "install": "{payload} /install /log {log}",
        "uninstall": "cd /d {install_dir} && agent.exe /uninstall",
        "verify": "cd /d {install_dir} && agent.exe /verify",
        "version": "cd /d {install_dir} && agent.exe /version"},
    "log_path": "C:\\Windows\\Temp\\agentpush-test-install.log",
    "exit_codes": {
        "0": row("installed", "ok", None),
        "3010": row("installed; a restart is recommended", "warning", "INSTALLED_RESTART_RECOMMENDED", True),
        "97": row("the installation failed", "failed", "INSTALL_FAILED"),
        "99": row("prerequisites not met", "failed", "INSTALL_PREREQ_FAILED")}}}
json.dump(man, open(os.path.join(d, "manifest.json"), "w"), indent=1)
PY
}

wt_host() {
	harness_host_create "$1" smbd
	_wt_set_smb_password "$1" root
}

wt_user() {
	harness_host_add_user "$1" "$2" - "$3"
	_wt_set_smb_password "$1" "$2"
}

wt_winrm() { _wt_winrm_start "" "$@"; }

wt_winrm_sim() {
	local h
	for h in "$@"; do mkdir -p "$(wt_admin "$h")/Temp"; done
	_wt_winrm_start sim "$@"
}

wt_admin() { echo "$(harness_host_dir "$1")/shares/admin"; }
wt_sim() { echo "$WT_DIR/winrm-$1"; }

# _wt_winrm_start MODE HOST[:FACTS]...: MODE "" (recorded replies) or sim.
_wt_winrm_start() {
	local mode=$1 spec h facts wd addr i py
	local -a wait=() sim=()
	shift
	for spec in "$@"; do
		h=${spec%%:*}; facts=server2019-ok.json
		[ "$h" != "$spec" ] && facts=${spec#*:}
		wd=$WT_DIR/winrm-$h
		addr=$(harness_host_addr "$h")
		sim=()
		py=python3
		if [ "$mode" = sim ]; then
			# a default Windows listener: Negotiate (NTLM judged by
			# gss-ntlmssp) and Kerberos offered, Basic off
			sim=(--simulate "$(wt_admin "$h")" --lifetime "${WT_SIM_LIFETIME:-300}" --auth ntlm --offer windows
				--ntlm-user-file "$WT_NTLM_USERS" --samba-conf "$(wt_conf "$h")")
			py=/usr/bin/python3 # python3-gssapi is installed for Debian's python
		fi
		mkdir -p "$wd"
		# sh writes its pid then becomes python: the pid file names the server.
		harness_exec "$h" sh -c 'echo $$ >"$1/pid"; py=$2; shift 2; exec "$py" "$@"' \
			sh "$wd" "$py" "$WT_SERVER" --workdir "$wd" --bind "$addr" --port 5986 --lifetime 120 \
			--password-file "$WT_PW" --scenario facts --facts "$facts" "${sim[@]}" \
			>"$wd/server.log" 2>&1 </dev/null &
		wait+=("$h")
	done
	for h in "${wait[@]}"; do
		wd=$WT_DIR/winrm-$h
		for i in $(seq 1 300); do
			[ -s "$wd/port" ] && break
			sleep 0.1
		done
		if [ ! -s "$wd/port" ]; then
			cat "$wd/server.log" >&2
			_harness_die "the recorded WinRM server of $h did not listen within 30 s"
		fi
		WT_PIDS+=("$(cat "$wd/pid")")
	done
}

wt_ca() { echo "$WT_DIR/winrm-$1/ca.pem"; }
wt_other_ca() { echo "$WT_DIR/winrm-$1/other-ca.pem"; }

wt_winrm_stop() {
	local p n=0
	for p in "${WT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 1 30); do
		n=0
		for p in "${WT_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
		[ "$n" = 0 ] && break
		sleep 0.1
	done
	echo "$n"
}

wt_lockout() {
	harness_exec "$1" pdbedit -s "$(wt_conf "$1")" -P "bad lockout attempt" -C "$2" >/dev/null 2>&1
}

wt_bad_count() {
	harness_exec "$1" pdbedit -s "$(wt_conf "$1")" -Lv "$2" 2>/dev/null |
		sed -n 's/^Bad password count *: *//p'
}

wt_locked() {
	if harness_exec "$1" pdbedit -s "$(wt_conf "$1")" -Lv "$2" 2>/dev/null |
		grep -qE '^Account Flags *: *\[[A-Z ]*L[A-Z ]*\]'; then echo yes; else echo no; fi
}

wt_drop_share() {
	local f
	f=$(wt_conf "$1")
	awk -v s="[$2]" '/^\[/ { skip = ($0 == s) } !skip' "$f" >"$f.new" && mv "$f.new" "$f"
	harness_host_restart_service "$1"
}

wt_bad_logons() {
	local a auth=$WT_DIR/bad-auth.$1.$2
	a=$(harness_host_addr "$1")
	( umask 077; printf 'username = %s\npassword = Wr0ng-%s\ndomain = WORKGROUP\n' "$2" "$(openssl rand -hex 8)" >"$auth" )
	for _ in $(seq 1 "$3"); do
		smbclient -s /dev/null -A "$auth" -m SMB3 "//$a/ADMIN\$" -c ls >/dev/null 2>&1 || true
	done
}
