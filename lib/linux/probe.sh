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

# a literal TAB: $(printf '\t') would fork a subshell
T='	'
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
# One `id` gives both: "uid=N(NAME) gid=..." (no "(NAME)" when the uid
# has no name).  Every process costs ~1 ms of the host's CPU; a probe is run
# on hundreds of hosts at once (bench/).
p_id=$(id 2>/dev/null)
p_uid=${p_id#uid=}
p_uid=${p_uid%%[!0-9]*}
p_user=
case $p_id in
"uid=$p_uid("*) p_user=${p_id#*\(}; p_user=${p_user%%\)*} ;;
esac
fact id "${p_uid:--1}" "${p_user:-?}"
if [ "$p_uid" = 0 ]; then fact root 1; else fact root 0; fi
if have sudo; then
	# sudo never asks root to authenticate, so for root the answer is
	# known without running it (sudo -n costs ~6 ms of the host's CPU).
	if [ "$p_uid" = 0 ] || sudo -n true </dev/null >/dev/null 2>&1; then fact sudo 1 1
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
		first_line p_rel "$f"
		fact release "$f" "$p_rel"
	fi
done
# release and machine in one process (neither holds a space)
p_kr=
p_m=
p_un=$(uname -rm 2>/dev/null)
set -f
set -- $p_un
set +f
[ "$#" -eq 2 ] && { p_kr=$1; p_m=$2; }
fact uname "$p_kr" "$p_m"
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
# near DIR: near_v = DIR or its nearest existing parent.
near() {
	near_v=$1
	while [ -n "$near_v" ] && [ ! -d "$near_v" ]; do
		case $near_v in */*) near_v=${near_v%/*} ;; *) near_v= ;; esac
	done
	[ -n "$near_v" ] || near_v=/
}
# space_line LABEL ASKED CHECKED LINE: one df -P line as a fact.
space_line() {
	set -f
	set -- "$1" "$2" "$3" $4
	set +f
	# $4 filesystem, $5 size, $6 used, $7 avail, $8 capacity, $9 mountpoint
	fact df "$1" "$2" "$3" "$7" "$5" "$9"
}
# space LABEL ASKED: one folder on its own.
space() {
	near "$2"
	sp_out=$(df -Pk "$near_v" 2>/dev/null)
	# the last line, as `| tail -n 1` would, without its two processes
	sp_out=${sp_out##*"$NL"}
	if [ -z "$sp_out" ]; then
		fact source "df:$1" absent
		return
	fi
	space_line "$1" "$2" "$near_v" "$sp_out"
}
# The four in one df: a header, then one line per folder, in order.  Any
# other shape (a folder df could not read) falls back to one df each.
near /; sp_d1=$near_v
near /boot; sp_d2=$near_v
near "$STAGING"; sp_d3=$near_v
near "$INSTALL"; sp_d4=$near_v
sp_all=$(df -Pk "$sp_d1" "$sp_d2" "$sp_d3" "$sp_d4" 2>/dev/null) || sp_all=
case $sp_all in
*"$NL"*"$NL"*"$NL"*"$NL"*"$NL"*) sp_all= ;;  # more lines than folders
*"$NL"*"$NL"*"$NL"*"$NL"*) ;;                # a header and four lines
*) sp_all= ;;
esac
if [ -n "$sp_all" ]; then
	sp_rest=${sp_all#*"$NL"}
	sp_l1=${sp_rest%%"$NL"*}; sp_rest=${sp_rest#*"$NL"}
	sp_l2=${sp_rest%%"$NL"*}; sp_rest=${sp_rest#*"$NL"}
	sp_l3=${sp_rest%%"$NL"*}; sp_l4=${sp_rest#*"$NL"}
	space_line root / "$sp_d1" "$sp_l1"
	space_line boot /boot "$sp_d2" "$sp_l2"
	space_line staging "$STAGING" "$sp_d3" "$sp_l3"
	space_line install "$INSTALL" "$sp_d4" "$sp_l4"
else
	space root /
	space boot /boot
	space staging "$STAGING"
	space install "$INSTALL"
fi

# --- device names in fstab and GRUB (95320) -----------------------------------
# line FILE LINENO TEXT
# devlines FILE MODE: reports up to 20 lines of FILE that name a disk by its
# kernel name: MODE fstab, a line that starts (after blanks) with
# /dev/sdX, vdX, xvdX or hdX; MODE grub, one holding root= or resume= with
# such a name.  A shell loop, not grep | head: no process (a grub.cfg of a
# few hundred lines takes ~1 ms).
devlines() {
	dl_n=0
	dl_hits=0
	while IFS= read -r dl_t || [ -n "$dl_t" ]; do
		dl_n=$((dl_n + 1))
		case $2 in
		fstab)
			dl_s=${dl_t#"${dl_t%%[![:space:]]*}"}
			case $dl_s in
			/dev/sd[a-z]*|/dev/vd[a-z]*|/dev/xvd[a-z]*|/dev/hd[a-z]*) ;;
			*) continue ;;
			esac ;;
		*)
			case $dl_t in
			*root=/dev/sd[a-z]*|*root=/dev/vd[a-z]*|*root=/dev/xvd[a-z]*|*root=/dev/hd[a-z]*) ;;
			*resume=/dev/sd[a-z]*|*resume=/dev/vd[a-z]*|*resume=/dev/xvd[a-z]*|*resume=/dev/hd[a-z]*) ;;
			*) continue ;;
			esac ;;
		esac
		fact line "$1" "$dl_n" "$dl_t"
		dl_hits=$((dl_hits + 1))
		[ "$dl_hits" -lt 20 ] || break
	done <"$1"
}
src fstab /etc/fstab
[ -r /etc/fstab ] && devlines /etc/fstab fstab 2>/dev/null
for f in /boot/grub/grub.cfg /boot/grub2/grub.cfg /etc/default/grub; do
	src "grub:$f" "$f"
	[ -r "$f" ] || continue
	devlines "$f" grub 2>/dev/null
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
