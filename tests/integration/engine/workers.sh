#!/usr/bin/env bash
# Several `agentpush worker`s share one job store (issue 14): three workers,
# each in its own network namespace, on one fleet; one is SIGKILLed in the
# middle of its installs, another is paused (SIGSTOP) past its lease and
# then let go; with WT_DB=postgresql the database is restarted mid-job too.
# Every target must end done exactly once, counted on the hosts themselves;
# the paused worker must finish no host it no longer holds.
#
# The fleet: WT_HOSTS (default 60, as the issue asks) real sshd test hosts,
# each with WT_TARGETS/WT_HOSTS addresses (harness_host_add_addrs), made
# several at a time (et_fleet).  Each target is an address of its own (its
# own TCP and SSH connection) with its own install folder /opt/tNNN and
# staging folder /var/tmp/tNNN, so each install is separate and complete
# (as in resume_kill.sh).  WT_HOSTS=6 (ten addresses each) makes the fleet
# in a sixth of the time.
#
# The installer is the real agent package's, with "sleep 2" in front of its
# install command (the test's copy of the manifest) so that a kill or a
# pause lands in the middle of installs.  The installer appends "installed
# in DIR and running" to the host's install log for each install it
# completes: those lines count installs.
#
# WT_DB: postgresql (a private cluster, tests/lib/pg.sh, reached over its
# Unix socket; what meson runs) or sqlite (a file shared by the three
# namespaces; by hand).  With SQLite there is no pause: a worker stopped
# inside a write transaction holds the file's lock, and every other worker
# waits for it until it runs again -- one reason the store for workers is
# PostgreSQL (docs/workers.md).
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init "workers_${WT_DB:-postgresql}"
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"
PKG=${AP_INSTALL_PACKAGE:?AP_INSTALL_PACKAGE must name the sample package folder (meson test sets it)}
DBKIND=${WT_DB:-postgresql}
NHOSTS=${WT_HOSTS:-60}
N=${WT_TARGETS:-60}
LEASE=5
t0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
R=$HARNESS_RUN/wt; mkdir -p "$R"
WPIDS=()
# WRCS: "pid:status" of each worker stopped
WRCS=""
stop_workers() {
	local p rc
	for p in "${WPIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
	for p in "${WPIDS[@]}"; do rc=0; wait "$p" 2>/dev/null || rc=$?; WRCS+="$p:$rc "; done
	WPIDS=()
}

# --- the database
if [ "$DBKIND" = postgresql ]; then
	source "$AP_SOURCE_ROOT/tests/lib/pg.sh"
	# the postgres user must reach the cluster: not under the harness'
	# private run folder but under the build's tmp (as pg_run.sh does)
	pgbase=${AP_BUILD_ROOT:?}/tmp; mkdir -p "$pgbase"; chmod 0755 "$pgbase"
	pgdir=$(mktemp -d "$pgbase/workers-pg.XXXXXX"); chmod 0755 "$pgdir"
	pg_start "$pgdir/cluster"
	DB=$PG_URI
else
	DB=$R/jobs.db
fi

# db_query SQL: the rows of SQL, one per line, fields separated by '|'
db_query() {
	if [ "$DBKIND" = postgresql ]; then
		"$PG_BIN/psql" "$PG_URI" -At -c "$1"
	else
		python3 -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1], timeout=30).execute(sys.argv[2]):
    print("|".join(str(x) for x in row))' "$DB" "$1"
	fi
}

# --- the fleet: one password for all (lt_root_password), host keys shared
per=$(( (N + NHOSTS - 1) / NHOSTS ))
openssl rand -base64 24 | tr -dc 'A-Za-z0-9' >"$R/pw"; chmod 600 "$R/pw"
kh=$R/kh; : >"$kh"
inv=$R/inventory; names=(); hosts=()
echo "[fleet]" >"$inv"
i=0
et_fleet "$NHOSTS" "$per" "$R/pw" "$kh"
for h in $(seq 1 "$NHOSTS"); do
	host=f$h; hosts+=("$host")
	mapfile -t ET_ADDRS < <(et_fleet_addrs "$host")
	mine=()
	for a in "${ET_ADDRS[@]}"; do
		[ "$i" -lt "$N" ] || break
		n=$(printf 't%03d' "$i"); names+=("$n"); mine+=("$n")
		echo "$n ansible_host=$a agentpush_install_dir=/opt/$n agentpush_staging_dir=/var/tmp/$n" >>"$inv"
		i=$((i + 1))
	done
	# shellcheck disable=SC2016  # expanded by the host's shell
	harness_exec "$host" sh -c 'for n in "$@"; do mkdir -m 1777 "/var/tmp/$n"; done' sh "${mine[@]}"
	echo "${mine[*]}" >"$R/targets.$host"
