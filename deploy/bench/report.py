#!/usr/bin/env python3
"""report.py OUT: the side-by-side table of deploy/bench.sh, and OUT/results.json.

Reads what bench.sh left in OUT: floor.txt (floor_fsync, floor_rtt), callraft-sync-*.json
(`callraft bench --json`), etcd-c*.txt (wrk with etcd_put.lua, plus /proc CPU ticks of the
members), env.txt and busy.txt. Prints one row per system and concurrency, with callraft/etcd
ratios, the physical floor, and the targets of issue #5 (reported as figures, never as a test)."""
import glob, json, os, re, sys

out = sys.argv[1]


def kv(line):
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


floor, floor_runs = {}, []
for line in open(os.path.join(out, "floor.txt")):
    d = kv(line)
    words = line.split()
    kind = words[1] if words[0] == "again" else words[0]
    if kind == "fsync":
        key = "fsync_" + d["mode"]
    elif kind == "rtt":
        key = "rtt_%sB" % d["bytes"]
    else:
        continue
    v = {k: float(x) for k, x in d.items() if k.endswith("_us")}
    floor_runs.append(dict(v, what=key, run="after" if words[0] == "again" else "before"))
    # Of the measurements before and after the systems ran, keep the quieter (lower p50).
    if key not in floor or v["p50_us"] < floor[key]["p50_us"]:
        floor[key] = v
fs = floor.get("fsync_prealloc", {}).get("p50_us", 0)
rtt = floor.get("rtt_300B", floor.get("rtt_64B", {})).get("p50_us", 0)
# The floor: leader fsync + loopback round trip + follower fsync (done one after the other).
floor["commit_floor_p50_us"] = 2 * fs + rtt
# raft_uv writes with O_DIRECT + RWF_DSYNC, and the leader's write overlaps the follower's round
# trip, so what a commit can really not beat is max(leader write, round trip + follower write)
# plus the client's round trip.
dw = floor.get("fsync_direct", {}).get("p50_us", fs)
floor["pipelined_floor_p50_us"] = max(dw, rtt + dw) + rtt

systems = {}  # name -> {clients: row}
for f in sorted(glob.glob(os.path.join(out, "callraft-sync-*.json"))):
    name = "callraft sync=" + re.search(r"sync-(\w+)\.json$", f).group(1)
    try:
        doc = json.loads(open(f).read().strip().splitlines()[-1])
    except (IndexError, ValueError):
        print("%s: no result in %s" % (name, f))
        continue
    if "levels" not in doc:
        print("%s: %s" % (name, doc.get("error")))
        continue
    rows = {}
    for lv in doc["levels"]:
        lat = lv["latency_ms"]
        cpu = sum(n["cpu_s"] for n in lv["nodes"])
        rows[lv["clients"]] = {
            "ops": lv["ops"], "ops_per_s": lv["ops_per_s"], "p50_ms": lat["p50"],
            "p99_ms": lat["p99"], "p999_ms": lat["p999"], "max_ms": lat["max"],
            "errors": lv["refused"] + lv["failed"], "nodes_cpu_s": cpu,
            "nodes_cpu_ms_per_op": 1e3 * cpu / lv["ops"] if lv["ops"] else 0,
            "rss_peak_kb_max": max([n["rss_peak_kb"] for n in lv["nodes"]] or [0]),
            "client_cpu_s": lv["client_cpu_s"]}
    systems[name] = {"workload": doc["workload"], "request_bytes": doc["request_bytes"], "rows": rows}

etcd_rows = {}
for f in glob.glob(os.path.join(out, "etcd-c*.txt")):
    t = open(f).read()
    m = re.search(r"^wrk_result (.*)$", t, re.M)
    if not m:
        print("etcd: no wrk result in %s" % f)
        continue
    d = {k: float(v) for k, v in kv(m.group(1)).items()}
    c = int(re.search(r"^clients: (\d+)", t, re.M).group(1))
    hz = int(re.search(r"^clk_tck (\d+)", t, re.M).group(1))
    before = {p: int(v) for p, v in re.findall(r"^ticks_before (\d+) (\d+)", t, re.M)}
    after = re.findall(r"^ticks_after (\d+) (\d+) hwm_kb (\d+)", t, re.M)
    cpu = sum(int(v) - before.get(p, int(v)) for p, v, _ in after) / hz
    wcpu = re.search(r"^wrk_cpu_s ([\d.]+) ([\d.]+)", t, re.M)
    ops = d["requests"] - d["errors"]
    etcd_rows[c] = {
        "ops": int(ops), "ops_per_s": ops / (d["duration_us"] / 1e6), "p50_ms": d["p50_us"] / 1e3,
        "p99_ms": d["p99_us"] / 1e3, "p999_ms": d["p999_us"] / 1e3, "max_ms": d["max_us"] / 1e3,
        "errors": int(d["errors"]), "nodes_cpu_s": cpu,
        "nodes_cpu_ms_per_op": 1e3 * cpu / ops if ops else 0,
        "rss_peak_kb_max": max([int(h) for _, _, h in after] or [0]),
        "client_cpu_s": float(wcpu.group(1)) + float(wcpu.group(2)) if wcpu else None}
