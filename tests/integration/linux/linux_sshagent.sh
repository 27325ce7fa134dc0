#!/usr/bin/env bash
# `agentpush check` with the login material a Linux admin already has: a key
# held by ssh-agent (no --identity, no password), and ~/.ssh/config naming
# the host by an alias with its HostName, User, Port and IdentityFile.
# libssh reads ~/.ssh/config from the account's home as getpwuid() says, so
# the run happens in a private mount namespace with a tmpfs over that
# folder: the real machine's ~/.ssh is never read or written.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init linux_sshagent
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"

lt_host agt
R=$HARNESS_RUN/lt; mkdir -p "$R"
a=$(harness_host_addr agt)
d=$(harness_host_dir agt)
kh=$R/kh; harness_known_hosts "$kh" agt
harness_host_add_user agt dora - nopasswd
ssh-keygen -q -t ed25519 -N '' -C dora-test -f "$R/dora_key" </dev/null >/dev/null
mkdir -p "$d/home/dora/.ssh"
cp "$R/dora_key.pub" "$d/home/dora/.ssh/authorized_keys"
chown -R "$(harness_exec agt id -u dora):$(harness_exec agt id -g dora)" "$d/home/dora/.ssh"

home=$(getent passwd "$(id -un)" | cut -d: -f6)
# in_private_home CMD...: run CMD with a fresh tmpfs over $home/.ssh.
in_private_home() {
	unshare -m --propagation private sh -c '
		mkdir -p "$1/.ssh" && mount -t tmpfs -o size=1m,mode=0700 apt-ssh "$1/.ssh" || exit 99
		shift; exec "$@"' sh "$home" "$@"
}

# 1. ssh-agent: the key is in the agent only; agentpush is given no key file
#    and no password, and must log in with the agent's key.
eval "$(ssh-agent -s)" >/dev/null
trap 'ssh-agent -k >/dev/null 2>&1 || true; harness_teardown' EXIT
ssh-add -q "$R/dora_key" </dev/null
in_private_home env HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" SSH_AUTH_SOCK="$SSH_AUTH_SOCK" \
	"$LT_AP" check --known-hosts "$kh" --format json "dora@$a" >"$R/ag.out" 2>"$R/ag.err" </dev/null \
	&& echo 0 >"$R/ag.rc" || echo $? >"$R/ag.rc"
lt_expect "ssh-agent: exit 0" 0 "$(lt_rc "$R/ag")"
lt_expect "ssh-agent: ok" ok "$(lt_json "$R/ag" "t('$a')['status']")"
lt_expect_match "ssh-agent: sshd accepted the agent's key" "Accepted publickey for dora" "$(cat "$d/log/sshd.log")"
# without the agent, the same call has nothing to log in with: 95108
in_private_home env HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" SSH_AUTH_SOCK= \
	"$LT_AP" check --known-hosts "$kh" --format json "dora@$a" >"$R/na.out" 2>"$R/na.err" </dev/null \
	&& echo 0 >"$R/na.rc" || echo $? >"$R/na.rc"
lt_expect "no agent, no key, no password: 95108" 95108 "$(lt_json "$R/na" "ids('$a')")"
ssh-agent -k >/dev/null 2>&1 || true
unset SSH_AUTH_SOCK SSH_AGENT_PID

# 2. ~/.ssh/config: the target is an alias; HostName, User, Port and
#    IdentityFile come from the config, and the host key is checked against
#    the real address.
cat >"$R/config" <<CFG
Host web-alias
	HostName $a
	User dora
	Port 22
	IdentityFile $R/dora_key
CFG
in_private_home sh -c 'cp "$1" "$2/.ssh/config" && chmod 600 "$2/.ssh/config" && shift 2 && exec "$@"' sh \
	"$R/config" "$home" env HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" SSH_AUTH_SOCK= \
	"$LT_AP" check --known-hosts "$kh" --format json web-alias >"$R/cf.out" 2>"$R/cf.err" </dev/null \
	&& echo 0 >"$R/cf.rc" || echo $? >"$R/cf.rc"
lt_expect "~/.ssh/config alias: exit 0" 0 "$(lt_rc "$R/cf")"
lt_expect "~/.ssh/config alias: ok" ok "$(lt_json "$R/cf" "d['targets'][0]['status']")"
lt_expect "~/.ssh/config alias: dora logged in twice now" 2 "$(grep -c 'Accepted publickey for dora' "$d/log/sshd.log" || true)"
lt_expect "the real ~/.ssh was not touched" no "$([ -e "$home/.ssh/config" ] && grep -q web-alias "$home/.ssh/config" && echo yes || echo no)"
lt_done
