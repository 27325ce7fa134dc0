# agentpush Linux probe: learns what `agentpush check` needs in one round trip.
#
# Sent over stdin and run as the login user:  sh -s -- STAGING_DIR INSTALL_DIR
# It only reads: it writes no file, changes no setting, starts no service.
# POSIX sh only (dash, busybox ash, bash); every source may be missing, and a
# missing source is reported as a fact ("source<TAB>name<TAB>absent"), never
# as a failure of the whole probe.
#
# Output (docs/linux-checks.md has the full list): one fact per line,
#   kind<TAB>field<TAB>field...
# Values never hold a TAB, a newline or another control character: the probe
# turns TABs into spaces and drops other control bytes, and cuts each value to
# 512 bytes.  The first line is "agentpush-probe<TAB>1", the last "end"; a
# missing "end" means the output was cut.  Repeated kinds are capped.
# The C parser (lib/linux/facts.c) treats all of this as untrusted.

PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
LC_ALL=C
export LC_ALL
umask 077

T=$(printf '\t')
NL='
'
STAGING=${1:-/var/tmp}
INSTALL=${2:-/opt/agentpush-agent}

# clean TEXT: sets clean_v to one safe value (no control bytes, TAB as
# space, <= 512 bytes).  Into a variable, not printed: a $(clean ...) would
# fork a subshell per value (~110 forks a probe, most of its CPU).
clean() {
	# Fast path, no process: most values are short and printable already
	# (the pipeline below costs three processes a value).
	case $1 in
	*[![:print:]]*) ;;
	*) if [ "${#1}" -le 512 ]; then clean_v=$1; return; fi ;;
	esac
	clean_v=$(printf '%s' "$1" | tr '\t\n\r' '   ' | tr -d '\000-\037\177' | cut -c1-512)
}
# fact KIND FIELD...: prints one line, cleaning each field.
fact() {
	fact_line=$1
	shift
	for fact_f in "$@"; do
		clean "$fact_f"
		fact_line="$fact_line$T$clean_v"
	done
	printf '%s\n' "$fact_line"
}
# first_line VAR FILE: VAR = FILE's first line, or empty when unreadable;
# a builtin read where $(cat FILE) would fork (sysfs files are one line).
first_line() {
	fl_v=
	{ IFS= read -r fl_v <"$2"; } 2>/dev/null
	eval "$1=\$fl_v"
}
have() { command -v "$1" >/dev/null 2>&1; }
# src NAME PATH: reports whether a file source is present and readable.
src() {
	if [ -r "$2" ]; then fact source "$1" present
	elif [ -e "$2" ]; then fact source "$1" unreadable
	else fact source "$1" absent
	fi
}

printf 'agentpush-probe%s1\n' "$T"
fact args "$STAGING" "$INSTALL"

# --- identity and rights ---------------------------------------------------
p_uid=$(id -u 2>/dev/null)
p_user=$(id -un 2>/dev/null)
fact id "${p_uid:--1}" "${p_user:-?}"
if [ "$p_uid" = 0 ]; then fact root 1; else fact root 0; fi
if have sudo; then
	if sudo -n true </dev/null >/dev/null 2>&1; then fact sudo 1 1
	else fact sudo 1 0
	fi
else
	fact sudo 0 0
fi

# --- operating system --------------------------------------------------------
p_osr=
for f in /etc/os-release /usr/lib/os-release; do
	if [ -r "$f" ]; then p_osr=$f; break; fi
