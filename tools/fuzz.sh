#!/usr/bin/env bash
# tools/fuzz.sh - runs every libFuzzer target for a while and keeps what it
# learnt.
#
#   tools/fuzz.sh [-t SECONDS] [-r RUNS] [-b BUILDDIR] [-n] [TARGET...]
#
# Builds the fuzzers (CC=clang, -Dfuzz=true; BUILDDIR default build-fuzz),
# then for each target (default: every tests/fuzz/fuzz_*.c) runs it for
# SECONDS (default 60), or until RUNS executions if that comes first (a
# long run: -r 10000000 -t 7200), from a copy of tests/fuzz/corpus/TARGET, and merges
# the inputs that reached new coverage (libFuzzer -merge=1, inputs up to
# 4 KiB) back into that folder, unless -n.  One line per target:
#
#   enroll: 10340782 runs in 150 s, corpus 7 -> 19 files, no crash
#
# AddressSanitizer keeps freed memory aside for 16 MiB instead of 256 MiB
# (ASAN_OPTIONS, unless you set it): a use after free within one input is
# still caught, and the parsers that allocate ~100 KB per input ran 1.4 to
# 1.7 times as many inputs per CPU second (fresh pages cost a fault each).
#
# A crash or leak stops nothing else; its input is kept under
# $BUILDDIR/fuzz-artifacts/ and the script exits 1.  Not part of the test
# suite: each corpus runs there through tests/fuzz/fuzz_driver.c.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=60 R=-1 B=$SRC/build-fuzz MERGE=1
while getopts t:r:b:n o; do
	case $o in
	t) T=$OPTARG ;; r) R=$OPTARG ;; b) B=$OPTARG ;; n) MERGE=0 ;;
	*) echo "usage: $0 [-t SECONDS] [-r RUNS] [-b BUILDDIR] [-n] [TARGET...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
case $T in ''|*[!0-9]*) echo "fuzz.sh: -t wants whole seconds, not '$T'" >&2; exit 2 ;; esac
case $R in -1) ;; ''|*[!0-9]*) echo "fuzz.sh: -r wants a number of executions, not '$R'" >&2; exit 2 ;; esac
command -v clang >/dev/null || { echo "fuzz.sh: clang is missing (scripts/deps.sh installs it)" >&2; exit 2; }
if [ ! -f "$B/build.ninja" ]; then
	CC=clang meson setup "$B" "$SRC" -Dfuzz=true -Dtests=false >/dev/null ||
		{ echo "fuzz.sh: meson setup $B failed" >&2; exit 2; }
fi
ninja -C "$B" >/dev/null || { echo "fuzz.sh: building the fuzzers failed (ninja -C $B)" >&2; exit 2; }

export ASAN_OPTIONS=${ASAN_OPTIONS-quarantine_size_mb=16}

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
	for f in "$SRC"/tests/fuzz/fuzz_*.c; do
		n=$(basename "$f" .c); n=${n#fuzz_}
		[ "$n" = driver ] || targets+=("$n")
	done
fi
W=$(mktemp -d /tmp/agentpush-fuzz.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$B/fuzz-artifacts"
status=0
for n in "${targets[@]}"; do
	exe=$B/tests/fuzz/fuzz_$n corpus=$SRC/tests/fuzz/corpus/$n
	[ -x "$exe" ] || { echo "$n: no fuzzer $exe"; status=1; continue; }
	mkdir -p "$corpus" "$W/$n"
	cp -r "$corpus"/. "$W/$n"/ 2>/dev/null || true
	before=$(find "$corpus" -type f | wc -l)
	"$exe" -max_total_time="$T" -runs="$R" -print_final_stats=1 -artifact_prefix="$B/fuzz-artifacts/$n-" \
		"$W/$n" >"$W/$n.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$W/$n.log" | tail -1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$W/$n.log" | tail -1)
	if [ "$rc" -ne 0 ]; then
		verdict="CRASH (exit $rc; input in $B/fuzz-artifacts/, log below)"
		status=1
	else
		verdict="no crash"
	fi
	if [ "$MERGE" -eq 1 ] && [ "$rc" -eq 0 ]; then
		"$exe" -merge=1 -max_len=4096 "$corpus" "$W/$n" >"$W/$n.merge.log" 2>&1 ||
			{ verdict="$verdict; merge failed"; status=1; }
	fi
	echo "$n: ${runs:-?} runs in ${secs:-?} s, corpus $before -> $(find "$corpus" -type f | wc -l) files, $verdict"
	[ "$rc" -ne 0 ] && tail -30 "$W/$n.log"
done
exit $status
