# tests/lib/pg.sh - a private PostgreSQL server for one test, sourced.
#
#   . tests/lib/pg.sh
#   pg_start DIR [LISTEN_ADDR ALLOW_CIDR]
#   ... use "$PG_URI" (Unix socket) or "$PG_TCP_URI" (LISTEN_ADDR) ...
#   pg_restart          # stop (fast) and start again, same data
#   pg_stop             # also run on EXIT, see below
#
# pg_start makes a new cluster with Debian's initdb in DIR/data (DIR is
# created; every folder above it must be traversable by the postgres
# user), owned by the system user "postgres" (the postgresql package
# creates it; the server refuses to run as root), and starts it:
#   - always on a Unix socket in a short private folder (socket paths are
#     limited to 107 bytes), no TCP unless asked;
#   - with LISTEN_ADDR (e.g. a 198.18.x.y address of a bridge or veth the
#     test made, reachable from its network namespaces) also on that
#     address, on a free port; ALLOW_CIDR (e.g. 198.18.0.0/15) is the only
#     network allowed in, with "trust" authentication.  No password
#     exists anywhere: the server is private to the test, bound to a test
#     address, and stopped at the end.
# It creates the database "agentpush" and exports:
#   PG_DIR, PG_SOCKDIR, PG_PORT, PG_BIN
#   PG_URI       postgresql:///agentpush?host=<socket dir>&port=<port>&user=postgres
#   PG_TCP_URI   postgresql://postgres@LISTEN_ADDR:PORT/agentpush (with LISTEN_ADDR)
# Stopping: pg_start adds pg_stop to the harness' exit hooks
# (HARNESS_EXIT_HOOKS) when tests/harness/harness.sh is loaded, else to the
# shell's EXIT trap (keeping a trap already set, and the exit status it
# sees); a test that sets its EXIT trap later must call pg_stop from it.
# The server's log is $PG_DIR/log (printed by pg_start on a failure to
# start).  PG_LOG_STATEMENTS=1 logs every statement there.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg__as() {
	runuser -u postgres -- "$@"
}

# A TCP port nothing listens on (from a range tests do not otherwise use).
pg__free_port() {
	local p
	for p in $(shuf -i 20000-29999 -n 50); do
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

pg_start() {
	local dir=$1 listen=${2:-} cidr=${3:-} old
	[ -n "$dir" ] || { echo "pg_start: no folder given" >&2; return 2; }
	if [ -n "$listen" ] && [ -z "$cidr" ]; then
		echo "pg_start: a listen address needs the network allowed in (CIDR)" >&2
		return 2
	fi
	id postgres >/dev/null 2>&1 || { echo "pg_start: no postgres user: run scripts/deps.sh" >&2; return 2; }
	[ -x "$PG_BIN/initdb" ] || { echo "pg_start: no $PG_BIN/initdb: run scripts/deps.sh" >&2; return 2; }
	mkdir -p "$dir"
	PG_DIR=$(cd "$dir" && pwd)
	PG_SOCKDIR=$(mktemp -d /tmp/ap-pg.XXXXXX)
	chown postgres: "$PG_DIR" "$PG_SOCKDIR"
	chmod 0700 "$PG_SOCKDIR"
	PG_PORT=$(pg__free_port) || { echo "pg_start: no free port" >&2; return 1; }
	pg__as "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 \
		--locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; return 1; }
	{
		echo "port = $PG_PORT"
		echo "unix_socket_directories = '$PG_SOCKDIR'"
		echo "listen_addresses = '${listen}'"
		echo "max_connections = 200"
		echo "log_line_prefix = '%m [%p] '"
		# PG_LOG_STATEMENTS=1: every statement in $PG_DIR/log (to count
		# what a worker sends per host; never on in a test)
		[ "${PG_LOG_STATEMENTS:-0}" != 1 ] || echo "log_statement = 'all'"
	} >>"$PG_DIR/data/postgresql.conf"
	{
		echo "local all all trust"
		[ -z "$cidr" ] || echo "host all all $cidr trust"
	} >"$PG_DIR/data/pg_hba.conf"
	# Under the test harness, pg_stop is one of its exit hooks.  Else it
	# goes in front of the EXIT trap already set, which must still see the
	# status the shell is exiting with: a trap that reads $? after
	# pg_stop ran would turn every failure into success (the harness'
	# own trap did, until 2026-12-07: workers_pg could not fail).
	if declare -p HARNESS_EXIT_HOOKS >/dev/null 2>&1; then
		case " ${HARNESS_EXIT_HOOKS[*]} " in
		*" pg_stop "*) ;;
		*) HARNESS_EXIT_HOOKS+=(pg_stop) ;;
		esac
	else
		old=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
		case "$old" in
		*pg_stop*) ;;
		'') trap 'pg_stop' EXIT ;;
		*) trap "pg__rc=\$?; set +e; pg_stop; (exit \$pg__rc); $old" EXIT ;;
		esac
	fi
	if ! pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 120 start >/dev/null; then
		cat "$PG_DIR/log" >&2
		return 1
	fi
	pg__as psql -X -q -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -d postgres \
		-c 'CREATE DATABASE agentpush' || return 1
	PG_URI="postgresql:///agentpush?host=$PG_SOCKDIR&port=$PG_PORT&user=postgres"
	PG_TCP_URI=
	[ -z "$listen" ] || PG_TCP_URI="postgresql://postgres@$listen:$PG_PORT/agentpush"
	export PG_DIR PG_SOCKDIR PG_PORT PG_BIN PG_URI PG_TCP_URI
}

# Stops the server now (fast: clients are cut off, committed data stays)
# and starts it again on the same port and data.
pg_restart() {
	pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 120 stop >/dev/null &&
	pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 120 start >/dev/null
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 120 stop >/dev/null 2>&1 ||
		pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	[ -z "${PG_SOCKDIR:-}" ] || rm -rf "$PG_SOCKDIR"
	PG_DIR=
}
