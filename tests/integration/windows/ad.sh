# shellcheck shell=bash
# tests/integration/windows/ad.sh: a REAL Samba AD domain for the Windows
# tests (docs/windows-tests.md): a domain controller (`samba`, provisioned
# with samba-tool) in one test host and a member server (smbd + winbindd,
# `security = ads`, joined with `net ads join`) in another, each in its own
# network namespace, mount namespace and state dir (tests/harness).
#
# Source after tests/harness/harness.sh, harness_init and windows/lib.sh.
#
#   ad_dc DC MEMBER           create test hosts DC and MEMBER (smbd hosts
#                             from wt_host), link them, make DC a
#                             provisioned AD DC (realm $AD_REALM, domain
#                             $AD_DOMAIN): its smbd replaced by `samba`
#   ad_member MEMBER          MEMBER joined to DC's domain: smbd + winbindd,
#                             security = ads
#   ad_user DC USER           domain user USER with $WT_PW's password
#   ad_member_user MEMBER USER  USER's Unix account on MEMBER (see ad_member)
#                             in @sudo: ADMIN$ and C$ allowed
#   ad_dc_stop / ad_dc_start DC     stop / start the DC's samba
#   ad_dc_unreachable / ad_dc_reachable MEMBER  inside MEMBER, the route to
#                             its DC replaced by an "unreachable" one / back
#   ad_winbind_stop / ad_winbind_start / ad_winbind_restart MEMBER
#                             the member's winbindd (a restart forgets its
#                             DC connection and netlogon session)
#   ad_tool DC ARGS...        samba-tool ARGS on the DC's own database
#                             ("@PW@" in ARGS = $AD_PW; see ad_tool.py)
#
# Network.  The harness routes each host's 198.18.0.0/15 traffic to the
# machine side, and the machine does not forward between test hosts
# (net.ipv4.ip_forward stays 0: nothing here changes it).  A member
# reaches its DC over a veth pair of its own, "ad0" in both namespaces, on a
# /29 slot from the harness' allocator (DC .1, member .2).
#
# Private state.  Everything of the DC lives under its host dir (`ad/`,
# provisioned with --targetdir); smbd, samba and winbindd find winbindd's
# socket at the compiled-in /run/samba/winbindd (libwbclient reads no
# smb.conf), so each AD host gets a private tmpfs there.  No package's
# postinst runs: libnss-winbind is NOT used (installing it edits the
# machine's /etc/nsswitch.conf); see ad_member for how domain users get a
# Unix account instead.
#
# Secrets.  $AD_PW (0600) is the DC's provisioning secret: the domain
# Administrator's password, random per run, used only inside the test (the
# join).  It goes to samba-tool through ad_tool.py and to `net ads join`
# through an auth file (-A), never on a command line; domain users get
# $WT_PW's password the same way.  Nothing here prints either.

AD_REALM=AGENTPUSH.TEST
AD_DNS=agentpush.test
AD_DOMAIN=APDOM
AD_TOOL_PY=$AP_SOURCE_ROOT/tests/integration/windows/ad_tool.py
AD_PW=$WT_DIR/ad-admin
# samba's complexity rule: upper, lower, digit; 32 characters
[ -s "$AD_PW" ] || ( umask 077; printf 'Ad-%s\n' "$(openssl rand -hex 14)" >"$AD_PW" )

# the DC's provisioned tree (smb.conf in etc/, sam.ldb in private/)
_ad_top() { echo "$(harness_host_dir "$1")/ad"; }
_ad_conf() { echo "$(_ad_top "$1")/etc/smb.conf"; }

ad_tool() {
	local dc=$1
	shift
	harness_exec "$dc" /usr/bin/python3 "$AD_TOOL_PY" "$AD_PW" "$@" -s "$(_ad_conf "$dc")"
}

