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
grep -qx 'Précisé par : 800106 LINUX_SFTP_MISSING' "$tmp/out" || fail "Refined by not in French"
env -u LC_ALL -u LANGUAGE LANG=fr_FR.UTF-8 "$EXPLAIN" explain 800106 > "$tmp/out" || fail "800106 exited $?"
grep -qx 'Précise : 95108 LINUX_BAD_CREDENTIALS (l’ErrorID du produit)' "$tmp/out" || fail "Refines not in French"
grep -qx 'Ce qui le distingue de 95108 :' "$tmp/out" || fail "How it differs not in French"
grep -q '^  L’ouverture de session SSH elle-même a réussi' "$tmp/out" || fail "refines_when not in French"
env -u LC_ALL -u LANGUAGE LANG=fr_FR.UTF-8 "$EXPLAIN" explain 12345 2> "$tmp/err" && fail "unknown id exited 0"
grep -q "pas d’ErrorID 12345 dans le catalogue" "$tmp/err" || fail "error line not in French"
echo "explain_french: ok"
