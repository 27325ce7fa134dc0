#!/bin/sh
# A password never appears in any output, and never comes from argv.
. "$AP_SOURCE_ROOT/tests/cli/lib.sh"
PW='S3cret-Pw-8c1f0e'

no_pw() {
	if grep -qF "$PW" "$T/out" "$T/err"; then failed "password shown: $*"; fi
}

bad check --password "$PW" 127.0.0.1
no_pw "--password"
bad check "--password=$PW" 127.0.0.1
no_pw "--password="
bad check "--pass=$PW" 127.0.0.1
no_pw "--pass="

printf '%s\n' "$PW" >"$T/pw"
chmod 600 "$T/pw"
# A closed port on the loopback: the run fails fast (or the build has no
# engine yet); either way the password must not show.
run check --password-file "$T/pw" --timeout 2 --format json 127.0.0.1:1
no_pw "--password-file, json"
[ "$rc" -le 2 ] || failed "exit $rc"
run check --password-file "$T/pw" --timeout 2 127.0.0.1:1
no_pw "--password-file, text"
AGENTPUSH_PASSWORD="$PW" run check --timeout 2 127.0.0.1:1
no_pw "AGENTPUSH_PASSWORD"

# group-readable: one warning line, still no password
chmod 640 "$T/pw"
run check --password-file "$T/pw" --timeout 2 127.0.0.1:1
no_pw "group-readable file"
grep -q 'warning: password file' "$T/err" || failed "no warning for a group-readable password file"
[ "$(grep -c 'warning: password file' "$T/err")" -eq 1 ] || failed "want one warning line"

# a password file is read up to its first newline only
printf '%s\r\nsecond line\n' "$PW" >"$T/pw2"
chmod 600 "$T/pw2"
run check --password-file "$T/pw2" --timeout 2 127.0.0.1:1
no_pw "CRLF file"
finish
