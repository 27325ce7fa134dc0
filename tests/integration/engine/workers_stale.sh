#!/usr/bin/env bash
# A worker does not start a host whose lease it no longer holds.  A host a
# worker claimed may wait in its pool before a thread starts it; if the
# worker is paused meanwhile (SIGSTOP, a VM frozen, a long GC-like stall)
# past its lease, another worker may have taken the host.  The records'
# guard keeps the stale worker from recording or installing, but without a
# check it would still connect and upload into a staging folder that the
# new owner is using.  So the engine asks the worker before it starts a
# host (run.h lease_check): known locally while the last claim or renewal
# surely still runs, else one question to the store.
#
# Deterministic: a worker's claims come in job order and it runs one job's
# share after the other (worker.c run_batch), so with two jobs of one host
# each, the second job's host waits for the whole of the first's install.
# The first host's installer sleeps 8 s; meanwhile the worker is paused
# past its lease (3 s) and the second host's lease is taken by "another
# worker" (an UPDATE as a claim would make it, once the lease expired).
# Let go, the worker must finish the first host (its lease expired, but
# nobody took it: still its own) and abandon the second before it starts:
# nothing of the second job on its host.  The lease is then given back;
# the same worker claims the host again and installs it, once.
#
# Two real sshd hosts, a private PostgreSQL cluster (tests/lib/pg.sh).
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init workers_stale
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"
source "$AP_SOURCE_ROOT/tests/lib/pg.sh"
PKG=${AP_INSTALL_PACKAGE:?AP_INSTALL_PACKAGE must name the sample package folder (meson test sets it)}
R=$HARNESS_RUN/ws; mkdir -p "$R"
LEASE=3
pgbase=${AP_BUILD_ROOT:?}/tmp; mkdir -p "$pgbase"; chmod 0755 "$pgbase"
pgdir=$(mktemp -d "$pgbase/workers-stale.XXXXXX"); chmod 0755 "$pgdir"
pg_start "$pgdir/cluster"
DB=$PG_URI
db_query() { "$PG_BIN/psql" "$PG_URI" -At -c "$1"; }

kh=$R/kh; : >"$kh"
( umask 077; printf 'R1ght-%s\n' "$(openssl rand -hex 12)" >"$R/pw" )
for h in sa sb; do
	lt_host "$h"
	lt_root_password "$h" "$R/pw"
	et_known_hosts "$kh" "$h" "$(harness_host_addr "$h")"
done
cp -r "$PKG" "$R/pkg"
python3 - "$R/pkg/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]; m = json.load(open(p))
m["linux"]["commands"]["install"] = "sleep 8; " + m["linux"]["commands"]["install"]
json.dump(m, open(p, "w"), indent=2)
PY
jobs=()
for h in sa sb; do
	et_run "$R/sub-$h" install --submit --db "$DB" --package "$R/pkg" --known-hosts "$kh" \
		--timeout 60 --format json "root@$(harness_host_addr "$h")"
	lt_expect "submit $h: exit 0" 0 "$(lt_rc "$R/sub-$h")"
	jobs+=("$(lt_json "$R/sub-$h" "d['job_id']")")
done
tb=$(db_query "SELECT id FROM targets WHERE job_id = ${jobs[1]}")

HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" "$LT_AP" worker --db "$DB" --name ws --parallel 2 \
	--lease "$LEASE" --password-file "$R/pw" >"$R/w.out" 2>"$R/w.log" </dev/null &
W=$!
WRC=none
stop_worker() {
	[ "$WRC" = none ] || return 0
	kill -CONT "$W" 2>/dev/null || true; kill -TERM "$W" 2>/dev/null || true
	WRC=0; wait "$W" 2>/dev/null || WRC=$?
}
HARNESS_EXIT_HOOKS+=("stop_worker")

# pause it once the first host is in its installer (its upload recorded)
deadline=$(( $(date +%s) + 120 ))
while [ "$(db_query "SELECT state FROM targets WHERE job_id = ${jobs[0]}")" != copied ] &&
      [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
lt_expect "the first host is in its installer" copied \
	"$(db_query "SELECT state FROM targets WHERE job_id = ${jobs[0]}")"
lt_expect "the worker holds the second job's host, not started" "planned ws" \
	"$(db_query "SELECT state || ' ' || split_part(lease_owner, '/', 1) FROM targets WHERE id = $tb")"
kill -STOP "$W"
# past the lease, then taken as another worker's claim takes it
sleep $((LEASE + 1))
lt_expect "its lease has expired" 1 \
	"$(db_query "SELECT count(*) FROM targets WHERE id = $tb AND lease_until < (extract(epoch from clock_timestamp()) * 1000)::bigint")"
db_query "UPDATE targets SET lease_owner = 'other/1/00000000', lease_until = (extract(epoch from clock_timestamp()) * 1000)::bigint + 600000, lease_gen = lease_gen + 1 WHERE id = $tb" >/dev/null
kill -CONT "$W"

deadline=$(( $(date +%s) + 120 ))
while [ "$(db_query "SELECT state FROM targets WHERE job_id = ${jobs[0]}")" != done ] &&
      [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
lt_expect "the first host done by the paused worker (nobody took it)" done \
	"$(db_query "SELECT state FROM targets WHERE job_id = ${jobs[0]}")"
deadline=$(( $(date +%s) + 30 ))
while ! grep -q "abandoned" "$R/w.log" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
lt_expect_match "the second host abandoned before it started" \
	"job ${jobs[1]}: root@$(harness_host_addr sb): abandoned before it started" "$(grep abandoned "$R/w.log" || true)"
lt_expect "... and untouched: nothing in its staging folder, no install" "0 0" \
	"$(harness_exec sb sh -c 'echo "$(ls -A /var/tmp | grep -c agentpush) $(grep -c " installed in" /var/log/agentpush-agent-install.log 2>/dev/null || true)"' |
	   sed 's/ $/ 0/')"
lt_expect "... and still the other worker's, planned" "planned other" \
	"$(db_query "SELECT state || ' ' || split_part(lease_owner, '/', 1) FROM targets WHERE id = $tb")"

# the other worker gives it back (as its lease ending would): the same
# worker claims it again and installs it
db_query "UPDATE targets SET lease_owner = NULL, lease_until = NULL WHERE id = $tb" >/dev/null
deadline=$(( $(date +%s) + 120 ))
while [ "$(db_query "SELECT status FROM jobs WHERE id = ${jobs[1]}")" != done ] &&
      [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
stop_worker
# under ASan also: nothing leaked (an empty claim did, every poll)
lt_expect "the worker exits 0 on SIGTERM" 0 "$WRC"
[ "$WRC" = 0 ] || tail -n 30 "$R/w.log" >&2
et_run "$R/show" show "${jobs[1]}" --db "$DB" --format json
lt_expect "the second job done, its host ok" "done 1" \
	"$(lt_json "$R/show" "'%s %d' % (d['job']['status'], d['summary']['ok'])")"
lt_expect "each host installed once" "1 1" \
	"$(for h in sa sb; do harness_exec "$h" grep -c " installed in" /var/log/agentpush-agent-install.log; done | tr '\n' ' ' | sed 's/ $//')"
lt_expect "the worker's summary counts the abandoned host" "1 abandoned" \
	"$(grep -o '[0-9][0-9]* abandoned' "$R/w.log" || echo "no summary line")"
lt_expect "the password is in no output" "" \
	"$(grep -F -l -f "$R/pw" "$R"/w.log "$R"/w.out "$R"/show.out "$R"/sub-*.out 2>/dev/null || true)"
lt_done
