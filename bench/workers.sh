#!/usr/bin/env bash
# bench/workers.sh - 1, 2, 3 `agentpush worker`s sharing one PostgreSQL job
# store (issue 14, "Benchmark"): hosts per second, database round trips per
# host, the workers' and PostgreSQL's CPU, and (one extra run under perf)
# the store's share of a worker's CPU.  Figures: docs/PERFORMANCE.md.
# A benchmark, not a test: meson does not run it and nothing asserts a time.
#
#   bench/workers.sh [-n TARGETS] [-H HOSTS] [-P PARALLEL] [-r REPS]
#                    [-w "1 2 3"] [-s SLEEP] [-J PCT] [-b BUILDDIR] [-F PERF_HZ] [-q]
#
#   -n TARGETS   targets in the fleet (default 600)
#   -H HOSTS     real sshd test hosts carrying them (default 10: 60
#                addresses each, target i on host i % HOSTS)
#   -P PARALLEL  --parallel of every worker (default 25)
#   -r REPS      runs of each worker count (default 3; medians)
#   -w COUNTS    worker counts (default "1 2 3")
#   -s SLEEP     seconds the installer waits before installing (default 2)
#   -J PCT       each host waits SLEEP +- PCT % instead (uniform, drawn on
#                the host; default 0: all alike).  Identical waits keep a
#                worker's hosts in lock-step: every round's P hosts probe,
#                upload and install at the same instant, and with 3
#                workers those bursts of 3P hosts saturate the machine the
#                fleet shares with the workers.  Real installs do not take
#                the same time to the second.
#   -b BUILDDIR  agentpush build (default: build-bench, set up and built)
#   -F HZ        perf sampling rate of the profiled run (default 499);
#                -q skips that run
#   -t TSV       only print the table of the raw rows in TSV (with -n)
#
# The fleet (as tests/integration/engine/workers.sh): HOSTS harness sshd
# hosts (tests/harness/harness.sh), each with TARGETS/HOSTS extra addresses;
# each address is a target of its own (its own TCP and SSH connection, root
# password login) with its own install folder /opt/rRUN/tNNN and staging
# folder /var/tmp/rRUN/tNNN, new for every run, so every run installs
# afresh; a run's folders are removed after it (outside the timing).  The
# package is the real agent package with "sleep SLEEP; " in front of its
# install command: each host's time is then mostly waiting on the target,
# not CPU, so the targets (which share this machine's 2 cores) are not the
# bottleneck and a worker's throughput is bounded by its --parallel; W
# workers with the same --parallel should then finish W times faster until
# the machine's CPU runs out (the "machine CPU" column says whether it did).
#
# Each worker runs in its own network namespace (harness hosts wk1..wkW, the
# machine forwarding only between harness veths), as the test does.  The
# store: a private PostgreSQL cluster (tests/lib/pg.sh) on its Unix socket.
#
# One run: submit one install job of TARGETS hosts (`install --submit`),
# read the CPU counters, start W workers, ask the store for the job's status
# every 0.5 s (one psql session) until it is done (so the wall time is known to +-0.5 s),
# read the counters again, SIGTERM the workers and read their exit line
# ("... N statements, M round trips").  Columns:
#   wall s        workers started -> job seen done
#   hosts/s       TARGETS / wall
#   statements/host  statements the workers sent to the store (their exit
#                 line, summed) / TARGETS
#   RT/host       the workers' waits for the database's answers (exit
#                 line, summed) / TARGETS: PostgreSQL sends a transaction's
#                 writes with its next read, so fewer than statements
#   worker CPU s  the workers' utime+stime (/proc/PID/stat, summed), read
#                 before they are stopped
#   PG CPU s      the PostgreSQL cluster's utime+stime: postmaster (with
#                 its reaped children) and its live children, end - start
#                 (the poller's one query every 0.5 s is in it)
#   machine CPU   busy share of all cores over the run (/proc/stat), every
#                 process of the machine: 100 % = both cores saturated
# The profiled run: one worker under `perf record -F HZ --call-graph dwarf`
# (which starts it: `perf record -p` misses the threads a worker creates
# after perf attached; dwarf because a release build and Debian's libpq
# have no frame pointers), then `perf script`: the share of
# the worker's samples whose stack holds a frame of the store (a function
# defined in lib/store/*.c, by nm of their objects, or named ap_store_*,
# store_*, drv_*, PQ*, pq*, or in libpq.so).
set -euo pipefail
AP_SOURCE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=600 NHOSTS=10 PAR=25 REPS=3 COUNTS="1 2 3" SLEEP=2 JITTER=0 BUILD='' HZ=499 PROFILE=1 TABLE=''
while getopts n:H:P:r:w:s:J:b:F:qt:h o; do
	case $o in
	n) N=$OPTARG ;; H) NHOSTS=$OPTARG ;; P) PAR=$OPTARG ;; r) REPS=$OPTARG ;;
	w) COUNTS=$OPTARG ;; s) SLEEP=$OPTARG ;; J) JITTER=$OPTARG ;; b) BUILD=$OPTARG ;; F) HZ=$OPTARG ;;
	q) PROFILE=0 ;; t) TABLE=$OPTARG ;;
	*) sed -n '2,23p' "$0"; exit 2 ;;
	esac
