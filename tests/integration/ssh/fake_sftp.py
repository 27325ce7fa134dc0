#!/usr/bin/python3
"""A deliberately broken SFTP server for ssh_transport.sh.

It answers INIT and OPEN as a real version-3 server does, then misbehaves
as argv[1] says:

  badid       answers the first WRITE with a STATUS for an id never sent
  close       exits at the first WRITE (the channel closes mid-upload)
  stall       never answers the first WRITE, nor anything after it
  stall-init  never answers INIT
  stall-open  never answers OPEN

It exists to exercise the failure paths a healthy OpenSSH sftp-server never
takes: the pipelined upload's (lib/transport/sftp_pipe.c), and the
watchdog that bounds libssh's own SFTP calls (lib/transport/watchdog.h).
"""
import struct
import sys

FXP_INIT, FXP_VERSION, FXP_OPEN, FXP_CLOSE, FXP_WRITE = 1, 2, 3, 4, 6
FXP_STATUS, FXP_HANDLE = 101, 102
FX_OK, FX_OP_UNSUPPORTED = 0, 8

mode = sys.argv[1]
inp, out = sys.stdin.buffer, sys.stdout.buffer


def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = inp.read(n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


def send(kind, payload):
    out.write(struct.pack(">IB", len(payload) + 1, kind) + payload)
    out.flush()


def stall():
    """Reads and drops input until the channel closes, answering nothing."""
    while inp.read(65536):
        pass
    sys.exit(0)


def status(req_id, code):
    send(FXP_STATUS, struct.pack(">III", req_id, code, 0) + struct.pack(">I", 0))


while True:
    length, kind = struct.unpack(">IB", read_exact(5))
    body = read_exact(length - 1)
    if kind == FXP_INIT:
        if mode == "stall-init":
            stall()
        send(FXP_VERSION, struct.pack(">I", 3))
        continue
    (req_id,) = struct.unpack(">I", body[:4])
    if kind == FXP_OPEN:
        if mode == "stall-open":
            stall()
        send(FXP_HANDLE, struct.pack(">II", req_id, 4) + b"h001")
    elif kind == FXP_CLOSE:
        status(req_id, FX_OK)
    elif kind == FXP_WRITE:
        if mode == "badid":
            status(req_id + 100000, FX_OK)
        elif mode == "close":
            sys.exit(0)
        else:
            stall()
    else:
        status(req_id, FX_OP_UNSUPPORTED)
