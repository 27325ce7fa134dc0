#!/usr/bin/env bash
# A fleet in one `agentpush check` call: a healthy host next to hosts that
# each carry one condition made for real in their own mount namespace:
#   nosftp  sshd_config without its Subsystem line          800106
#   oldos   /etc/os-release of Ubuntu 13.04                 95213
#   full    a 20 MB tmpfs on the staging dir /var/tmp       95524
#   split   a loop disk on /boot; grub.cfg and fstab naming /dev/sda1
#                                                           95309 + 95320
#   reboot  /var/run/reboot-required                        95224
#   lowmem  a fixture /proc/meminfo (bind mount)            95572
# Per-target statuses, ids, evidence, the summary and exit status 1 are
# asserted in JSON and text; then a run of only ok/warning hosts exits 0.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init linux_host_facts
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
R=$HARNESS_RUN/lt; mkdir -p "$R"

hosts=(healthy nosftp oldos full split reboot lowmem)
for h in "${hosts[@]}"; do lt_host "$h"; done

harness_sshd_config_del nosftp Subsystem
harness_host_set_file oldos /etc/os-release 'NAME="Ubuntu"
VERSION="13.04, Raring Ringtail"
ID=ubuntu
ID_LIKE=debian
VERSION_ID="13.04"
PRETTY_NAME="Ubuntu 13.04"'
harness_host_tmpfs full /var/tmp 20m
harness_host_loopdisk split /boot 16 >/dev/null
harness_host_tmpfs split /boot/grub 1m
harness_host_set_file split /boot/grub/grub.cfg 'menuentry "Debian" {
	linux /vmlinuz-6.1 root=/dev/sda1 ro quiet
}'
printf '/dev/sda1 / ext4 errors=remount-ro 0 1\nUUID=0a1b2c3d /home ext4 defaults 0 2\n' >"$R/fstab"
harness_host_bind split "$R/fstab" /etc/fstab
# /run is on the real root file system here: the flag goes to a tmpfs on
# /var that holds a real /var/run directory (the probe looks there first)
harness_host_tmpfs reboot /var 1g   # a cap, not an allocation: >= 200 MB free
harness_exec reboot mkdir -p /var/run /var/tmp
harness_exec reboot chmod 1777 /var/tmp
harness_host_set_file reboot /var/run/reboot-required '*** System restart required ***'
printf 'MemTotal:         524288 kB\nMemFree:           40000 kB\nMemAvailable:     100000 kB\nBuffers:            1000 kB\nCached:            20000 kB\n' >"$R/meminfo"
harness_host_bind lowmem "$R/meminfo" /proc/meminfo

declare -A A
targets=()
for h in "${hosts[@]}"; do A[$h]=$(harness_host_addr "$h"); targets+=("root@${A[$h]}"); done
kh=$R/kh; harness_known_hosts "$kh" "${hosts[@]}"
# one root password file per run: give every host the healthy host's password
harness_password_file healthy root "$R/pw"
for h in "${hosts[@]}"; do
	[ "$h" = healthy ] && continue
	lt_root_password "$h" "$R/pw"
done
opts=(--known-hosts "$kh" --password-file "$R/pw")

lt_check "$R/fleet" "${opts[@]}" --format json "${targets[@]}"
lt_expect "fleet: exit 1" 1 "$(lt_rc "$R/fleet")"
lt_expect "fleet: summary ok/warning/failed" "1 0 6" \
	"$(lt_json "$R/fleet" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])")"
