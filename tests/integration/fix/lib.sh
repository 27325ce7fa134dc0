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

# fx_pty OUT ANSWER... -- ARGS...: run `agentpush ARGS...` on a terminal
# (a pty), answering each "[y/N/a] " prompt with the next ANSWER; the whole
# terminal output into OUT.out, the exit status into OUT.rc, the number of
# prompts seen into OUT.prompts
fx_pty() {
	local out=$1
	shift
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" python3 - "$LT_AP" "$out" "$@" <<-'PY'
	import os, pty, sys, time
	prog, out = sys.argv[1], sys.argv[2]
	rest = sys.argv[3:]
	cut = rest.index("--")
	answers, args = rest[:cut], rest[cut + 1:]
	pid, fd = pty.fork()
	if pid == 0:
	    os.execv(prog, [prog] + args)
	buf, prompts = b"", 0
	deadline = time.time() + 600
	while time.time() < deadline:
	    try:
	        chunk = os.read(fd, 4096)
	    except OSError:
	        break
	    if not chunk:
	        break
	    buf += chunk
	    if buf.rstrip(b" ").endswith(b"[y/N/a]"):
	        ans = answers[prompts] if prompts < len(answers) else ""
	        prompts += 1
	        os.write(fd, ans.encode() + b"\n")
	        buf += b"\n"
	_, status = os.waitpid(pid, 0)
	open(out + ".out", "wb").write(buf.replace(b"\r\n", b"\n"))
	open(out + ".rc", "w").write("%d\n" % os.waitstatus_to_exitcode(status))
	open(out + ".prompts", "w").write("%d\n" % prompts)
	open(out + ".err", "w").close()
	PY
}