done
if [ -n "$p_osr" ]; then
	fact source os-release present
	while IFS='=' read -r k v; do
		case $k in
		ID|VERSION_ID|ID_LIKE|NAME|PRETTY_NAME)
			v=${v#\"}; v=${v%\"}; v=${v#\'}; v=${v%\'}
			fact os "$k" "$v" ;;
		esac
	done <"$p_osr"
else
	fact source os-release absent
fi
for f in /etc/redhat-release /etc/SuSE-release; do
	if [ -r "$f" ]; then
		fact release "$f" "$(head -n 1 "$f" 2>/dev/null)"
	fi
done
p_kr=$(uname -r 2>/dev/null)
fact uname "$p_kr" "$(uname -m 2>/dev/null)"
if [ -n "$p_kr" ] && [ -d "/lib/modules/$p_kr" ]; then
	fact modules 1 "/lib/modules/$p_kr"
else
	fact modules 0 "/lib/modules/$p_kr"
fi

# --- block devices (from /sys: lsblk may be absent) ---------------------------
# blk NAME KIND MAJ:MIN PARENT DM_NAME DM_UUID ; slave HOLDER SLAVE
p_n=0
if [ -d /sys/class/block ]; then
	fact source sys-block present
	for d in /sys/class/block/*; do
		[ -e "$d/dev" ] || continue
		p_n=$((p_n + 1))
		[ "$p_n" -le 256 ] || break
		b=${d##*/}
		case $b in
		loop*|ram*|zram*)
			# unused loop and RAM devices hold no file system of ours
			first_line sz "$d/size"
			[ "$sz" != 0 ] || continue ;;
		esac
		first_line dev "$d/dev"
		parent=
		dmn=
		dmu=
		if [ -e "$d/partition" ]; then
			kind=part
			# a partition's sysfs directory sits inside its disk's
			for pd in /sys/block/*; do
				if [ -d "$pd/$b" ]; then parent=${pd##*/}; break; fi
			done
		else
			case $b in
			dm-*) kind=dm ;;
			md*) kind=md ;;
			loop*) kind=loop ;;
			ram*|zram*) kind=ram ;;
			sr*) kind=rom ;;
			*) kind=disk ;;
			esac
		fi
		if [ -r "$d/dm/name" ]; then
			first_line dmn "$d/dm/name"
			first_line dmu "$d/dm/uuid"
		fi
		fact blk "$b" "$kind" "$dev" "$parent" "$dmn" "$dmu"
		if [ -d "$d/slaves" ]; then
			for s in "$d"/slaves/*; do
				[ -e "$s" ] || continue
				fact slave "$b" "${s##*/}"
			done
		fi
	done
else
	fact source sys-block absent
fi

