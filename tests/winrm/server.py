#!/usr/bin/env python3
"""A RECORDED-RESPONSE WS-Management server for the WinRM transport tests.

This is NOT a Windows host and runs no command.  It checks that each request
is the WS-Management message the client should send at that point (Action,
ResourceURI, ShellId, CommandId), and answers with the reply documents in
fixtures/ (recorded from real Windows hosts by other projects: see
SOURCES.md), with the stream content and the exit code substituted per
scenario.

Usage: server.py --workdir DIR [--http] [--bind ADDR --port N]
                 [--facts FIXTURE.json] [--lifetime SECONDS]
                 [--password-file FILE --scenario NAME]
                 [--auth ntlm --ntlm-user-file FILE [--offer windows|ntlm]
                  [--close-after N]]
  Makes a test CA and a server certificate for 127.0.0.1/localhost with the
  openssl command in DIR (ca.pem, other-ca.pem: a CA that did not sign it),
  listens on 127.0.0.1 on a random port, writes the port to DIR/port, and
  logs each accepted action to DIR/actions.log ("Create", "Command", ...).
  Stops after 300 s or on SIGTERM.

Authentication (--auth) is HTTP Basic by default: the password must be
"test-password" (a fixed test value, not a secret) or the one line of
--password-file, else HTTP 401 offering "Negotiate" and "Basic" (a wrong
password logs "Auth Basic refused USER" to actions.log).

--auth ntlm --ntlm-user-file FILE: NTLM instead of Basic, judged by a REAL
NTLM acceptor, not by this script: gss-ntlmssp (Debian package gss-ntlmssp,
the GSS-API NTLMSSP mechanism, OID 1.3.6.1.4.1.311.2.2.10) through
python3-gssapi, imported only in this mode (Debian's /usr/bin/python3 has
it).  FILE holds "DOMAIN:USER:PASSWORD" lines (gss-ntlmssp reads it through
NTLM_USER_FILE) and must be mode 0600; no password is ever on a command
line.  The 401 offers "WWW-Authenticate: Negotiate" and "NTLM"; a raw
NTLMSSP token is taken under either scheme name (as Windows' Negotiate
takes raw NTLM), an SPNEGO token under "Negotiate" goes to GSS-API's SPNEGO.
The handshake is per connection (NTLM authenticates the connection: once
done, later requests on it need no Authorization header).  One adaptation,
framing only: gss-ntlmssp 1.2.0 wants the 8-byte Version field in NEGOTIATE
and AUTHENTICATE messages (its PR #65), while libcurl (like the Linux CIFS
client, gss-ntlmssp issue #95) sends a NEGOTIATE without it and an
AUTHENTICATE that sets NTLMSSP_NEGOTIATE_VERSION (copied from the
CHALLENGE) with no Version field.  ntlm_add_version() inserts 8 zero bytes
there and moves the payload offsets; no byte the password or the
challenge-response covers is touched (libcurl sends no MIC), and the check
of the user, the NTLMv2 response and the password is gss-ntlmssp's alone.
Logged to actions.log, never a password:
  "Auth NTLM 1 SCHEME"           a NEGOTIATE_MESSAGE (a handshake starts)
  "Auth NTLM 3 accepted USER"    an AUTHENTICATE_MESSAGE gss-ntlmssp took
  "Auth NTLM 3 refused: WHY"     one it refused (then 401 again)
  "Auth NTLM N Version field added"  ntlm_add_version() changed message N
  "Auth none SCHEME"             a request with no usable NTLM token
  "Auth other SCHEME"            a token that is no NTLMSSP message (Kerberos,
                                 SPNEGO with Kerberos), refused: no KDC here
--offer windows: the 401 offers only "Negotiate" and "Kerberos", as a
default Windows WinRM listener does (Basic off, no "NTLM"); raw NTLMSSP is
taken under "Negotiate" only, and a token under "NTLM" or "Kerberos" is
refused with a bare 401 ("Auth none NTLM", "Auth other Kerberos").
--offer ntlm: the 401 offers only "NTLM" (a token under "Negotiate" is
refused with a bare 401).  Default: "Negotiate" and "NTLM", both taken.
--close-after N: after the N-th authenticated request on a connection the
reply says "Connection: close" and the server closes it (as a host whose
keep-alive ends): the client must log on again on its next connection.
The authenticated user name (without its domain) picks the scenario.

The user name picks the scenario (unless --scenario):
  ok        stdout "hello from the recorded server\\r\\n", exit 0
  exitN     exit code N (e.g. exit511, exit3010), a line on stderr
  facts     stdout = fixtures/facts/server2019-ok.json, exit 0
  echo      stdout = the bytes received on stdin (Send)
  slow      the first Receive answers the w:TimedOut fault (long poll)
  fault     Command answers HTTP 500 with the SchemaValidationError fault
  chunks    stdout split over two Receive replies
  simulate  (--simulate ROOT) a SIMULATED Windows host for the install
            tests: see Simulator below.  The replies' envelopes are the same
            recorded documents; only their stream content and exit code come
            from the simulation.

Simulator (--simulate ROOT).  ROOT is the folder that stands for
C:\\Windows: the ADMIN$ share of the real Samba host beside this server, so
files agentpush copies over real SMB are the files simulated here.  It runs
none of the commands it is sent (only, for the fix simulation below, the
Samba host's nft, smbpasswd and pdbedit on the state it simulates).  It
recognises the commands agentpush sends and acts them out:
  - facts script (-EncodedCommand holding agentpush_windows_facts): --facts
  - Get-FileHash -LiteralPath 'P': the real SHA-256 of P's file under ROOT
    (a wrong one when WORKDIR/hash.corrupt exists)
  - the log tail script ($p='P' ... ToBase64String): base64 of P's last
    64 KiB, exit 3 when absent
  - Remove-Item -LiteralPath 'P' / -Path 'PREFIX*': removes under ROOT
  - the test package's commands (tests/integration/windows/pkg):
      "PAYLOAD" /install /log "LOG": the payload's first line says
        "agentpush-test-payload version=V"; exit code WORKDIR/install.exit
        (default 0); WORKDIR/install.log (text) is written to LOG under ROOT
        as UTF-16LE with a BOM, like Windows installers; WORKDIR/install.sleep
        seconds are waited first; on exit 0, 3010 or 1641 version V counts as
        installed (WORKDIR/installed); each run appends the payload's sha256
        to WORKDIR/installs
      "...agent.exe" /version: prints the installed version, exit 1 if none
      "...agent.exe" /verify: exit 0 when installed and WORKDIR/verify.fail
        does not exist
  anything else: exit 9009 (cmd.exe's "not recognized")
Each simulated command also logs "Sim KIND" (facts, version, hash, install,
verify, log, remove, unknown) to actions.log, so tests can check the order.

Simulated host state for `agentpush fix` (SIMULATED, not captured from
Windows: SOURCES.md says what each is based on).  Where the real SMB side
must see a change, the state IS the Samba host's own:
  - the firewall rule group File and Printer Sharing
    ('@FirewallAPI.dll,-28502'): disabled while the host's network namespace
    holds the nftables table `inet agentpush_sim_fw` (TCP 445 dropped, as
    Windows Firewall drops); the fix script's top-level
    `Enable-NetFirewallRule -Group $g` deletes it, `Disable-NetFirewallRule
    -Group $g` (the undo) makes it.  WORKDIR/fail.firewall: enabling fails
    ("Access is denied"), the script's catch branch runs, the table stays,
    stderr says so, exit 11.  Logs "Sim firewall on|off|fail".
  - local accounts are Samba's passdb (--samba-conf CONF): `net user NAME
    /active:yes|no` is `smbpasswd -c CONF -e|-d NAME`; a WinRM logon of an
    account whose passdb flags hold D is refused (401), as Windows refuses
    a disabled account.  WORKDIR/fail.netuser: net user fails with "System
    error 5" (exit 2; the fix script then exits 11).  Logs "Sim netuser".
  - LocalAccountTokenFilterPolicy: WORKDIR/latfp (its value; absent = no
    value = 0), set by the script's New-ItemProperty, removed by
    Remove-ItemProperty; the facts report it ("latfp").  WORKDIR/
    filtered-admins names local administrators (one a line) whose network
    token UAC filters while the value is not 1: their WinRM logon is refused
    (401) and, on the SMB side, they are not in the Unix group sudo that
    ADMIN$ admits (`valid users = root @sudo`); the value 1 adds them to
    the host's /etc/group sudo line, its removal takes them out.
    WORKDIR/fail.registry: "Requested registry access is not allowed",
    exit 1, nothing changed.  Logs "Sim latfp 1|removed|fail".
"""
import argparse
import base64
import glob
import hashlib
import http.server
import os
import re
import signal
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
PASSWORD = "test-password"
FACTS = "server2019-ok.json"
SCENARIO = None
SIM_ROOT = None
WORKDIR = None
SIM_LOG = None   # writes "Sim KIND" to actions.log (set in main)
SAMBA_CONF = None  # --samba-conf: the Samba host's smb.conf (fix simulation)
FW_TABLE = "agentpush_sim_fw"   # the nftables table of the blocked SMB group
SMB_GROUP = "@FirewallAPI.dll,-28502"
AUTH = "basic"
OFFER = ("Negotiate", "NTLM")   # --offer: the schemes a 401 lists
CLOSE_AFTER = 0                 # --close-after
GSS = None       # the gssapi module, imported only for --auth ntlm

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL = NS["rsp"]
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
    SHELL + "/Command": "Command",
    SHELL + "/Send": "Send",
    SHELL + "/Receive": "Receive",
    SHELL + "/Signal": "Signal",
}