done
# print_table TSV: the table, medians over the reps
print_table() {
	python3 - "$1" "$N" <<'PY'
import statistics as S, sys
n = int(sys.argv[2]); rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] != "run":
        continue
    kv = dict(x.split("=", 1) for x in f[4:-1])
    kv["all"] = kv["status"] == "done" and "done=%d" % n in f[-1].split()
    rows.setdefault(int(f[2]), []).append(kv)
base = None
print("| workers | runs | wall s (median) | hosts/s | speed-up | statements/host | RT/host | worker CPU s | CPU ms/host | PG CPU s | machine CPU % | all done |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for w in sorted(rows):
    r = rows[w]
    med = lambda k: S.median(float(x[k]) for x in r)
    wall = med("wall_s")
    base = base or wall * 1  # first row (1 worker) is the reference
    print("| %d | %d | %.2f | %.2f | %.2fx | %.1f | %.1f | %.2f | %.1f | %.2f | %.0f | %s |" % (
        w, len(r), wall, n / wall, base / wall, med("stmts") / n,
        med("rts") / n if "rts" in r[0] else float("nan"), med("worker_cpu_s"),
        1000 * med("worker_cpu_s") / n, med("pg_cpu_s"), med("machine_busy_pct"),
        "yes" if all(x["all"] for x in r) else "NO"))
PY
}
if [ -n "$TABLE" ]; then print_table "$TABLE"; exit 0; fi
CMDLINE="bench/workers.sh $*"
if [ -z "$BUILD" ]; then
	BUILD=$AP_SOURCE_ROOT/build-bench
	[ -f "$BUILD/build.ninja" ] || meson setup -Dbuildtype=release "$BUILD" "$AP_SOURCE_ROOT" >/dev/null
fi
BUILD=$(cd "$BUILD" && pwd)
ninja -C "$BUILD" src/cli/agentpush agent/package >/dev/null
export AP_SOURCE_ROOT AP_BUILD_ROOT=$BUILD AGENTPUSH=$BUILD/src/cli/agentpush
PKG=$BUILD/agent/package
MAXW=0
for w in $COUNTS; do [ "$w" -le "$MAXW" ] || MAXW=$w; done

source "$AP_SOURCE_ROOT/tests/harness/harness.sh"
harness_init bench_workers
source "$AP_SOURCE_ROOT/tests/integration/engine/lib.sh"
source "$AP_SOURCE_ROOT/tests/lib/pg.sh"
R=$HARNESS_RUN/wb; mkdir -p "$R"
TSV=/tmp/apbench-workers-n$N-p$PAR.tsv
HZTICK=$(getconf CLK_TCK)
echo "# $CMDLINE" >"$TSV"
echo "# $(date -u '+%F %T UTC'); build $BUILD ($(grep -o "buildtype=[a-z]*" "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || meson introspect --buildoptions "$BUILD" | python3 -c 'import json,sys; print("buildtype=" + [o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"][0])')); commit $(git -C "$AP_SOURCE_ROOT" rev-parse --short HEAD)" >>"$TSV"
echo "# load before: $(uptime)" >>"$TSV"
cat "$TSV"

