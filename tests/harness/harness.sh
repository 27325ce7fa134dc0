# shellcheck shell=bash
# tests/harness/harness.sh: real test hosts for agentpush integration tests.
#
# Source it from a bash test script (run as root):
#
#   source "$AP_SOURCE_ROOT/tests/harness/harness.sh"
#   harness_init mytest            # checks root + ip netns, sets the EXIT trap
#   harness_host_create web1 sshd  # netns + veth + real /usr/sbin/sshd on :22
#   ssh ... root@"$(harness_host_addr web1)"
#
# Each test host is a network namespace reached from the host side over a
# veth pair, with its own /29 in 198.18.0.0/15 (host side .1, the test host
# .2, .3-.6 unused).  The host runs inside a "holder" process
# (`ip netns exec NS unshare -m -u --propagation private sleep infinity`) whose
# mount and UTS namespaces belong to that host only; daemons and harness_exec
# enter them with nsenter, so mounts added later (tmpfs, bind, loop disk) are
# seen by the daemon and by every command run through ssh there.  The host's
# own /etc files (passwd, shadow, group, os-release, ssh/, sudoers...) live in
# /etc/netns/NS/ and are bind-mounted over /etc/* by `ip netns exec`.
#
# Everything is torn down by a trap on EXIT (also on failure or SIGINT/TERM);
# on failure the daemons' logs are copied to
# $AP_BUILD_ROOT/meson-logs/harness/<test>/ and their tails printed to stderr.
#
# Passwords are random per host/user, kept 0600 under the run directory, and
# never printed nor put on a command line.  See docs/testing.md.

HARNESS_BASE=${HARNESS_BASE:-/run/agentpush-harness}
HARNESS_MAX_SLOTS=16383            # /29 slots in the /15 (slot 0 unused)
HARNESS_READY_TIMEOUT=${HARNESS_READY_TIMEOUT:-15}
HARNESS_SSHD=/usr/sbin/sshd
HARNESS_SMBD=/usr/sbin/smbd
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

HARNESS_RUN=""          # this run's directory
HARNESS_TEST=""         # test name (log folder)
HARNESS_HOSTS=()        # hosts created by this run, in order

_harness_die() {
	echo "harness: $*" >&2
	exit 1
}

_harness_log() {
	[ -n "${HARNESS_VERBOSE:-}" ] && echo "harness: $*" >&2
	return 0
}

# harness_init [TEST]: check the prerequisites (root, ip netns) and fail loudly
# when one is missing; create this run's directory; install the EXIT trap.
# Called automatically by harness_host_create when the test did not.
harness_init() {
	[ -n "$HARNESS_RUN" ] && return 0
	HARNESS_TEST=${1:-$(basename "${0%.sh}")}
	[ "$(id -u)" -eq 0 ] || _harness_die "FAIL: the test harness needs root (network namespaces, mounts); run the tests as root"
	ip netns list >/dev/null 2>&1 || _harness_die "FAIL: 'ip netns' does not work here (iproute2 missing or no netns support)"
	local p
	for p in "$HARNESS_SSHD" "$HARNESS_SMBD" /usr/bin/unshare /usr/bin/nsenter /usr/bin/flock /usr/bin/openssl /usr/bin/ssh-keygen; do
		[ -x "$p" ] || _harness_die "FAIL: $p is missing (run scripts/deps.sh)"
	done
	mkdir -p "$HARNESS_BASE/slots" "$HARNESS_BASE/runs" /run/sshd /etc/netns
	chmod 0700 "$HARNESS_BASE"
	chmod 0755 /run/sshd
	# Safety net: with a test host's route gone (link down), 198.18.0.0/15
	# must stay unreachable instead of following the machine's default route.
	ip route show type unreachable 198.18.0.0/15 | grep -q . \
		|| ip route add unreachable 198.18.0.0/15 metric 4242 2>/dev/null || true
	HARNESS_RUN=$(mktemp -d "$HARNESS_BASE/runs/$$-XXXX")
	echo "$$ $(_harness_starttime $$)" >"$HARNESS_RUN/owner"
	trap '_harness_on_exit $?' EXIT
	# under set -e, say which command failed (errexit alone is silent)
	set -o errtrace
	trap '_harness_on_err $? "$LINENO" "${BASH_SOURCE[0]:-}" "$BASH_COMMAND"' ERR
	trap 'exit 130' INT
	trap 'exit 143' TERM
	harness_cleanup_stale
}

# Start time of a pid (field 22 of /proc/PID/stat): with the pid, it tells a
# live owner from a recycled pid.
_harness_starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	set -- $s
	echo "${20}"
}

