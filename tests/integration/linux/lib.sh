# shellcheck shell=bash
# tests/integration/linux/lib.sh: shared helpers for the `agentpush check`
# integration tests against real sshd test hosts (docs/linux-tests.md).
#
# Source after tests/harness/harness.sh and harness_init.  Helpers:
#   lt_host NAME           sshd host with the sandbox fixtures (a "healthy" host)
#   lt_root_password H F   root's password on H := the one in file F
#   lt_check OUT ARGS...   run `agentpush check ARGS...` with an isolated
#                          $XDG_STATE_HOME/$HOME; stdout to OUT.out, stderr to
#                          OUT.err, exit status in OUT.rc; never fails itself
#   lt_json OUT EXPR       evaluate python EXPR on the JSON in OUT.out (d is
#                          the document, t(HOST) a target's entry, ids(HOST)
#                          its ErrorIDs); prints the value
#   lt_expect NAME WANT GOT / lt_expect_match NAME REGEX TEXT / lt_done
#                          (counted with harness_expect / harness_summary)
#
# Passwords: only ever in 0600 files; the tests compare with grep -F -f FILE
# and never print them.

LT_AP=${AGENTPUSH:?AGENTPUSH must name the built CLI (meson test sets it)}

lt_expect() { harness_expect "$@"; }   # NAME WANT GOT

# lt_expect_match NAME ERE TEXT: like harness_expect, TEXT matching ERE.
lt_expect_match() {
	# A here-string, not a pipe: with pipefail, grep -q leaving early would
	# turn printf's SIGPIPE into a false "no match".
	if grep -q -E -- "$2" <<<"$3"; then
		HARNESS_PASSES=$((HARNESS_PASSES + 1)); echo "ok: $1"
	else
		HARNESS_FAILS=$((HARNESS_FAILS + 1)); echo "FAIL: $1: [$3] does not match /$2/"
	fi
}

lt_done() { harness_summary "$HARNESS_TEST"; }

# lt_host NAME: an sshd host with private /opt, /var/tmp, /var/log and an
# empty /lib/modules/$(uname -r) (this machine's kernel has none: every host
# would report 800206), from harness_host_sandbox_fs.
lt_host() {
	harness_host_create "$1" sshd
	harness_host_sandbox_fs "$1"
}

# lt_failed_passwords HOST...: how many "Failed password" lines the hosts'
# sshd logs hold so far (their sshd runs with LogLevel VERBOSE).
lt_failed_passwords() {
	local h n=0 c
	for h in "$@"; do
		c=$(grep -c 'Failed password' "$(harness_host_dir "$h")/log/sshd.log" || true)
		n=$((n + c))
	done
	echo "$n"
}

# agentpush's HOME and XDG_STATE_HOME: whatever it writes lands here (the
# password hygiene test searches them).
LT_HOME=$HARNESS_RUN/lt-home
LT_STATE=$HARNESS_RUN/lt-state
mkdir -p "$LT_HOME" "$LT_STATE"

# lt_root_password HOST FILE: make root's password on HOST the one in FILE
# (one --password-file serves a whole fleet).  The shadow file is rewritten
# in place: it is bind-mounted into the host, a new inode would not show.
lt_root_password() {
	local f hash new
	f="$(harness_host_dir "$1")/etc/shadow"
	hash=$(openssl passwd -6 -stdin <"$2")
	new=$(awk -F: -v OFS=: -v h="$hash" '$1 == "root" { $2 = h } { print }' "$f")
	printf '%s\n' "$new" >"$f"
	cp "$2" "$(harness_host_dir "$1")/secrets/root"
}

lt_check() {
	local out=$1 rc=0
	shift
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
		"$LT_AP" check "$@" >"$out.out" 2>"$out.err" </dev/null || rc=$?
	echo "$rc" >"$out.rc"
}

lt_rc() { cat "$1.rc"; }

lt_json() {
	python3 - "$1.out" "$2" <<-'PY'
	import json, sys
	d = json.load(open(sys.argv[1]))
	def t(h):
	    m = [x for x in d["targets"] if x["host"] == h or x["target"] == h]
	    if len(m) != 1:
	        raise SystemExit("no single target %r in the JSON" % h)
	    return m[0]
	def ids(h):
	    return " ".join(str(e["id"]) for e in t(h)["errors"])
	def err(h, i):
	    m = [e for e in t(h)["errors"] if e["id"] == i]
	    return m[0] if m else {}
	v = eval(sys.argv[2])
	print(v if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True))
	PY
}
