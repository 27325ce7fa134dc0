#!/bin/sh
# Translations are found without AGENTPUSH_LOCALEDIR: by the program run from
# its build tree, and by a copy put in place with `meson install` (here into a
# staging tree, --destdir, which also proves the lookup follows the program
# rather than the compiled-in prefix).  The man page installed with it reads
# with `man`.
. "$AP_SOURCE_ROOT/tests/cli/lib.sh"
: "${AP_BUILD_ROOT:?}"
unset AGENTPUSH_LOCALEDIR

locale -a | grep -qi '^fr_FR\.utf-\?8$' || { echo "FAIL: locale fr_FR.UTF-8 is not installed (scripts/deps.sh)"; exit 1; }

# french PROGRAM: explain speaks French under LANG=fr_FR.UTF-8
french() {
	env -u LC_ALL -u LANGUAGE -u AGENTPUSH_LOCALEDIR LANG=fr_FR.UTF-8 "$1" explain 95108 >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 0 ] || { failed "$1 explain 95108: exit $rc"; return; }
	grep -q '^Cause :$' "$T/out" || failed "$1: not in French without AGENTPUSH_LOCALEDIR"
}

french "$AGENTPUSH"

stage="$T/stage"
meson install -C "$AP_BUILD_ROOT" --no-rebuild --quiet --destdir "$stage" >"$T/install.log" 2>&1 ||
	{ echo "FAIL: meson install --destdir failed:"; tail -20 "$T/install.log"; exit 1; }
prefix=$(python3 -c 'import json,sys; print([o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "prefix"][0])' \
	"$AP_BUILD_ROOT/meson-info/intro-buildoptions.json")
exe="$stage$prefix/bin/agentpush"
[ -x "$exe" ] || { echo "FAIL: meson install did not put agentpush in $prefix/bin"; exit 1; }
[ -f "$stage$prefix/share/locale/fr/LC_MESSAGES/agentpush.mo" ] || failed "no French catalog under $prefix/share/locale"
french "$exe"
# English stays English
env -u LC_ALL -u LANGUAGE LANG=C.UTF-8 "$exe" explain 95108 >"$T/out" 2>"$T/err" || failed "explain under C.UTF-8"
grep -q '^Cause:$' "$T/out" || failed "C.UTF-8: not English"

MANPATH="$stage$prefix/share/man" MANPAGER=cat MANWIDTH=80 man agentpush >"$T/out" 2>"$T/err" ||
	failed "man agentpush from the installed tree"
grep -q 'agentpush check' "$T/out" || failed "man agentpush: the page does not mention 'agentpush check'"
finish
