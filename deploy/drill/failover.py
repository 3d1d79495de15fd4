#!/usr/bin/env python3
"""failover.py: where the time of each failover went, and the distribution over a drill's faults.

    failover.py --dir OUT [--dir OUT2 ...] [--json FILE]

reads a drill's OUT/events.jsonl (fault times), OUT/lab/node*/log (the nodes' role lines, with ms
wall-clock stamps on the same machine) and OUT/history-*.jsonl (every write with its reply time),
and splits the service gap of each fault into phases:

  idle      last acknowledgement at the surviving site(s) before the fault -> the fault
  detect    fault -> the first surviving node turns candidate (its election timer fired: the
            randomised election timeout, minus the time since the last heartbeat it got)
  elect     first candidate -> a surviving node is leader (pre-vote and vote rounds; a split or
            lost vote shows as several candidate lines, counted in `rounds`)
  barrier   leader -> its first barrier committed ("leader ready")
  client    ready -> the first acknowledged write at the surviving site that is acknowledged last
            (the clients learning the new leader: redirects, retries, backoff)
  gap       the service gap as report.py computes it (worst surviving site; the sum above is the
            gap when the longest stall is the election, which it is for a leader's death)

A fault that killed no leader (a follower's site) has no election: only `gap` is given. Prints one
line per fault and then p50/p90/p99/max per fault kind (p99 of 20 is the max).
"""
import argparse
import calendar
import glob
import json
import os
import re
import time

# The text log format ("2026-12-07T02:19:43.667Z INFO  shiraz/3 t=2 raft: candidate") and the
# structured one ("time=...Z level=info node=3 site=shiraz term=2 event=role_change role=candidate
# msg=..."): both carry the time, node, site, term and the role message.
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z \S+\s+(\S+)/(\d+) t=(\d+) (.*)$")
KV = re.compile(r'^time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z .*?node=(\d+) site=(\S+) term=(\d+) .*msg="(.*)"$')


def parse(l):
    """(date, ms, site, node, term, message) of a log line, or None."""
    m = LINE.match(l)
    if m:
        return m.group(1), m.group(2), m.group(3), m.group(4), m.group(5), m.group(6)
    m = KV.match(l)
    if m:
        return m.group(1), m.group(2), m.group(4), m.group(3), m.group(5), m.group(6)
    return None


