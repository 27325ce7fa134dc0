#!/usr/bin/env python3
"""Fires a fault at a random moment inside a stage of a push (issue 15).

Usage: watch.py PLAN LOG DEADLINE_S

PLAN has one fault per line, fields separated by tabs:
    NAME  KIND  PATH  PATTERN  JITTER_MS  FIRE  [AFTER_S  UNDO]
KIND "file": the stage began when a file matching the glob PATH exists;
KIND "line": when file PATH has a line matching the regex PATTERN.
PATH is seen from this machine, through the host's /proc/PID/root (its
mount namespace), so watching costs no process per look: on a loaded
machine a watcher that forks lags the stage it watches by seconds.
Once the sign shows, the fault (FIRE, a shell command) runs after a random
0..JITTER_MS ms; with AFTER_S and UNDO, UNDO runs AFTER_S seconds later.
LOG gets "NAME fired STAGE-SIGN at MS" / "NAME undone" / "NAME never began"
lines (ms since the watcher started).  The watcher ends once every fault
fired and was undone, on SIGTERM (the push ended), or after DEADLINE_S
seconds; a fault fired and not yet undone is undone then.
"""
import glob
import random
import re
import signal
import subprocess
import sys
import time

STOP = []


def main():
    plan, log, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
    t0 = time.monotonic()
    faults = []
    with open(plan) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 6:
                continue
            faults.append({"name": p[0], "kind": p[1], "path": p[2], "pat": p[3],
                           "jitter": int(p[4]), "fire": p[5],
                           "after": float(p[6]) if len(p) > 7 else None,
                           "undo": p[7] if len(p) > 7 else None,
                           "seen": None, "at": None, "fired": None, "done": False})
    out = open(log, "a", buffering=1)
    # SIGTERM (the push ended): stop watching, undo what was fired
    signal.signal(signal.SIGTERM, lambda *_: STOP.append(1))
    out.write("watching %d faults\n" % len(faults))

    def ms():
        return int((time.monotonic() - t0) * 1000)

    def seen(x):
        if x["kind"] == "file":
            return bool(glob.glob(x["path"]))
        try:
            with open(x["path"], errors="replace") as f:
                return any(re.search(x["pat"], ln) for ln in f)
        except OSError:
            return False

    while (not STOP and time.monotonic() - t0 < deadline
           and not all(x["done"] for x in faults)):
        now = time.monotonic()
        for x in faults:
            if x["done"]:
                continue
            if x["seen"] is None:
                if seen(x):
                    x["seen"] = now
                    x["at"] = now + random.uniform(0, x["jitter"]) / 1000.0
            elif x["fired"] is None and now >= x["at"]:
                subprocess.run(x["fire"], shell=True, check=False)
                x["fired"] = now
                out.write("%s fired %d ms after its stage's sign, at %d\n"
                          % (x["name"], int((now - x["seen"]) * 1000), ms()))
                if x["undo"] is None:
                    x["done"] = True
            elif x["fired"] is not None and now >= x["fired"] + x["after"]:
                subprocess.run(x["undo"], shell=True, check=False)
                out.write("%s undone at %d\n" % (x["name"], ms()))
                x["done"] = True
        time.sleep(0.01)
    for x in faults:
        if x["seen"] is None:
            out.write("%s never began\n" % x["name"])
        elif not x["done"] and x["fired"] is not None and x["undo"] is not None:
            subprocess.run(x["undo"], shell=True, check=False)
            out.write("%s undone when the watch ended, at %d\n" % (x["name"], ms()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