def fixture(name):
    with open(os.path.join(FIX, name), encoding="utf-8") as f:
        return f.read()


def fill(text, **kw):
    for k, v in kw.items():
        text = text.replace("{" + k + "}", v)
    return re.sub(r"\{(message_id|relates_to)\}", lambda m: str(uuid.uuid4()), text)


def make_certs(d, addr="127.0.0.1"):
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=agentpush %s" % ca, "-keyout", ca + ".key", "-out", ca + ".pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % addr,
        "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:%s,DNS:localhost\n" % addr)
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem")


# ---- the simulated Windows host (--simulate) --------------------------------

def sim_path(win):
    """C:\\Windows\\rest -> ROOT/rest; None for a path outside C:\\Windows."""
    m = re.match(r"(?i)^[a-z]:\\windows(\\.*)?$", win)
    if m is None:
        return None
    rest = (m.group(1) or "").strip("\\")
    return os.path.join(SIM_ROOT, *[x for x in rest.split("\\") if x])


def ps_literals(script, after):
    """The single-quoted literals that follow the regex `after`."""
    return [v.replace("''", "'") for v in
            re.findall(after + r"\s*'((?:[^']|'')*)'", script)]


def control(name):
    p = os.path.join(WORKDIR, name)
    if not os.path.exists(p):
        return None
    with open(p, encoding="utf-8") as f:
        return f.read()


