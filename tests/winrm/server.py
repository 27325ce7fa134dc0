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
  Makes a test CA and a server certificate for 127.0.0.1/localhost with the
  openssl command in DIR (ca.pem, other-ca.pem: a CA that did not sign it),
  listens on 127.0.0.1 on a random port, writes the port to DIR/port, and
  logs each accepted action to DIR/actions.log ("Create", "Command", ...).
  Stops after 300 s or on SIGTERM.

Authentication is HTTP Basic only (NTLM/Negotiate cannot be recorded
meaningfully).  The user name picks the scenario, the password must be
"test-password" (a fixed test value, not a secret) else HTTP 401:
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
no program.  It recognises the commands agentpush sends and acts them out:
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


def sim_powershell(script):
    if "agentpush_windows_facts" in script:
        SIM_LOG("facts")
        with open(os.path.join(FIX, "facts", FACTS), "rb") as f:
            return f.read(), b"", 0
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

    def reply(self, code, body, extra=None):
        data = body.encode("utf-8")
        self.send_response(code)
        for k, v in (extra or []):
            self.send_header(k, v)
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def bad(self, why):
        self.server.state.log.write("REJECTED %s\n" % why)
        self.reply(400, "bad request: %s\n" % why)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if 0 < n <= 1 << 22 else b""
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, pw = base64.b64decode(auth[6:]).decode("utf-8").split(":", 1)
            except Exception:
                user, pw = None, None
            if pw != PASSWORD:
                user = None
        if user is None:
            self.reply(401, "", [("WWW-Authenticate", "Negotiate"),
                                 ("WWW-Authenticate", 'Basic realm="WSMAN"')])
            return
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
    a = ap.parse_args()
    global FACTS, PASSWORD, SCENARIO, SIM_ROOT, WORKDIR
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