# --- the store
pgbase=$BUILD/tmp; mkdir -p "$pgbase"; chmod 0755 "$pgbase"
pgdir=$(mktemp -d "$pgbase/bench-workers-pg.XXXXXX"); chmod 0755 "$pgdir"
pg_start "$pgdir/cluster"
DB=$PG_URI
coproc PSQL { exec "$PG_BIN/psql" -X -A -t -q "$PG_URI"; }

# --- the fleet
t0=$(date +%s)
per=$(( (N + NHOSTS - 1) / NHOSTS ))
openssl rand -base64 24 | tr -dc 'A-Za-z0-9' >"$R/pw"; chmod 600 "$R/pw"
kh=$R/kh; : >"$kh"
hosts=()
declare -A ADDR   # target index -> address
for h in $(seq 1 "$NHOSTS"); do
	host=f$h; hosts+=("$host")
	et_fleet_host "$host" "$R/pw" "$kh" "$per"
	# target i lives on host i % NHOSTS: a worker's claim (in target
	# order) spreads over every host
	k=0
	for ((i = h - 1; i < N; i += NHOSTS)); do ADDR[$i]=${ET_ADDRS[$k]}; k=$((k + 1)); done
done
et_worker_netns "$MAXW" "${hosts[@]}"
cp -r "$PKG" "$R/pkg"
case $SLEEP$JITTER in *[!0-9]*) echo "workers.sh: -s and -J want whole numbers" >&2; exit 2 ;; esac
python3 - "$R/pkg/manifest.json" "$SLEEP" "$JITTER" <<'PY'
import json, sys
p = sys.argv[1]; m = json.load(open(p))
s, j = int(sys.argv[2]), int(sys.argv[3])
span = s * j // 100
if span == 0:
    wait = "sleep %d; " % s
else:
    # SLEEP - span .. SLEEP + span seconds, drawn on the host (od: busybox too)
    wait = ("sleep $(( %d + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') %% %d )); "
            % (s - span, 2 * span + 1))
m["linux"]["commands"]["install"] = wait + m["linux"]["commands"]["install"]
json.dump(m, open(p, "w"), indent=2)
PY
echo "setup: $(( $(date +%s) - t0 )) s ($NHOSTS sshd hosts, $N targets, $MAXW worker namespaces, PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"

# --- counters
busy_total() {   # "busy total" jiffies of the whole machine
	awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}
proc_cpu() {     # utime+stime(+cutime+cstime with 1) of PID, in ticks
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	if [ "${2:-0}" = 1 ]; then echo $(( ${12} + ${13} + ${14} + ${15} )); else echo $(( ${12} + ${13} )); fi
}
pg_cpu() {
	local pm c t
	pm=$(head -1 "$PG_DIR/data/postmaster.pid")
	t=$(proc_cpu "$pm" 1)
	for c in $(pgrep -P "$pm" || true); do t=$(( t + $(proc_cpu "$c") )); done
	echo "$t"
}
ticks_s() { awk -v t="$1" -v h="$HZTICK" 'BEGIN { printf "%.2f", t / h }'; }

