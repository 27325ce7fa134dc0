# shellcheck shell=bash
# tests/integration/engine/lib.sh: helpers for the fleet engine and
# `agentpush resume` integration tests (docs/engine-tests.md).  Source after
# harness_init; it sources tests/integration/linux/lib.sh for lt_expect,
# lt_expect_match, lt_json, lt_rc, lt_done and the isolated HOME and
# XDG_STATE_HOME of agentpush.
#
#   et_run OUT CMD ARGS...   run `agentpush CMD ARGS...`; stdout, stderr and
#                            exit status in OUT.out, OUT.err, OUT.rc
#   et_known_hosts F H A...  append known_hosts lines for addresses A... that
#                            all lead to sshd host H (its real host keys)

source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"

et_run() {
	local out=$1 rc=0
	shift
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
		"$LT_AP" "$@" >"$out.out" 2>"$out.err" </dev/null || rc=$?
	echo "$rc" >"$out.rc"
}

et_known_hosts() {
	local f=$1 h=$2 d a k
	shift 2
	d=$(harness_host_dir "$h")
	for a in "$@"; do
		for k in "$d"/etc/ssh/ssh_host_*_key.pub; do
			printf '%s %s\n' "$a" "$(cut -d' ' -f1,2 "$k")" >>"$f"
		done
	done
}
