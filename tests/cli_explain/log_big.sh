#!/bin/sh
# explain --log reads a large log as a stream: 256 MiB of a Linux install log
# on standard input (never on disk), with an ErrorID near the start and one
# at the very end, in bounded memory: the peak resident size of the reader
# must stay under 64 MiB (it holds one line, the first 40 lines and 64
# ErrorIDs; reading the file whole would take 256 MiB).  No timing is
# asserted.
set -eu
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/loglib.sh"

python3 - "$EXPLAIN" "$tmp/out" <<'PY' || fail "the big log: $(tail -c 2000 "$tmp/out")"
import resource, subprocess, sys
exe, out = sys.argv[1], sys.argv[2]
head = b"2026-12-06 10:14:02 : INFO : ./install -d /usr/local/ASR -r MS -v VmWare -q\n"
head += b"2026-12-06 10:14:03 : ERROR : Free space on / is 95 MB. ErrorID: 95524\n"
line = b"2026-12-06 10:14:03 : INFO : copying /usr/local/ASR/Vx/lib/some/file ... done\n"
block = line * (1 << 16 // len(line) + 1) * 64
total, want = 0, 256 << 20
with open(out, "wb") as o:
    p = subprocess.Popen([exe, "explain", "--log", "-"], stdin=subprocess.PIPE, stdout=o,
                         env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    p.stdin.write(head)
    total = len(head)
    while total < want:
        p.stdin.write(block)
        total += len(block)
    p.stdin.write(b"2026-12-06 10:19:40 : INFO : Installer exiting with exit code 99\n")
    p.stdin.close()
    rc = p.wait()
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB
print("bytes", total, "rc", rc, "peak KiB", peak, file=sys.stderr)
text = open(out).read()
assert rc == 1, rc
assert "-:2: 95524 Not enough free disk space" in text, text
lines = total // len(line)
assert "800407 The installer's prerequisite check failed" in text, text
assert peak < 64 * 1024, "peak resident size %d KiB" % peak
PY
echo "log_big: ok"