# --- mounts: mountinfo gives MAJ:MIN, which /dev/root hides ------------------
# mount MAJ:MIN MOUNTPOINT FSTYPE SOURCE
if [ -r /proc/self/mountinfo ]; then
	fact source mountinfo present
	p_n=0
	while read -r m_id m_pid m_dev m_root m_mp m_rest; do
		m_post=${m_rest#* - }
		set -f
		set -- $m_post
		set +f
		m_fs=$1
		m_src=$2
		keep=0
		case $m_mp in
		/|/boot|/boot/efi|/usr|/usr/local|/var|/etc|/opt|/tmp|/var/tmp) keep=1 ;;
		esac
		case $m_src in /dev/*) keep=1 ;; esac
		[ "$keep" = 1 ] || continue
		p_n=$((p_n + 1))
		[ "$p_n" -le 128 ] || break
		fact mount "$m_dev" "$m_mp" "$m_fs" "$m_src"
	done </proc/self/mountinfo
else
	fact source mountinfo absent
fi

# --- free space: df -Pk on the nearest existing parent ------------------------
# df LABEL ASKED CHECKED AVAIL_KB TOTAL_KB MOUNTPOINT
space() {
	sp_dir=$2
	while [ -n "$sp_dir" ] && [ ! -d "$sp_dir" ]; do
		case $sp_dir in */*) sp_dir=${sp_dir%/*} ;; *) sp_dir= ;; esac
	done
	[ -n "$sp_dir" ] || sp_dir=/
	# the last line, as `| tail -n 1` would, without its two processes
	sp_out=$(df -Pk "$sp_dir" 2>/dev/null)
	sp_out=${sp_out##*"$NL"}
	if [ -z "$sp_out" ]; then
		fact source "df:$1" absent
		return
	fi
	set -f
	set -- "$1" "$2" $sp_out
	set +f
	# $3 filesystem, $4 size, $5 used, $6 avail, $7 capacity, $8 mountpoint
	fact df "$1" "$2" "$sp_dir" "$6" "$4" "$8"
}
space root /
space boot /boot
space staging "$STAGING"
space install "$INSTALL"

# --- device names in fstab and GRUB (95320) -----------------------------------
# line FILE LINENO TEXT
p_pat='^[[:space:]]*/dev/(sd|vd|xvd|hd)[a-z]'
src fstab /etc/fstab
if [ -r /etc/fstab ]; then
	grep -n -E "$p_pat" /etc/fstab 2>/dev/null | head -n 20 |
	while IFS=: read -r ln txt; do fact line /etc/fstab "$ln" "$txt"; done
fi
p_pat='(root|resume)=/dev/(sd|vd|xvd|hd)[a-z]'
for f in /boot/grub/grub.cfg /boot/grub2/grub.cfg /etc/default/grub; do
	src "grub:$f" "$f"
	[ -r "$f" ] || continue
	grep -n -E "$p_pat" "$f" 2>/dev/null | head -n 20 |
	while IFS=: read -r ln txt; do fact line "$f" "$ln" "$txt"; done
done

# --- firmware -------------------------------------------------------------------
if [ -d /sys/firmware/efi ]; then
	fact efi 1
	sb=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0cf1c3b3f5b
	if [ -r "$sb" ] && have od; then
		# 4 bytes of attributes, then the value byte
		sbv=$(od -An -tu1 "$sb" 2>/dev/null | tr -s ' \n' '  ')
		set -- $sbv
		eval "sbl=\${$#}"
		case $sbl in 1) fact secureboot 1 ;; 0) fact secureboot 0 ;; *) fact secureboot unknown ;; esac
	else
		fact secureboot unknown
	fi
else
	fact efi 0
	fact secureboot 0
fi

# --- pending restart --------------------------------------------------------------
if [ -e /var/run/reboot-required ] || [ -e /run/reboot-required ]; then
	fact reboot 1 /var/run/reboot-required
elif have needs-restarting; then
	if have timeout; then
		timeout 20 needs-restarting -r </dev/null >/dev/null 2>&1
	else
		needs-restarting -r </dev/null >/dev/null 2>&1
	fi
	case $? in
	0) fact reboot 0 "needs-restarting -r" ;;
	1) fact reboot 1 "needs-restarting -r" ;;
	*) fact reboot unknown "needs-restarting -r" ;;
	esac
else
	fact reboot 0 /var/run/reboot-required
fi

# --- memory -------------------------------------------------------------------
if [ -r /proc/meminfo ]; then
	m_total=
	m_avail=
	m_free=0
	m_cache=0
	m_buf=0
	while read -r k v u; do
		case $k in
		MemTotal:) m_total=$v ;;
		MemAvailable:) m_avail=$v ;;
		MemFree:) m_free=$v ;;
		Cached:) m_cache=$v ;;
		Buffers:) m_buf=$v ;;
		esac
	done </proc/meminfo
	if [ -n "$m_avail" ]; then
		fact mem "${m_total:-0}" "$m_avail" MemAvailable
	else
		# kernels before 3.14 have no MemAvailable: estimate it
		fact mem "${m_total:-0}" "$((m_free + m_cache + m_buf))" estimate
	fi
else
	fact source meminfo absent
fi

# --- staging folder: the upload runs as the login user -------------------------
# staging EXISTS WRITABLE
p_se=0; p_sw=0
[ -d "$STAGING" ] && p_se=1
[ "$p_se" = 1 ] && [ -w "$STAGING" ] && [ -x "$STAGING" ] && p_sw=1
fact staging "$p_se" "$p_sw"

# --- installed agent ------------------------------------------------------------
if [ -r "$INSTALL/VERSION" ]; then
	fact installed_version "$(head -n 1 "$INSTALL/VERSION" 2>/dev/null)"
fi

printf 'end\n'
