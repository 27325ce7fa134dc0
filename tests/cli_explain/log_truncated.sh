#!/bin/sh
# explain --log on files cut short: a log cut mid-line, a JSON file cut
# inside a record, a UTF-16 log cut inside a character.  What came before
# is shown; the cut is named by its line; exit 3.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

f=$LOGS/ua_install_cut.log
log "$f"
want_rc 3 ua_install_cut.log
has "$f: Linux install log, UTF-8, 7 lines"
has "$f: line 7 is cut off: the file ends mid-record"
log "$f" --format json
jwant '[(u["reason"], u["line"]) for u in j["unread"]]' "[('cut_off', 7)]" \
	'j["complete"]' False

f=$LOGS/InstallerErrors_cut.json
log "$f"
want_rc 3 InstallerErrors_cut.json
has "$f:5: 95525 The account is not root and cannot become root"
has "$f: line 12 is cut off: the file ends mid-record"
hasnt 95524

# the Linux log cut after an ErrorID line but inside the next one
head -c 700 "$LOGS/ua_install.log" >"$tmp/cut.log"
log "$tmp/cut.log"
want_rc 3 "cut ua_install.log"
has "$tmp/cut.log:8: 95524 Not enough free disk space"
has "$tmp/cut.log: line 9 is cut off: the file ends mid-record"

# UTF-16 cut inside a character (an odd number of bytes)
size=$(wc -c <"$LOGS/windows_vss.log")
head -c $((size - 1)) "$LOGS/windows_vss.log" >"$tmp/odd.log"
log "$tmp/odd.log"
want_rc 3 "odd UTF-16"
has "$tmp/odd.log:7: 800301 VSS provider: blocked, most often by an antivirus"
has "$tmp/odd.log: line 10 is cut off: the file ends mid-record"

# a line too long to search whole: its start is searched, and it is said
python3 -c 'import sys; sys.stdout.write("UnifiedAgent.exe /Silent\nErrorID: 95224 " + "x" * 20000 + " ErrorID: 95108\n")' >"$tmp/long.log"
log "$tmp/long.log"
want_rc 3 "long line"
has "$tmp/long.log:2: 95224 A restart is pending on the host"
hasnt 95108
has "$tmp/long.log: 1 line is longer than 8192 bytes (line 2): only its start was searched"
log "$tmp/long.log" --format json
jwant 'j["errors"][0]["line_text_cut"]' True \
	'len(j["errors"][0]["line_text"].encode())' 400
echo "log_truncated: ok"
