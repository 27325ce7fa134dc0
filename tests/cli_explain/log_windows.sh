#!/bin/sh
# explain --log on the Windows installer's log: UTF-16LE with a BOM and CRLF
# (VSS provider blocked: 800301 from the VSS error and exit code 511; the
# final exit code 98 is success with warnings, no ErrorID), and UTF-8 with
# ErrorID, the older EP code and exit code 62 all meaning 95224.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

log "$LOGS/windows_vss.log"
want_rc 1 windows_vss.log
f=$LOGS/windows_vss.log
has "$f: Windows installer log, UTF-16LE, 9 lines"
has "$f:7: 800301 VSS provider: blocked, most often by an antivirus"
has "    line: [2026-12-06 10:02:33.170] [ERROR] VSS provider installation failed with error -2147023170 [0x800706BE]. Exit code: 511"
has "$f: 1 ErrorID found"
hasnt 800404
# the catalog's fix, as explain 800301 prints it
LC_ALL=C "$EXPLAIN" explain 800301 | sed -n 's/^  1\. //p' >"$tmp/step1"
grep -qF "      1. $(cat "$tmp/step1")" "$tmp/out" || fail "the fix is not the catalog's"
clean_out

log "$f" --format json
want_rc 1 "windows_vss.log json"
jwant 'j["kind"]' windows-log \
	'j["encoding"]' UTF-16LE \
	'j["complete"]' True \
	'[(e["id"], e["line"], e["count"]) for e in j["errors"]]' '[(800301, 7, 1)]' \
	'j["errors"][0]["exit_code"]' 511 \
	'j["unread"]' '[]'

# the same log as UTF-16LE without its BOM, and as UTF-16BE with one
tail -c +3 "$f" >"$tmp/nobom.log"
log "$tmp/nobom.log"
want_rc 1 "UTF-16LE without BOM"
has "$tmp/nobom.log:7: 800301 VSS provider: blocked, most often by an antivirus"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read()[2:].decode("utf-16-le"); open(sys.argv[2],"wb").write(b"\xfe\xff"+d.encode("utf-16-be"))' "$f" "$tmp/be.log"
log "$tmp/be.log" --format json
jwant 'j["encoding"]' UTF-16BE \
	'[(e["id"], e["line"]) for e in j["errors"]]' '[(800301, 7)]'

f=$LOGS/windows_restart.log
log "$f"
want_rc 1 windows_restart.log
has "$f: Windows installer log, UTF-8, 6 lines"
has "$f:4: 95224 A restart is pending on the host"
has "    found 2 times, the last on line 6"
log "$f" --format json
jwant '[(e["id"], e["line"], e["last_line"], e["count"]) for e in j["errors"]]' '[(95224, 4, 6, 2)]'
echo "log_windows: ok"
