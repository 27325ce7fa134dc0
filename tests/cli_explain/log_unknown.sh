#!/bin/sh
# explain --log on text of no format agentpush knows, and JSON of none: what
# is found is shown, the first line is quoted, exit 3.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

f=$LOGS/unknown.txt
log "$f"
want_rc 3 unknown.txt
has "$f: text of an unknown format, UTF-8, 3 lines"
has "$f:2: 95117 The host cannot be reached"
has "$f: not a log format agentpush knows (first line: 198.18.0.10 - - [06/Dec/2026:10:20:01 +0000] \"GET /status HTTP/1.1\" 200 612 \"-\" ): only ErrorID and EP codes were searched"
log "$f" --format json
want_rc 3 "unknown.txt json"
jwant 'j["kind"]' unknown \
	'j["complete"]' False \
	'[(u["reason"], "line" in u) for u in j["unread"]]' "[('unknown_format', False)]" \
	'[e["id"] for e in j["errors"]]' '[95117]'

# nothing found at all: still exit 3, the first line with its control
# characters shown as '?'
printf 'hello\033]0;title\007 \001world\nsecond line\n' >"$tmp/plain.txt"
log "$tmp/plain.txt"
want_rc 3 plain.txt
has "$tmp/plain.txt: no ErrorID found"
has "$tmp/plain.txt: not a log format agentpush knows (first line: hello ?world): only ErrorID and EP codes were searched"
clean_out

printf '{"jobs":[{"id":2,"kind":"check"}]}\n' >"$tmp/jobs.json"
log "$tmp/jobs.json"
want_rc 3 jobs.json
has "$tmp/jobs.json: JSON, but not a format agentpush knows (first line: {\"jobs\":[{\"id\":2,\"kind\":\"check\"}]}): only ErrorID and ErrorCode members were searched"
echo "log_unknown: ok"
