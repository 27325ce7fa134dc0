# shellcheck shell=bash
# tests/integration/fix/lib.sh: helpers for the `agentpush fix` tests.
# Source after tests/harness/harness.sh, harness_init and
# tests/integration/linux/lib.sh (lt_host, lt_expect, lt_root_password...).
#
#   fx_run OUT [STDIN] -- ARGS...   run `agentpush ARGS...` with lt's
#                          isolated HOME/XDG_STATE_HOME; stdin from STDIN
#                          (default /dev/null: no terminal, so no consent);
#                          OUT.out, OUT.err, OUT.rc
#   fx_sha HOST            sha256 of HOST's sshd_config
#   fx_job OUT             the job number of the last "check (job N):" /
#                          "check after fix (job N):" line of OUT.out

fx_run() {
	local out=$1 in=/dev/null rc=0
	shift
	if [ "$1" != -- ]; then in=$1; shift; fi
	shift
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
		"$LT_AP" "$@" >"$out.out" 2>"$out.err" <"$in" || rc=$?
	echo "$rc" >"$out.rc"
}

fx_sha() { sha256sum <"$(harness_host_dir "$1")/etc/ssh/sshd_config" | cut -d' ' -f1; }

fx_job() { sed -n 's/^check (job \([0-9]*\)):$/\1/p' "$1.out" | tail -n1; }
fx_job_after() { sed -n 's/^check after fix (job \([0-9]*\)):$/\1/p' "$1.out" | tail -n1; }

# fx_answers HOST: sshd on HOST completes a key exchange
fx_answers() {
	ssh-keyscan -T 3 -t ed25519 "$(harness_host_addr "$1")" 2>/dev/null | grep -q . && echo yes || echo no
}

# fx_events OUT JOB: the job's events as "WHAT DETAIL" lines into OUT.out
# (show --format json: the text form cuts long details)
fx_events() {
	fx_run "$1.raw" -- show --events --format json "$2"
	python3 -c 'import json,sys
for e in json.load(open(sys.argv[1])).get("events", []):
    print(e["what"], e["detail"])' "$1.raw.out" >"$1.out"
}