# --- one run: W workers; PERF=file profiles the (single) worker
WPIDS=()
RUNNO=0
run_once() {
	local W=$1 rep=$2 perf_out=${3:-} run inv i n job t1 t2 st b0 t0j b1 t1j pg0 pg1 wcpu=0 stmts=0 rts=0 w p s t
	RUNNO=$((RUNNO + 1)); run=r$RUNNO
	inv=$R/inv.$run
	echo "[fleet]" >"$inv"
	for ((i = 0; i < N; i++)); do
		n=$(printf 't%03d' "$i")
		echo "$n ansible_host=${ADDR[$i]} agentpush_install_dir=/opt/$run/$n agentpush_staging_dir=/var/tmp/$run/$n" >>"$inv"
	done
	# the run's folders, every target's staging folder (mode 1777, as a
	# staging folder is), one exec per host
	# shellcheck disable=SC2016  # expanded by the host's shell
	for ((k = 0; k < NHOSTS; k++)); do
		for ((i = k; i < N; i += NHOSTS)); do printf '/var/tmp/%s/t%03d\n' "$run" "$i"; done |
			harness_exec "${hosts[$k]}" sh -c 'mkdir -p "/opt/$1" "/var/tmp/$1" && chmod 1777 "/var/tmp/$1" &&
				while read -r d; do mkdir -m 1777 "$d" || exit 1; done' sh "$run"
	done
	et_run "$R/sub.$run" install --submit --package "$R/pkg" -i "$inv" --db "$DB" \
		--known-hosts "$kh" --host-key-policy strict --format json
	[ "$(cat "$R/sub.$run.rc")" = 0 ] || { cat "$R/sub.$run.err" >&2; exit 1; }
	job=$(lt_json "$R/sub.$run" "d['job_id']")
	read -r b0 t0j < <(busy_total)
	pg0=$(pg_cpu)
	WPIDS=()
	PERFPID=
	t1=$(date +%s%N)
	for w in $(seq 1 "$W"); do
		# The profiled worker runs under perf from its start: `perf
		# record -p` attached to a running worker does not follow the
		# threads it creates afterwards (each run's pool), and counted
		# one sample where the worker used 1.5 s.
		local prof=()
		[ -n "$perf_out" ] && [ "$w" = 1 ] &&
			prof=(perf record -F "$HZ" --call-graph dwarf -o "$perf_out" --)
		HOME="$LT_HOME" XDG_STATE_HOME="$LT_STATE" ip netns exec "$(harness_host_netns "wk$w")" \
			"${prof[@]}" "$LT_AP" worker --db "$DB" --name "$run-w$w" --parallel "$PAR" \
			--password-file "$R/pw" >"$R/$run-w$w.out" 2>"$R/$run-w$w.log" </dev/null &
		p=$!
		if [ ${#prof[@]} -gt 0 ]; then
			# the worker is perf's child: its CPU and SIGTERM are its own
			PERFPID=$p; p=
			for i in $(seq 200); do
				p=$(pgrep -P "$PERFPID" | head -1) && [ -n "$p" ] && break
				sleep 0.05
			done
			[ -n "$p" ] || { echo "perf did not start the worker:" >&2; tail -5 "$R/$run-w$w.log" >&2; exit 1; }
		fi
		WPIDS+=("$p")
	done
	# one psql session asks every 0.5 s (one backend for the whole run: a
	# new connection per poll would cost PostgreSQL more than a worker's
	# statements do, and would land in its CPU figure)
	while :; do
		sleep 0.5
		echo "SELECT status FROM jobs WHERE id = $job;" >&"${PSQL[1]}"
		read -r st <&"${PSQL[0]}"
		[ "$st" = running ] || break
	done
	t2=$(date +%s%N)
	read -r b1 t1j < <(busy_total)
	for p in "${WPIDS[@]}"; do wcpu=$(( wcpu + $(proc_cpu "$p") )); done
	for p in "${WPIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${WPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	WPIDS=()
	if [ -n "$PERFPID" ]; then wait "$PERFPID" 2>/dev/null || true; fi
	sleep 1   # the workers' backends exit and are reaped
	pg1=$(pg_cpu)
	for w in $(seq 1 "$W"); do
		s=$(grep -o '[0-9]* statements' "$R/$run-w$w.log" | tail -1 | cut -d' ' -f1)
		t=$(grep -o '[0-9]* round trips' "$R/$run-w$w.log" | tail -1 | cut -d' ' -f1)
		[ -n "$s" ] && [ -n "$t" ] || { echo "worker $w of $run printed no summary:" >&2; tail -5 "$R/$run-w$w.log" >&2; exit 1; }
		stmts=$((stmts + s)); rts=$((rts + t))
	done
	et_run "$R/show.$run" jobs --db "$DB" --limit 1 --format json
	local states
	states=$(lt_json "$R/show.$run" "' '.join('%s=%d' % kv for kv in sorted(d['jobs'][0]['states'].items()) if kv[1])")
	local wall_ms=$(( (t2 - t1) / 1000000 )) status=$st
	printf '%s\t%s\t%d\t%d\tstatus=%s\twall_s=%s\tstmts=%d\trts=%d\tworker_cpu_s=%s\tpg_cpu_s=%s\tmachine_busy_pct=%s\t%s\n' \
		"$([ -n "$perf_out" ] && echo perf || echo run)" "$run" "$W" "$rep" \
		"$status" \
		"$(awk -v m="$wall_ms" 'BEGIN { printf "%.2f", m / 1000 }')" "$stmts" "$rts" \
		"$(ticks_s "$wcpu")" "$(ticks_s $((pg1 - pg0)))" \
		"$(awk -v b=$((b1 - b0)) -v t=$((t1j - t0j)) 'BEGIN { printf "%.1f", 100 * b / t }')" \
		"$states" | tee -a "$TSV"
	# outside the timing: this run's agents stop (the harness hosts share
	# this machine's processes: 600 idle agents per run would pile up and
	# take CPU from the next runs) and its folders go
	pkill -TERM -f -- "--install-dir /opt/$run/" 2>/dev/null || true
	sleep 1
	pkill -KILL -f -- "--install-dir /opt/$run/" 2>/dev/null || true
	for h in "${hosts[@]}"; do harness_exec "$h" rm -rf "/opt/$run" "/var/tmp/$run"; done
}
# on any exit: the workers and perf, then the cluster, then the harness
# (harness_init's and pg_start's traps, in one)
trap 'rc=$?; for p in "${WPIDS[@]}" ${PERFPID:-}; do kill -TERM "$p" 2>/dev/null || true; done; pg_stop; rm -rf "$pgdir"; _harness_on_exit $rc' EXIT

if [ "$PROFILE" = 1 ]; then
	run_once 1 1 "$R/perf.data"
	nm --defined-only "$BUILD"/lib/libagentpush.a.p/store_*.o 2>/dev/null |
		awk '$2 ~ /^[tT]$/ { print $3 }' | sort -u >"$R/store_syms"
	perf script -i "$R/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null >"$R/perf.txt"
	cp "$R/perf.txt" "${TSV%.tsv}.perf.txt"   # for a closer look at the stacks
	python3 - "$R/perf.txt" "$R/store_syms" <<'PY' | tee -a "$TSV"
import collections, re, sys
syms = set(open(sys.argv[2]).read().split())
pref = ("ap_store_", "store_", "drv_", "PQ", "pq")
def is_store(sym, dso):
    s = sym.split("+")[0]
    return s in syms or s.startswith(pref) or "libpq.so" in dso
samples = store = pq = 0
leaf = collections.Counter()
entry = collections.Counter()
cur = None
def flush(fr):
    global samples, store, pq
    if fr is None:
        return
    samples += 1
    if any(is_store(s, d) for s, d in fr):
        store += 1
        # the outermost ap_store_ call: which store operation it was
        ent = [s.split("+")[0] for s, d in fr if s.startswith("ap_store_")]
        entry[ent[-1] if ent else "(no ap_store_ frame)"] += 1
    if any("libpq.so" in d for s, d in fr):
        pq += 1
    if fr:
        leaf[fr[0][0].split("+")[0] + " (" + fr[0][1].rsplit("/", 1)[-1] + ")"] += 1
frame = re.compile(r"^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")
for line in open(sys.argv[1], errors="replace"):
    if not line.strip():
        continue
    if not line[0].isspace():
        flush(cur); cur = []
        continue
    m = frame.match(line)
    if m and cur is not None:
        cur.append((m.group(1), m.group(2)))
flush(cur)
print("perf\tsamples=%d\tstore_samples=%d\tstore_pct=%.2f\tlibpq_pct=%.2f" %
      (samples, store, 100.0 * store / max(samples, 1), 100.0 * pq / max(samples, 1)))
for k, v in entry.most_common(10):
    print("perf-store-entry\t%.2f%%\t%s" % (100.0 * v / max(samples, 1), k))
for k, v in leaf.most_common(12):
    print("perf-leaf\t%.2f%%\t%s" % (100.0 * v / max(samples, 1), k))
PY
fi
for rep in $(seq 1 "$REPS"); do
	for W in $COUNTS; do run_once "$W" "$rep"; done
done

echo "# load after: $(uptime)" | tee -a "$TSV"

print_table "$TSV"
echo "raw rows: $TSV"
if [ "${PG_LOG_STATEMENTS:-0}" = 1 ]; then
	cp "$PG_DIR/log" "${TSV%.tsv}.pglog"
	echo "statements: ${TSV%.tsv}.pglog"
fi
pg_stop
rm -rf "$pgdir"
