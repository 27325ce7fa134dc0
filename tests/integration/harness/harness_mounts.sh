#!/usr/bin/env bash
# Per-host mounts: a tmpfs /tmp, a loop-disk /boot, a bind mount and fixture
# files are seen by commands run through ssh on that host only.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init harness_mounts

harness_host_create one sshd
harness_host_create two sshd

harness_host_tmpfs one /tmp 8m
harness_ssh one root 'echo hello >/tmp/ap-mount-probe' </dev/null
harness_expect "file in one's /tmp over ssh" hello "$(harness_exec one cat /tmp/ap-mount-probe)"
# The last line is the top mount: where the machine's own /tmp is a tmpfs
# already (Debian 13, a container), findmnt lists both.
harness_expect "one's /tmp is its own 8M tmpfs" "tmpfs 8M" \
	"$(harness_ssh one root 'findmnt -n -o FSTYPE,SIZE /tmp | tail -n1' </dev/null | tr -s ' ')"
harness_expect "not on the real /tmp" no "$([ -e /tmp/ap-mount-probe ] && echo yes || echo no)"
harness_expect "not on two's /tmp" no "$(harness_ssh two root '[ -e /tmp/ap-mount-probe ] && echo yes || echo no' </dev/null)"

dev=$(harness_host_loopdisk one /boot 16)
harness_expect "loop device" yes "$([[ "$dev" == /dev/loop* ]] && echo yes || echo no)"
harness_expect "one's /boot is the loop disk" "$dev ext4" "$(harness_ssh one root 'findmnt -n -o SOURCE,FSTYPE /boot' </dev/null | tr -s ' ')"
harness_exec one mkdir -p /boot/grub
harness_host_set_file one /boot/grub/grub.cfg 'menuentry "Debian GNU/Linux" {}'
harness_expect "grub.cfg over ssh" 'menuentry "Debian GNU/Linux" {}' "$(harness_ssh one root cat /boot/grub/grub.cfg </dev/null)"
harness_expect "real /boot untouched" no "$([ -e /boot/grub/grub.cfg ] && grep -q 'Debian GNU/Linux" {}' /boot/grub/grub.cfg && echo yes || echo no)"
harness_expect "two has no such /boot" no "$(harness_ssh two root 'findmnt -n /boot >/dev/null && echo yes || echo no' </dev/null)"
# a real, small disk: filling it gives ENOSPC
harness_expect "disk full" ENOSPC "$(harness_ssh one root 'dd if=/dev/zero of=/boot/fill bs=1M count=64 2>&1 | grep -q "No space left" && echo ENOSPC' </dev/null)"

src=$(mktemp -d); echo bound >"$src/f"
harness_host_bind two "$src" /opt/agentpush-fixture
harness_expect "bind mount on two" bound "$(harness_ssh two root cat /opt/agentpush-fixture/f </dev/null)"
harness_expect "no bind on one" no "$(harness_ssh one root '[ -e /opt/agentpush-fixture/f ] && echo yes || echo no' </dev/null)"
rm -rf "$src"

harness_host_set_file two /etc/os-release 'ID=ubuntu
VERSION_ID="22.04"'
harness_expect "two's os-release" 'ID=ubuntu' "$(harness_ssh two root 'head -n1 /etc/os-release' </dev/null)"
harness_expect "one's os-release" 'ID=debian' "$(harness_ssh one root 'grep ^ID= /etc/os-release' </dev/null)"
# writing outside the host's private mounts is refused
harness_expect "set_file on the real / refused" refused "$( (harness_host_set_file one /usr/local/ap-nope x) 2>/dev/null && echo written || echo refused)"
harness_expect "nothing written" no "$([ -e /usr/local/ap-nope ] && echo yes || echo no)"

harness_summary harness_mounts
