#!/usr/bin/env python3
"""report-scale.py OUT N: the table of deploy/bench/scale.sh from the files it wrote in OUT.

Prints enqueue and next latency (p50/p99) empty vs loaded with their ratios (target: loaded within
1.5x of empty), the preload rates, state / raft / snapshot sizes, snapshot timings, RSS, and the
join of a new node; writes OUT/results.json with all of it."""
import json
import os
import sys


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def mb(b):
    return f"{b / 1e6:,.0f} MB" if b else "-"


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    res = {"n": n}
    empty = load(os.path.join(out, "cycle-empty.json"), {"levels": []})
    loaded = load(os.path.join(out, "cycle-loaded.json"), {"levels": []})
    print(f"callraft at scale: {n:,} waiting calls (one queue) + {n:,} tickets, 1+1+1 on loopback")
    print()
    print("latency by operation, cycle workload on the big queue (ms): empty -> loaded (ratio)")
    print(f"{'clients':>7} {'op':<8} {'p50 empty':>10} {'p50 loaded':>11} {'ratio':>6}"
          f" {'p99 empty':>10} {'p99 loaded':>11} {'ratio':>6}")
    res["latency"] = []
    for le, ll in zip(empty["levels"], loaded["levels"]):
        for op in ("enqueue", "next", "answer", "end"):
            e = le.get("latency_ms_by_op", {}).get(op)
            lo = ll.get("latency_ms_by_op", {}).get(op)
            if not e or not lo:
                continue
            r50 = lo["p50"] / e["p50"] if e["p50"] else 0
            r99 = lo["p99"] / e["p99"] if e["p99"] else 0
            print(f"{le['clients']:>7} {op:<8} {e['p50']:>10.2f} {lo['p50']:>11.2f} {r50:>5.2f}x"
                  f" {e['p99']:>10.2f} {lo['p99']:>11.2f} {r99:>5.2f}x")
            res["latency"].append({"clients": le["clients"], "op": op, "empty": e, "loaded": lo,
                                   "p50_ratio": r50, "p99_ratio": r99})
        print(f"{le['clients']:>7} {'all ops/s':<8} {le['ops_per_s']:>10.0f} {ll['ops_per_s']:>11.0f}"
              f" {ll['ops_per_s'] / le['ops_per_s'] if le['ops_per_s'] else 0:>5.2f}x")
    during = load(os.path.join(out, "cycle-during-snapshot.json"), {"levels": []})["levels"]
    if during and loaded["levels"]:
        d, lo = during[0], loaded["levels"][-1]
        print(f"{d['clients']:>7} while the leader snapshots: {d['ops_per_s']:,.0f} ops/s"
              f" ({d['ops_per_s'] / lo['ops_per_s'] if lo['ops_per_s'] else 0:.2f}x loaded),"
              f" p50 {d['latency_ms']['p50']:.2f} ms, p99 {d['latency_ms']['p99']:.2f} ms,"
              f" p999 {d['latency_ms']['p999']:.2f} ms, max {d['latency_ms']['max']:.0f} ms,"
              f" failed {d['failed']}")
        res["during_snapshot"] = d
    print()
    snaps = []
    for name in ("snapshot-node1", "snapshot-node2", "snapshot-node3", "snapshot-during-bench"):
        sj = load(os.path.join(out, name + ".json"))
        if sj:
            snaps.append((name, sj))
    if snaps:
        print("snapshots of the loaded state (callraft snapshot):")
        for name, sj in snaps:
            what = "leader, under the 16-client cycle" if name.endswith("bench") else "idle"
            print(f"  node {sj['node']} ({what}): index {sj['index']}, {mb(sj['bytes'])},"
                  f" copied in {sj['copy_ms'] / 1000:.1f} s off the loop,"
                  f" written in {sj['write_ms'] / 1000:.1f} s")
        res["snapshots"] = dict(snaps)
        print()
    times = load(os.path.join(out, "preload-time.json"), {})
    for what, f in (("calls", "preload-calls.json"), ("tickets", "preload-tickets.json")):
        p = load(os.path.join(out, f), {"levels": [{}]})["levels"][0]
        lat = p.get("latency_ms", {})
        print(f"preload {what}: {p.get('ops', 0):,} in {times.get(what + '_s', 0)} s"
              f" ({p.get('ops_per_s', 0):,.0f} ops/s, p50 {lat.get('p50', 0):.2f} ms,"
              f" p99 {lat.get('p99', 0):.2f} ms, max {lat.get('max', 0):.0f} ms,"
              f" refused {p.get('refused', 0)}, failed {p.get('failed', 0)})")
        res["preload_" + what] = p
    st = load(os.path.join(out, "status-loaded.json"), {"members": []})
    print()
    print("per node after the preload:")
    print(f"{'node':>4} {'state (LMDB)':>13} {'snapshots':>9} {'last snapshot':>14}"
          f" {'copy ms':>8} {'write ms':>9} {'threshold':>9}")
    for m in st["members"]:
        if not m.get("reachable"):
            continue
        print(f"{m['id']:>4} {mb(m.get('state_bytes', 0)):>13} {m.get('snapshots', 0):>9}"
              f" {mb(m.get('snapshot_bytes', 0)):>14} {m.get('snapshot_copy_ms', 0):>8}"
              f" {m.get('snapshot_write_ms', 0):>9} {m.get('snapshot_threshold', 0):>9}")
    res["status_loaded"] = st
    try:
        with open(os.path.join(out, "du.txt")) as f:
            du = [line.split() for line in f if line.strip()]
        print("on disk: " + ", ".join(f"{p.split('/lab/')[-1]} {mb(int(b))}" for b, p in du))
        res["du"] = {p: int(b) for b, p in du}
    except OSError:
        pass
    try:
        with open(os.path.join(out, "procs.txt")) as f:
            procs = [line.split() for line in f if line.strip()]
        print("RSS / peak RSS per node (MB):")
        for label in dict.fromkeys(p[0] for p in procs):
            row = [p for p in procs if p[0] == label]
            print(f"  {label:<10} " + "  ".join(
                f"node{p[1]} {int(p[2] or 0) / 1024:,.0f}/{int(p[3] or 0) / 1024:,.0f}"
                for p in row if len(p) >= 4))
        res["procs"] = procs
    except OSError:
        pass
    j = load(os.path.join(out, "join.json"))
    if j:
        print(f"join: new node 4 caught up to index {j['target_index']} in {j['seconds']:.1f} s"
              f" (InstallSnapshot + log); its RSS {j['rss_kb'] / 1024:,.0f} MB,"
              f" peak {j['peak_rss_kb'] / 1024:,.0f} MB")
        res["join"] = j
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