_harness_owner_alive() {   # FILE with "pid starttime"
	local pid st _rest
	read -r pid st _rest <"$1" 2>/dev/null || return 1
	[ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(_harness_starttime "$pid")" = "$st" ]
}

# Host state lives in $HARNESS_RUN/hosts/HOST/; each value in its own file.
_harness_hdir() {
	local d="$HARNESS_RUN/hosts/$1"
	[ -d "$d" ] || _harness_die "no such test host '$1'"
	echo "$d"
}
_harness_get() { cat "$(_harness_hdir "$1")/$2"; }

# Allocate a free /29 slot under the lock: a counter file gives the next
# candidate; a slot whose file exists belongs to a live or stale run.
_harness_alloc_slot() {
	local owner=$1 slot n tries=0
	exec {lk}>"$HARNESS_BASE/lock"
	# Each holder keeps it a few commands long, but tests making hosts
	# several at a time (et_fleet), beside other tests, on a loaded
	# machine queue up: 30 s ran out at load 25.  A dead holder's flock
	# is gone with it, so a long wait cannot hang on one.
	flock -w 300 "$lk" || _harness_die "could not lock $HARNESS_BASE/lock within 300 s"
	n=$(cat "$HARNESS_BASE/counter" 2>/dev/null || echo 0)
	while :; do
		n=$(( n % HARNESS_MAX_SLOTS + 1 ))
		tries=$((tries + 1))
		[ "$tries" -gt "$HARNESS_MAX_SLOTS" ] && { exec {lk}>&-; _harness_die "no free address slot"; }
		[ -e "$HARNESS_BASE/slots/$n" ] && continue
		ip link show "aph$n" >/dev/null 2>&1 && continue
		break
	done
	slot=$n
	echo "$n" >"$HARNESS_BASE/counter"
	echo "$owner" >"$HARNESS_BASE/slots/$slot"
	exec {lk}>&-
	echo "$slot"
}

# slot -> "a.b.c.d" of offset OFF in the slot's /29
_harness_slot_ip() {
	local v=$(( $1 * 8 + $2 ))
	echo "198.$(( 18 + v / 65536 )).$(( (v / 256) % 256 )).$(( v % 256 ))"
}

_harness_randpw() {
	# 24 chars from the base64 alphabet without / + = (shell- and conf-safe)
	openssl rand -base64 48 | tr -dc 'A-Za-z0-9' | head -c 24
}

# _harness_hash: reads a password on stdin, prints its SHA-512 crypt hash.
_harness_hash() {
	openssl passwd -6 -stdin
}

# harness_host_create HOST sshd|smbd
# Create test host HOST (name: [a-z][a-z0-9]{0,11}) with a network namespace,
# a veth pair, its own /etc, a random root password, a default Debian 12
# os-release, and start the daemon; returns when the daemon answers a real
# protocol handshake (ssh-keyscan / SMB2 negotiate).
harness_host_create() {
	local host=$1 kind=${2:-sshd}
	harness_init
	[[ "$host" =~ ^[a-z][a-z0-9]{0,11}$ ]] || _harness_die "bad host name '$host' (want [a-z][a-z0-9]{0,11})"
	[ "$kind" = sshd ] || [ "$kind" = smbd ] || _harness_die "host kind must be sshd or smbd, not '$kind'"
	[ -e "$HARNESS_RUN/hosts/$host" ] && _harness_die "test host '$host' already exists"
	local d="$HARNESS_RUN/hosts/$host" slot ns hv nv hip nip
	mkdir -p "$d"/{log,home,roothome,secrets}
	chmod 0700 "$d/secrets" "$d/roothome"
	HARNESS_HOSTS+=("$host")
	slot=$(_harness_alloc_slot "$(cat "$HARNESS_RUN/owner") $d")
	ns="aph-$$-$host"
	hv="aph$slot"; nv="apn$slot"
	hip=$(_harness_slot_ip "$slot" 1); nip=$(_harness_slot_ip "$slot" 2)
	echo "$kind" >"$d/kind"; echo "$slot" >"$d/slot"; echo "$ns" >"$d/ns"
	echo "$hv" >"$d/veth"; echo "$hip" >"$d/hostip"; echo "$nip" >"$d/addr"
	echo "$HARNESS_BASE/slots/$slot" >"$d/slotfile"
	if [ "$kind" = sshd ]; then echo 22 >"$d/port"; else echo 445 >"$d/port"; fi

	# network: veth pair, host side hv (.1), test host side eth0 (.2)
	ip netns add "$ns" || _harness_die "ip netns add $ns failed"
	echo "$ns" >>"$HARNESS_RUN/netns"
	ip link add "$hv" type veth peer name "$nv" || _harness_die "ip link add $hv failed"
	ip link set "$nv" netns "$ns"
	ip -n "$ns" link set "$nv" name eth0
	ip addr add "$hip/29" dev "$hv"
	ip link set "$hv" up
	ip -n "$ns" addr add "$nip/29" dev eth0
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
	# only the test range goes back through the host side: nothing escapes
	ip -n "$ns" route add 198.18.0.0/15 via "$hip"

	_harness_make_etc "$host" "$d" "$ns"

	# holder: owns the host's mount + UTS namespaces for its whole life
	_harness_spawn "$d/holder" "$d/log/holder.log" \
		ip netns exec "$ns" unshare -m -u --propagation private sleep infinity
	local hp i
	hp=$(cat "$d/holder")
	for i in $(seq 1 300); do
		[ "$(readlink "/proc/$hp/exe" 2>/dev/null)" = /usr/bin/sleep ] && break
		_harness_alive "$hp" || _harness_die "holder for $host died: $(cat "$d/log/holder.log")"
		sleep 0.01
	done
	harness_exec "$host" hostname "$host"
	# own home directories: nothing a test does as root there leaks to the real /root
	harness_exec "$host" mount --bind "$d/roothome" /root
	harness_exec "$host" mount --bind "$d/home" /home

	if [ "$kind" = sshd ]; then
		_harness_sshd_setup "$host" "$d"
	else
		_harness_smbd_setup "$host" "$d"
	fi
	harness_host_start_service "$host"
}

# The host's /etc overlay: /etc/netns/NS/* is bind-mounted over /etc/* by
# `ip netns exec`.
_harness_make_etc() {
	local host=$1 d=$2 ns=$3 e="/etc/netns/$3" rootpw
	mkdir -p "$e"
	chmod 0755 "$e"
	ln -s "$e" "$d/etc"
	cat >"$e/passwd" <<-EOF
		root:x:0:0:root:/root:/bin/bash
		sshd:x:$(id -u sshd 2>/dev/null || echo 102):65534::/run/sshd:/usr/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	EOF
	cat >"$e/group" <<-EOF
		root:x:0:
		sudo:x:27:
		shadow:x:42:
		users:x:100:
		nogroup:x:65534:
	EOF
	cat >"$e/gshadow" <<-EOF
		root:*::
		sudo:*::
		shadow:*::
		users:*::
		nogroup:*::
	EOF
	rootpw=$(_harness_randpw)
	printf '%s' "$rootpw" >"$d/secrets/root"
	chmod 0600 "$d/secrets/root"
	( umask 077; {
		echo "root:$(printf '%s\n' "$rootpw" | _harness_hash):19000:0:99999:7:::"
		echo "sshd:*:19000:0:99999:7:::"
		echo "nobody:*:19000:0:99999:7:::"
	} >"$e/shadow" )
	chown root:shadow "$e/shadow" "$e/gshadow"
	chmod 0640 "$e/shadow" "$e/gshadow"
	echo "$host" >"$e/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$host" >"$e/hosts"
	cp /usr/lib/os-release "$e/os-release"
	# its own machine id, as a real machine has (agents register by it);
	# ip netns exec binds only over a file that exists
	[ -e /etc/machine-id ] && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$e/machine-id" && echo >>"$e/machine-id"
	# created now: ip netns exec only binds the entries that exist when it runs
	mkdir -p "$e/ssh"
	# sudo: root only, plus drop-ins that harness_host_add_user writes
	mkdir -p "$e/sudoers.d"
	chmod 0750 "$e/sudoers.d"
	printf 'Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n' >"$e/sudoers"
	chmod 0440 "$e/sudoers"
}

_harness_sshd_setup() {
	local host=$1 d=$2 s t
	s="$d/etc/ssh"
	mkdir -p "$s"
	for t in ed25519 ecdsa rsa; do
		# HARNESS_HOSTKEYS_DIR: the keys of a fleet made once (an RSA key
		# costs seconds of CPU on a loaded machine; the hosts are told apart
		# by address, not by key)
		if [ -n "${HARNESS_HOSTKEYS_DIR:-}" ] && [ -f "$HARNESS_HOSTKEYS_DIR/ssh_host_${t}_key" ]; then
			cp "$HARNESS_HOSTKEYS_DIR/ssh_host_${t}_key" "$HARNESS_HOSTKEYS_DIR/ssh_host_${t}_key.pub" "$s/" \
				|| _harness_die "copying the $t host key for $host failed"
			continue
		fi
		ssh-keygen -q -t "$t" -N '' -C "root@$host" -f "$s/ssh_host_${t}_key" </dev/null >/dev/null \
			|| _harness_die "ssh-keygen $t for $host failed"
	done
	cp /etc/ssh/ssh_config "$s/ssh_config" 2>/dev/null || true
	cat >"$s/sshd_config" <<-EOF
		# sshd_config of test host $host (generated by tests/harness/harness.sh)
		Port 22
		ListenAddress 0.0.0.0
		HostKey /etc/ssh/ssh_host_ed25519_key
		HostKey /etc/ssh/ssh_host_ecdsa_key
		HostKey /etc/ssh/ssh_host_rsa_key
		PidFile $d/sshd.pid
		PermitRootLogin yes
		PasswordAuthentication yes
		KbdInteractiveAuthentication no
		PubkeyAuthentication yes
		UsePAM no
		UseDNS no
		StrictModes no
		LogLevel VERBOSE
		MaxStartups 100:30:200
		MaxSessions 50
		PrintMotd no
		AcceptEnv LANG LC_*
		Subsystem sftp /usr/lib/openssh/sftp-server
	EOF
}

_harness_smbd_setup() {
	local host=$1 d=$2 sd="$d/samba"
	mkdir -p "$sd"/{private,lock,state,cache,pid,ncalrpc} "$d/shares/admin" "$d/shares/c"
	chmod 0700 "$sd/private"
	chmod 0777 "$d/shares/admin" "$d/shares/c"
	cat >"$sd/smb.conf" <<-EOF
		# smb.conf of test host $host (generated by tests/harness/harness.sh)
		[global]
		  netbios name = $(echo "$host" | tr 'a-z' 'A-Z')
		  workgroup = WORKGROUP
		  server role = standalone server
		  server string = agentpush test host $host
		  disable netbios = yes
		  smb ports = 445
		  server min protocol = SMB2_02
		  server signing = mandatory
		  passdb backend = tdbsam:$sd/private/passdb.tdb
		  private dir = $sd/private
		  lock directory = $sd/lock
		  state directory = $sd/state
		  cache directory = $sd/cache
		  pid directory = $sd/pid
		  ncalrpc dir = $sd/ncalrpc
		  log file = $d/log/smbd.log
		  max log size = 0
		  log level = 2
		  load printers = no
		  printing = bsd
		  printcap name = /dev/null
		  disable spoolss = yes
		  map to guest = never
		  restrict anonymous = 2
		[ADMIN\$]
		  path = $d/shares/admin
		  read only = no
		  browseable = no
		  valid users = root @sudo
		[C\$]
		  path = $d/shares/c
		  read only = no
		  browseable = no
		  valid users = root @sudo
	EOF
	_harness_smbpasswd "$host" root "$(cat "$d/secrets/root")"
}

# Add (or update) USER's Samba password, fed through stdin.
_harness_smbpasswd() {
	local host=$1 user=$2 pw=$3 d
	d=$(_harness_hdir "$host")
	printf '%s\n%s\n' "$pw" "$pw" | harness_exec "$host" smbpasswd -c "$d/samba/smb.conf" -a -s "$user" >/dev/null 2>>"$d/log/smbpasswd.log" \
		|| _harness_die "smbpasswd -a $user on $host failed"
}

# harness_exec HOST CMD...: run CMD inside HOST's network, mount and UTS
# namespaces (what a command run through ssh there sees).
harness_exec() {
	local host=$1 d hp
	shift
	d=$(_harness_hdir "$host")
	hp=$(cat "$d/holder")
	nsenter -t "$hp" -m -u -n -- "$@"
}

# harness_host_start_service HOST: start the host's daemon (sshd or smbd)
# and wait until it answers a protocol handshake (at most
# HARNESS_READY_TIMEOUT seconds, else the test fails).
harness_host_start_service() {
	local host=$1 d kind pid
	d=$(_harness_hdir "$host")
	kind=$(cat "$d/kind")
	if [ -s "$d/daemon" ] && _harness_alive "$(cat "$d/daemon")"; then
		return 0
	fi
	if [ "$kind" = sshd ]; then
		harness_exec "$host" "$HARNESS_SSHD" -t -f /etc/ssh/sshd_config \
			|| _harness_die "sshd -t rejected the config of $host (see $d/etc/ssh/sshd_config)"
		_harness_spawn "$d/daemon" "$d/log/sshd.stderr" \
			nsenter -t "$(cat "$d/holder")" -m -u -n -- \
			"$HARNESS_SSHD" -D -f /etc/ssh/sshd_config -E "$d/log/sshd.log"
	else
		_harness_spawn "$d/daemon" "$d/log/smbd.stderr" \
			nsenter -t "$(cat "$d/holder")" -m -u -n -- \
			"$HARNESS_SMBD" --foreground --no-process-group -s "$d/samba/smb.conf"
	fi
	_harness_wait_ready "$host"
}

# _harness_spawn PIDFILE LOG CMD...: start CMD in the background, detached
# from this shell's job table (no "Killed" notices, no zombies to reap), its
# stdin/stdout on /dev/null (meson waits for EOF on the test's pipes) and
# stderr appended to LOG; its pid goes to PIDFILE.  setsid gives it its own
# session and process group: smbd signals its whole process group when it
# stops, which must not reach the test script (nor meson).
_harness_spawn() {
	local pidf=$1 log=$2
	shift 2
	( setsid "$@" </dev/null >/dev/null 2>>"$log" & echo $! >"$pidf" )
}

# _harness_alive PID: the process exists and is not a zombie.
_harness_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# Wait for a real handshake from HOST's daemon on its current port.
_harness_wait_ready() {
	local host=$1 d kind addr port pid deadline
	d=$(_harness_hdir "$host")
	kind=$(cat "$d/kind"); addr=$(cat "$d/addr"); port=$(cat "$d/port"); pid=$(cat "$d/daemon")
	deadline=$(( $(date +%s) + HARNESS_READY_TIMEOUT ))
	while :; do
		if [ "$kind" = sshd ]; then
			ssh-keyscan -T 1 -t ed25519 -p "$port" "$addr" 2>/dev/null | grep -q . && return 0
		else
			python3 "$HARNESS_DIR/smb_negotiate.py" "$addr" "$port" >/dev/null 2>&1 && return 0
		fi
		_harness_alive "$pid" || { _harness_dump_logs "$host"; _harness_die "$kind of $host exited before it was ready"; }
		[ "$(date +%s)" -ge "$deadline" ] && { _harness_dump_logs "$host"; _harness_die "$kind of $host not ready after ${HARNESS_READY_TIMEOUT}s"; }
		sleep 0.05
	done
}

# harness_host_stop_service HOST: stop the daemon (its port then answers RST:
# ECONNREFUSED).  Connections already open are closed too.
harness_host_stop_service() {
	local host=$1 d pid i
	d=$(_harness_hdir "$host")
	[ -s "$d/daemon" ] || return 0
	pid=$(cat "$d/daemon")
	if _harness_alive "$pid"; then
		# smbd children and sshd session processes go with it
		pkill -TERM -P "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do _harness_alive "$pid" || break; sleep 0.02; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	: >"$d/daemon"
}

# harness_host_addr HOST: the test host's IPv4 address (198.18.x.y).
harness_host_addr() { _harness_get "$1" addr; }
# harness_host_port HOST: the port its daemon listens on now (22 or 445
# unless harness_host_close_port moved it).
harness_host_port() { _harness_get "$1" port; }
# harness_host_dir HOST: the host's private state directory (logs in log/).
harness_host_dir() { _harness_hdir "$1"; }
# harness_host_netns HOST: the network namespace name.
harness_host_netns() { _harness_get "$1" ns; }

# harness_host_password HOST USER: print USER's password on HOST (for the
# caller to write into a 0600 file; never echo it into test output).
harness_host_password() {
	local d
	d=$(_harness_hdir "$1")
	[ -f "$d/secrets/$2" ] || _harness_die "no user '$2' on test host '$1'"
	cat "$d/secrets/$2"
}

# harness_password_file HOST USER FILE: write USER's password into FILE (0600).
harness_password_file() {
	( umask 077; harness_host_password "$1" "$2" >"$3" ) || _harness_die "cannot write password file $3"
	chmod 0600 "$3"
}

# harness_known_hosts FILE HOST...: write a known_hosts file with the real
# public host keys of the hosts (from the generated keys, not a keyscan).
harness_known_hosts() {
	local f=$1 h d addr port name k
	shift
	: >"$f"
	for h in "$@"; do
		d=$(_harness_hdir "$h")
		[ "$(cat "$d/kind")" = sshd ] || _harness_die "$h is not an sshd host"
		addr=$(cat "$d/addr"); port=$(cat "$d/port")
		if [ "$port" = 22 ]; then name=$addr; else name="[$addr]:$port"; fi
		for k in "$d"/etc/ssh/ssh_host_*_key.pub; do
			printf '%s %s\n' "$name" "$(cut -d' ' -f1,2 "$k")" >>"$f"
		done
	done
}

# harness_ssh HOST USER CMD...: run CMD on HOST over real ssh with USER's
# password (SSH_ASKPASS reading a 0600 file; the password never shows).
# Prints the remote output; returns ssh's exit status.
harness_ssh() {
	local host=$1 user=$2 d kh pwf ap rc
	shift 2
	d=$(_harness_hdir "$host")
	kh="$HARNESS_RUN/known_hosts.$host"
	harness_known_hosts "$kh" "$host"
	pwf="$HARNESS_RUN/pw.$host.$user"
	harness_password_file "$host" "$user" "$pwf"
	ap="$HARNESS_RUN/askpass.$host.$user"
	printf '#!/bin/sh\nexec cat %q\n' "$pwf" >"$ap"
	chmod 0700 "$ap"
	SSH_ASKPASS="$ap" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
		ssh -F /dev/null -o UserKnownHostsFile="$kh" -o StrictHostKeyChecking=yes \
		-o GlobalKnownHostsFile=/dev/null -o PubkeyAuthentication=no \
		-o PreferredAuthentications=password -o NumberOfPasswordPrompts=1 \
		-o ConnectTimeout=5 -o BatchMode=no -o LogLevel=ERROR \
		-p "$(cat "$d/port")" "$user@$(cat "$d/addr")" "$@"
	rc=$?
	return $rc
}

# harness_smb_authfile HOST USER FILE: write an smbclient -A auth file (0600).
harness_smb_authfile() {
	( umask 077; printf 'username = %s\npassword = %s\ndomain = WORKGROUP\n' "$2" "$(harness_host_password "$1" "$2")" >"$3" )
	chmod 0600 "$3"
}

_harness_dump_logs() {
	local host=$1 d f
	d="$HARNESS_RUN/hosts/$host"
	for f in "$d"/log/*; do
		[ -f "$f" ] && [ -s "$f" ] || continue
		echo "---- harness: tail of $host/log/$(basename "$f") ----" >&2
		tail -n 30 "$f" >&2
	done
}

# Copy every host's logs to $AP_BUILD_ROOT/meson-logs/harness/<test>/.
_harness_save_logs() {
	local root=${AP_BUILD_ROOT:-${MESON_BUILD_ROOT:-}} dst h
	for h in "${HARNESS_HOSTS[@]}"; do _harness_dump_logs "$h"; done
	[ -n "$root" ] || return 0
	dst="$root/meson-logs/harness/$HARNESS_TEST"
	mkdir -p "$dst" 2>/dev/null || return 0
	for h in "${HARNESS_HOSTS[@]}"; do
		[ -d "$HARNESS_RUN/hosts/$h/log" ] || continue
		mkdir -p "$dst/$h"
		cp -r "$HARNESS_RUN/hosts/$h/log/." "$dst/$h/" 2>/dev/null
		[ -f "$HARNESS_RUN/hosts/$h/etc/ssh/sshd_config" ] && cp "$HARNESS_RUN/hosts/$h/etc/ssh/sshd_config" "$dst/$h/"
		[ -f "$HARNESS_RUN/hosts/$h/samba/smb.conf" ] && cp "$HARNESS_RUN/hosts/$h/samba/smb.conf" "$dst/$h/"
	done
	echo "harness: logs of the failed test are in $dst" >&2
}

_harness_on_err() {
	case $- in *e*) echo "harness: command failed (exit $1) at $3:$2: $4" >&2 ;; esac
	return 0
}

# Functions a test adds here run first on exit (e.g. stopping a server it
# started outside the test hosts).
HARNESS_EXIT_HOOKS=()

_harness_on_exit() {
	local rc=$1 hook
	trap - EXIT INT TERM ERR
	set +e
	for hook in "${HARNESS_EXIT_HOOKS[@]}"; do "$hook"; done
	[ "$rc" -ne 0 ] && _harness_save_logs
	harness_teardown
	exit "$rc"
}

# Tear one host down: processes, mounts, loop devices, veth, netns, /etc/netns.
_harness_teardown_hostdir() {
	local -
	set +e
	local d=$1 ns pid f dev
	ns=$(cat "$d/ns" 2>/dev/null)
	# processes: every process in the netns (daemons, sessions, holder)
	if [ -n "$ns" ] && [ -e "/run/netns/$ns" ]; then
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
	fi
	# (never kill a pid read from a file: in a stale run it may be recycled)
	# loop disks: the mount went with the mount namespace; detach the device
	for f in "$d"/disks/*.img; do
		[ -e "$f" ] || continue
		for dev in $(losetup -j "$f" -O NAME -n 2>/dev/null); do losetup -d "$dev" 2>/dev/null; done
	done
	f=$(cat "$d/veth" 2>/dev/null)
	[ -n "$f" ] && ip link del "$f" 2>/dev/null
	[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	[ -n "$ns" ] && rm -rf "/etc/netns/$ns"
	f=$(cat "$d/slotfile" 2>/dev/null)
	[ -n "$f" ] && rm -f "$f"
}

# harness_teardown: remove everything this run created (called by the EXIT
# trap; safe to call twice).
harness_teardown() {
	local -
	set +e
	[ -n "$HARNESS_RUN" ] && [ -d "$HARNESS_RUN" ] || return 0
	local d
	for d in "$HARNESS_RUN"/hosts/*; do
		[ -d "$d" ] || continue
		_harness_teardown_hostdir "$d"
	done
	rm -rf "$HARNESS_RUN"
	HARNESS_RUN=""
}

# harness_cleanup_stale: remove namespaces, veths, loop devices, /etc/netns
# dirs and run dirs left by runs whose owner process is dead (a crashed or
# killed test).  Runs of live tests are left alone.
harness_cleanup_stale() {
	local -
	set +e
	local r d ns pid slot lk
	for r in "$HARNESS_BASE"/runs/*; do
		[ -d "$r" ] || continue
		[ "$r" = "$HARNESS_RUN" ] && continue
		_harness_owner_alive "$r/owner" && continue
		# a run being born (owner not yet written) is not stale
		[ -f "$r/owner" ] || [ -n "$(find "$r" -maxdepth 0 -mmin +1)" ] || continue
		for d in "$r"/hosts/*; do
			[ -d "$d" ] && _harness_teardown_hostdir "$d"
		done
		rm -rf "$r"
	done
	# namespaces named aph-PID-HOST whose PID is gone and which no run dir owns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^aph-[0-9]*-'); do
		pid=${ns#aph-}; pid=${pid%%-*}
		[ -d "/proc/$pid" ] && continue
		for r in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$r" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	# slots whose owner is dead; veths aphN without a slot
	exec {lk}>"$HARNESS_BASE/lock"
	flock -w 300 "$lk"
	for slot in "$HARNESS_BASE"/slots/*; do
		[ -f "$slot" ] || continue
		_harness_owner_alive "$slot" && continue
		ip link del "aph$(basename "$slot")" 2>/dev/null
		rm -f "$slot"
	done
	for d in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^ap[hn][0-9]+$'); do
		[ -e "$HARNESS_BASE/slots/${d#ap?}" ] && continue
		ip link del "$d" 2>/dev/null
	done
	exec {lk}>&-
	return 0
}

# _harness_private_path HOST PATH: fail unless PATH (or its parent for a new
# file) sits on a mount private to HOST, so nothing written "into the host"
# lands on the real machine's root filesystem.
_harness_private_path() {
	local host=$1 p=$2 t
	t=$(harness_exec "$host" findmnt -n -o TARGET -T "$p" 2>/dev/null | head -n1) || true
	[ -z "$t" ] && t=$(harness_exec "$host" findmnt -n -o TARGET -T "$(dirname "$p")" 2>/dev/null | head -n1)  || true
	case "$t" in
	"" | / ) _harness_die "$p is not on a mount private to test host $1 (use harness_host_tmpfs/harness_host_bind first)" ;;
	esac
}

# harness_host_set_file HOST PATH CONTENT [MODE]: write CONTENT (plus a
# newline) to PATH as HOST sees it.  PATH must be on a host-private mount:
# one of the host's own /etc files (passwd, shadow, group, os-release,
# hostname, hosts, sudoers, ssh/, sudoers.d/) or a tmpfs/bind/loop disk added
# with the functions below.  MODE defaults to 0644.
harness_host_set_file() {
	local host=$1 p=$2 content=$3 mode=${4:-0644}
	_harness_private_path "$host" "$p"
	printf '%s\n' "$content" | harness_exec "$host" sh -c 'cat >"$1" && chmod "$2" "$1"' sh "$p" "$mode" \
		|| _harness_die "cannot write $p on test host $host"
}

# harness_host_tmpfs HOST DIR SIZE: mount a fresh tmpfs of SIZE (e.g. 16m)
# on DIR inside HOST only (DIR is created there if missing; e.g. /tmp, /boot,
# /opt).  The daemon and every ssh session see it; the real machine does not.
harness_host_tmpfs() {
	local host=$1 dir=$2 size=$3
	harness_exec "$host" mkdir -p "$dir"
	harness_exec "$host" mount -t tmpfs -o "size=$size,mode=0755" "tmpfs-$host" "$dir" \
		|| _harness_die "tmpfs on $dir in $host failed"
}

# harness_host_sandbox_fs HOST: give HOST private copies of the folders an
# agent install writes to, so nothing lands on the real machine: tmpfs on
# /opt (256m), /var/tmp (256m, mode 1777: the staging folder), /var/log (16m)
# and /lib/modules (1m) holding an empty /lib/modules/$(uname -r) (this
# machine has no kernel modules; the Linux rules would flag 800206).  Call it
# right after harness_host_create, before anything is installed.
harness_host_sandbox_fs() {
	local host=$1
	harness_host_tmpfs "$host" /opt 256m
	harness_host_tmpfs "$host" /var/tmp 256m
	harness_exec "$host" chmod 1777 /var/tmp
	harness_host_tmpfs "$host" /var/log 16m
	harness_host_tmpfs "$host" /lib/modules 1m
	harness_exec "$host" mkdir -p "/lib/modules/$(uname -r)"
}

# harness_host_bind HOST SRC DST: bind-mount SRC (a path on the real machine)
# on DST inside HOST only.
harness_host_bind() {
	local host=$1 src=$2 dst=$3
	[ -e "$src" ] || _harness_die "bind source $src does not exist"
	if [ -d "$src" ]; then harness_exec "$host" mkdir -p "$dst"; fi
	harness_exec "$host" mount --bind "$src" "$dst" || _harness_die "bind $src on $dst in $host failed"
}

# harness_host_loopdisk HOST DIR SIZE_MB: create a SIZE_MB file, format it
# ext4, attach it to a loop device and mount it on DIR inside HOST only (a
# real block device: df, statfs, "disk full" behave as on a real disk).
# Prints the loop device.  Torn down with the host.
harness_host_loopdisk() {
	local host=$1 dir=$2 mb=$3 d img dev
	d=$(_harness_hdir "$host")
	mkdir -p "$d/disks"
	img=$(mktemp "$d/disks/disk-XXXX.img")
	truncate -s "${mb}M" "$img"
	mkfs.ext4 -q -F -L "ap-$host" "$img" >/dev/null 2>>"$d/log/mkfs.log" || _harness_die "mkfs.ext4 $img failed"
	dev=$(losetup --find --show "$img") || _harness_die "losetup $img failed (no free loop device?)"
	echo "$dev" >"$img.dev"
	harness_exec "$host" mkdir -p "$dir"
	harness_exec "$host" mount -t ext4 "$dev" "$dir" || _harness_die "mount $dev on $dir in $host failed"
	echo "$dev"
}

# ---- faults --------------------------------------------------------------

# harness_host_restart_service HOST: stop then start the daemon (waits for
# the handshake again).
harness_host_restart_service() {
	harness_host_stop_service "$1"
	harness_host_start_service "$1"
}

# harness_host_close_port HOST: move the daemon to another port (sshd 2222,
# smbd 4455) so its usual port answers RST (ECONNREFUSED) while the host and
# the daemon stay up.  harness_host_port tells the new port;
# harness_host_open_port moves it back.
harness_host_close_port() { _harness_move_port "$1" 2222 4455; }
harness_host_open_port() { _harness_move_port "$1" 22 445; }

_harness_move_port() {   # HOST SSHD_PORT SMBD_PORT
	local host=$1 d port
	d=$(_harness_hdir "$host")
	if [ "$(cat "$d/kind")" = sshd ]; then
		port=$2
		_harness_conf_set "$d/etc/ssh/sshd_config" Port "$port"
	else
		port=$3
		sed -i "s/^\(  smb ports = \).*/\1$port/" "$d/samba/smb.conf"
	fi
	echo "$port" >"$d/port"
	harness_host_restart_service "$host"
}

# harness_route_del HOST: on the host side, make the host's /29 unroutable: a
# "throw" route ends the main-table lookup and the (empty) default table has
# none, so connect() fails at once with ENETUNREACH.  No packet leaves.
# harness_route_add puts the connected route back.
harness_route_del() {
	local host=$1 d net
	d=$(_harness_hdir "$host")
	net="$(_harness_slot_ip "$(cat "$d/slot")" 0)/29"
	ip route del "$net" dev "$(cat "$d/veth")" 2>/dev/null
	ip route replace throw "$net" || _harness_die "ip route throw $net failed"
}

harness_route_add() {
	local host=$1 d net
	d=$(_harness_hdir "$host")
	net="$(_harness_slot_ip "$(cat "$d/slot")" 0)/29"
	ip route del throw "$net" 2>/dev/null || true
	ip route replace "$net" dev "$(cat "$d/veth")" proto kernel scope link src "$(cat "$d/hostip")"
}

# harness_link_down HOST: take the host-side veth down: its connected route
# goes away and the harness' catch-all "unreachable 198.18.0.0/15" route
# answers: connect() fails at once with EHOSTUNREACH.  harness_link_up undoes.
harness_link_down() {
	local d
	d=$(_harness_hdir "$1")
	ip link set "$(cat "$d/veth")" down
}

harness_link_up() {
	local d
	d=$(_harness_hdir "$1")
	ip link set "$(cat "$d/veth")" up
	harness_route_add "$1"
}

# harness_host_drop HOST: packets to HOST vanish silently (a filtering
# firewall): the host side's neighbour entry for its address is pinned to a
# MAC no one has, the peer drops the frames, and connect() times out (the
# caller's own timeout, or ~127 s of SYN retries).  harness_host_undrop undoes.
harness_host_drop() {
	local d
	d=$(_harness_hdir "$1")
	ip neigh replace "$(cat "$d/addr")" lladdr 02:00:5e:00:53:01 dev "$(cat "$d/veth")" nud permanent \
		|| _harness_die "ip neigh replace for $1 failed"
}

harness_host_undrop() {
	local d
	d=$(_harness_hdir "$1")
	ip neigh del "$(cat "$d/addr")" dev "$(cat "$d/veth")" 2>/dev/null
	return 0
}

# harness_unused_addr HOST: an address in HOST's /29 that no one answers: ARP
# fails and connect() gets EHOSTUNREACH after ~3 s.
harness_unused_addr() {
	local d
	d=$(_harness_hdir "$1")
	_harness_slot_ip "$(cat "$d/slot")" 5
}

# ---- configuration ---------------------------------------------------------

# _harness_conf_set FILE KEY VALUE: drop every "KEY ..." line (any case) and
# put "KEY VALUE" at the top (sshd takes the first value it reads).
_harness_conf_set() {
	local f=$1 key=$2 val=$3 rest
	rest=$(_harness_conf_without "$f" "$key")
	printf '%s %s\n%s\n' "$key" "$val" "$rest" >"$f"
}

# _harness_conf_without FILE KEY: FILE without its "KEY ..." lines.
_harness_conf_without() {
	grep -v -i -E "^[[:space:]]*${2}([[:space:]]|=|\$)" "$1" || true
}

# harness_sshd_config_set HOST KEY VALUE: set an sshd_config keyword (e.g.
# PasswordAuthentication no), check the config with sshd -t, restart sshd.
# harness_sshd_config_del HOST KEY: remove the keyword's lines (e.g.
# Subsystem, to take sftp away) and restart.
harness_sshd_config_set() {
	local host=$1 d
	d=$(_harness_hdir "$host")
	[ "$(cat "$d/kind")" = sshd ] || _harness_die "$host is not an sshd host"
	_harness_conf_set "$d/etc/ssh/sshd_config" "$2" "$3"
	harness_host_restart_service "$host"
}

harness_sshd_config_del() {
	local host=$1 key=$2 d rest
	d=$(_harness_hdir "$host")
	rest=$(_harness_conf_without "$d/etc/ssh/sshd_config" "$key")
	printf '%s\n' "$rest" >"$d/etc/ssh/sshd_config"
	harness_host_restart_service "$host"
}

# harness_host_add_user HOST USER PASSWORD [sudo=nopasswd|password|none]
# Add a Unix user (uid from 1001, home /home/USER inside the host) with
# PASSWORD ("-" for a random one; read it back with harness_host_password),
# a sudoers drop-in in the host's own /etc/sudoers.d, and on smbd hosts the
# Samba password too.  The password is only written to 0600 files.
harness_host_add_user() {
	local host=$1 user=$2 pw=$3 sudo=${4:-none} d e uid
	d=$(_harness_hdir "$host")
	e="$d/etc"
	[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || _harness_die "bad user name '$user'"
	grep -q "^$user:" "$e/passwd" && _harness_die "user $user already exists on $host"
	case "$sudo" in nopasswd | password | none) ;; *) _harness_die "sudo must be nopasswd, password or none" ;; esac
	[ "$pw" = - ] && pw=$(_harness_randpw)
	uid=$(( 1000 + $(grep -c '^' "$e/passwd") ))
	# append in place: these files are bind-mounted, a new inode would not show
	echo "$user:x:$uid:$uid:$user:/home/$user:/bin/bash" >>"$e/passwd"
	echo "$user:x:$uid:" >>"$e/group"
	echo "$user:!::" >>"$e/gshadow"
	echo "$user:$(printf '%s\n' "$pw" | _harness_hash):19000:0:99999:7:::" >>"$e/shadow"
	( umask 077; printf '%s' "$pw" >"$d/secrets/$user" )
	mkdir -p "$d/home/$user"
	chown "$uid:$uid" "$d/home/$user"
	chmod 0750 "$d/home/$user"
	case "$sudo" in
	nopasswd) printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$user" >"$e/sudoers.d/$user" ;;
	password) printf '%s ALL=(ALL:ALL) ALL\n' "$user" >"$e/sudoers.d/$user" ;;
	esac
	[ -f "$e/sudoers.d/$user" ] && chmod 0440 "$e/sudoers.d/$user"
	if [ "$sudo" != none ]; then
		# rewrite in place (same inode): the file is bind-mounted
		local g
		g=$(sed "s/^\(sudo:x:27:.*\)\$/\1,$user/; s/^sudo:x:27:,/sudo:x:27:/" "$e/group")
		printf '%s\n' "$g" >"$e/group"
	fi
	if [ "$(cat "$d/kind")" = smbd ]; then
		_harness_smbpasswd "$host" "$user" "$pw"
	fi
}