# _ad_link DC HOST: a veth pair ad0 between DC and HOST on a fresh /29 slot
# (recorded as HOST's extra slot: freed with the run).  Prints nothing; the
# addresses go to DC's and HOST's adaddr files.
_ad_link() {
	local dc=$1 host=$2 dd hd slot a1 a2
	dd=$(harness_host_dir "$dc"); hd=$(harness_host_dir "$host")
	slot=$(_harness_alloc_slot "$(cat "$HARNESS_RUN/owner") $hd")
	echo "$HARNESS_BASE/slots/$slot" >>"$hd/extra_slots"
	a1=$(_harness_slot_ip "$slot" 1); a2=$(_harness_slot_ip "$slot" 2)
	# both ends are created inside the namespaces: nothing on the machine side
	ip link add ad0 netns "$(cat "$dd/ns")" type veth peer name ad0 netns "$(cat "$hd/ns")" \
		|| _harness_die "veth between $dc and $host failed"
	ip -n "$(cat "$dd/ns")" addr add "$a1/29" dev ad0
	ip -n "$(cat "$hd/ns")" addr add "$a2/29" dev ad0
	ip -n "$(cat "$dd/ns")" link set ad0 up
	ip -n "$(cat "$hd/ns")" link set ad0 up
	echo "$a1" >"$dd/adaddr"; echo "$a2" >"$hd/adaddr"
	echo "$dc" >"$hd/addc"
}

# ad_dc DC MEMBER: create test hosts DC and MEMBER (smbd hosts, as wt_host),
# link them, and make DC a provisioned AD DC (its smbd replaced by samba).
# MEMBER is joined by ad_member.
ad_dc() {
	local dc=$1 member=$2 d top ip
	wt_host "$dc"
	wt_host "$member"
	_ad_link "$dc" "$member"
	harness_host_stop_service "$dc"
	d=$(harness_host_dir "$dc"); top=$(_ad_top "$dc"); ip=$(cat "$d/adaddr")
	mkdir -p "$top"
	# smbd and samba find winbindd at the compiled-in /run/samba/winbindd
	# (libwbclient reads no smb.conf): a private /run/samba per host
	harness_host_tmpfs "$dc" /run/samba 16m
	harness_host_set_file "$dc" /etc/hosts "$(printf '127.0.0.1\tlocalhost\n%s\t%s.%s %s' "$ip" "$dc" "$AD_DNS" "$dc")"
	_ad_resolv "$dc" "$ip"
	harness_exec "$dc" /usr/bin/python3 "$AD_TOOL_PY" "$AD_PW" domain provision \
		--realm="$AD_REALM" --domain="$AD_DOMAIN" --server-role=dc \
		--dns-backend=SAMBA_INTERNAL --host-name="$dc" --host-ip="$ip" \
		--adminpass=@PW@ --targetdir="$top" --use-rfc2307 \
		--option="interfaces = lo ad0" --option="bind interfaces only = yes" \
		--option="pid directory = $top/run" --option="ncalrpc dir = $top/run/ncalrpc" \
		--option="log file = $d/log/samba.log" --option="log level = 2" \
		--option="disable netbios = yes" \
		--option="server services = -dnsupdate -kcc -drepl -nbt -wrepl -ntp_signd" \
		>"$d/log/provision.log" 2>&1 || _harness_die "samba-tool domain provision on $dc failed (see $d/log/provision.log)"
	# no forwarder: the DC answers for its own zone only, nothing leaves
	sed -i '/dns forwarder/d' "$(_ad_conf "$dc")"
	ad_dc_start "$dc"
}

# _ad_resolv HOST DNS_IP: HOST's own /etc/resolv.conf (a bind mount inside
# HOST only) naming DNS_IP.
_ad_resolv() {
	local f
	f="$(harness_host_dir "$1")/resolv.conf"
	printf 'search %s\nnameserver %s\n' "$AD_DNS" "$2" >"$f"
	harness_host_bind "$1" "$f" /etc/resolv.conf
}

# ad_dc_start DC: start the DC's samba and wait until its LDAP and SMB ports
# answer on the link (netlogon runs over SMB named pipes).
ad_dc_start() {
	local dc=$1 d top
	d=$(harness_host_dir "$dc"); top=$(_ad_top "$dc")
	mkdir -p "$top/run"
	_harness_spawn "$d/samba.pid" "$d/log/samba.stderr" \
		nsenter -t "$(cat "$d/holder")" -m -u -n -- \
		/usr/sbin/samba --foreground --no-process-group -M single -s "$(_ad_conf "$dc")"
	for _ in $(seq 1 600); do
		if harness_exec "$dc" python3 "$HARNESS_DIR/connect_probe.py" "$(cat "$d/adaddr")" 389 1 2>/dev/null | grep -q '^OK' &&
			harness_exec "$dc" python3 "$HARNESS_DIR/connect_probe.py" "$(cat "$d/adaddr")" 445 1 2>/dev/null | grep -q '^OK'; then
			return 0
		fi
		_harness_alive "$(cat "$d/samba.pid")" || _harness_die "samba on $dc exited: $(tail -n 20 "$d/log/samba.stderr")"
		sleep 0.1
	done
	_harness_die "samba on $dc: no LDAP and SMB after 60 s"
}

