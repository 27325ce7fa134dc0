#!/bin/sh
# Every bad input: one line on stderr, exit 2, never a crash.
. "$AP_SOURCE_ROOT/tests/cli/lib.sh"

bad
bad frobnicate
expect_err "unknown command 'frobnicate'"
bad --bogus
bad help nothing
for cmd in check install; do
	pk=""
	[ "$cmd" = install ] && pk="--package $T/pkg"
	bad $cmd $pk
	expect_err "no target given"
	bad $cmd $pk --frob h
	expect_err "unknown option '--frob'"
	bad $cmd $pk --inv h
	bad $cmd $pk 'x;rm'
	expect_err "agentpush $cmd: target 'x;rm': host holds a character not allowed in a host name: ';'"
	bad $cmd $pk -- -host
	expect_err "may not start with '-'"
	bad $cmd $pk -host
	bad $cmd $pk 'a b'
	expect_err "a space"
	bad $cmd $pk 'h$(id)'
	bad $cmd $pk 'h`id`'
	bad $cmd $pk "$(printf 'h\001x')"
	expect_err "control character 0x01"
	bad $cmd $pk "$(printf 'h\nx')"
	bad $cmd $pk 'h|x'
	bad $cmd $pk 'h&'
	bad $cmd $pk 'user@'
	bad $cmd $pk '@h'
	bad $cmd $pk ''
	bad $cmd $pk 'h:0'
	bad $cmd $pk 'h:65536'
	bad $cmd $pk 'h:abc'
	bad $cmd $pk '[::1'
	bad $cmd $pk '[::1]:99999'
	bad $cmd $pk --os mac h
	bad $cmd $pk --os
	expect_err "needs a value"
	bad $cmd $pk --format xml h
	bad $cmd $pk --host-key-policy yolo h
	bad $cmd $pk --parallel 0 h
	bad $cmd $pk --parallel 10001 h
	bad $cmd $pk --parallel abc h
	bad $cmd $pk --timeout 0 h
	bad $cmd $pk --timeout 86401 h
	bad $cmd $pk --timeout -5 h
	bad $cmd $pk --no-color=yes h
	bad $cmd $pk --user 'a;b' h
	bad $cmd $pk --identity "$T/missing-key" h
	bad $cmd $pk --password x h
	expect_err "use --password-file FILE or the AGENTPUSH_PASSWORD environment variable"
	bad $cmd $pk --password=x h
	bad $cmd $pk --passwd x h
	bad $cmd $pk --password-file "$T/missing" h
	expect_err "password file '$T/missing'"
	bad $cmd $pk --password-file "$T" h
	expect_err "not a regular file"
	: >"$T/empty-pw"
	chmod 600 "$T/empty-pw"
	bad $cmd $pk --password-file "$T/empty-pw" h
	bad $cmd $pk -i "$T/missing.ini"
	expect_err "inventory $T/missing.ini"
	printf 'h1\nh;2\n' >"$T/bad.ini"
	bad $cmd $pk -i "$T/bad.ini"
	expect_err "inventory $T/bad.ini:2: "
	printf '[g]\nh1\nh1\n' >"$T/dup.ini"
	bad $cmd $pk -i "$T/dup.ini"
	expect_err "(lines 2 and 3)"
	printf '[g\n' >"$T/hdr.ini"
	bad $cmd $pk -i "$T/hdr.ini"
	expect_err "inventory $T/hdr.ini:1: "
	printf '# nothing\n' >"$T/none.ini"
	bad $cmd $pk -i "$T/none.ini"
	bad $cmd $pk -i
done
bad install h
expect_err "--package PATH is required"
bad check --package x h
expect_err "unknown option '--package'"
# show --id: decimal ErrorIDs of the catalog, comma-separated; parsed before
# the store is opened, so no job is needed
for v in '' abc 95108, ,95108 95108,,800106 '95108 800106' 0 -5 +95108 95108x 1e5 \
	99999999999999999999 "$(printf '95108\001')"; do
	bad show 1 --id "$v"
	expect_err "agentpush show: --id '"
	expect_err "' is not a list of ErrorIDs such as 95108 or 95108,800106"
done
bad show 1 --id 12345
expect_err "agentpush show: --id: no ErrorID 12345 in the catalog (see 'agentpush explain --list')"
bad show 1 --id 95108,900000
bad show 1 --id 95108 --id 12345
bad show 1 --id
expect_err "option '--id' needs a value"
bad show 1 --id 95108 --format xml
bad jobs --id 95108
expect_err "unknown option '--id'"
finish
