#!/usr/bin/env bash
# bench/server.sh: the configuration server under 1,000 agents' heartbeats.
#
#   bench/server.sh [-n AGENTS] [-i INTERVAL] [-d DURATION] [-b BUILDDIR]
#
# Starts a real `agentpush serve` (HTTPS, its own generated certificate, a
# private store and state folder under a temporary folder) on 127.0.0.1,
# then bench/agents_load.c: AGENTS agents register (each from its own
# 127.2.X.Y address), then beat every INTERVAL seconds for DURATION seconds,
# twice: at random phases (a fleet's normal life) and all at once (every
# agent restarted together).  Prints each run's JSON line (p50/p90/p99 ms of
# a beat, TLS handshake included; the server's CPU in % of one core over the
# beat phase).  Not a test: nothing asserts a time.  docs/PERFORMANCE.md
# holds the figures.  Needs no root (loopback only).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
N=1000 I=60 D=180 B=""
while getopts n:i:d:b: o; do
	case $o in
	n) N=$OPTARG ;; i) I=$OPTARG ;; d) D=$OPTARG ;; b) B=$OPTARG ;;
	*) echo "usage: $0 [-n AGENTS] [-i INTERVAL] [-d DURATION] [-b BUILDDIR]" >&2; exit 2 ;;
	esac
done
if [ -z "$B" ]; then
	B=$SRC/build-bench
	[ -d "$B" ] || meson setup "$B" "$SRC" -Dbuildtype=release -Dtests=false >/dev/null
	ninja -C "$B" >/dev/null
fi
AP=$B/src/cli/agentpush
W=$(mktemp -d /tmp/apserver-bench.XXXXXX)
SPID=""
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE "$SRC/bench/agents_load.c" -o "$W/agents_load" \
	$(pkg-config --cflags --libs libcurl)

# A free port on 127.0.0.1.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -m 0700 "$W/state"
"$AP" serve --listen "127.0.0.1:$PORT" --db "$W/state/jobs.db" --state-dir "$W/state" \
	2>"$W/serve.log" &
SPID=$!
for _ in $(seq 100); do
	[ -s "$W/state/server.crt" ] && curl -s --cacert "$W/state/server.crt" \
		"https://127.0.0.1:$PORT/api/v1/health" >/dev/null 2>&1 && break
	sleep 0.1
done
"$AP" passphrase show --db "$W/state/jobs.db" --state-dir "$W/state" >"$W/pass"
chmod 0600 "$W/pass"
PIN="sha256//$(openssl x509 -in "$W/state/server.crt" -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)"
echo "# agentpush $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?'), $N agents, beat every $I s for $D s, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in spread burst; do
	flag=""
	[ $mode = burst ] && flag=--burst
	# A new server state per mode would re-register; the agents of the
	# first run are simply registered again (same machine ids: replaced).
	"$W/agents_load" --url "https://127.0.0.1:$PORT" --pin "$PIN" --passphrase-file "$W/pass" \
		-n "$N" --interval "$I" --duration "$D" --server-pid "$SPID" $flag
	# The rate limit (5 tries per address per minute) would refuse the
	# second registration of each address within the minute.
	[ $mode = spread ] && sleep 61
done
