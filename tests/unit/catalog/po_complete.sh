#!/bin/sh
# Every msgid of po/agentpush.pot has a non-empty, non-fuzzy msgstr in each
# language of po/LINGUAS, and the format strings agree (msgfmt --check).
set -eu
: "${AP_SOURCE_ROOT:?}"
po="$AP_SOURCE_ROOT/po"
rc=0
for lang in $(grep -v '^#' "$po/LINGUAS"); do
	# msgcmp fails when a msgid of the template is missing from the .po.
	msgcmp "$po/$lang.po" "$po/agentpush.pot" || rc=1
	stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$po/$lang.po" 2>&1) || rc=1
	echo "$lang: $stats"
	case "$stats" in
	*fuzzy*|*untranslated*) echo "po_complete: $lang.po has fuzzy or untranslated messages" >&2; rc=1 ;;
	esac
	# Entries present but empty or fuzzy, and obsolete ones.
	n=$(msgattrib --untranslated --no-obsolete "$po/$lang.po" | grep -c '^msgid' || true)
	[ "$n" -le 1 ] || { echo "po_complete: $lang.po: $((n - 1)) untranslated" >&2; rc=1; }
	n=$(msgattrib --only-fuzzy --no-obsolete "$po/$lang.po" | grep -c '^msgid' || true)
	[ "$n" -eq 0 ] || { echo "po_complete: $lang.po: fuzzy entries" >&2; rc=1; }
done
exit "$rc"
