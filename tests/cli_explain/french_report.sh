#!/bin/sh
# Under a French locale, with the build's message catalogs, "agentpush check"
# speaks French: its --help, and its report (status word, catalog title,
# labels, remediation, summary line).  The target is 127.0.0.1 port 1, where
# nothing listens, so the run fails fast with 95117 and sends nothing
# anywhere else.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
: "${AGENTPUSH_LOCALEDIR:?}"
mo="$AGENTPUSH_LOCALEDIR/fr/LC_MESSAGES/agentpush.mo"
[ -f "$mo" ] || fail "$mo was not built"
locale -a | grep -qi '^fr_FR\.utf-\?8$' || fail "locale fr_FR.UTF-8 is not installed (scripts/deps.sh)"
fr() { env -u LC_ALL -u LANGUAGE -u AGENTPUSH_PASSWORD LANG=fr_FR.UTF-8 "$AGENTPUSH" "$@"; }

fr check --help > "$tmp/help" || fail "check --help exited $?"
grep -q '^Usage : agentpush check \[OPTIONS\] CIBLE\.\.\.$' "$tmp/help" || fail "usage line not in French"
grep -q '^Diagnostique chaque cible' "$tmp/help" || fail "description not in French"
grep -q '^  --password-file FICHIER  *lit le mot de passe' "$tmp/help" || fail "option help not in French"
grep -q '^  --host-key-policy POLITIQUE  strict (par défaut) ou accept-new$' "$tmp/help" ||
	fail "option names or values lost in translation"
grep -q 'Usage:\|this help' "$tmp/help" && fail "English left in check --help"

st=0
fr check --no-color --db "$tmp/jobs.db" --timeout 1 127.0.0.1:1 > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] || { cat "$tmp/err" >&2; fail "check exited $st, not 1"; }
# ÉCHEC is padded to 8 characters (not bytes), like OK and ALERTE.
grep -q '^ÉCHEC    127\.0\.0\.1:1  95117 L’hôte est injoignable$' "$tmp/out" ||
	fail "status or title not in French"
grep -q '^  *preuve : connect to 127\.0\.0\.1 port 1' "$tmp/out" || fail "evidence label not in French"
grep -q '^  *correction : Vérifiez que l’hôte' "$tmp/out" || fail "remediation not in French"
grep -q 'nc -vz ADRESSE 445' "$tmp/out" || fail "command lost in translation"
grep -q '^ *Relancez le déploiement\.$' "$tmp/out" || fail "last remediation step not in French"
grep -q '^1 cible : 0 ok, 0 avec alerte, 1 en échec$' "$tmp/out" || fail "summary line not in French"
grep -q 'FAILED\|evidence:\|fix:\|target:' "$tmp/out" && fail "English left in the report"
echo "french_report: ok"
