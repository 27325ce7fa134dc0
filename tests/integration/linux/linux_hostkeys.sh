#!/usr/bin/env bash
# Host keys: a host whose key changed is refused (800102) under strict and
# under accept-new; an unknown host is refused under strict (800103) and
# recorded under accept-new (then a strict run with that file passes).
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init linux_hostkeys
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"
R=$HARNESS_RUN/lt; mkdir -p "$R"

lt_host keys
a=$(harness_host_addr keys)
harness_password_file keys root "$R/pw"
opts=(--password-file "$R/pw")

# known_hosts naming other keys (of every type the host offers) for its address
for t in ed25519 ecdsa rsa; do
	ssh-keygen -q -t "$t" -N '' -f "$R/other_$t" </dev/null >/dev/null
	printf '%s %s\n' "$a" "$(cut -d' ' -f1,2 "$R/other_$t.pub")" >>"$R/kh.changed"
done
cp "$R/kh.changed" "$R/kh.changed.orig"
for pol in strict accept-new; do
	lt_check "$R/chg.$pol" --known-hosts "$R/kh.changed" --host-key-policy "$pol" "${opts[@]}" --format json "root@$a"
	lt_expect "changed key, $pol: exit 1" 1 "$(lt_rc "$R/chg.$pol")"
	lt_expect "changed key, $pol: 800102" 800102 "$(lt_json "$R/chg.$pol" "ids('$a')")"
	lt_expect_match "changed key, $pol: evidence shows the fingerprint" "SHA256:" "$(lt_json "$R/chg.$pol" "err('$a', 800102)['evidence']")"
	echo "   evidence: $(lt_json "$R/chg.$pol" "err('$a', 800102)['evidence']")"
	lt_expect "changed key, $pol: known_hosts untouched" same "$(cmp -s "$R/kh.changed" "$R/kh.changed.orig" && echo same || echo changed)"
	lt_check "$R/chgt.$pol" --known-hosts "$R/kh.changed" --host-key-policy "$pol" "${opts[@]}" "root@$a"
	lt_expect_match "changed key, $pol: text" "^FAILED +root@$a +800102 " "$(cat "$R/chgt.$pol.out")"
done
lt_expect "changed key: no password was offered" 0 "$(grep -c -E 'Accepted|Failed' "$(harness_host_dir keys)/log/sshd.log" || true)"

# unknown host
: >"$R/kh.empty"
lt_check "$R/unk" --known-hosts "$R/kh.empty" --host-key-policy strict "${opts[@]}" --format json "root@$a"
lt_expect "unknown, strict: exit 1" 1 "$(lt_rc "$R/unk")"
lt_expect "unknown, strict: 800103" 800103 "$(lt_json "$R/unk" "ids('$a')")"
echo "   evidence: $(lt_json "$R/unk" "err('$a', 800103)['evidence']")"
lt_expect "unknown, strict: nothing recorded" 0 "$(wc -c <"$R/kh.empty")"
lt_check "$R/unkt" --known-hosts "$R/kh.empty" "${opts[@]}" "root@$a"
lt_expect_match "unknown, strict (the default): text" "^FAILED +root@$a +800103 " "$(cat "$R/unkt.out")"

lt_check "$R/new" --known-hosts "$R/kh.empty" --host-key-policy accept-new "${opts[@]}" --format json "root@$a"
lt_expect "unknown, accept-new: exit 0, ok" "0 ok" "$(lt_rc "$R/new") $(lt_json "$R/new" "t('$a')['status']")"
rec=$(awk -v a="$a" '$1 == a || $1 ~ "^\\|1\\|" { print $2, $3 }' "$R/kh.empty" | head -n 1)
real=$(for k in "$(harness_host_dir keys)"/etc/ssh/ssh_host_*_key.pub; do cut -d' ' -f1,2 "$k"; done)
lt_expect_match "accept-new recorded one of the host's real keys" "^[a-z0-9-]+ [A-Za-z0-9+/=]+$" "$rec"
lt_expect "the recorded key is the host's" yes "$(printf '%s\n' "$real" | grep -q -x -F -- "$rec" && echo yes || echo no)"
lt_check "$R/again" --known-hosts "$R/kh.empty" --host-key-policy strict "${opts[@]}" --format json "root@$a"
lt_expect "strict run with the recorded key: ok" "0 ok" "$(lt_rc "$R/again") $(lt_json "$R/again" "t('$a')['status']")"
lt_done