# ad_member HOST: make HOST (created by ad_dc) a member server of its DC's
# domain: smb.conf with security = ads (the harness' paths and shares kept),
# resolv.conf naming the DC (the domain's DNS server) and hosts naming both,
# `net ads join` with the Administrator's credentials from an auth file (-A),
# then winbindd and smbd.
#   password server + name resolve order = host: winbindd goes straight to
#     the DC named in /etc/hosts.  Without them, once the DC is gone each
#     authentication first waits out DNS SRV queries (10 s each, several)
#     and CLDAP pings (6 s each): about 60 s, measured, before smbd answers
#     NT_STATUS_NO_LOGON_SERVERS.  With them: about 1 s.
#   idmap rid for the domain: a domain user's uid is 200000 + its RID.
#     smbd needs a Unix account for that uid (check_account); without
#     libnss-winbind, ad_member_user writes one into the host's own passwd.
#   admin users = @sudo: the share paths lie under the harness' 0700 run
#     dir; members of the host's sudo group work there as root, as members
#     of the local Administrators group would on Windows.
ad_member() {
	local host=$1 d sd dc dd dcip auth
	d=$(harness_host_dir "$host"); sd="$d/samba"
	dc=$(cat "$d/addc"); dd=$(harness_host_dir "$dc"); dcip=$(cat "$dd/adaddr")
	harness_host_stop_service "$host"
	harness_host_set_file "$host" /etc/hosts "$(printf '127.0.0.1\tlocalhost\n%s\t%s.%s %s\n%s\t%s.%s %s' \
		"$(cat "$d/adaddr")" "$host" "$AD_DNS" "$host" "$dcip" "$dc" "$AD_DNS" "$dc")"
	_ad_resolv "$host" "$dcip"
	harness_host_tmpfs "$host" /run/samba 16m
	cat >"$sd/smb.conf" <<-EOF2
		# smb.conf of AD member $host (tests/integration/windows/ad.sh)
		[global]
		  netbios name = ${host^^}
		  workgroup = $AD_DOMAIN
		  realm = $AD_REALM
		  password server = $dc.$AD_DNS
		  name resolve order = host
		  security = ads
		  server role = member server
		  server string = agentpush AD member $host
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
		  log file = $d/log/%m.log
		  max log size = 0
		  # auth_audit:3: successful logons are logged too (the test reads them)
		  log level = 2 auth_audit:3
		  idmap config * : backend = tdb
		  idmap config * : range = 100000-199999
		  idmap config $AD_DOMAIN : backend = rid
		  idmap config $AD_DOMAIN : range = 200000-299999
		  winbind use default domain = no
		  winbind refresh tickets = no
		  dedicated keytab file = $sd/private/krb5.keytab
		  kerberos method = secrets and keytab
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
		  admin users = @sudo
		[C\$]
		  path = $d/shares/c
		  read only = no
		  browseable = no
		  valid users = root @sudo
		  admin users = @sudo
	EOF2
	auth="$WT_DIR/ad-join.auth"
	( umask 077; printf 'username = Administrator\npassword = %s\ndomain = %s\n' "$(head -n1 "$AD_PW")" "$AD_DOMAIN" >"$auth" )
	harness_exec "$host" net ads join -s "$sd/smb.conf" -A "$auth" --no-dns-updates \
		>"$d/log/join.log" 2>&1 || _harness_die "net ads join of $host failed: $(tail -n 5 "$d/log/join.log")"
	ad_winbind_start "$host"
	harness_host_start_service "$host"
}

# ad_winbind_start HOST: start the member's winbindd, wait for wbinfo -p.
ad_winbind_start() {
	local host=$1 d
	d=$(harness_host_dir "$host")
	_harness_spawn "$d/winbindd.pid" "$d/log/winbindd.stderr" \
		nsenter -t "$(cat "$d/holder")" -m -u -n -- \
		/usr/sbin/winbindd --foreground --no-process-group -s "$d/samba/smb.conf"
	for _ in $(seq 1 300); do
		harness_exec "$host" wbinfo -p >/dev/null 2>&1 && return 0
		_harness_alive "$(cat "$d/winbindd.pid")" || _harness_die "winbindd on $host exited: $(tail -n 20 "$d/log/winbindd.stderr")"
		sleep 0.1
	done
	_harness_die "winbindd on $host: no answer to wbinfo -p after 30 s"
}