# ---- assertions for tests -------------------------------------------------

HARNESS_PASSES=0
HARNESS_FAILS=0

# harness_expect WHAT WANT GOT: count and print one check ("ok: ..." or
# "FAIL: ...") without stopping the test; harness_summary NAME prints
# "NAME: N passed, M failed" and returns non-zero when one failed.
harness_expect() {
	if [ "$2" = "$3" ]; then
		HARNESS_PASSES=$((HARNESS_PASSES + 1))
		echo "ok: $1 -> $3"
	else
		HARNESS_FAILS=$((HARNESS_FAILS + 1))
		echo "FAIL: $1: want '$2', got '$3'"
	fi
}

harness_summary() {
	echo "$1: $HARNESS_PASSES passed, $HARNESS_FAILS failed"
	[ "$HARNESS_FAILS" -eq 0 ]
}

# ---- many addresses for one host -------------------------------------------

# harness_host_add_addrs HOST N: give HOST N more IPv4 addresses (each a
# target of its own: own TCP connection, own known_hosts line) and print them,
# one per line.  The addresses come from whole /29 slots reserved through the
# slot allocator above (same lock, same owner as HOST), so they never collide
# with another host's /29; all 8 addresses of each slot are used as /32s.
# Inside HOST they sit on eth0 (sshd listens on 0.0.0.0); on the machine side
# each gets a /32 route via HOST's own address over its veth.  The routes and
# addresses go with the veth and netns at teardown; the reserved slot files
# are listed in HOST's extra_slots and freed by harness_cleanup_stale (the
# next harness_init) once this run's process is gone.
harness_host_add_addrs() {
	local host=$1 n=$2 d slot i a batch="" nbatch="" out=""
	d=$(_harness_hdir "$host")
	if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 4096 ]; then
		_harness_die "harness_host_add_addrs: N must be 1..4096, not '$n'"
	fi
	while [ "$n" -gt 0 ]; do
		slot=$(_harness_alloc_slot "$(cat "$HARNESS_RUN/owner") $d")
		echo "$HARNESS_BASE/slots/$slot" >>"$d/extra_slots"
		for i in 0 1 2 3 4 5 6 7; do
			[ "$n" -gt 0 ] || break
			a=$(_harness_slot_ip "$slot" "$i")
			nbatch+="addr add $a/32 dev eth0"$'\n'
			batch+="route replace $a/32 via $(cat "$d/addr") dev $(cat "$d/veth")"$'\n'
			out+="$a"$'\n'
			n=$((n - 1))
		done
	done
	printf '%s' "$nbatch" | ip -n "$(cat "$d/ns")" -batch - || _harness_die "adding addresses inside $host failed"
	printf '%s' "$batch" | ip -batch - || _harness_die "adding routes to $host's addresses failed"
	printf '%s' "$out"
}