done
lt_expect "$N targets in the inventory" "$N" "${#names[@]}"

# --- three worker namespaces; the machine forwards only between harness
# veths (per-interface forwarding, never net.ipv4.ip_forward)
et_worker_netns 3 "${hosts[@]}"

# --- the package: the real one, its installer made to take 2 s more
cp -r "$PKG" "$R/pkg"
python3 - "$R/pkg/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]; m = json.load(open(p))
m["linux"]["commands"]["install"] = "sleep 2; " + m["linux"]["commands"]["install"]
json.dump(m, open(p, "w"), indent=2)
PY
echo "   setup: $(ms "$t0") ms ($NHOSTS sshd hosts, $N targets, 3 worker namespaces, $DBKIND)"

# --- submit: recorded, nothing run
et_run "$R/sub" install --submit --package "$R/pkg" -i "$inv" --db "$DB" --known-hosts "$kh" \
	--host-key-policy strict --format json
lt_expect "submit: exit 0" 0 "$(lt_rc "$R/sub")"
job=$(lt_json "$R/sub" "d['job_id']")
et_run "$R/jobs0" jobs --db "$DB" --format json
lt_expect "submitted: running, $N planned, nothing else" "running $N $N" \
	"$(lt_json "$R/jobs0" "'%s %d %d' % (d['jobs'][0]['status'], d['jobs'][0]['targets'], d['jobs'][0]['states']['planned'])")"

