#!/usr/bin/env bash
# `agentpush check` and the account it logs in with (95108), on one real sshd
# host: a wrong password; an account that is neither root nor a sudoer; a key
# + passwordless sudo (ok); sudo that asks for a password, given on sudo's
# stdin (ok, and sudo's own log never sees the password); then password
# authentication turned off on the server (the evidence names
# PasswordAuthentication).
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init linux_credentials
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"

lt_host cred
R=$HARNESS_RUN/lt; mkdir -p "$R"
a=$(harness_host_addr cred)
d=$(harness_host_dir cred)
kh=$R/kh; harness_known_hosts "$kh" cred
harness_host_add_user cred alice - nopasswd
harness_host_add_user cred bob - password
harness_host_add_user cred carol - none
# alice logs in with a key only
ssh-keygen -q -t ed25519 -N '' -C alice-test -f "$R/alice_key" </dev/null >/dev/null
mkdir -p "$d/home/alice/.ssh"
cp "$R/alice_key.pub" "$d/home/alice/.ssh/authorized_keys"
chown -R "$(harness_exec cred id -u alice):$(harness_exec cred id -g alice)" "$d/home/alice/.ssh"
# sudo logs every command it runs to a file on a tmpfs private to the host
harness_host_tmpfs cred /tmp 8m
printf 'Defaults logfile=/tmp/sudo.log\n' >"$d/etc/sudoers.d/00-log"
chmod 0440 "$d/etc/sudoers.d/00-log"
opts=(--known-hosts "$kh")

# summary "ok warning failed" of a JSON run
summ() { lt_json "$1" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])"; }

# --- wrong password for root: 95108 from the server's refusal
( umask 077; openssl rand -hex 16 >"$R/wrong" )
lt_check "$R/wp" "${opts[@]}" --password-file "$R/wrong" --format json "root@$a"
lt_expect "wrong password: exit 1" 1 "$(lt_rc "$R/wp")"
lt_expect "wrong password: 95108" 95108 "$(lt_json "$R/wp" "ids('$a')")"
lt_expect_match "wrong password: evidence says the password was refused" "password rejected for root@$a" \
	"$(lt_json "$R/wp" "err('$a', 95108)['evidence']")"
echo "   evidence: $(lt_json "$R/wp" "err('$a', 95108)['evidence']")"
lt_expect "wrong password: sshd saw one failed password" 1 "$(grep -c 'Failed password for root' "$d/log/sshd.log" || true)"
lt_check "$R/wpt" "${opts[@]}" --password-file "$R/wrong" "root@$a"
lt_expect_match "wrong password: text" "^FAILED +root@$a +95108 " "$(cat "$R/wpt.out")"

# --- carol: right password, neither root nor in sudoers
harness_password_file cred carol "$R/pw.carol"
lt_check "$R/nr" "${opts[@]}" --password-file "$R/pw.carol" --format json "carol@$a"
lt_expect "no sudo: exit 1" 1 "$(lt_rc "$R/nr")"
lt_expect "no sudo: 95108" 95108 "$(lt_json "$R/nr" "ids('$a')")"
lt_expect_match "no sudo: evidence names the account and sudo" "carol.*not root.*sudo" \
	"$(lt_json "$R/nr" "err('$a', 95108)['evidence']")"
echo "   evidence: $(lt_json "$R/nr" "err('$a', 95108)['evidence']")"
lt_check "$R/nrt" "${opts[@]}" --password-file "$R/pw.carol" "carol@$a"
lt_expect_match "no sudo: text" "^FAILED +carol@$a +95108 " "$(cat "$R/nrt.out")"
# carol with her key-less, password-less login: nothing to offer either
lt_check "$R/nk" "${opts[@]}" --format json "carol@$a"
lt_expect "no credential at all: 95108" 95108 "$(lt_json "$R/nk" "ids('$a')")"

# --- alice: key + passwordless sudo
lt_check "$R/al" "${opts[@]}" --identity "$R/alice_key" --format json "alice@$a"
lt_expect "key + sudo NOPASSWD: exit 0" 0 "$(lt_rc "$R/al")"
lt_expect "key + sudo NOPASSWD: ok, no finding" "ok " "$(lt_json "$R/al" "t('$a')['status'] + ' ' + ids('$a')")"
lt_expect "key + sudo NOPASSWD: summary" "1 0 0" "$(summ "$R/al")"
lt_expect_match "key + sudo NOPASSWD: sshd accepted the key" "Accepted publickey for alice" "$(cat "$d/log/sshd.log")"
lt_check "$R/alt" "${opts[@]}" --identity "$R/alice_key" --user alice "$a"
lt_expect_match "key + sudo NOPASSWD (--user alice): text" "^OK +$a" "$(cat "$R/alt.out")"
lt_expect "--user alice logged in as alice" 2 "$(grep -c 'Accepted publickey for alice' "$d/log/sshd.log" || true)"

# --- bob: password login, sudo asks for the password (sudo -S, stdin)
harness_password_file cred bob "$R/pw.bob"
lt_check "$R/bo" "${opts[@]}" --password-file "$R/pw.bob" --format json "bob@$a"
lt_expect "sudo with password: exit 0" 0 "$(lt_rc "$R/bo")"
lt_expect "sudo with password: ok, no finding" "ok " "$(lt_json "$R/bo" "t('$a')['status'] + ' ' + ids('$a')")"
harness_exec cred cat /tmp/sudo.log >"$R/sudo.log" 2>/dev/null || : >"$R/sudo.log"
lt_expect_match "sudo with password: sudo ran a command for bob" "bob .*COMMAND=" "$(tr '\n' ' ' <"$R/sudo.log")"
lt_expect "sudo with password: no wrong-password attempt in sudo's log" 0 "$(grep -c 'incorrect password' "$R/sudo.log" || true)"
lt_expect "sudo with password: the password is not in sudo's log (not on a command line)" absent \
	"$(grep -q -F -f "$R/pw.bob" "$R/sudo.log" && echo present || echo absent)"
lt_expect "sudo with password: the password is not in the output" absent \
	"$(grep -q -F -f "$R/pw.bob" "$R/bo.out" "$R/bo.err" && echo present || echo absent)"

# --- password authentication turned off on the server
harness_sshd_config_set cred PasswordAuthentication no
harness_password_file cred root "$R/pw.root"
lt_check "$R/pa" "${opts[@]}" --password-file "$R/pw.root" --format json "root@$a"
lt_expect "PasswordAuthentication no: exit 1" 1 "$(lt_rc "$R/pa")"
lt_expect "PasswordAuthentication no: 95108" 95108 "$(lt_json "$R/pa" "ids('$a')")"
lt_expect_match "PasswordAuthentication no: evidence or remediation names it" "PasswordAuthentication" \
	"$(lt_json "$R/pa" "err('$a', 95108)['evidence'] + ' ' + err('$a', 95108)['remediation']")"
echo "   evidence: $(lt_json "$R/pa" "err('$a', 95108)['evidence']")"
lt_check "$R/pat" "${opts[@]}" --password-file "$R/pw.root" "root@$a"
lt_expect_match "PasswordAuthentication no: text" "PasswordAuthentication" "$(cat "$R/pat.out")"
lt_done
