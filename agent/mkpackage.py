#!/usr/bin/env python3
"""Assemble the agent package deterministically.

  mkpackage.py --binary agentpush-agent --scripts DIR --manifest-in FILE \
               --version V --outdir DIR

Writes, under OUTDIR:
  package/manifest.json                    the manifest, with sha256/size filled
  package/<name>-<version>-linux-<arch>.tar.gz   the Linux payload
  <name>-<version>.tar.gz                  the package folder as one tarball

The payload holds bin/agentpush-agent, install.sh, uninstall.sh, verify.sh,
common.sh, VERSION and ARCH.  Every archive is reproducible: sorted entries,
fixed mtime (SOURCE_DATE_EPOCH or 2024-01-01), uid/gid 0, gzip header mtime 0.
Standard library only.
"""
import argparse
import gzip
import hashlib
import io
import json
import math
import os
import platform
import shutil
import sys
import tarfile

MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "1704067200"))
SCRIPTS = ["common.sh", "install.sh", "uninstall.sh", "verify.sh"]


def tar_gz(path, files):
    """files: list of (archive name, bytes or None for a folder, mode)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in sorted(files, key=lambda f: f[0]):
            ti = tarfile.TarInfo(name)
            ti.mtime = MTIME
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mode = mode
            if data is None:
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    with open(path, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())
    return len(raw.getvalue())


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--scripts", required=True)
    ap.add_argument("--manifest-in", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--arch", default=platform.machine())
    ap.add_argument("--outdir", required=True)
    a = ap.parse_args()

    with open(a.manifest_in, encoding="utf-8") as f:
        man = json.load(f)
    name = man["name"]
    payload_name = f"{name}-{a.version}-linux-{a.arch}.tar.gz"
    pkgdir = os.path.join(a.outdir, "package")
    shutil.rmtree(pkgdir, ignore_errors=True)
    os.makedirs(pkgdir)

    files = [("bin", None, 0o755),
             ("bin/agentpush-agent", read(a.binary), 0o755),
             ("VERSION", (a.version + "\n").encode(), 0o644),
             ("ARCH", (a.arch + "\n").encode(), 0o644)]
    for s in SCRIPTS:
        files.append((s, read(os.path.join(a.scripts, s)), 0o755))
    payload_path = os.path.join(pkgdir, payload_name)
    unpacked = tar_gz(payload_path, files)
    data = read(payload_path)

    lin = man["linux"]
    man["version"] = a.version
    lin["payload"] = payload_name
    lin["sha256"] = hashlib.sha256(data).hexdigest()
    lin["size"] = len(data)
    lin["architectures"] = [a.arch]
    # Staging holds the payload and its unpacked copy; the install folder
    # holds the files plus room for the agent's own log.
    lin["space_kb"] = {"staging": math.ceil((len(data) + unpacked) / 1024) + 64,
                       "install": math.ceil(unpacked / 1024) + 1024}
    text = json.dumps(man, indent=2) + "\n"
    with open(os.path.join(pkgdir, "manifest.json"), "w", encoding="utf-8") as f:
        f.write(text)

    top = f"{name}-{a.version}"
    tar_gz(os.path.join(a.outdir, f"{top}.tar.gz"),
           [(top, None, 0o755),
            (f"{top}/manifest.json", text.encode(), 0o644),
            (f"{top}/{payload_name}", data, 0o644)])
    # Ninja compares the folder's mtime with its inputs.
    os.utime(pkgdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
