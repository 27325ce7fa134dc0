#!/bin/sh
# update-catalog.sh - regenerate the committed files made from the catalog.
#
#   tools/update-catalog.sh            rewrite docs/errors.md and
#                                      po/agentpush.pot, then msgmerge po/*.po
#   tools/update-catalog.sh OUTDIR     write errors.md and agentpush.pot into
#                                      OUTDIR only (the drift test uses this)
#
# The .pot is the catalog's msgids (gen_catalog.py pot) merged with what
# xgettext finds in the files of po/POTFILES under the keywords of $keywords.
# Catalog strings come first so the header is ours.
#
# References name the file only (--add-location=file), never a line: with line
# numbers any edit to a C file above a marked string would make the committed
# .pot stale and fail the drift test without any msgid having changed.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
outdir=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$root/tools/gen_catalog.py" docs "$root/lib/catalog/errors.toml" "$tmp/errors.md"
python3 "$root/tools/gen_catalog.py" pot "$root/lib/catalog/errors.toml" "$tmp/catalog.pot"
# POTFILES: one path a line, relative to the source root; '#' starts a comment.
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$root/po/POTFILES" > "$tmp/files" || true
# _ and N_ in the CLI and lib/catalog/explain.c, ap_tr() on literals in the
# library, dngettext()/ngettext() for plurals.  po/meson.build lists the same.
keywords='--keyword=_ --keyword=N_ --keyword=ap_tr --keyword=ngettext:1,2 --keyword=dngettext:2,3'
# shellcheck disable=SC2086 # $keywords is a list of words
xgettext --directory="$root" --files-from="$tmp/files" --output="$tmp/cli.pot" \
	--from-code=UTF-8 $keywords --add-comments=TRANSLATORS: \
	--add-location=file --package-name=agentpush --force-po --sort-by-file
msgcat --use-first --add-location=file "$tmp/catalog.pot" "$tmp/cli.pot" \
	--output-file="$tmp/agentpush.pot"

if [ -n "$outdir" ]; then
	cp "$tmp/errors.md" "$tmp/agentpush.pot" "$outdir/"
	exit 0
fi
cp "$tmp/errors.md" "$root/docs/errors.md"
cp "$tmp/agentpush.pot" "$root/po/agentpush.pot"
for lang in $(grep -v '^#' "$root/po/LINGUAS"); do
	msgmerge --quiet --update --backup=none --no-fuzzy-matching --add-location=file \
		"$root/po/$lang.po" "$root/po/agentpush.pot"
done