lt_expect "fleet: every target once, in order" "${targets[*]}" "$(lt_json "$R/fleet" "' '.join(x['target'] for x in d['targets'])")"
want() {   # HOST STATUS "IDS"
	lt_expect "$1: status $2" "$2" "$(lt_json "$R/fleet" "t('${A[$1]}')['status']")"
	lt_expect "$1: ErrorIDs [$3]" "$3" "$(lt_json "$R/fleet" "ids('${A[$1]}')")"
}
ev() {     # HOST ID ERE
	local e
	e=$(lt_json "$R/fleet" "err('${A[$1]}', $2).get('evidence', '')")
	lt_expect_match "$1: $2 evidence" "$3" "$e"
	echo "   $1 $2 evidence: $e"
}
sev() { lt_expect "$1: $2 severity $3" "$3" "$(lt_json "$R/fleet" "err('${A[$1]}', $2).get('severity')")"; }
want healthy ok ""
want nosftp failed 800106
ev nosftp 800106 "sftp"
want oldos failed 95213
ev oldos 95213 "ubuntu 13\.04.*PRETTY_NAME=\"Ubuntu 13\.04\""
want full failed 95524
ev full 95524 "^/var/tmp: [0-9]+ KB free, 102400 KB needed$"
kb=$(lt_json "$R/fleet" "err('${A[full]}', 95524)['evidence'].split(': ')[1].split(' ')[0]")
lt_expect "full: free KB is the 20 MB tmpfs (<= 20480)" yes "$([ "$kb" -le 20480 ] && [ "$kb" -gt 0 ] && echo yes || echo "no: $kb")"
want split failed "95309 95320"
ev split 95309 "^/boot: /dev/loop[0-9]+ \(ext4\) on disk loop[0-9]+; /: .* on disk "
sev split 95309 error     # check has no package: no capability, so an error
ev split 95320 "/etc/fstab:1: /dev/sda1 / ext4 errors=remount-ro 0 1"
ev split 95320 "/boot/grub/grub.cfg:2: +linux /vmlinuz-6.1 root=/dev/sda1 ro quiet"
lt_expect "split: the UUID fstab line is not quoted" no \
	"$(lt_json "$R/fleet" "'UUID=' in err('${A[split]}', 95320)['evidence'] and 'yes' or 'no'")"
want reboot failed 95224
ev reboot 95224 "^/var/run/reboot-required exists$"
want lowmem failed 95572
ev lowmem 95572 "^MemAvailable 100000 KB, 262144 KB needed \(MemTotal 524288 KB\)$"

lt_check "$R/fleett" "${opts[@]}" "${targets[@]}"
lt_expect "fleet text: exit 1" 1 "$(lt_rc "$R/fleett")"
txt=$(cat "$R/fleett.out")
lt_expect_match "fleet text: healthy OK" "^OK +root@${A[healthy]} *$" "$txt"
for p in "nosftp 800106" "oldos 95213" "full 95524" "split 95309" "reboot 95224" "lowmem 95572"; do
	set -- $p
	lt_expect_match "fleet text: $1 FAILED $2" "^FAILED +root@${A[$1]} +$2 " "$txt"
done
lt_expect_match "fleet text: 95320 listed under split" "^ +95320 " "$txt"
lt_expect_match "fleet text: free KB shown" "evidence: /var/tmp: [0-9]+ KB free, 102400 KB needed" "$txt"
lt_expect_match "fleet text: summary" "^7 targets: 1 ok, 0 warning, 6 failed$" "$txt"

# --- only ok and warning hosts: exit 0.  A check without a package has no
# warning-only rule a host can trip except an unreadable mount table: "nomnt"
# hides /proc (a tmpfs over it, in its own mount namespace).
lt_host nomnt
lt_root_password nomnt "$R/pw"
harness_host_tmpfs nomnt /proc 1m
harness_known_hosts "$kh" healthy nomnt
n=$(harness_host_addr nomnt)
lt_check "$R/good" "${opts[@]}" --format json "root@${A[healthy]}" "root@$n"
lt_expect "ok + warning: exit 0" 0 "$(lt_rc "$R/good")"
lt_expect "ok + warning: summary" "1 1 0" \
	"$(lt_json "$R/good" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])")"
lt_expect "nomnt: warning 800203" "warning 800203 warning" \
	"$(lt_json "$R/good" "t('$n')['status'] + ' ' + ids('$n') + ' ' + err('$n', 800203)['severity']")"
echo "   nomnt evidence: $(lt_json "$R/good" "err('$n', 800203)['evidence']")"
lt_check "$R/goodt" "${opts[@]}" "root@${A[healthy]}" "root@$n"
lt_expect "ok + warning text: exit 0" 0 "$(lt_rc "$R/goodt")"
lt_expect_match "ok + warning text: WARNING line" "^WARNING +root@$n +800203 " "$(cat "$R/goodt.out")"
lt_expect_match "ok + warning text: summary" "^2 targets: 1 ok, 1 warning, 0 failed$" "$(cat "$R/goodt.out")"
lt_done
