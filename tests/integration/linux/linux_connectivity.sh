#!/usr/bin/env bash
# `agentpush check` against connectivity failures made for real: a name that
# does not resolve (800101), no route to the network (95523), a refused port
# and an address no one answers (95117), packets silently dropped (97118).
# Each is asserted in JSON (id, status, evidence) and in the text output.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init linux_connectivity
source "$AP_SOURCE_ROOT/tests/integration/linux/lib.sh"

lt_host noroute
lt_host refused
lt_host dropped
R=$HARNESS_RUN/lt; mkdir -p "$R"
pw=$R/pw; harness_password_file refused root "$pw"
kh=$R/kh; harness_known_hosts "$kh" noroute refused dropped
opts=(--known-hosts "$kh" --password-file "$pw")

# assert_one OUT HOST ID EVIDENCE_ERE: JSON and text of one failed target
assert_one() {
	local out=$1 host=$2 id=$3 ev=$4
	lt_expect "$host: exit 1" 1 "$(lt_rc "$out")"
	lt_expect "$host: status failed" failed "$(lt_json "$out" "t('$host')['status']")"
	lt_expect "$host: ErrorID $id" "$id" "$(lt_json "$out" "ids('$host')")"
	lt_expect_match "$host: evidence" "$ev" "$(lt_json "$out" "err('$host', $id)['evidence']")"
	echo "   evidence: $(lt_json "$out" "err('$host', $id)['evidence']")"
	lt_expect "$host: summary" "0 0 1" "$(lt_json "$out" "'%d %d %d' % (d['summary']['ok'], d['summary']['warning'], d['summary']['failed'])")"
}
assert_text() {
	local out=$1 host=$2 id=$3
	lt_expect "$host: text exit 1" 1 "$(lt_rc "$out")"
	lt_expect_match "$host: text FAILED line with $id" "^FAILED +root@$host +$id " "$(cat "$out.out")"
	lt_expect_match "$host: text evidence line" "evidence: " "$(cat "$out.out")"
	lt_expect_match "$host: text summary" "^1 target: 0 ok, 0 warning, 1 failed$" "$(cat "$out.out")"
}

# --- 800101: the name does not resolve.  No DNS query may leave this
# machine: the run gets its own network namespace (only a down loopback, so
# nothing can be sent anywhere) and its own mount namespace in which
# /etc/resolv.conf says "nameserver 127.0.0.1" and /etc/hosts lacks the name;
# nsswitch.conf here is "hosts: files dns" (checked below).
lt_expect_match "nsswitch hosts: files dns only" '^hosts:[[:space:]]+files[[:space:]]+dns[[:space:]]*$' \
	"$(grep -E '^hosts:' /etc/nsswitch.conf)"
name="nohost-$$.agentpush.invalid"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$R/resolv.conf"
printf '127.0.0.1\tlocalhost\n' >"$R/hosts"
for fmt in json text; do
	:
	unshare -m -n --propagation private sh -c '
		mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts || exit 99
		shift 2; exec "$@"' sh "$R/resolv.conf" "$R/hosts" \
		env HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
		"$LT_AP" check "${opts[@]}" --format "$fmt" "root@$name" \
		>"$R/dns.$fmt.out" 2>"$R/dns.$fmt.err" </dev/null && echo 0 >"$R/dns.$fmt.rc" || echo $? >"$R/dns.$fmt.rc"
done
assert_one "$R/dns.json" "$name" 800101 "$name"
assert_text "$R/dns.text" "$name" 800101

# --- 95523: no route to the host's network (a "throw" route: ENETUNREACH)
harness_route_del noroute
a=$(harness_host_addr noroute)
lt_check "$R/nr.json" "${opts[@]}" --format json "root@$a"
assert_one "$R/nr.json" "$a" 95523 "$a.*(unreachable|ENETUNREACH)"
lt_check "$R/nr.text" "${opts[@]}" "root@$a"
assert_text "$R/nr.text" "$a" 95523

# --- 95117: port 22 refused (sshd moved to 2222: RST)
harness_host_close_port refused
a=$(harness_host_addr refused)
lt_check "$R/rf.json" "${opts[@]}" --format json "root@$a"
assert_one "$R/rf.json" "$a" 95117 "$a.*(refused|ECONNREFUSED)"
lt_check "$R/rf.text" "${opts[@]}" "root@$a"
assert_text "$R/rf.text" "$a" 95117

# --- 95117: the host does not answer ARP (EHOSTUNREACH after ~3 s)
a=$(harness_unused_addr refused)
lt_check "$R/hu.json" "${opts[@]}" --format json "root@$a"
assert_one "$R/hu.json" "$a" 95117 "$a.*(No route to host|EHOSTUNREACH|unreachable)"

# --- 97118: packets vanish; --timeout 2 ends the connect
harness_host_drop dropped
a=$(harness_host_addr dropped)
t0=$(date +%s)
lt_check "$R/to.json" "${opts[@]}" --timeout 2 --format json "root@$a"
t1=$(date +%s)
assert_one "$R/to.json" "$a" 97118 "$a.*(timed out|2 s|2000)"
# A timeout is transient: the engine tries 3 times with backoff (0.25 s, then
# 0.5 s, each with jitter), so 3 x 2 s + under 1 s, never the kernel's 127 s.
lt_expect "timeout honoured (<= 9 s for 3 attempts)" yes "$([ $((t1 - t0)) -le 9 ] && echo yes || echo "no: $((t1 - t0)) s")"
lt_check "$R/to.text" "${opts[@]}" --timeout 2 "root@$a"
assert_text "$R/to.text" "$a" 97118

# the JSON went to stdout only; stderr stays free of reports
lt_expect "no stderr on a failed check" "" "$(cat "$R/nr.json.err" "$R/rf.json.err" "$R/to.json.err")"
lt_done
