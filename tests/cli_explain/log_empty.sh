#!/bin/sh
# explain --log on an empty file, a file of blank lines and an empty
# standard input: "the file is empty", exit 3; and the usage errors of --log
# (exit 2, one line on stderr, nothing on stdout).
set -eu
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

f=$LOGS/empty.log
log "$f"
want_rc 3 empty.log
has "$f: no ErrorID found"
has "$f: the file is empty: there is nothing to read"
log "$f" --format json
jwant 'j["kind"]' empty \
	'[u["reason"] for u in j["unread"]]' "['empty']"
printf '\n \r\n\t\n' >"$tmp/blank.log"
log "$tmp/blank.log"
want_rc 3 blank.log
has "$tmp/blank.log: the file is empty: there is nothing to read"
log - </dev/null
want_rc 3 "empty stdin"
has "-: the file is empty: there is nothing to read"

bad_usage "agentpush explain: cannot open $tmp/none.log: No such file or directory" --log "$tmp/none.log"
bad_usage "agentpush explain: cannot read $tmp: Is a directory" --log "$tmp"
bad_usage "agentpush explain: give --log FILE alone, without --list or an ErrorID" --log "$f" --list
bad_usage "agentpush explain: give --log FILE alone, without --list or an ErrorID" --log "$f" 95108
bad_usage "" --log
bad_usage "" --log "$f" --format xml
echo "log_empty: ok"
