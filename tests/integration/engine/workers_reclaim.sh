#!/usr/bin/env bash
# A host a worker claimed before is not a first run.  An install records
# nothing before its upload ends (engine.c, deferrable()): a worker killed
# in its upload leaves the host PLANNED with no attempt counted, and a
# fresh-looking .part in the staging folder.  The next worker to claim it
# must know that an earlier one may have run there (the target's lease
# generation) and remove that .part before its own upload; on a host no
# worker ever claimed, a .part that recent may be a live upload of another
# run and is left alone (only leftovers older than a stage's limit go).
#
# Two real sshd hosts, one install job in a SQLite store, a leftover
# ".part" of a dead controller (pid 99999) in each staging folder; the
# target on rc1 is marked claimed once before (lease_gen = 1, as a killed
# worker leaves it); one `agentpush worker --once` runs the job.
set -euo pipefail
source "${AP_SOURCE_ROOT:?}/tests/harness/harness.sh"
harness_init workers_reclaim
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"
PKG=${AP_INSTALL_PACKAGE:?AP_INSTALL_PACKAGE must name the sample package folder (meson test sets it)}
R=$HARNESS_RUN/wr; mkdir -p "$R"
hosts=(rc1 rc2)
targets=()
kh=$R/kh; : >"$kh"
( umask 077; printf 'R1ght-%s\n' "$(openssl rand -hex 12)" >"$R/pw" )
for h in "${hosts[@]}"; do
	lt_host "$h"
	lt_root_password "$h" "$R/pw"
	targets+=("root@$(harness_host_addr "$h")")
	et_known_hosts "$kh" "$h" "$(harness_host_addr "$h")"
done
db=$R/jobs.db
et_run "$R/sub" install --submit --db "$db" --package "$PKG" --known-hosts "$kh" \
	--timeout 60 --format json "${targets[@]}"
lt_expect "submit: exit 0" 0 "$(lt_rc "$R/sub")"
job=$(lt_json "$R/sub" "d['job_id']")

# the staging folder is the package's (/var/tmp); the name is the one a
# controller with pid 99999 gives its upload (linux_host.c)
part=/var/tmp/.agentpush-$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print("%s-%s" % (m["name"], m["version"]))' "$PKG/manifest.json").part.99999
for h in "${hosts[@]}"; do
	harness_exec "$h" sh -c 'head -c 4096 /dev/zero >"$1"' sh "$part"
done
python3 - "$db" "$(harness_host_addr rc1)" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n = c.execute("UPDATE targets SET lease_gen = 1 WHERE host = ?", (sys.argv[2],)).rowcount
c.commit()
assert n == 1, n
PY

# well inside a stage's limit (60 s) of the leftovers' last write
rc=0
HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" timeout 300 "$LT_AP" worker --db "$db" --once --name wr \
	--parallel 2 --password-file "$R/pw" >"$R/w.out" 2>"$R/w.log" </dev/null || rc=$?
lt_expect "the worker exits 0" 0 "$rc"
et_run "$R/show" show "$job" --db "$db" --format json
lt_expect "both hosts installed" 2 "$(lt_json "$R/show" "d['summary']['ok']")"
lt_expect "rc1 (claimed before): the dead claimant's .part is removed" "gone" \
	"$(harness_exec rc1 sh -c '[ -e "$1" ] && echo there || echo gone' sh "$part")"
lt_expect "rc2 (never claimed): a .part that recent is left alone" "there" \
	"$(harness_exec rc2 sh -c '[ -e "$1" ] && echo there || echo gone' sh "$part")"
lt_expect "the password is in no output" "" \
	"$(grep -F -l -f "$R/pw" "$R"/w.log "$R"/w.out "$R"/show.out "$R"/sub.out 2>/dev/null || true)"
lt_done