# ---- simulated host state for `agentpush fix` (see the docstring) ----------

def run_quiet(*args):
    """Runs a program of the Samba host (this process is in its namespaces);
    its exit status."""
    return subprocess.run(list(args), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode


def fw_blocked():
    return run_quiet("nft", "list", "table", "inet", FW_TABLE) == 0


def fw_set(blocked):
    if blocked and not fw_blocked():
        rules = ("table inet %s { chain input { type filter hook input priority 0; "
                 "tcp dport 445 drop; }; }\n" % FW_TABLE)
        subprocess.run(["nft", "-f", "-"], input=rules.encode(), check=True)
    elif not blocked and fw_blocked():
        subprocess.run(["nft", "delete", "table", "inet", FW_TABLE], check=True)


def sim_firewall(script):
    groups = ps_literals(script, r"\$g\s*=")
    enable = re.search(r"(?m)^\s*Enable-NetFirewallRule -Group \$g\b", script)
    disable = re.search(r"(?m)^Disable-NetFirewallRule -Group \$g\b", script)
    if not groups or groups[0] != SMB_GROUP or not (enable or disable):
        SIM_LOG("firewall unknown")
        return b"", b"Get-NetFirewallRule : No MSFT_NetFirewallRule objects found\r\n", 1
    was = fw_blocked()
    if enable and control("fail.firewall") is not None:
        SIM_LOG("firewall fail")
        return b"", (b"agentpush: Enable-NetFirewallRule failed: Access is denied.; "
                     b"the group's rules were left as they were\r\n"), 11
    fw_set(not enable)
    SIM_LOG("firewall %s" % ("on" if enable else "off"))
    if enable:
        return (b"firewall rule group %s enabled (%d of its rules were disabled)\r\n"
                % (SMB_GROUP.encode(), 1 if was else 0)), b"", 0
    return b"firewall rule group %s disabled\r\n" % SMB_GROUP.encode(), b"", 0


def passdb_disabled(user):
    if SAMBA_CONF is None:
        return False
    out = subprocess.run(["pdbedit", "-s", SAMBA_CONF, "-Lv", user],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    m = re.search(rb"(?m)^Account Flags\s*:\s*\[([A-Z ]*)\]", out)
    return m is not None and b"D" in m.group(1)


def sim_net_user(script, name, active):
    code = 11 if "exit 11" in script else 2
    if SAMBA_CONF is None or control("fail.netuser") is not None:
        SIM_LOG("netuser fail")
        return b"", (b"System error 5 has occurred.\r\n\r\nAccess is denied.\r\n\r\n"
                     b"agentpush: net user exited 2; the account is unchanged\r\n"), code
    if run_quiet("smbpasswd", "-c", SAMBA_CONF, "-e" if active else "-d", name) != 0:
        SIM_LOG("netuser unknown")
        return b"", b"The user name could not be found.\r\n", code
    SIM_LOG("netuser %s %s" % (name, "yes" if active else "no"))
    return b"The command completed successfully.\r\n\r\n", b"", 0


def filtered_admins():
    return [x.strip() for x in (control("filtered-admins") or "").splitlines() if x.strip()]


def latfp():
    v = control("latfp")
    return int(v) if v is not None else None


def sudo_members(add, names):
    """Adds names to (or takes them out of) the sudo line of the host's
    /etc/group, rewritten in place: the harness bind-mounts it."""
    with open("/etc/group", "r+", encoding="utf-8") as f:
        lines = f.read().split("\n")
        for i, line in enumerate(lines):
            if line.startswith("sudo:"):
                head, _, members = line.rpartition(":")
                m = [x for x in members.split(",") if x and x not in names]
                lines[i] = head + ":" + ",".join(m + (list(names) if add else []))
        f.seek(0)
        f.write("\n".join(lines))
        f.truncate()


def sim_latfp(script):
    if control("fail.registry") is not None:
        SIM_LOG("latfp fail")
        return b"", (b"New-ItemProperty : Requested registry access is not allowed.\r\n"), 1
    path = os.path.join(WORKDIR, "latfp")
    m = re.search(r"New-ItemProperty .*-Name LocalAccountTokenFilterPolicy .*-Value (\d+)", script)
    if m:
        with open(path, "w") as f:
            f.write(m.group(1))
        sudo_members(m.group(1) == "1", filtered_admins())
        SIM_LOG("latfp %s" % m.group(1))
        return b"LocalAccountTokenFilterPolicy = %s\r\n" % m.group(1).encode(), b"", 0
    if re.search(r"Remove-ItemProperty .*-Name LocalAccountTokenFilterPolicy", script):
        if not os.path.exists(path):
            return b"", b"Remove-ItemProperty : Property LocalAccountTokenFilterPolicy does not exist\r\n", 1
        os.unlink(path)
        sudo_members(False, filtered_admins())
        SIM_LOG("latfp removed")
        return b"LocalAccountTokenFilterPolicy removed\r\n", b"", 0
    SIM_LOG("latfp unknown")
    return b"", b"unknown registry script\r\n", 1


def sim_logon_refused(user):
    """Why the simulated host refuses a WinRM logon of user, or None."""
    if passdb_disabled(user):
        return "account disabled (passdb flags)"
    if user in filtered_admins() and latfp() != 1:
        return "local administrator with a filtered token (LocalAccountTokenFilterPolicy not 1)"
    return None


def sim_facts():
    with open(os.path.join(FIX, "facts", FACTS), "rb") as f:
        data = f.read()
    if latfp() is None:
        return data
    import json
    d = json.loads(data)
    d["latfp"] = latfp()
    return json.dumps(d).encode()


def sim_powershell(script):
    if "agentpush_windows_facts" in script:
        SIM_LOG("facts")
        return sim_facts(), b"", 0
    if "LocalAccountTokenFilterPolicy" in script:
        return sim_latfp(script)
    if "-NetFirewallRule" in script:
        return sim_firewall(script)
    m = re.search(r"(?m)^net user (\S+) /active:(yes|no)\r?$", script)
    if m:
        return sim_net_user(script, m.group(1), m.group(2) == "yes")
    if "Get-FileHash" in script:
        SIM_LOG("hash")
        p = sim_path(ps_literals(script, "-LiteralPath")[0])
        if p is None or not os.path.isfile(p):
            return b"", b"Get-FileHash : Cannot find path because it does not exist.\r\n", 1
        with open(p, "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest().upper()
        if control("hash.corrupt") is not None:
            h = ("0" if h[0] != "0" else "1") + h[1:]
        return h.encode() + b"\r\n", b"", 0
    if "ToBase64String" in script:
        SIM_LOG("log")
        p = sim_path(ps_literals(script, r"\$p=")[0])
        if p is None or not os.path.isfile(p):
            return b"", b"", 3
        with open(p, "rb") as f:
            data = f.read()[-65536:]
        return base64.b64encode(data) + b"\r\n", b"", 0
    if "Remove-Item" in script:
        SIM_LOG("remove")
        for v in ps_literals(script, "-LiteralPath"):
            p = sim_path(v)
            if p is not None and os.path.isfile(p):
                os.unlink(p)
        for v in ps_literals(script, "-Path"):
            v = re.sub(r"`(.)", r"\1", v)
            p = sim_path(v[:-1]) if v.endswith("*") else None
            if p is not None:
                for q in glob.glob(glob.escape(p) + "*"):
                    if os.path.isfile(q):
                        os.unlink(q)
        return b"", b"", 0
    SIM_LOG("unknown-script")
    return b"", b"unknown script\r\n", 1


def sim_command(cmd):
    m = re.match(r"^powershell .*-EncodedCommand (\S+)$", cmd)
    if m:
        return sim_powershell(base64.b64decode(m.group(1)).decode("utf-16-le"))
    installed = control("installed")
    if re.search(r"agent\.exe\"? /version$", cmd):
        SIM_LOG("version")
        return (installed.encode() + b"\r\n", b"", 0) if installed else (b"", b"", 1)
    if re.search(r"agent\.exe\"? /verify$", cmd):
        SIM_LOG("verify")
        if installed and control("verify.fail") is None:
            return b"agent running\r\n", b"", 0
        return b"", b"the agent service is not running\r\n", 1
    m = re.match(r'^"([^"]+)" /install /log "([^"]+)"$', cmd)
    if m:
        SIM_LOG("install")
        p, log = sim_path(m.group(1)), sim_path(m.group(2))
        if p is None or not os.path.isfile(p) or log is None:
            return b"", b"The system cannot find the file specified.\r\n", 2
        with open(p, "rb") as f:
            data = f.read()
        v = re.match(rb"agentpush-test-payload version=(\S+)", data)
        time.sleep(float(control("install.sleep") or 0))
        code = int(control("install.exit") or 0)
        with open(os.path.join(WORKDIR, "installs"), "a") as f:
            f.write(hashlib.sha256(data).hexdigest() + "\n")
        text = control("install.log") or "install finished with %d\n" % code
        with open(log, "wb") as f:
            f.write(b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le"))
        if code in (0, 3010, 1641) and v is not None:
            with open(os.path.join(WORKDIR, "installed"), "w") as f:
                f.write(v.group(1).decode())
        return b"", b"", code
    SIM_LOG("unknown")
    return b"", b"'%s' is not recognized as an internal or external command\r\n" % cmd.split()[0].encode(), 9009


def sim_start(c):
    """Runs the simulation in its own thread; Receive waits for it."""
    def run():
        try:
            c["result"] = sim_command(c["cmd"])
        except Exception as e:  # a broken simulation must show, not hang
            c["result"] = (b"", ("simulator error: %r\r\n" % e).encode(), 1)
        c["done"].set()
    c["done"] = threading.Event()
    threading.Thread(target=run, daemon=True).start()


# ---- NTLM through gss-ntlmssp (--auth ntlm) ----------------------------------

NTLMSSP = b"NTLMSSP\0"
NTLM_OID = "1.3.6.1.4.1.311.2.2.10"
NEGOTIATE_VERSION = 0x02000000


def ntlm_setup(user_file):
    """Imports gssapi (only now) and checks gss-ntlmssp can accept."""
    global GSS
    st = os.stat(user_file)
    if st.st_mode & 0o077:
        sys.exit("server.py: %s must be mode 0600 (it holds passwords)" % user_file)
    os.environ["NTLM_USER_FILE"] = os.path.abspath(user_file)
    import gssapi  # python3-gssapi; Debian's /usr/bin/python3
    GSS = gssapi
    # Fails here, loudly, when the gss-ntlmssp mechanism is not installed.
    gssapi.Credentials(usage="accept", mechs=[gssapi.OID.from_int_seq(NTLM_OID)])


def ntlm_type(tok):
    """1, 2 or 3 for a raw NTLMSSP message, or one inside SPNEGO; else 0."""
    i = tok.find(NTLMSSP)
    if i < 0 or len(tok) < i + 12:
        return 0
    return int.from_bytes(tok[i + 8:i + 12], "little")


def ntlm_add_version(tok):
    """Gives a raw NEGOTIATE (1) or AUTHENTICATE (3) message the 8-byte
    Version field gss-ntlmssp 1.2.0 expects when the sender left it out
    (see the docstring): 8 zero bytes at the end of the fixed header, and
    every payload offset moved by 8.  Framing only."""
    kind = ntlm_type(tok)
    if not tok.startswith(NTLMSSP) or kind not in (1, 3):
        return tok
    hdr, fields = (32, (16, 24)) if kind == 1 else (64, (12, 20, 28, 36, 44, 52))
    if len(tok) < hdr:
        return tok
    if kind == 3:
        flags = int.from_bytes(tok[60:64], "little")
        used = [int.from_bytes(tok[f + 4:f + 8], "little") for f in fields
                if int.from_bytes(tok[f:f + 2], "little")]
        if not flags & NEGOTIATE_VERSION or min(used or [0]) != hdr:
            return tok  # has its Version field, or none is expected
    elif len(tok) >= 40:
        return tok
    out = bytearray(tok[:hdr] + b"\0" * 8 + tok[hdr:])
    for f in fields:
        off = int.from_bytes(out[f + 4:f + 8], "little")
        if off >= hdr:
            out[f + 4:f + 8] = (off + 8).to_bytes(4, "little")
    return bytes(out)


class State:
    def __init__(self, workdir):
        self.lock = threading.Lock()
        self.shells = {}     # shell id -> scenario
        self.commands = {}   # command id -> dict
        self.log = open(os.path.join(workdir, "actions.log"), "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep the test output quiet
        pass

    served = 0   # authenticated requests answered on this connection

    def reply(self, code, body, extra=None):
        data = body.encode("utf-8")
        self.send_response(code)
        if CLOSE_AFTER and self.ntlm_user is not None and code != 401:
            self.served += 1
            if self.served >= CLOSE_AFTER:
                self.send_header("Connection", "close")
                self.close_connection = True
        pending = getattr(self, "pending_auth", None)
        if pending is not None:
            self.send_header("WWW-Authenticate", pending)
            self.pending_auth = None
        for k, v in (extra or []):
            self.send_header(k, v)
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # NTLM state of this connection (BaseHTTPRequestHandler serves one
    # connection with one instance, request after request).
    gss_ctx = None
    ntlm_user = None
    sim_user = None   # the user sim_logon_refused() let in on this connection

    def ntlm_refuse(self, why=None, scheme=None, token=None):
        if why is not None:
            self.server.state.log.write("%s\n" % why)
        if token is not None:
            hdrs = [("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(token).decode()))]
        else:
            hdrs = [("WWW-Authenticate", o) for o in OFFER]
        self.reply(401, "", hdrs)

    def ntlm_auth(self, auth):
        """The user this connection authenticated as, or None after
        answering 401 (an offer, a challenge, or a refusal)."""
        if self.ntlm_user is not None:
            return self.ntlm_user
        scheme, _, b64 = auth.partition(" ")
        try:
            tok = base64.b64decode(b64.strip(), validate=True) if b64.strip() else b""
        except ValueError:
            tok = b""
        kind = ntlm_type(tok)
        log = self.server.state.log
        if tok and scheme in OFFER and scheme in ("NTLM", "Negotiate") and \
                kind == 0 and self.gss_ctx is None:
            # no KDC and no keytab here: a Kerberos token cannot be judged
            self.ntlm_refuse("Auth other %s" % scheme)
            return None
        if tok and scheme == "Kerberos" and scheme in OFFER:
            self.ntlm_refuse("Auth other %s" % scheme)
            return None
        if scheme not in OFFER or scheme not in ("NTLM", "Negotiate") or not tok:
            self.ntlm_refuse("Auth none %s" % (scheme or "-"))
            return None
        if kind == 1:
            log.write("Auth NTLM 1 %s\n" % scheme)
            self.gss_ctx = None
        if self.gss_ctx is None:
            if kind == 3:
                self.ntlm_refuse("Auth NTLM 3 refused: no handshake on this connection")
                return None
            creds = None
            if tok.startswith(NTLMSSP):
                creds = GSS.Credentials(usage="accept",
                                        mechs=[GSS.OID.from_int_seq(NTLM_OID)])
            self.gss_ctx = GSS.SecurityContext(usage="accept", creds=creds)
        fixed = ntlm_add_version(tok)
        if fixed != tok:  # libcurl's NTLM needs it; gss-ntlmssp's does not
            log.write("Auth NTLM %d Version field added\n" % kind)
        try:
            out = self.gss_ctx.step(fixed)
        except GSS.exceptions.GSSError as e:
            self.gss_ctx = None
            why = str(e).replace("\n", " ")
            self.ntlm_refuse(("Auth NTLM 3 refused: %s" if kind == 3 else
                              "Auth NTLM %d refused: %%s" % kind) % why)
            return None
        if not self.gss_ctx.complete:
            self.ntlm_refuse(None, scheme, out or b"")
            return None
        # gss-ntlmssp's display name ends with a NUL
        name = str(self.gss_ctx.initiator_name).strip("\0 ")
        user = name.split("\\")[-1].split("@")[0]
        log.write("Auth NTLM 3 accepted %s\n" % name)
        self.gss_ctx = None
        self.ntlm_user = user
        if out:  # SPNEGO's last token rides on the 200
            self.pending_auth = "%s %s" % (scheme, base64.b64encode(out).decode())
        return user

    def bad(self, why):
        self.server.state.log.write("REJECTED %s\n" % why)
        self.reply(400, "bad request: %s\n" % why)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if 0 < n <= 1 << 22 else b""
        user = None
        auth = self.headers.get("Authorization", "")
        if AUTH == "ntlm":
            user = self.ntlm_auth(auth)
            if user is None:
                return
        elif auth.startswith("Basic "):
            try:
                user, pw = base64.b64decode(auth[6:]).decode("utf-8").split(":", 1)
            except Exception:
                user, pw = None, None
            if pw != PASSWORD:
                # the user name only: tests count refused logons
                self.server.state.log.write("Auth Basic refused %s\n" % user)
                user = None
        if user is None:
            self.reply(401, "", [("WWW-Authenticate", "Negotiate"),
                                 ("WWW-Authenticate", 'Basic realm="WSMAN"')])
            return
        if SIM_ROOT is not None and self.sim_user != user:
            # the simulated host's own refusal (fix simulation), judged once
            # per connection: 401 again
            why = sim_logon_refused(user)
            if why is not None:
                self.server.state.log.write("Sim logon refused %s: %s\n" % (user, why))
                self.ntlm_user = None
                self.reply(401, "", [("WWW-Authenticate", o) for o in OFFER])
                return
            self.sim_user = user
        if self.path != "/wsman":
            self.reply(404, "not found\n")
            return
        try:
            env = ET.fromstring(body)
        except ET.ParseError as e:
            return self.bad("not XML: %s" % e)
        hdr = env.find("s:Header", NS)
        bod = env.find("s:Body", NS)
        if env.tag != "{%s}Envelope" % NS["s"] or hdr is None or bod is None:
            return self.bad("not a SOAP 1.2 envelope")
        act = ACTIONS.get((hdr.findtext("a:Action", "", NS) or "").strip())
        if act is None:
            return self.bad("unknown action")
        if (hdr.findtext("w:ResourceURI", "", NS) or "").strip() != SHELL + "/cmd":
            return self.bad("wrong ResourceURI")
        if not (hdr.findtext("a:MessageID", "", NS) or "").startswith("uuid:"):
            return self.bad("no MessageID")
        st = self.server.state
        with st.lock:
            return self.handle_action(st, act, user, hdr, bod)

    def handle_action(self, st, act, user, hdr, bod):
        addr = "https://127.0.0.1:%d/wsman" % self.server.server_address[1]
        if act == "Create":
            if bod.find("rsp:Shell", NS) is None:
                return self.bad("Create without rsp:Shell")
            sid = str(uuid.uuid4()).upper()
            st.shells[sid] = SCENARIO or user
            st.log.write("Create\n")
            return self.reply(200, fill(fixture("create_response.xml"),
                                        shell_id=sid, address=addr))
        sel = hdr.find("w:SelectorSet/w:Selector", NS)
        sid = sel.text.strip() if sel is not None and sel.text else ""
        if sel is None or sel.get("Name") != "ShellId" or sid not in st.shells:
            return self.bad("%s for an unknown shell" % act)
        scen = st.shells[sid]
        if act == "Delete":
            del st.shells[sid]
            st.log.write("Delete\n")
            return self.reply(200, fill(fixture("delete_response.xml")))
        if act == "Command":
            cmd = bod.findtext("rsp:CommandLine/rsp:Command", None, NS)
            if cmd is None:
                return self.bad("Command without rsp:Command")
            st.log.write("Command %s\n" % cmd)
            if scen == "fault":
                return self.reply(500, fill(fixture("fault_schema.xml")))
            cid = str(uuid.uuid4()).upper()
            st.commands[cid] = {"shell": sid, "scen": scen, "stdin": b"",
                                "receives": 0, "cmd": cmd}
            if scen == "simulate":
                sim_start(st.commands[cid])
            return self.reply(200, fill(fixture("command_response.xml"), command_id=cid))
        # Send, Receive and Signal name a command of this shell
        if act == "Send":
            el = bod.find("rsp:Send/rsp:Stream", NS)
        elif act == "Receive":
            el = bod.find("rsp:Receive/rsp:DesiredStream", NS)
        else:
            el = bod.find("rsp:Signal", NS)
        cid = el.get("CommandId") if el is not None else None
        c = st.commands.get(cid)
        if c is None or c["shell"] != sid:
            return self.bad("%s for an unknown command" % act)
        st.log.write("%s\n" % act)
        if act == "Send":
            if el.get("Name") != "stdin":
                return self.bad("Send to a stream other than stdin")
            c["stdin"] += base64.b64decode(el.text or "")
            return self.reply(200, fill(fixture("send_response.xml")))
        if act == "Signal":
            code = bod.findtext("rsp:Signal/rsp:Code", "", NS).strip()
            if not code.endswith("/signal/terminate"):
                return self.bad("Signal other than terminate")
            del st.commands[cid]
            return self.reply(200, fill(fixture("signal_response.xml")))
        return self.receive(c, cid, st)

    def receive(self, c, cid, st):
        c["receives"] += 1
        scen = c["scen"]
        out, err, code = b"", b"", 0
        if scen == "slow" and c["receives"] == 1:
            return self.reply(500, fill(fixture("fault_timedout.xml")))
        running = False
        if scen == "simulate":
            # Wait for the simulation without holding the server's lock:
            # a Receive long poll, as Windows answers it.
            st.lock.release()
            try:
                c["done"].wait(1.0)
            finally:
                st.lock.acquire()
            if c["done"].is_set():
                out, err, code = c["result"]
            else:
                running = True
        elif scen == "facts":
            with open(os.path.join(FIX, "facts", FACTS), "rb") as f:
                out = f.read()
        elif scen == "echo":
            out = c["stdin"]
        elif scen.startswith("exit"):
            code = int(scen[4:])
            err = b"installer exited with %d\r\n" % code
        else:
            out = b"hello from the recorded server\r\n"
        if scen == "chunks":
            running = c["receives"] == 1
            out = b"first half, " if running else b"second half\r\n"

        def stream(name, data, end):
            s = ""
            if data:
                s += '<rsp:Stream CommandId="%s" Name="%s">%s</rsp:Stream>' % (
                    cid, name, base64.b64encode(data).decode("ascii"))
            if end:
                s += '<rsp:Stream CommandId="%s" End="true" Name="%s"/>' % (cid, name)
            return s
        streams = stream("stdout", out, not running) + stream("stderr", err, not running)
        body = fill(fixture("receive_response.xml"), command_id=cid, streams=streams,
                    state="Running" if running else "Done",
                    exit_code_element="" if running else
                    "<rsp:ExitCode>%d</rsp:ExitCode>" % (code & 0xFFFFFFFF))
        return self.reply(200, body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--http", action="store_true")
    # For a Windows test host in a network namespace: listen on the host's
    # own address and port, and answer the facts scenario with FACTS.
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--facts", default="server2019-ok.json")
    ap.add_argument("--lifetime", type=int, default=300)
    # The account of a real Samba host: its password comes from a file
    # (never the command line) and the scenario no longer from the name.
    ap.add_argument("--password-file")
    ap.add_argument("--scenario")
    ap.add_argument("--simulate", metavar="ROOT")
    ap.add_argument("--samba-conf")
    # NTLM judged by gss-ntlmssp (see the docstring); passwords in a file.
    ap.add_argument("--auth", choices=("basic", "ntlm"), default="basic")
    ap.add_argument("--ntlm-user-file")
    ap.add_argument("--offer", choices=("default", "windows", "ntlm"),
                    default="default")
    ap.add_argument("--close-after", type=int, default=0)
    a = ap.parse_args()
    global FACTS, PASSWORD, SCENARIO, SIM_ROOT, WORKDIR, AUTH, OFFER, CLOSE_AFTER, SAMBA_CONF
    SAMBA_CONF = a.samba_conf
    AUTH = a.auth
    OFFER = {"default": ("Negotiate", "NTLM"), "windows": ("Negotiate", "Kerberos"),
             "ntlm": ("NTLM",)}[a.offer]
    CLOSE_AFTER = a.close_after
    if AUTH == "ntlm":
        if not a.ntlm_user_file:
            ap.error("--auth ntlm needs --ntlm-user-file")
        ntlm_setup(a.ntlm_user_file)
    FACTS = os.path.basename(a.facts)
    SCENARIO = a.scenario
    WORKDIR = a.workdir
    if a.simulate:
        SIM_ROOT = a.simulate
        SCENARIO = "simulate"
    if a.password_file:
        with open(a.password_file, encoding="utf-8") as f:
            PASSWORD = f.readline().rstrip("\n")
    srv = Server((a.bind, a.port), Handler)
    srv.state = State(a.workdir)
    global SIM_LOG
    SIM_LOG = lambda kind: srv.state.log.write("Sim %s\n" % kind)
    if not a.http:
        make_certs(a.workdir, a.bind)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(a.workdir, "server.pem"),
                            os.path.join(a.workdir, "server.key"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    t = threading.Timer(a.lifetime, lambda: os.kill(os.getpid(), signal.SIGTERM))
    t.daemon = True
    t.start()
    tmp = os.path.join(a.workdir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, os.path.join(a.workdir, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
