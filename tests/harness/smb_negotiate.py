#!/usr/bin/env python3
"""smb_negotiate.py ADDR [PORT]: send one SMB2 NEGOTIATE over direct TCP and
exit 0 when the peer answers with an SMB2 NEGOTIATE response (a real protocol
answer, not just an open port).  Used by tests/harness/harness.sh to know that
a test host's smbd is ready.  Exit 1 on any failure, with a one-line reason.
"""
import socket
import struct
import sys


def negotiate_request() -> bytes:
    dialects = [0x0202, 0x0210, 0x0300, 0x0302]
    header = struct.pack(
        "<4sHHIHHIIQIIQ16s",
        b"\xfeSMB",  # ProtocolId
        64,  # StructureSize
        0,  # CreditCharge
        0,  # Status
        0,  # Command: NEGOTIATE
        1,  # CreditRequest
        0,  # Flags
        0,  # NextCommand
        0,  # MessageId
        0,  # Reserved
        0,  # TreeId
        0,  # SessionId
        b"\0" * 16,  # Signature
    )
    body = struct.pack(
        "<HHHHI16sQ",
        36,  # StructureSize
        len(dialects),
        1,  # SecurityMode: signing enabled
        0,  # Reserved
        0,  # Capabilities
        b"agentpush-harnes",  # ClientGuid
        0,  # ClientStartTime
    )
    body += b"".join(struct.pack("<H", d) for d in dialects)
    msg = header + body
    return struct.pack(">I", len(msg)) + msg


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: smb_negotiate.py ADDR [PORT]", file=sys.stderr)
        return 2
    addr = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 445
    try:
        with socket.create_connection((addr, port), timeout=2) as s:
            s.sendall(negotiate_request())
            data = b""
            while len(data) < 4 + 64 + 4:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        print(f"smb_negotiate: {addr}:{port}: {e}", file=sys.stderr)
        return 1
    if len(data) < 4 + 64 + 4 or data[4:8] != b"\xfeSMB":
        print(f"smb_negotiate: {addr}:{port}: no SMB2 answer", file=sys.stderr)
        return 1
    status, command = struct.unpack_from("<IH", data, 4 + 8)
    if command != 0 or status != 0:
        print(f"smb_negotiate: {addr}:{port}: status 0x{status:08x}", file=sys.stderr)
        return 1
    dialect = struct.unpack_from("<H", data, 4 + 64 + 4)[0]
    print(f"SMB dialect 0x{dialect:04x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