def pct(xs, p):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def node_events(out):
    """(t_ms, node, site, term, what) for the role lines of every node's log."""
    ev = []
    for p in glob.glob(os.path.join(out, "lab", "node*", "log")):
        with open(p, errors="replace") as f:
            for l in f:
                m = parse(l.rstrip("\n"))
                if not m or "raft:" not in m[5]:
                    continue
                msg = m[5]
                t = calendar.timegm(time.strptime(m[0], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(m[1])
                if msg.startswith("raft: leader ready"):
                    what = "ready"
                elif msg.startswith("raft: leader"):
                    what = "leader"
                elif msg.startswith("raft: candidate"):
                    what = "candidate"
                elif msg.startswith("raft: follower"):
                    what = "follower"
                else:
                    continue
                ev.append((t, int(m[3]), m[2], int(m[4]), what))
    return sorted(ev)


def load(out):
    with open(os.path.join(out, "events.jsonl")) as f:
        events = [json.loads(l) for l in f if l.strip()]
    acks = {}
    for p in glob.glob(os.path.join(out, "history-*.jsonl")):
        with open(p) as f:
            for l in f:
                if not l.strip():
                    continue
                o = json.loads(l)
                if o["outcome"] == "OK":
                    acks.setdefault(o["site"], []).append(o["end_ms"])
    for s in acks:
        acks[s].sort()
    return events, acks


def analyse(out):
    events, acks = load(out)
    nev = node_events(out)
    faults = []
    for i, e in enumerate(events):
        if e["event"] != "fault":
            continue
        t0 = e["t_ms"]
        heal = next((x["t_ms"] for x in events[i + 1:] if x["event"] == "heal"), t0 + 60000)
        hit = e.get("site") or ""
        kind = e["what"].split()[0]
        dead = set()
        m = re.search(r"node(\d+)", e["what"])
        if m:
            dead.add(int(m.group(1)))
        r = {"dir": out, "fault": e["what"], "kind": kind}
        # per surviving site: the gap around the fault and when it ended
        gap, gap_end, idle = 0, None, 0
        for s, ts in acks.items():
            if hit and s == hit:
                continue
            prev = max([t for t in ts if t < t0], default=t0)
            idle_s = t0 - prev
            g, end_g = 0, None
            for t in [t for t in ts if t0 <= t <= heal] + [heal]:
                if t - prev > g:
                    g, end_g = t - prev, t
                prev = max(prev, t)
            if g > gap:
                gap, gap_end, idle = g, end_g, idle_s
        # A fault after the traffic ended (or before it started) says nothing about failover.
        if not any(t0 <= t <= heal for s, ts in acks.items() if not (hit and s == hit) for t in ts):
            r["no_traffic"] = True
            faults.append(r)
            continue
        r["gap"] = gap
        r["idle"] = idle
        win = [x for x in nev if t0 <= x[0] <= heal and x[1] not in dead and (not hit or x[2] != hit)]
        cands = [x for x in win if x[4] == "candidate"]
        lead = next((x for x in win if x[4] == "leader"), None)
        if cands and lead and lead[0] - t0 < 10000:
            ready = next((x for x in win if x[4] == "ready" and x[0] >= lead[0]), None)
            c0 = cands[0][0]
            r["detect"] = c0 - t0
            r["elect"] = lead[0] - c0
            r["rounds"] = len({(x[1], x[3]) for x in cands if x[0] <= lead[0]})
            r["leader"] = "%s/%d" % (lead[2], lead[1])
            r["barrier"] = ready[0] - lead[0] if ready else None
            r["client"] = gap_end - ready[0] if ready and gap_end else None
            leaders = [x for x in win if x[4] == "leader"]
            r["leaders"] = len(leaders)
        faults.append(r)
    return faults


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", action="append", required=True)
    p.add_argument("--json")
    a = p.parse_args()
    faults = []
    for d in a.dir:
        faults += analyse(d)
    cols = ["idle", "detect", "elect", "barrier", "client", "gap"]
    print("%-26s %6s %6s %6s %7s %6s %6s  rounds  leader" % tuple(["fault"] + cols))
    for f in faults:
        if f.get("no_traffic"):
            print("%-26s (no traffic in its window)" % f["fault"])
            continue
        print("%-26s %s  %6s  %s" % (f["fault"], " ".join("%6s" % f.get(c, "-") for c in cols),
                                     f.get("rounds", "-"), f.get("leader", "-")))
    summary = {}
    skipped = [f for f in faults if f.get("no_traffic")]
    if skipped:
        print("\n%d fault(s) without traffic at the surviving site(s) in their window, left out: %s" %
              (len(skipped), ", ".join(f["fault"] for f in skipped)))
    faults = [f for f in faults if not f.get("no_traffic")]
    for kind in sorted({f["kind"] for f in faults}):
        fs = [f for f in faults if f["kind"] == kind]
        summary[kind] = {"n": len(fs)}
        print("\n%s: %d faults (ms)     p50    p90    p99    max" % (kind, len(fs)))
        for c in cols:
            xs = [f.get(c) for f in fs]
            st = {"p50": pct(xs, 50), "p90": pct(xs, 90), "p99": pct(xs, 99),
                  "max": max([x for x in xs if x is not None], default=None)}
            summary[kind][c] = st
            print("  %-22s %6s %6s %6s %6s" % (c, st["p50"], st["p90"], st["p99"], st["max"]))
        gaps = [f["gap"] for f in fs]
        summary[kind]["over_1s"] = sum(1 for g in gaps if g > 1000)
        print("  gaps over 1 s: %d of %d; all: %s" % (summary[kind]["over_1s"], len(fs), sorted(gaps)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"faults": faults, "summary": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
