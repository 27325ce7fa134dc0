#!/usr/bin/env bash
# Progress on stderr (docs/cli.md "Progress"): not on a terminal and in text
# format, one plain line per host as it finishes, "[i/N] TARGET: done" or
# "[i/N] TARGET: failed (ID)", and nothing else; with --format json, stderr
# stays empty; on a terminal (a pseudo-terminal from script(1)) the status
# line with its "done:" counts is drawn.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init progress
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"

R=$HARNESS_RUN/et; mkdir -p "$R"
lt_host good
lt_host closed
harness_password_file good root "$R/pw"
kh=$R/kh; harness_known_hosts "$kh" good closed
harness_host_close_port closed
a_good=$(harness_host_addr good); a_closed=$(harness_host_addr closed)
args=(--db "$R/jobs.db" --password-file "$R/pw" --known-hosts "$kh" "root@$a_good" "root@$a_closed")

# --- text, stderr a file
et_run "$R/text" check "${args[@]}"
lt_expect "text: exit 1" 1 "$(lt_rc "$R/text")"
lt_expect "text: two lines on stderr" 2 "$(wc -l <"$R/text.err")"
lt_expect "text: counters 1/2 then 2/2" "[1/2] [2/2]" "$(cut -d' ' -f1 "$R/text.err" | paste -sd' ')"
lt_expect "text: one line per host, done or failed with its ErrorID" \
	"$(printf '%s\n' "root@$a_closed: failed (95117)" "root@$a_good: done" | sort | paste -sd'|')" \
	"$(cut -d' ' -f2- "$R/text.err" | sort | paste -sd'|')"
lt_expect "text: no control characters on stderr" 0 "$(tr -d '\n' <"$R/text.err" | tr -cd '\000-\037\177' | wc -c)"

# --- json: stderr stays empty
et_run "$R/json" check --format json "${args[@]}"
lt_expect "json: exit 1" 1 "$(lt_rc "$R/json")"
lt_expect "json: stderr empty" 0 "$(wc -c <"$R/json.err")"
lt_expect "json: stdout one document with 2 targets" 2 "$(lt_json "$R/json" "len(d['targets'])")"

# --- a terminal: the redrawn status line
cmd=$(printf '%q ' env HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" check --no-color "${args[@]}")
rc=0; script -qfec "$cmd" /dev/null </dev/null >"$R/tty.out" 2>&1 || rc=$?
lt_expect "tty: exit 1" 1 "$rc"
lt_expect_match "tty: status line with done: counts" '2/2 done: 1 ok, 1 failed' "$(tr '\r' '\n' <"$R/tty.out")"
lt_expect_match "tty: the failure's ErrorID in the status line" '\[95117 x1\]' "$(tr '\r' '\n' <"$R/tty.out")"
lt_expect "tty: no per-host plain lines" 0 "$(tr '\r' '\n' <"$R/tty.out" | grep -c '^\[[0-9]*/2\] ' || true)"
lt_done
