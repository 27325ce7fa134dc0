#!/usr/bin/env bash
# Runs a store unit test binary ($1) against a private PostgreSQL server
# (tests/lib/pg.sh) in a fresh folder under the build's tmp dir: the
# binary gets the server's URI in AP_TEST_STORE and a command restarting
# the server in AP_TEST_PG_RESTART.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/pg.sh"
bin=$1
shift
base=${AP_TEST_TMP:-$PWD/tmp}
mkdir -p "$base"
chmod 0755 "$base"
dir=$(mktemp -d "$base/pg.XXXXXX")
chmod 0755 "$dir"
trap 'pg_stop; rm -rf "$dir"' EXIT
# meson's timeout sends SIGTERM: exit through the EXIT trap, server stopped.
trap 'exit 143' TERM INT
pg_start "$dir/cluster"
AP_TEST_PG_RESTART="runuser -u postgres -- $PG_BIN/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -m fast -w -t 120 restart >/dev/null" \
AP_TEST_STORE=$PG_URI "$bin" "$@"
