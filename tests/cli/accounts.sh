#!/bin/sh
# agentpush accounts: add, list, passwd, rm, rekey over a real job store;
# a wrong or missing key, a wrong passphrase and an altered row refused with
# one line, exit 2 and nothing changed; the password read from stdin or a
# terminal with echo off, and never in any output or in the store's files.
. "$AP_SOURCE_ROOT/tests/cli/lib.sh"
PW='Canary-Acct-7f3e9b1d'
KEY="$T/vault.key"

no_pw() {
	if grep -qF "$PW" "$T/out" "$T/err"; then failed "password shown: $*"; fi
}
# runin TEXT ARGS...: run with TEXT as stdin
runin() {
	_in=$1
	shift
	printf '%s\n' "$_in" | "$AGENTPUSH" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
# badin TEXT ARGS...: as bad, with TEXT as stdin
badin() {
	runin "$@"
	shift
	if [ "$rc" -ne 2 ]; then failed "agentpush $*: exit $rc, want 2"; return; fi
	if [ -s "$T/out" ]; then failed "agentpush $*: wrote to stdout"; return; fi
	[ "$(wc -l <"$T/err")" -eq 1 ] || failed "agentpush $*: want one line on stderr"
}
snapshot() { # the accounts as JSON, to tell that nothing changed
	"$AGENTPUSH" accounts list --format json >"$T/snap.$1" 2>/dev/null
}
json_ok() {
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$T/out" ||
		failed "JSON check failed: $1"
}

# usage errors, before anything is opened
bad accounts
bad accounts frobnicate
bad accounts add
bad accounts add web
expect_err "--user USER is required"
bad accounts add 'bad name' --user x
bad accounts add web --user x --kind macos
bad accounts add web --user 'a b'
bad accounts list extra
bad accounts rm
bad accounts list --user x
bad accounts add web --user x --password "$PW"
no_pw "--password"
expect_err "never accepted on the command line"
bad accounts add web --user x "--pass=$PW"
no_pw "--pass="
printf 'x\n' >"$T/pwfile"
bad check --account web --password-file "$T/pwfile" 127.0.0.1
expect_err "--account gives the user and the password"
bad check --account web --user root 127.0.0.1
bad install --package "$T" --account 'a b' 127.0.0.1
expect_err "is not an account name"
bad resume --account web 1
[ ! -e "$AGENTPUSH_DB" ] || failed "a usage error made the store"

# an empty vault
run accounts list
[ "$rc" -eq 0 ] || failed "list of an empty vault: exit $rc"
grep -q "No account" "$T/out" || failed "no 'No account' line"
bad accounts rm web
[ ! -e "$KEY" ] || failed "rm made a key file"

# add from stdin: the key file is made, 0600
runin "$PW" accounts add web --user deploy
[ "$rc" -eq 0 ] || failed "add: exit $rc"
no_pw "add"
[ "$(stat -c %a "$KEY")" = 600 ] || failed "key file mode is not 600"
runin "other-pw" accounts add dc --user Administrator --domain CORP --kind windows
[ "$rc" -eq 0 ] || failed "add windows: exit $rc"
badin "$PW" accounts add web --user someone
expect_err "there is an account named web already"
badin "" accounts add empty --user x
expect_err "empty"

run accounts list
[ "$rc" -eq 0 ] || failed "list: exit $rc"
no_pw "list"
grep -qE '^web +linux +deploy +- +ok$' "$T/out" || failed "list lacks web"
grep -qE '^dc +windows +Administrator +CORP +ok$' "$T/out" || failed "list lacks dc"
run accounts list --format json
no_pw "list json"
json_ok '[a["name"] for a in d] == ["dc", "web"] and d[1]["user"] == "deploy" and d[0]["domain"] == "CORP" and d[1]["refused_at"] is None and all("password" not in a and "secret" not in a for a in d)'

# the store and its WAL hold no trace of the password
for f in "$AGENTPUSH_DB" "$AGENTPUSH_DB-wal" "$KEY"; do
	if [ -e "$f" ] && grep -qaF "$PW" "$f"; then failed "password in $f"; fi
done

# passwd, rm
runin "$PW-2" accounts passwd web
[ "$rc" -eq 0 ] || failed "passwd: exit $rc"
badin "x" accounts passwd nobody
expect_err "no account named nobody"
run accounts rm dc
[ "$rc" -eq 0 ] || failed "rm: exit $rc"
run accounts list
grep -q '^dc ' "$T/out" && failed "dc still listed after rm"

# an altered row: refused, nothing changed
sqlite3 "$AGENTPUSH_DB" "UPDATE accounts SET secret = substr(secret, 1, 8) || (CASE substr(secret, 9, 1) WHEN 'a' THEN 'b' ELSE 'a' END) || substr(secret, 10) WHERE name = 'web'"
snapshot before
badin "new" accounts passwd web
expect_err "account web does not open"
bad accounts rm web
bad accounts rekey
snapshot after
cmp -s "$T/snap.before" "$T/snap.after" || failed "a refused command changed the vault"
run accounts rm web   # still not: it does not open
[ "$rc" -eq 2 ] || failed "rm of an altered row: exit $rc"

# check names an account the vault does not hold: one line, exit 2
bad check --account nobody --timeout 2 127.0.0.1:1
expect_err "no account named nobody"

# a fresh store: rekey, a wrong key, a missing key
rm -f "$AGENTPUSH_DB" "$AGENTPUSH_DB-wal" "$AGENTPUSH_DB-shm" "$KEY"
runin "$PW" accounts add web --user deploy
run accounts rekey
[ "$rc" -eq 0 ] || failed "rekey: exit $rc"
expect_err "key version 2"
cp "$KEY" "$T/good.key"
printf 'agentpush-vault-key 1 2 %064d\n' 0 >"$KEY"
snapshot before
badin "x" accounts passwd web
expect_err "is not the key of this job store"
mv "$T/good.key" "$KEY"
chmod 644 "$KEY"
bad accounts rm web
expect_err "chmod 600"
chmod 600 "$KEY"
mv "$KEY" "$T/good.key"
badin "x" accounts passwd web
expect_err "is missing"
badin "x" accounts add other --user x
expect_err "is missing"
[ ! -e "$KEY" ] || failed "add made a new key file over a vault that has one"
mv "$T/good.key" "$KEY"
snapshot after
cmp -s "$T/snap.before" "$T/snap.after" || failed "a refused command changed the vault"

# a passphrase vault
PASS_DB="$T/p/jobs.db"
mkdir -p "$T/p"
printf 'a long vault passphrase\n' >"$T/pass"
printf 'not the passphrase\n' >"$T/wrong"
printf '%s\n' "$PW" | "$AGENTPUSH" accounts add web --user deploy --db "$PASS_DB" --vault-passphrase-file "$T/pass" >"$T/out" 2>"$T/err"
[ "$?" -eq 0 ] || failed "add with a passphrase"
[ ! -e "$T/p/vault.key" ] || failed "a passphrase vault made a key file"
bad accounts rm web --db "$PASS_DB" --vault-passphrase-file "$T/wrong"
expect_err "wrong vault passphrase"
bad accounts rm web --db "$PASS_DB"
expect_err "--vault-passphrase-file"
run accounts rekey --db "$PASS_DB" --vault-passphrase-file "$T/pass"
[ "$rc" -eq 0 ] || failed "rekey of a passphrase vault to a key file: exit $rc"
[ -e "$T/p/vault.key" ] || failed "rekey to a key file made none"
run accounts rekey --db "$PASS_DB" --new-vault-passphrase-file "$T/wrong"
[ "$rc" -eq 0 ] || failed "rekey to a passphrase: exit $rc"
[ ! -e "$T/p/vault.key" ] || failed "the old key file stayed after a rekey to a passphrase"
run accounts rm web --db "$PASS_DB" --vault-passphrase-file "$T/wrong"
[ "$rc" -eq 0 ] || failed "rm with the new passphrase: exit $rc"
if grep -qaF "$PW" "$PASS_DB" "$PASS_DB-wal" 2>/dev/null; then failed "password in the passphrase store"; fi

# a terminal: echo off, asked twice; a mismatch changes nothing
python3 - "$AGENTPUSH" "$PW" "$T" <<'EOF' || failed "terminal entry"
import os, pty, sys, time
prog, pw, t = sys.argv[1], sys.argv[2], sys.argv[3]

def session(args, lines):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(prog, [prog] + args)
    out = b""
    for line in lines:
        deadline = time.time() + 10
        while not out.rstrip().endswith(b":") and time.time() < deadline:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
        os.write(fd, line.encode() + b"\n")
        out += b"\n"  # the next prompt must come after this one
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

rc, out = session(["accounts", "add", "tty", "--user", "u"], [pw, pw])
if rc != 0 or pw in out or "Password of account tty" not in out:
    print("add on a terminal: rc", rc, "output:", out.replace(pw, "<PW>")); sys.exit(1)
rc, out = session(["accounts", "passwd", "tty"], [pw + "a", pw + "b"])
if rc != 2 or "differ" not in out or pw in out:
    print("mismatch on a terminal: rc", rc, "output:", out.replace(pw, "<PW>")); sys.exit(1)

# Ctrl-C at the prompt: the program ends and the terminal has its echo back
import termios
pid, fd = pty.fork()
if pid == 0:
    os.execv(prog, [prog, "accounts", "passwd", "tty"])
out, deadline = b"", time.time() + 10
while not out.rstrip().endswith(b":") and time.time() < deadline:
    out += os.read(fd, 4096)
echo_during = termios.tcgetattr(fd)[3] & termios.ECHO
os.write(fd, b"\x03")
_, status = os.waitpid(pid, 0)
echo_after = termios.tcgetattr(fd)[3] & termios.ECHO
if echo_during or not echo_after or not os.WIFSIGNALED(status):
    print("Ctrl-C at the prompt: echo during", bool(echo_during), "after", bool(echo_after), "status", status)
    sys.exit(1)
EOF
finish
