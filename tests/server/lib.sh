# shellcheck shell=bash
# tests/server/lib.sh: a real `agentpush serve` for the server tests, on
# 127.0.0.1 with a private job store and state folder under the harness run
# directory.  Source after harness_init (and tests/integration/linux/lib.sh,
# for lt_expect and friends).
#
#   srv_start [ARGS...]      start `agentpush serve --listen $SRV_LISTEN:0
#                            --db ... --state-dir ...` plus ARGS (SRV_LISTEN:
#                            127.0.0.1 unless the test sets it, e.g. to an
#                            address its hosts can reach); wait until
#                            /api/v1/health answers.  Sets SRV_URL, SRV_DB,
#                            SRV_STATE, SRV_LOG, SRV_PID, SRV_AUTH (a 0600
#                            curl header file with the admin token: the
#                            token never goes on a command line)
#   srv_stop                 SIGTERM, wait; SRV_STOP_RC gets its exit status
#   srv_call OUT METHOD PATH [CURL ARGS...]
#                            one request with the admin token; body in
#                            OUT.body, status in OUT.code
#   srv_call_anon OUT METHOD PATH [CURL ARGS...]   the same without a token
#   srv_json OUT EXPR        python EXPR on OUT.body's JSON (d); prints it
#
# TLS: curl trusts the server's own certificate (--cacert), which names
# 127.0.0.1, so the tests check the certificate the server made, not -k.

SRV_DIR=$HARNESS_RUN/srv
mkdir -p "$SRV_DIR"
SRV_PID=""
SRV_LISTEN=${SRV_LISTEN:-127.0.0.1}

srv_start() {
	local i port scheme=https
	SRV_DB=$SRV_DIR/jobs.db
	SRV_STATE=$SRV_DIR/state
	SRV_LOG=$SRV_DIR/serve.log
	for a in "$@"; do [ "$a" = --insecure-http ] && scheme=http; done
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" \
		"$LT_AP" serve --listen "$SRV_LISTEN:0" --db "$SRV_DB" --state-dir "$SRV_STATE" "$@" \
		>"$SRV_LOG" 2>&1 </dev/null &
	SRV_PID=$!
	port=""
	for i in $(seq 1 100); do
		port=$(sed -n "s|^agentpush serve: listening on [a-z]*://${SRV_LISTEN//./\\.}:\\([0-9]*\\) .*|\\1|p" "$SRV_LOG")
		[ -n "$port" ] && break
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$port" ] || { cat "$SRV_LOG" >&2; _harness_die "agentpush serve did not start"; }
	SRV_URL=$scheme://$SRV_LISTEN:$port
	SRV_AUTH=$SRV_DIR/auth.hdr
	( umask 077; printf 'Authorization: Bearer %s\n' "$(cat "$SRV_STATE/admin-token")" >"$SRV_AUTH" )
	SRV_CURL=(curl -sS --max-time 60)
	[ "$scheme" = https ] && SRV_CURL+=(--cacert "$SRV_STATE/tls-cert.pem")
	for i in $(seq 1 50); do
		"${SRV_CURL[@]}" -o /dev/null "$SRV_URL/api/v1/health" 2>/dev/null && return 0
		sleep 0.1
	done
	_harness_die "agentpush serve does not answer on $SRV_URL"
}

srv_stop() {
	SRV_STOP_RC=""
	[ -n "$SRV_PID" ] || return 0
	kill -TERM "$SRV_PID" 2>/dev/null || true
	SRV_STOP_RC=0
	wait "$SRV_PID" || SRV_STOP_RC=$?
	SRV_PID=""
}

# Also stopped when the test dies: a server left running would hold the port
# and the harness run folder.
_srv_on_exit() { [ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null; return 0; }
HARNESS_EXIT_HOOKS+=("_srv_on_exit")

_srv_call() {
	local out=$1 method=$2 path=$3
	shift 3
	"${SRV_CURL[@]}" -X "$method" -o "$out.body" -w '%{http_code}' "$@" "$SRV_URL$path" >"$out.code" 2>"$out.err" || true
}
srv_call() { local o=$1 m=$2 p=$3; shift 3; _srv_call "$o" "$m" "$p" -H @"$SRV_AUTH" "$@"; }
srv_call_anon() { _srv_call "$@"; }
srv_code() { cat "$1.code"; }

srv_json() {
	python3 - "$1.body" "$2" <<-'PY'
	import json, sys
	try:
	    d = json.load(open(sys.argv[1]))
	except Exception as e:
	    print("<not json: %s>" % e); sys.exit(0)
	try:
	    print(eval(sys.argv[2]))
	except Exception as e:
	    print("<%s: %s>" % (type(e).__name__, e))
	PY
}
