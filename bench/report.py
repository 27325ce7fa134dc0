#!/usr/bin/env python3
"""Print bench/run.sh's table and target lines from its results.tsv.

  report.py RESULTS.tsv N PARALLEL

Each row: tool, op, rep ("base" = the 1-host baseline), n, parallel, hosts
ok, then measure's "rc=.. wall_s=.. cpu_s=.. maxrss_kb=.. tree_pss_kb=..".
Figures are medians over the reps of one run.  Exit 0 always (a benchmark
reports; it does not gate).
"""
import statistics
import sys


def rows(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 7:
                continue
            kv = dict(x.split("=", 1) for x in p[6].split())
            out.append(dict(tool=p[0], op=p[1], rep=p[2], n=int(p[3]), par=int(p[4]),
                            ok=p[5], **{k: float(v) for k, v in kv.items()}))
    return out


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    path, n, par = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rs = rows(path)
    inflight = min(n, par)
    base = {(r["tool"], r["op"]): r for r in rs if r["rep"] == "base"}
    agg = {}
    for r in rs:
        if r["rep"] == "base":
            continue
        agg.setdefault((r["tool"], r["op"]), []).append(r)
    fig = {}
    for key, lst in agg.items():
        tool, op = key
        f = dict(runs=len(lst), ok=min(int(x["ok"]) if x["ok"].lstrip("-").isdigit() else -1 for x in lst),
                 wall=med([x["wall_s"] for x in lst]), cpu=med([x["cpu_s"] for x in lst]),
                 rss=med([x["maxrss_kb"] for x in lst]), pss=med([x["tree_pss_kb"] for x in lst]))
        f["cpu_host_ms"] = f["cpu"] / n * 1000
        if tool == "ansible":
            # many processes: per-host memory from the tree's summed PSS
            f["mem_kb"] = f["pss"]
            f["kb_host"] = f["pss"] / inflight
        else:
            f["mem_kb"] = f["rss"]
            # The 1-host baseline holds the process's fixed memory (libraries,
            # one-time initialisation, the job store) plus ONE host, so the
            # memory each host in flight adds is the slope between 1 and
            # `inflight` hosts in flight: divide by inflight - 1, not inflight.
            b = base.get(key)
            f["kb_host"] = ((f["rss"] - b["maxrss_kb"]) / (inflight - 1)
                            if b and inflight > 1 else float("nan"))
        fig[key] = f

    print(f"\nN={n} targets, {inflight} in flight (parallel/forks {par}); medians of each tool's runs")
    hdr = ("tool", "op", "runs", "ok", "wall s", "CPU s", "CPU ms/host", "peak MB", "KB/host",
           "CPU/floor", "wall/floor", "ansible/CPU", "ansible/wall")
    fmt = "{:<15} {:<7} {:>4} {:>9} {:>8} {:>8} {:>11} {:>8} {:>8} {:>9} {:>10} {:>11} {:>12}"
    print(fmt.format(*hdr))

    def ratio(a, b):
        return f"{a / b:.2f}" if a is not None and b and b == b and a == a else "-"

    for op in ("check", "install"):
        for tool in ("agentpush", "floor", "floor_nagle", "floor_probe", "floor_probe_buf", "ansible"):
            f = fig.get((tool, op))
            if f is None:
                continue
            fl = fig.get(("floor", op))
            an = fig.get(("ansible", op))
            print(fmt.format(tool, op, f["runs"], f"{f['ok']}/{n}", f"{f['wall']:.2f}", f"{f['cpu']:.2f}",
                             f"{f['cpu_host_ms']:.2f}", f"{f['mem_kb'] / 1024:.1f}",
                             f"{f['kb_host']:.0f}",
                             ratio(f["cpu"], fl["cpu"] if fl else None),
                             ratio(f["wall"], fl["wall"] if fl else None),
                             ratio(an["cpu"] if an else None, f["cpu"]),
                             ratio(an["wall"] if an else None, f["wall"])))
    print("(peak MB: ru_maxrss of the one process; for ansible the sampled peak of its process tree's summed PSS."
          " KB/host = (peak - peak of the 1-host, 1-in-flight baseline) / (hosts in flight - 1): what each"
          " further host in flight adds; ansible: tree PSS / forks)")

    print("\ntargets:")

    def line(name, value, limit, ok):
        if value is None:
            print(f"  SKIP  {name}: not measured in this run")
        else:
            print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value} (target {limit})")

    a, fl, an = fig.get(("agentpush", "check")), fig.get(("floor", "check")), fig.get(("ansible", "check"))
    v = a["cpu"] / fl["cpu"] if a and fl else None
    line("check CPU/host vs floor", None if v is None else f"{v:.2f}x", "<= 2x", v is not None and v <= 2)
    v = an["cpu"] / a["cpu"] if a and an else None
    line("check CPU/host, Ansible / agentpush", None if v is None else f"{v:.1f}x", ">= 20x",
         v is not None and v >= 20)
    a, fl = fig.get(("agentpush", "install")), fig.get(("floor", "install"))
    v = a["wall"] / fl["wall"] if a and fl else None
    line("install wall vs floor", None if v is None else f"{v:.2f}x", "<= 1.3x", v is not None and v <= 1.3)
    for op in ("check", "install"):
        a = fig.get(("agentpush", op))
        v = a["kb_host"] if a else None
        line(f"{op} memory per host in flight", None if v is None else f"{v:.0f} KB", "<= 256 KB",
             v is not None and v <= 256)
        ok = a["ok"] if a else None
        line(f"{op}: all {n} hosts done (no fd/memory failure)", None if ok is None else f"{ok}/{n}",
             f"{n}/{n}", ok == n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
