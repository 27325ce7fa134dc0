#!/usr/bin/env python3
"""connect_probe.py ADDR PORT [TIMEOUT_S]: one TCP connect from the host side;
prints what happened as "<RESULT> <seconds>", RESULT being "OK", "TIMEOUT" or
the errno name (ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ...).  Always exits
0 when it could run the probe; tests compare RESULT.  Used by the harness
fault tests and docs/testing.md to measure what each fault yields.
"""
import errno
import socket
import sys
import time


def main() -> int:
    if len(sys.argv) < 3:
        print("usage: connect_probe.py ADDR PORT [TIMEOUT_S]", file=sys.stderr)
        return 2
    addr, port = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((addr, port))
        result = "OK"
    except socket.timeout:
        result = "TIMEOUT"
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
    print(f"{result} {time.monotonic() - t0:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
