#!/bin/sh
# explain --log on what is not text: an executable (reading stops at once,
# its first bytes are named), random bytes, and a log whose end is NUL bytes
# as a crash leaves it (the text is read, the binary lines are counted).
# Never a crash, never a control character on the terminal.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

head -c 65536 "$EXPLAIN" >"$tmp/exe"
log "$tmp/exe"
want_rc 3 executable
has "$tmp/exe: not text (first bytes: 7f 45 4c 46 $(od -An -tx1 -j4 -N12 "$tmp/exe" | tr -s ' ' | sed 's/^ //;s/ $//')): nothing was read"
log "$tmp/exe" --format json
jwant 'j["kind"]' binary \
	'j["lines"]' 0

# random bytes, several seeds: any exit status but a crash, output clean
for seed in 1 2 3 4 5; do
	python3 -c "import random,sys; sys.stdout.buffer.write(random.Random($seed).randbytes(200000))" >"$tmp/rand"
	log "$tmp/rand"
	clean_out
	log "$tmp/rand" --format json
	jq_py 'j["kind"]' >/dev/null
done

# text, then NUL bytes
{ cat "$LOGS/ua_install.log"; head -c 3000 /dev/zero; printf '\n'; head -c 100 /dev/zero; } >"$tmp/crash.log"
log "$tmp/crash.log"
want_rc 3 "NUL-filled end"
has "$tmp/crash.log:8: 95524 Not enough free disk space"
has "$tmp/crash.log: 2 lines hold binary data (the first is line 13): they were not searched"
log "$tmp/crash.log" --format json
jwant '[(u["reason"], u["line"]) for u in j["unread"]]' "[('cut_off', 14), ('binary_lines', 13)]"
echo "log_binary: ok"
