#!/bin/sh
# tools/gen_catalog.py refuses a catalog whose refines links are wrong: each
# bad file must exit non-zero, write nothing, and say in one line on stderr
# which entry is at fault.  A good file with the same entries goes through.
set -eu
: "${AP_SOURCE_ROOT:?}"
gen="$AP_SOURCE_ROOT/tools/gen_catalog.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0

# entry ID NAME [EXTRA-LINES]: one catalog entry with every required field
entry() {
	printf '[[error]]\nid = %s\nname = "%s"\nstage = "os"\nplatform = "any"\n' "$1" "$2"
	printf 'severity = "error"\ntitle = "t"\ncause = "c"\nremediation = "r"\nevidence = "e"\n'
	[ $# -lt 3 ] || printf '%s\n' "$3"
	printf '\n'
}

# base: two product IDs and an agentpush ID that refines nothing
base() {
	entry 95108 PRODUCT_A
	entry 95117 PRODUCT_B
	entry 800201 OWN_PLAIN
}

# refuses CASE WANT: the generator fails on $tmp/CASE.toml in every mode,
# with one line on stderr holding WANT
refuses() {
	for mode in header table docs pot; do
		out="$tmp/$1.$mode"
		if python3 "$gen" "$mode" "$tmp/$1.toml" "$out" 2>"$tmp/err"; then
			echo "FAIL: $1 ($mode): accepted" >&2; rc=1; continue
		fi
		[ ! -e "$out" ] || { echo "FAIL: $1 ($mode): wrote $out" >&2; rc=1; }
		[ "$(wc -l <"$tmp/err")" -eq 1 ] ||
			{ echo "FAIL: $1 ($mode): want one line on stderr, got:" >&2; cat "$tmp/err" >&2; rc=1; }
		grep -qF -- "$2" "$tmp/err" ||
			{ echo "FAIL: $1 ($mode): stderr lacks '$2':" >&2; cat "$tmp/err" >&2; rc=1; }
	done
}

{ base; entry 800106 OWN_A 'refines = 95108
refines_when = "the logon worked"'; entry 800104 OWN_B 'refines = 95117'; } >"$tmp/good.toml"
for mode in header table docs pot; do
	python3 "$gen" "$mode" "$tmp/good.toml" "$tmp/good.$mode" 2>"$tmp/err" ||
		{ echo "FAIL: good catalog refused ($mode):" >&2; cat "$tmp/err" >&2; rc=1; }
done
grep -q '\.refines = 95108,' "$tmp/good.table" || { echo "FAIL: table lacks .refines" >&2; rc=1; }
grep -q '\.refines_when = N_("the logon worked"),' "$tmp/good.table" ||
	{ echo "FAIL: table lacks .refines_when" >&2; rc=1; }
grep -q '^- Refined by: \[800106\](#800106) OWN_A$' "$tmp/good.docs" ||
	{ echo "FAIL: docs lack the reverse direction" >&2; rc=1; }
grep -q '^- Refines: \[95108\](#95108) PRODUCT_A' "$tmp/good.docs" ||
	{ echo "FAIL: docs lack the forward direction" >&2; rc=1; }
grep -q '^#\. 800106 OWN_A refines_when$' "$tmp/good.pot" ||
	{ echo "FAIL: pot lacks the refines_when msgid" >&2; rc=1; }

{ base; entry 800106 OWN_A 'refines = 95999'; } >"$tmp/unknown.toml"
refuses unknown "entry 800106: refines 95999, which is not in the catalog"

{ base; entry 800106 OWN_A 'refines = 800106'; } >"$tmp/self.toml"
refuses self "entry 800106: refines itself"

{ entry 95108 PRODUCT_A; entry 800106 OWN_A 'refines = 800107'
  entry 800107 OWN_B 'refines = 800106'; } >"$tmp/cycle.toml"
refuses cycle "entry 800106: refines forms a cycle: 800106 -> 800107 -> 800106"

{ entry 95108 PRODUCT_A; entry 800106 OWN_A 'refines = 800107'
  entry 800107 OWN_B 'refines = 800108'; entry 800108 OWN_C 'refines = 800107'; } >"$tmp/cycle3.toml"
refuses cycle3 "entry 800106: refines forms a cycle: 800106 -> 800107 -> 800108 -> 800107"

{ base; entry 800106 OWN_A 'refines = 800201'; } >"$tmp/own.toml"
refuses own "entry 800106: refines 800201, an agentpush ID"

{ entry 95108 PRODUCT_A 'refines = 95117'; entry 95117 PRODUCT_B; } >"$tmp/product.toml"
refuses product "entry 95108: a product ID (below 100000) refines nothing"

{ base; entry 800106 OWN_A 'refines = "95108"'; } >"$tmp/string.toml"
refuses string "entry 800106: refines must be an ErrorID number"

{ base; entry 800106 OWN_A 'refines_when = "alone"'; } >"$tmp/when.toml"
refuses when "entry 800106: refines_when without refines"

{ base; entry 800106 OWN_A 'refines = 95108
refines_when = "  "'; } >"$tmp/blank.toml"
refuses blank "entry 800106: refines_when must be a non-empty string"

[ "$rc" -eq 0 ] && echo "gen_refuses: ok"
exit "$rc"