# ad_user DC USER: domain user USER whose password is the one in $WT_PW.
ad_user() {
	local dc=$1 user=$2 d
	d=$(harness_host_dir "$dc")
	AD_PW=$WT_PW ad_tool "$dc" user create "$user" @PW@ >>"$d/log/ad-tool.log" 2>&1 \
		|| _harness_die "samba-tool user create $user failed: $(tail -n 3 "$d/log/ad-tool.log")"
}

# ad_member_user MEMBER USER: USER's Unix account on MEMBER, uid 200000 +
# the RID of USER's domain SID (idmap rid, see ad_member), in @sudo.
ad_member_user() {
	local host=$1 user=$2 d dc sid rid uid new
	d=$(harness_host_dir "$host"); dc=$(cat "$d/addc")
	sid=$(ad_tool "$dc" user show "$user" --attributes=objectSid 2>/dev/null | sed -n 's/^objectSid: //p')
	rid=${sid##*-}
	[[ "$rid" =~ ^[0-9]+$ ]] || _harness_die "no SID for domain user $user on $dc"
	uid=$((200000 + rid))
	# in place: these files are bind-mounted, a new inode would not show
	echo "$user:x:$uid:$uid:$user:/nonexistent:/usr/sbin/nologin" >>"$d/etc/passwd"
	echo "$user:x:$uid:" >>"$d/etc/group"
	new=$(sed "s/^\(sudo:x:27:.*\)\$/\1,$user/; s/^sudo:x:27:,/sudo:x:27:/" "$d/etc/group")
	printf '%s\n' "$new" >"$d/etc/group"
}

ad_dc_stop() {
	local d pid
	d=$(harness_host_dir "$1")
	pid=$(cat "$d/samba.pid")
	# samba's own children (smbd, winbindd of the DC) leave with it
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do _harness_alive "$pid" || break; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null || true
	# what remains of the DC's processes (not the holder) goes too
	for pid in $(ip netns pids "$(harness_host_netns "$1")"); do
		[ "$pid" = "$(cat "$d/holder")" ] || kill -KILL "$pid" 2>/dev/null || true
	done
}

ad_dc_unreachable() {
	local d dcip
	d=$(harness_host_dir "$1"); dcip=$(cat "$(harness_host_dir "$(cat "$d/addc")")/adaddr")
	ip -n "$(cat "$d/ns")" route replace unreachable "$dcip/32"
}

ad_dc_reachable() {
	local d dcip
	d=$(harness_host_dir "$1"); dcip=$(cat "$(harness_host_dir "$(cat "$d/addc")")/adaddr")
	ip -n "$(cat "$d/ns")" route del unreachable "$dcip/32" 2>/dev/null || true
}

ad_winbind_stop() {
	local d pid
	d=$(harness_host_dir "$1")
	pid=$(cat "$d/winbindd.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do _harness_alive "$pid" || break; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null || true
	: >"$d/winbindd.pid"
}

ad_winbind_restart() {
	ad_winbind_stop "$1"
	ad_winbind_start "$1"
}

# ad_dc_netlogon DC off|on: restart DC's samba without / with its netlogon
# RPC endpoint (smb.conf "dcerpc endpoint servers", Samba's default list less
# netlogon): the DC runs, answers LDAP, Kerberos and SMB, but no member can
# open a netlogon secure channel to it.
ad_dc_netlogon() {
	local dc=$1 conf list
	conf=$(_ad_conf "$dc")
	sed -i '/^[[:space:]]*dcerpc endpoint servers/d' "$conf"
	if [ "$2" = off ]; then
		list=$(testparm -s --parameter-name='dcerpc endpoint servers' "$conf" 2>/dev/null |
			sed 's/netlogon, //; s/, netlogon$//')
		case "$list" in *netlogon* | "") _harness_die "cannot drop netlogon from '$list'" ;; esac
		sed -i "s/^\\[global\\]\$/&\\n\\tdcerpc endpoint servers = $list/" "$conf"
	fi
	ad_dc_stop "$dc"
	ad_dc_start "$dc"
}
