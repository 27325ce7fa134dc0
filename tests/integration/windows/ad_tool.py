#!/usr/bin/python3
# ad_tool.py PWFILE SAMBA-TOOL-ARGS...: run samba-tool in this process with
# "@PW@" in its arguments replaced by the first line of PWFILE (a 0600 file),
# e.g. "--adminpass=@PW@".
#
# Why: samba-tool takes passwords only on its command line (--adminpass,
# `user create NAME PASSWORD`, `user setpassword --newpassword`) or from a
# terminal.  Replacing sys.argv inside Python leaves /proc/PID/cmdline as
# this process was started, "@PW@": the password is never on a command line,
# in ps output or in a log.  Used by tests/integration/windows/ad.sh only.
#
# Run it with /usr/bin/python3 (Debian's python3-samba lives there).
import signal
import sys

signal.signal(signal.SIGINT, signal.SIG_DFL)


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: ad_tool.py PWFILE SAMBA-TOOL-ARGS...\n")
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        pw = f.readline().rstrip("\n")
    args = [a.replace("@PW@", pw) for a in sys.argv[2:]]

    from samba.netcmd.main import cmd_sambatool
    cmd = cmd_sambatool()
    try:
        return cmd._run("samba-tool", args[0], *args[1:])
    except SystemExit as e:
        return e.code
    except Exception as e:  # samba-tool's own way of reporting
        cmd.show_command_error(e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
