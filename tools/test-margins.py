#!/usr/bin/env python3
"""Each test's time limit against how long it took, over one or more runs.

Usage: tools/test-margins.py [--min-ratio R] [--fail] BUILDDIR [TESTLOG.json...]

Reads the limits from `meson introspect --tests BUILDDIR` and the durations
from the given meson test logs (default BUILDDIR/meson-logs/testlog.json;
pass several, e.g. copies kept from earlier runs of the same build, to get a
median).  Prints one line per test, longest first: median and max duration,
limit, and limit / median.  Tests whose limit is under R (default 3) times
their median are marked "LOW"; with --fail they make the exit status 1.

test-all.sh runs it on each build after the suite, as a warning: one busy
run must not fail CI, but a limit that keeps showing up LOW needs raising
(docs/testing.md says how the limits were set).
"""
import json
import statistics
import subprocess
import sys


def main(argv):
    min_ratio = 3.0
    fail = False
    args = []
    it = iter(argv)
    for a in it:
        if a == "--min-ratio":
            min_ratio = float(next(it))
        elif a == "--fail":
            fail = True
        else:
            args.append(a)
    if not args:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    build, logs = args[0], args[1:] or [args[0] + "/meson-logs/testlog.json"]

    out = subprocess.run(["meson", "introspect", "--tests", build],
                         check=True, capture_output=True, text=True).stdout
    limits = {t["name"]: t["timeout"] for t in json.loads(out)}

    durations = {}
    for path in logs:
        try:
            with open(path) as fh:
                for line in fh:
                    r = json.loads(line)
                    name = r["name"].split(" / ", 1)[-1]
                    durations.setdefault(name, []).append(r["duration"])
        except FileNotFoundError:
            print(f"test-margins: {path}: no such test log", file=sys.stderr)
            return 2

    low = 0
    rows = []
    for name, ds in durations.items():
        limit = limits.get(name)
        med = statistics.median(ds)
        ratio = (limit / med) if limit and med > 0 else float("inf")
        rows.append((med, max(ds), limit, ratio, name))
    rows.sort(reverse=True)
    print(f"{'test':34} {'median s':>9} {'max s':>7} {'limit s':>8} {'ratio':>6}  (runs: {len(logs)})")
    for med, mx, limit, ratio, name in rows:
        mark = ""
        if limit and ratio < min_ratio:
            mark = "  LOW"
            low += 1
        print(f"{name:34} {med:9.1f} {mx:7.1f} {limit or 0:8d} {ratio:6.1f}{mark}")
    total = sum(r[0] for r in rows)
    print(f"sum of medians: {total:.0f} s over {len(rows)} tests; "
          f"{low} with a limit under {min_ratio:g}x the median")
    return 1 if (fail and low) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
