#!/bin/sh
# explain --log on agentpush's own install output, as report_gen renders it
# with the library's renderers today (text, colour, French, JSON), and on the
# copies kept in logs/ (fuzz seeds).  Usage: log_agentpush.sh EXPLAIN_DRIVER
# REPORT_GEN.
set -eu
REPORT_GEN=${2:?usage: $0 EXPLAIN_DRIVER REPORT_GEN}
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

check_text() {
	f=$1
	log "$f"
	want_rc 1 "$f"
	has "$f: agentpush output (text), UTF-8, $(wc -l <"$f" | tr -d ' ') lines"
	has "$f:1: 95108 The Linux account was rejected or lacks root rights"
	grep -qE "^$f:[0-9]+: 800106 " "$tmp/out" || fail "800106 not found in $f"
	grep -qE "^$f:[0-9]+: 800404 The installer failed" "$tmp/out" || fail "800404 not found in $f"
	has "$f: 3 ErrorIDs found"
	clean_out
}

LC_ALL=C "$REPORT_GEN" text >"$tmp/report.txt"
check_text "$tmp/report.txt"
has "    line: FAILED   root@198.18.1.2:22  95108 The Linux account was rejected or lacks root rights"
# with colours (a terminal's output saved with script(1) or --color)
LC_ALL=C "$REPORT_GEN" color >"$tmp/color.txt"
grep -q "$(printf '\033')" "$tmp/color.txt" || fail "report_gen color wrote no escape"
check_text "$tmp/color.txt"
# in French
LANG=fr_FR.UTF-8 LC_ALL=fr_FR.UTF-8 LANGUAGE=fr "$REPORT_GEN" text >"$tmp/fr.txt"
grep -q 'ÉCHEC' "$tmp/fr.txt" || fail "report_gen wrote no French"
check_text "$tmp/fr.txt"
check_text "$LOGS/agentpush_report.txt"
check_text "$LOGS/agentpush_report_fr.txt"

# JSON, one line
for f in "$tmp/report.json" "$LOGS/agentpush_report.json"; do
	[ "$f" != "$tmp/report.json" ] || LC_ALL=C "$REPORT_GEN" json >"$f"
	log "$f"
	want_rc 1 "$f"
	has "$f: agentpush output (JSON), UTF-8, 1 line"
	has "    line: root@198.18.1.2:22: Permission denied (publickey,password). PasswordAuthentication no in /etc/ssh/sshd_config"
	log "$f" --format json
	jwant 'j["kind"]' agentpush-json \
		'[(e["id"], e["line"]) for e in j["errors"]]' '[(95108, 1), (800106, 1), (800404, 1)]' \
		'j["errors"][2]["line_text"][:19]' "root@198.18.1.5:22:"
done
echo "log_agentpush: ok"