# --- three workers
# start_worker N [NS]: worker wN in namespace wkNS (default wkN)
start_worker() {
	local w=$1 ns=${2:-$1}
	HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" ip netns exec "$(harness_host_netns "wk$ns")" \
		"$LT_AP" worker --db "$DB" --name "w$w" --parallel 8 --lease "$LEASE" \
		--password-file "$R/pw" >"$R/w$w.out" 2>"$R/w$w.log" </dev/null &
	WPIDS+=("$!")
	eval "W$w=$!"
}
t1=$(date +%s%N)
start_worker 1; start_worker 2; start_worker 3
done_lines() { local c; c=$(grep -c ": done$" "$1" 2>/dev/null) || true; echo "${c:-0}"; }
# SIGKILL w1 once it is in its stride (3 hosts done: its next ones are
# mid-install, each installer sleeping 2 s)
deadline=$(( $(date +%s) + 120 ))
while [ "$(done_lines "$R/w1.log")" -lt 3 ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
lt_expect_match "w1 finished some hosts before its kill" '^([3-9]|[1-9][0-9]+)$' "$(done_lines "$R/w1.log")"
kill -KILL "$W1"
echo "   w1 SIGKILLed after $(ms "$t1") ms with $(done_lines "$R/w1.log") hosts done"
# a replacement for w1, as its service manager would start one
start_worker 4 1
# SIGSTOP w2; let it go only once another worker has taken over one of the
# hosts it held (its lease expired meanwhile)
if [ "$DBKIND" = postgresql ]; then
	w2held() { db_query "SELECT count(*) FROM targets WHERE lease_owner LIKE 'w2/%' AND state NOT IN ('done', 'failed', 'skipped')"; }
	deadline=$(( $(date +%s) + 60 ))
	while [ "$(w2held)" = 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
	kill -STOP "$W2"
	t2=$(date +%s%N)
	held=$(db_query "SELECT id FROM targets WHERE lease_owner LIKE 'w2/%' AND state NOT IN ('done', 'failed', 'skipped') ORDER BY id" | tr '\n' ' ')
	lt_expect_match "w2 held hosts in flight when paused" '[0-9]' "$held"
	taken=""; deadline=$(( $(date +%s) + 90 ))
	while [ -z "$taken" ] && [ "$(date +%s)" -lt "$deadline" ]; do
		sleep 0.5
		taken=$(db_query "SELECT id FROM targets WHERE id IN (${held// /,}0) AND lease_owner IS NOT NULL AND lease_owner NOT LIKE 'w2/%'" | head -1)
	done
	lt_expect_match "another worker took one of w2's hosts while it was paused" '^[0-9]+$' "$taken"
	kill -CONT "$W2"
	echo "   w2 paused $(ms "$t2") ms (lease $LEASE s) holding targets $held; target $taken taken over"
	# PostgreSQL restarts only once w2 has given up a host it lost: just
	# after the resume, w2's write for that host could meet the restart
	# (a database error) instead of the new owner's lease (CI, 28b2d81).
	# Restarting while w2 was still paused (tried in 90cbd0f) found two
	# faults not fixed yet, so not tested here: a refill taking back the
	# worker's own expired leases (fixed, 605b8af) and a job left
	# "running" with every target done when the worker that ended the
	# last one had lost the database (see docs/workers.md).
	deadline=$(( $(date +%s) + 60 ))
	until grep -q ": abandoned " "$R/w2.log" || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.1; done
fi
if [ "$DBKIND" = postgresql ]; then
	left=$(db_query "SELECT count(*) FROM targets WHERE state NOT IN ('done', 'failed', 'skipped')")
	lt_expect_match "targets left to do when PostgreSQL restarts" '^[1-9]' "$left"
	pg_restart
	echo "   PostgreSQL restarted at $(ms "$t1") ms with $left targets left"
fi

# --- wait for the job
deadline=$(( $(date +%s) + 240 )); status=running
while [ "$(date +%s)" -lt "$deadline" ]; do
	et_run "$R/poll" jobs --db "$DB" --format json
	status=$(lt_json "$R/poll" "d['jobs'][0]['status']" 2>/dev/null || echo "?")
	[ "$status" = done ] && break
	sleep 0.5
done
echo "   job $status after $(ms "$t1") ms"
stop_workers
lt_expect "the job is done" done "$status"
et_run "$R/show" show "$job" --db "$DB" --format json --events
lt_expect "every target done" "$N" "$(lt_json "$R/show" "d['job']['states']['done']")"
lt_expect "every target ok" "$N" "$(lt_json "$R/show" "d['summary']['ok']")"
lt_expect "claims were made by all four workers" "w1 w2 w3 w4" \
	"$(lt_json "$R/show" "' '.join(sorted({e['detail'].split()[1].split('/')[0] for e in d['events'] if e['what'] == 'claim'}))")"
# a thread out of hosts claims more of the job (worker.c, run.h refill)
# instead of waiting for its batch's slowest host
lt_expect_match "workers refilled their shares as hosts ended" '^[1-9]' \
	"$(lt_json "$R/show" "sum(1 for e in d['events'] if e['what'] == 'claim' and ' more host' in e['detail'])")"
grep -h "abandon\|lost\|database\|cannot\|answers again" "$R"/w*.log | grep -v ": lease lost" | head -30 || true
if [ "$DBKIND" = postgresql ]; then
	lt_expect_match "w2 abandoned hosts it held when paused (their lease passed on)" '^[1-9]' \
		"$(grep -c ': abandoned ' "$R/w2.log" || true)"
	lt_expect_match "w2's summary counts them" '^[1-9][0-9]* abandoned' \
		"$(grep -o '[0-9]* abandoned' "$R/w2.log" || echo "no summary line")"
fi
# SIGTERM is a clean stop: 0, and under ASan nothing leaked
lt_expect "w2, w3 and w4 exit 0 on SIGTERM" "0 0 0" \
	"$(for w in 2 3 4; do p=W$w; grep -o "\b${!p}:[0-9]*" <<<"$WRCS" | cut -d: -f2; done | tr '\n' ' ' | sed 's/ $//')"
lt_expect "w1 (killed) printed no summary" "" "$(grep -o '[0-9]* abandoned' "$R/w1.log" || true)"
# every failure a worker logs says why (a claim that "failed" with no
# reason was a success returned as garbage: 46b515a's uninitialised rc)
lt_expect "every logged failure gives its reason" "" \
	"$(grep -h ': ; \|: $' "$R"/w*.log | head -3 || true)"

# --- exactly once, on the hosts themselves
bad=""; installs=0
for host in "${hosts[@]}"; do
	read -r -a mine <"$R/targets.$host"
	# shellcheck disable=SC2016  # expanded by the host's shell
	out=$(harness_exec "$host" sh -c '
		for n in "$@"; do
			d=/opt/$n
			inst=$(grep -c " installed in $d and running" /var/log/agentpush-agent-install.log)
			left=$(ls -A "/var/tmp/$n" | wc -l)
			echo "$n ${inst:-0} $(cat "$d/VERSION" 2>/dev/null || echo none) $left"
		done' sh "${mine[@]}")
	while read -r n inst ver left; do
		installs=$((installs + inst))
		[ "$inst" -le 1 ] || bad+="$n(installed $inst times) "
		[ "$ver" = 0.1.0 ] || bad+="$n(version $ver) "
		[ "$left" = 0 ] || bad+="$n($left files left in staging) "
	done <<<"$out"
done
lt_expect "no target installed twice, every one at 0.1.0, staging folders empty" "" "$bad"
echo "   installer completions counted on the hosts: $installs for $N targets"
if [ "$DBKIND" = sqlite ]; then
	lt_expect "the store passes integrity_check" ok \
		"$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])" "$DB")"
fi
echo "   total: $(ms "$t0") ms"
if [ "$DBKIND" = postgresql ]; then pg_stop; rm -rf "$pgdir"; fi
lt_done
