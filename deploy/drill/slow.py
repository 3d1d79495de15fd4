#!/usr/bin/env python3
"""slow.py: why each slow failover of failover.sh's outputs was slow, from the nodes' logs.

    slow.py [--limit MS] OUT [OUT ...]

OUT is a failover.sh output directory (OUT/failover.json from failover.py, and the drills' own
outputs it names). For every fault whose service gap exceeds --limit (default 700 ms: the p50
target of issue 12, item 6) one line gives failover.py's phases and the causes found in the nodes'
logs within the gap (plus 1.5 s):

  cold links at candidacy   a node turned candidate and, within 300 ms, it dialled a voter or a
                            voter dialled it back (a raft link opened for the election: TCP + TLS
                            each way, and a vote written into a link to the candidate's previous
                            incarnation is lost; replication/repl_warm.c keeps them open)
  check-quorum step-down    a leader became follower in its own term (raft's check-quorum: it had
                            not heard from a majority within an election timeout)
  N candidate rounds        more than one pre-vote + vote (2 lines) before a leader: split or lost
  detect / barrier / client a phase over 600 / 200 / 200 ms
  elect, one round, warm    an election slower than 200 ms with none of the above: scheduling
"""
import argparse
import calendar
import glob
import json
import re
import time

STAMP = re.compile(r'time=(\S+?)\.(\d{3})Z')
ROLE = re.compile(r'term=(\d+) event=role_change role=(\w+)')


def stamp(line):
    m = STAMP.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) * 1000 + int(m.group(2))


def lab_lines(drill):
    """(t_ms, node, line) of every non-debug line of the drill's node logs, in time order."""
    out = []
    for p in glob.glob(drill + "/lab/node*/log"):
        n = int(re.search(r'node(\d+)/log$', p).group(1))
        with open(p, errors="replace") as f:
            for l in f:
                t = stamp(l)
                if t is not None and "level=debug" not in l:
                    out.append((t, n, l))
    return sorted(out)


def causes(f, window):
    found = []
    cands = [(t, n) for t, n, l in window if "role=candidate" in l]
    dials = 0
    for t, n in cands:
        for t2, n2, l2 in window:
            if 0 <= t2 - t <= 300 and "TLS up" in l2 and (
                    (n2 == n and "peer to member" in l2) or ("peer to member %d " % n) in l2):
                dials += 1
    if dials:
        found.append("cold links at candidacy (%d dials)" % dials)
    last, downs = {}, 0
    for t, n, l in window:
        m = ROLE.search(l)
        if not m:
            continue
        term, role = int(m.group(1)), m.group(2)
        if last.get(n) == (term, "leader") and role == "follower":
            downs += 1
        last[n] = (term, role)
    if downs:
        found.append("check-quorum step-down x%d" % downs)
    rounds = f.get("rounds") or 0
    if rounds > 2:
        found.append("%d candidate rounds" % rounds)
    for phase, limit in (("detect", 600), ("barrier", 200), ("client", 200)):
        if (f.get(phase) or 0) > limit:
            found.append("%s %d" % (phase, f[phase]))
    if (f.get("elect") or 0) > 200 and not dials and not downs and rounds <= 2:
        found.append("elect %d, one round, warm links" % f["elect"])
    return found


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=700)
    p.add_argument("out", nargs="+")
    a = p.parse_args()
    for out in a.out:
        with open(out + "/failover.json") as fh:
            faults = json.load(fh)["faults"]
        lines, stamps, seen = {}, {}, {}
        for f in faults:
            d = f["dir"]
            if d not in lines:
                lines[d] = lab_lines(d)
                with open(d + "/events.jsonl") as fh:
                    stamps[d] = [json.loads(l)["t_ms"] for l in fh
                                 if l.strip() and json.loads(l)["event"] == "fault"]
            i = seen.get(d, 0)
            seen[d] = i + 1
            if f.get("gap") is None or f["gap"] <= a.limit or i >= len(stamps[d]):
                continue
            t0 = stamps[d][i]
            window = [x for x in lines[d] if t0 <= x[0] <= t0 + f["gap"] + 1500]
            print("%-40s %-18s gap %5d (idle %s detect %s elect %s barrier %s client %s): %s" % (
                d, f["fault"], f["gap"], f.get("idle"), f.get("detect"), f.get("elect"),
                f.get("barrier"), f.get("client"), "; ".join(causes(f, window)) or "none found"))


if __name__ == "__main__":
    main()