if etcd_rows:
    systems["etcd"] = {"workload": "put 256 B value, new key, JSON gateway (wrk)", "rows": etcd_rows}

print("== physical floor (this disk, loopback; the quieter of the runs before and after) ==")
for k in ("fsync_grow", "fsync_prealloc", "fsync_direct", "rtt_64B", "rtt_300B"):
    if k in floor:
        v = floor[k]
        print("  %-15s p50 %7.1f us  p99 %7.1f us  max %8.1f us" % (k, v["p50_us"], v["p99_us"], v["max_us"]))
print("  commit floor p50 (leader fsync + round trip + follower fsync): %.0f us" % floor["commit_floor_p50_us"])
print("  pipelined floor p50 (max(leader write, rtt + follower write) + client rtt, O_DIRECT writes): %.0f us"
      % floor["pipelined_floor_p50_us"])

print("\n== acknowledged writes, closed loop, one request outstanding per client ==")
for name, s in systems.items():
    print("  %-20s %s%s" % (name, s["workload"],
                             ", request %d bytes" % s["request_bytes"] if "request_bytes" in s else ""))
hdr = ("clients", "system", "ops/s", "p50 ms", "p99 ms", "p999 ms", "max ms", "err", "cpu ms/op",
       "rss MiB", "x etcd ops/s", "x etcd p99")
fmt = "%7s  %-20s %8s %7s %7s %8s %7s %5s %9s %7s %12s %10s"
print(fmt % hdr)
conc = sorted({c for s in systems.values() for c in s["rows"]})
for c in conc:
    e = etcd_rows.get(c)
    for name in ["etcd"] + sorted(n for n in systems if n != "etcd"):
        r = systems.get(name, {}).get("rows", {}).get(c)
        if r is None:
            continue
        ratio = r.setdefault("vs_etcd", {})
        if e and name != "etcd":
            ratio["ops_per_s"] = r["ops_per_s"] / e["ops_per_s"] if e["ops_per_s"] else None
            ratio["p99"] = r["p99_ms"] / e["p99_ms"] if e["p99_ms"] else None
        f = lambda v, p="%.2fx": (p % v) if v is not None else "-"
        print(fmt % (c, name, "%.0f" % r["ops_per_s"], "%.2f" % r["p50_ms"], "%.2f" % r["p99_ms"],
                     "%.2f" % r["p999_ms"], "%.1f" % r["max_ms"], r["errors"],
                     "%.3f" % r["nodes_cpu_ms_per_op"], "%.0f" % (r["rss_peak_kb_max"] / 1024),
                     f(ratio.get("ops_per_s")), f(ratio.get("p99"))))
print("  cpu ms/op: CPU time of all 3 nodes per acknowledged op; rss: largest peak RSS (VmHWM) of a node")
print("  x etcd: callraft/etcd; ops/s higher is better, p99 lower is better")

targets = {}
print("\n== targets (issue #5) ==")
for name in sorted(n for n in systems if n != "etcd"):
    rows = systems[name]["rows"]
    t = targets[name] = {}
    if 64 in rows and 64 in etcd_rows:
        t["c64_ops_ratio"] = rows[64]["ops_per_s"] / etcd_rows[64]["ops_per_s"]
        print("  %-20s 64 clients: throughput %.2fx etcd (target >= 2x): %s" % (
            name, t["c64_ops_ratio"], "met" if t["c64_ops_ratio"] >= 2 else "MISSED"))
    if 16 in rows and 16 in etcd_rows:
        t["c16_p99_ms"], t["c16_etcd_p99_ms"] = rows[16]["p99_ms"], etcd_rows[16]["p99_ms"]
        print("  %-20s 16 clients: p99 %.2f ms vs etcd %.2f ms (target <=): %s" % (
            name, t["c16_p99_ms"], t["c16_etcd_p99_ms"], "met" if t["c16_p99_ms"] <= t["c16_etcd_p99_ms"] else "MISSED"))
    if 1 in rows and floor["commit_floor_p50_us"] > 0:
        t["c1_p50_over_floor"] = rows[1]["p50_ms"] * 1e3 / floor["commit_floor_p50_us"]
        print("  %-20s 1 client: p50 %.0f us = %.2fx the floor of %.0f us (target <= 1.2x): %s" % (
            name, rows[1]["p50_ms"] * 1e3, t["c1_p50_over_floor"], floor["commit_floor_p50_us"],
            "met" if t["c1_p50_over_floor"] <= 1.2 else "MISSED"))

busy = {}
if os.path.exists(os.path.join(out, "busy.txt")):
    for line in open(os.path.join(out, "busy.txt")):
        k, v = line.rsplit(None, 1)
        busy[k] = int(v)
    noisy = {k: v for k, v in busy.items() if v >= 20}
    if noisy:
        print("\nWARNING: the machine was busy before some measurements (%% of CPUs): %s" % noisy)
env = open(os.path.join(out, "env.txt")).read() if os.path.exists(os.path.join(out, "env.txt")) else ""
json.dump({"env": env, "busy_pct_before": busy, "floor": floor, "floor_runs": floor_runs, "systems": systems, "targets": targets},
          open(os.path.join(out, "results.json"), "w"), indent=1, sort_keys=True)
