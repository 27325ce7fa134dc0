#!/bin/sh
# Under a French locale, with the build's message catalogs, explain speaks
# French: labels and catalog text alike.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
: "${AGENTPUSH_LOCALEDIR:?}"
mo="$AGENTPUSH_LOCALEDIR/fr/LC_MESSAGES/agentpush.mo"
[ -f "$mo" ] || fail "$mo was not built"
locale -a | grep -qi '^fr_FR\.utf-\?8$' || fail "locale fr_FR.UTF-8 is not installed (scripts/deps.sh)"
env -u LC_ALL -u LANGUAGE LANG=fr_FR.UTF-8 "$EXPLAIN" explain 95108 > "$tmp/out" || fail "exited $?"
grep -q '^95108 LINUX_BAD_CREDENTIALS: Le compte Linux a été refusé' "$tmp/out" || fail "title not in French"
grep -q '^Cause :$' "$tmp/out" || fail "labels not in French"
grep -q 'Relancez le déploiement' "$tmp/out" || fail "remediation not in French"
grep -q 'PasswordAuthentication yes' "$tmp/out" || fail "command lost in translation"
env -u LC_ALL -u LANGUAGE LANG=fr_FR.UTF-8 "$EXPLAIN" explain 12345 2> "$tmp/err" && fail "unknown id exited 0"
grep -q "pas d’ErrorID 12345 dans le catalogue" "$tmp/err" || fail "error line not in French"
echo "explain_french: ok"
