#!/usr/bin/env bash
# bench/server.sh: the configuration server under 1,000 agents' heartbeats.
#
#   bench/server.sh [-n AGENTS] [-i INTERVAL] [-d DURATION] [-r REPS] [-b BUILDDIR]
#
# Starts a real `agentpush serve` (HTTPS, its own generated certificate, a
# private store and state folder under a temporary folder) on 127.0.0.1,
# then bench/agents_load.c: AGENTS agents register (each from its own
# 127.2.X.Y address), then beat every INTERVAL seconds for DURATION seconds,
# twice: at random phases (a fleet's normal life) and all at once (every
# agent restarted together).  Prints each run's JSON line (p50/p90/p99 ms of
# a beat, TLS handshake included; the server's and the load generator's CPU
# in % of one core over the beat phase; how long the registrations took).  Not a test: nothing
# asserts a time.  docs/PERFORMANCE.md holds the figures.  Needs no root
# (loopback only).  -r REPS: both beat runs REPS times over, on the same
# server and agents (default 1).  Takes about 2 x REPS x DURATION plus the
# registrations (1,000 take minutes: one Argon2id check each, one at a
# time).
#
# -b BUILDDIR: an existing build (its src/cli/agentpush); without it,
# build-bench of this tree is set up (release, no tests) and the program
# built.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
N=1000 I=60 D=180 R=1 B=""
while getopts n:i:d:r:b: o; do
	case $o in
	n) N=$OPTARG ;; i) I=$OPTARG ;; d) D=$OPTARG ;; r) R=$OPTARG ;; b) B=$OPTARG ;;
	*) echo "usage: $0 [-n AGENTS] [-i INTERVAL] [-d DURATION] [-r REPS] [-b BUILDDIR]" >&2; exit 2 ;;
	esac
done
if [ -z "$B" ]; then
	B=$SRC/build-bench
	[ -d "$B" ] || meson setup "$B" "$SRC" -Dbuildtype=release -Dtests=false >/dev/null
	# Only the program: the rest of the tree is not needed here.
	ninja -C "$B" src/cli/agentpush >/dev/null
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
# The certificate the server makes on its first start (lib/server/server.c).
CERT=$W/state/tls-cert.pem
up=0
for _ in $(seq 300); do
	if [ -s "$CERT" ] && curl -sfk "https://127.0.0.1:$PORT/api/v1/health" >/dev/null 2>&1; then
		up=1
		break
	fi
	kill -0 "$SPID" 2>/dev/null || break
	sleep 0.1
done
if [ $up = 0 ]; then
	echo "$0: agentpush serve did not answer on 127.0.0.1:$PORT; its log:" >&2
	cat "$W/serve.log" >&2
	exit 1
fi
"$AP" passphrase show --db "$W/state/jobs.db" --state-dir "$W/state" >"$W/pass"
chmod 0600 "$W/pass"
PIN="sha256//$(openssl x509 -in "$CERT" -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)"
echo "# agentpush $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?') ($AP), $N agents, beat every $I s for $D s, x$R, $(nproc) cores, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
# One registration per agent, then the beats twice on the same agents:
# spread, then burst.  (Registering again for the second run would take as
# long as the first, one Argon2id check at a time, and the rate limit of 5
# tries per address per minute would need a minute's pause.)
st=0
"$W/agents_load" --url "https://127.0.0.1:$PORT" --pin "$PIN" --passphrase-file "$W/pass" \
	-n "$N" --interval "$I" --duration "$D" --repeat "$R" --server-pid "$SPID" --both || st=$?
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -qE '^[0-9TZ:-]+ (warning|error) ' "$W/serve.log"; then
	echo "# the server's warnings and errors (first 20):"
	grep -E '^[0-9TZ:-]+ (warning|error) ' "$W/serve.log" | head -20 | sed 's/^/#   /'
fi
exit $st
