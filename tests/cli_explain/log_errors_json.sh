#!/bin/sh
# explain --log on the installer's JSON error file: an ErrorCode as a string
# and as a number, each shown with its record's message and line.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

f=$LOGS/InstallerErrors.json
log "$f"
want_rc 1 InstallerErrors.json
has "$f: installer error file (JSON), UTF-8, 16 lines"
has "$f:5: 95525 The account is not root and cannot become root"
has "    line: The installer was started by deploy, not by root."
has "$f:11: 95524 Not enough free disk space"
has "    line: Free space on /usr/local/ASR is 95 MB; 600 MB are needed."

log "$f" --format json
want_rc 1 "InstallerErrors.json json"
jwant 'j["kind"]' installer-errors-json \
	'[(e["id"], e["line"], e["name"]) for e in j["errors"]]' "[(95525, 5, 'LINUX_NOT_ROOT'), (95524, 11, 'INSUFFICIENT_SPACE')]" \
	'j["complete"]' True

# an ErrorID the catalog does not know is still shown, and is an error
printf '{"Errors":[{"ErrorID":97999,"Message":"something new\\non two lines"}]}\n' >"$tmp/new.json"
log "$tmp/new.json"
want_rc 1 "unknown ErrorID"
has "$tmp/new.json:1: 97999 (not in agentpush's catalog)"
has "    line: something new on two lines"
log "$tmp/new.json" --format json
jwant '[(e["id"], e["in_catalog"]) for e in j["errors"]]' '[(97999, False)]'

# JSON that stops being valid: what came before is kept
printf '{"Errors":[{"ErrorCode":95524},\n{"ErrorCode":95108 "x"}]}\n' >"$tmp/bad.json"
log "$tmp/bad.json"
want_rc 3 "invalid JSON"
has "$tmp/bad.json:1: 95524 Not enough free disk space"
has "$tmp/bad.json: line 2 is not valid JSON (',' or the end of an object or array was expected): the rest of the file was not read"
hasnt 95108
echo "log_errors_json: ok"
