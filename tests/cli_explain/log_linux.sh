#!/bin/sh
# explain --log on the Linux install log: ErrorID 95524 on two lines (one
# with terminal colour escapes, one with a BEL), exit code 99 -> 800407;
# and the log of an install that worked (exit 0).
set -eu
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

f=$LOGS/ua_install.log
log "$f"
want_rc 1 ua_install.log
has "$f: Linux install log, UTF-8, 12 lines"
has "$f:8: 95524 Not enough free disk space"
# the escapes are gone, the text they coloured is kept
has "    line: 2026-12-06 10:14:03 : ERROR : Free space on / is 95 MB, 2048 MB are needed. ErrorID: 95524"
has "    found 2 times, the last on line 9"
has "$f:12: 800407 The installer's prerequisite check failed"
has "    line: 2026-12-06 10:14:04 : INFO : Installer exiting with exit code 99"
has "$f: 2 ErrorIDs found"
clean_out

log "$f" --format json
want_rc 1 "ua_install.log json"
jwant 'j["kind"]' linux-log \
	'[(e["id"], e["line"], e["last_line"]) for e in j["errors"]]' '[(95524, 8, 9), (800407, 12, 12)]' \
	'j["errors"][0]["remediation"][0][:10]' "Free space" \
	'j["lines"]' 12

# from standard input, with a BEL on line 9 shown as '?'
log - <"$f"
want_rc 1 "stdin"
has "-:8: 95524 Not enough free disk space"

f=$LOGS/ua_install_ok.log
log "$f"
want_rc 0 ua_install_ok.log
has "$f: Linux install log, UTF-8, 6 lines"
has "$f: no ErrorID found"
log "$f" --format json
want_rc 0 "ua_install_ok.log json"
jwant 'j["errors"]' '[]' \
	'j["complete"]' True

# a warning only (95266: restart recommended, exit 3010 on Windows) is exit 0
printf '[x] UnifiedAgent.exe /Role "MS" /Silent\r\n[x] Installer exiting with exit code 3010\r\n' >"$tmp/w.log"
log "$tmp/w.log"
want_rc 0 "warning only"
has "$tmp/w.log:2: 95266 $(LC_ALL=C "$EXPLAIN" explain 95266 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["title"])')"
echo "log_linux: ok"
