#!/usr/bin/env python3
"""check.py: the history checker of the drills.

    check.py keys  --history H1.jsonl [H2 ...] --out keys.txt
        The objects a history names ("call ID", "agent ID", "customer ID", "queue Q"), for
        `callraft-traffic dump --keys`.
    check.py check --history H1.jsonl [H2 ...] --dump N1.jsonl [N2 ...] [--json OUT]
                   [--min-enqueues N] [--events EVENTS.jsonl]
        Verifies, on its own, the histories written by `callraft-traffic center` against the final
        state of every node (dumps of stale reads). Exit 0 only if nothing is wrong and the
        history gave the checks something to check (0. below).

What is checked (an "acknowledged" op got outcome OK; "unknown" ops got no final reply and may
or may not have been applied, at most once):
  0. not vacuous: a history with nothing acknowledged has nothing to lose, and would pass every
     check below. At least --min-enqueues (default 1) enqueues must be acknowledged (every call's
     life starts with one); with --events (drill.sh's events.jsonl), at least one acknowledged
     enqueue must have ended before the first fault and one must have started after the last heal,
     so that the checks cover writes from before the fault and writes the cluster took after it.
  1. lost: every acknowledged enqueue is present on every node with the enqueue_seq its reply
     reported, every acknowledged ticket exists with its code, every acknowledged end/abandon/answer
     shows its effect (ENDED / ABANDONED / ANSWERED-or-ENDED by that agent).
  2. duplicated: a ticket request (one per call) produced more than one ticket for that call; a
     call appears twice in the queue listings; a call's enqueue_seq differs from the acknowledged
     one (it was created again).
  3. per-call order: the acknowledged ops of each call, taken in log-index order, form a legal life
     WAITING -> OFFERED -> ANSWERED -> ENDED (or -> ABANDONED from WAITING/OFFERED; an offer may
     go back to WAITING by a reject or expiry), with unknown ops allowed in between, and the
     final state of the call is reachable that way. Ties (two ops in one log entry) are tried in
     every order.
  4. real time: log-index order never contradicts real-time order (an op acknowledged before
     another started has a lower index): the cluster is linearizable for writes.
  5. one holder: no call is answered by two agents in the history, no call is held by two agents
     in any node's final state, and an OFFERED/ANSWERED call's agent holds that call.
  6. replicas equal: nodes whose dumps were taken at one unchanged applied index and whose indexes
     are equal hold identical data; otherwise only final objects (ENDED/ABANDONED calls, tickets)
     are compared, and the report says so.
What the FSM does by itself (issue 12, docs/routing.md) is part of a legal life only where the
final state says it happened: a call whose final outcome is "site-lost" may be ENDED from
OFFERED/ANSWERED without an agent's end; a call ENDED with merged_into (a redial) may end from
WAITING/OFFERED; a callback the FSM made for a call ended by a site loss (origin_call_id) starts
WAITING without an enqueue.
"""
import argparse
import json
import sys
from collections import defaultdict

FINAL = {"ENDED", "ABANDONED"}


def load_history(paths):
    ops = []
    for p in paths:
        with open(p) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    ops.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit("check: %s:%d: not JSON: %s" % (p, n, e))
    return ops


def cmd_keys(a):
    ops = load_history(a.history)
    keys = set()
    for o in ops:
        if o.get("call"):
            keys.add(("call", o["call"]))
        if o.get("agent"):
            keys.add(("agent", o["agent"]))
        if o["op"] == "ticket" and o.get("customer"):
            keys.add(("customer", o["customer"]))
        if o["op"] == "enqueue" and o.get("queue"):
            keys.add(("queue", o["queue"]))
    with open(a.out, "w") as f:
        for k, v in sorted(keys):
            f.write("%s %s\n" % (k, v))
    print("keys: %d objects" % len(keys))


def load_dump(path):
    d = {"status": {}, "call": {}, "agent": {}, "customer": {}, "queue": {}, "path": path}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r["kind"] == "status":
                d["status"][r["when"]] = r
            else:
                d[r["kind"]][r["key"]] = r
    st = d["status"]
    d["node"] = st.get("before", {}).get("node", path)
    d["frozen"] = ("before" in st and "after" in st and
                   st["before"]["applied_index"] == st["after"]["applied_index"])
    d["applied"] = st.get("after", st.get("before", {})).get("applied_index")
    return d


# ---- per-call life ---------------------------------------------------------------------------

def step(state, op):
    """Applies op to state (None = no call; else (STATE, agent, token)). Returns the new state or
    None if the op's precondition does not hold."""
    kind = op["op"]
    if kind == "enqueue":
        return ("WAITING", "", None) if state is None else state  # idempotent by call id
    if state is None:
        return None
    st, agent, token = state
    if kind == "next":
        return ("OFFERED", op["agent"], (op.get("offer_term"), op.get("offer_index"))) if st == "WAITING" else None
    if kind == "answer":
        tok = (op.get("offer_term"), op.get("offer_index"))
        if st == "OFFERED" and agent == op["agent"] and token == tok:
            return ("ANSWERED", agent, tok)
        if st == "ANSWERED" and agent == op["agent"] and token == tok:
            return state
        return None
    if kind == "end":
        return ("ENDED", agent, token) if st in ("OFFERED", "ANSWERED") and agent == op["agent"] else None
    if kind == "abandon":
        return ("ABANDONED", agent, token) if st in ("WAITING", "OFFERED") else None
    if kind == "ticket":
        return state
    return None


def call_life_ok(acked, unknown, final, budget=20000, fsm=None):
    """DFS over orders of acked ops (index order, ties any order), optional unknown ops and
    offer requeues; True if some order ends in `final` (STATE, agent). `fsm` is the final call
    record: its outcome, merged_into and origin_call_id allow the FSM's own transitions."""
    fsm = fsm or {}
    callback = bool(fsm.get("callback"))
    site_lost = fsm.get("outcome") == "site-lost"
    merged = bool(fsm.get("merged_into"))
    start = ("WAITING", "", None) if fsm.get("origin_call_id") else None
    acked = sorted(acked, key=lambda o: o["index"])
    groups = []
    for o in acked:
        if groups and groups[-1][0]["index"] == o["index"]:
            groups[-1].append(o)
        else:
            groups.append([o])
    seen = set()
    steps = [0]

    def dfs(g, used, unk_used, state):
        steps[0] += 1
        if steps[0] > budget:
            raise TimeoutError
        key = (g, used, unk_used, state)
        if key in seen:
            return False
        seen.add(key)
        if g == len(groups):
            if final is not None and state is not None and state[0] == final[0] and (
                    final[0] not in ("OFFERED", "ANSWERED", "ENDED") or state[1] == final[1]):
                return True
            if final is None and state is None:
                return True
        else:
            grp = groups[g]
            for i, o in enumerate(grp):
                if used & (1 << i):
                    continue
                ns = step(state, o)
                if callback and o["op"] == "abandon" and state is not None and state[0] == "WAITING":
                    ns = state  # a callback's caller hung up: the place is kept (OK, no change)
                if ns is None:
                    continue
                nu = used | (1 << i)
                if nu == (1 << len(grp)) - 1:
                    if dfs(g + 1, 0, unk_used, ns):
                        return True
                elif dfs(g, nu, unk_used, ns):
                    return True
        for j, o in enumerate(unknown):
            if unk_used & (1 << j):
                continue
            ns = step(state, o)
            if ns is not None and dfs(g, used, unk_used | (1 << j), ns):
                return True
        if state is not None and state[0] == "OFFERED":  # reject / offer expiry / presence lapse
            if dfs(g, used, unk_used, ("WAITING", "", None)):
                return True
        if site_lost and state is not None and state[0] in ("OFFERED", "ANSWERED"):
            if dfs(g, used, unk_used, ("ENDED", state[1], state[2])):
                return True
        if merged and state is not None and state[0] in ("WAITING", "OFFERED"):
            if dfs(g, used, unk_used, ("ENDED", "", None)):
                return True
        return False

    return dfs(0, 0, 0, start)


def too_few(acked, min_enqueues, events_path):
    """0: why the acknowledged ops (too few, or none on one side of the faults) make the checks
    vacuous; an empty list if they do not."""
    enq = [o for o in acked if o["op"] == "enqueue"]
    why = []
    if len(enq) < min_enqueues:
        why.append("%d acknowledged enqueue(s), at least %d needed: the history checks nothing "
                   "(did the traffic reach the cluster?)" % (len(enq), min_enqueues))
    if events_path:
        events = load_history([events_path])
        faults = [e["t_ms"] for e in events if e["event"] == "fault"]
        heals = [e["t_ms"] for e in events if e["event"] == "heal"]
        if not faults or not heals:
            why.append("%s holds %d fault(s) and %d heal(s): no fault to check writes around" %
                       (events_path, len(faults), len(heals)))
        else:
            before = sum(1 for o in enq if o["end_ms"] < min(faults))
            after = sum(1 for o in enq if o["start_ms"] > max(heals))
            if before == 0:
                why.append("no acknowledged enqueue ended before the first fault (%d acknowledged)" % len(enq))
            if after == 0:
                why.append("no acknowledged enqueue started after the last heal (%d acknowledged): "
                           "the cluster's service after the fault is unchecked" % len(enq))
    return why


def check(a):
    ops = load_history(a.history)
    dumps = [load_dump(p) for p in a.dump]
    acked = [o for o in ops if o["outcome"] == "OK"]
    unknown = [o for o in ops if o["outcome"] == "unknown"]
    res = {"ops": len(ops), "acknowledged": len(acked), "unknown": len(unknown),
           "acknowledged_by_op": {}, "lost": 0, "duplicated": 0, "violations": [],
           "nodes": [], "replicas_equal": None}
    for o in acked:
        res["acknowledged_by_op"][o["op"]] = res["acknowledged_by_op"].get(o["op"], 0) + 1
    viol = res["violations"]

    def bad(kind, msg):
        if kind == "lost":
            res["lost"] += 1
        elif kind == "duplicated":
            res["duplicated"] += 1
        if len(viol) < 50:
            viol.append("%s: %s" % (kind, msg))
        else:
            res["violations_truncated"] = True

    for msg in too_few(acked, a.min_enqueues, a.events):
        bad("vacuous", msg)

    by_call = defaultdict(list)
    for o in ops:
        if o.get("call") and o["op"] in ("enqueue", "next", "answer", "end", "abandon", "ticket"):
            by_call[o["call"]].append(o)

    # 1 + 2: effects on every node.
    for d in dumps:
        node = d["node"]
        res["nodes"].append({"node": node, "frozen": d["frozen"], "applied_index": d["applied"]})
        for o in acked:
            c = d["call"].get(o.get("call") or "")
            if o["op"] == "enqueue":
                if c is None or c["code"] != "OK":
                    bad("lost", "node %s: acknowledged enqueue of %s (index %d) missing" % (node, o["call"], o["index"]))
                elif o.get("enqueue_seq") and c.get("enqueue_seq") != o["enqueue_seq"]:
                    bad("duplicated", "node %s: call %s enqueue_seq %s, acknowledged %s (created again)" %
                        (node, o["call"], c.get("enqueue_seq"), o["enqueue_seq"]))
            elif o["op"] == "end" and (c is None or c.get("state") != "ENDED"):
                bad("lost", "node %s: acknowledged end of %s (index %d): call is %s" %
                    (node, o["call"], o["index"], c and c.get("state")))
            elif o["op"] == "abandon" and (c is None or c.get("state") != "ABANDONED") and \
                    not (c and c.get("callback")):  # a callback's caller hanging up keeps the place
                bad("lost", "node %s: acknowledged abandon of %s (index %d): call is %s" %
                    (node, o["call"], o["index"], c and c.get("state")))
            elif o["op"] == "answer" and (c is None or c.get("state") not in ("ANSWERED", "ENDED")
                                          or c.get("agent") != o["agent"]):
                bad("lost", "node %s: acknowledged answer of %s by %s (index %d): call is %s by %s" %
                    (node, o["call"], o["agent"], o["index"], c and c.get("state"), c and c.get("agent")))
        # tickets: one request per call; count what exists per call.
        tickets_by_call = defaultdict(set)
        for cust in d["customer"].values():
            for code, call in cust.get("tickets", []):
                tickets_by_call[call].add(code)
        for call, lst in by_call.items():
            reqs = [o for o in lst if o["op"] == "ticket"]
            if not reqs:
                continue
            have = tickets_by_call.get(call, set())
            possible = sum(1 for o in reqs if o["outcome"] in ("OK", "unknown"))
            for o in reqs:
                if o["outcome"] == "OK" and o.get("ticket") not in have:
                    bad("lost", "node %s: acknowledged ticket %s of call %s missing" % (node, o.get("ticket"), call))
            if len(have) > possible:
                bad("duplicated", "node %s: call %s has %d tickets %s for %d request(s)" %
                    (node, call, len(have), sorted(have), possible))
        in_queue = defaultdict(int)
        for q in d["queue"].values():
            for cid in q.get("calls", []):
                in_queue[cid] += 1
        for cid, n in in_queue.items():
            if n > 1:
                bad("duplicated", "node %s: call %s listed %d times in the queues" % (node, cid, n))
            if d["frozen"] and cid in d["call"] and d["call"][cid].get("state") != "WAITING":
                bad("invariant", "node %s: call %s in a queue but %s" % (node, cid, d["call"].get(cid, {}).get("state")))
        # 5: one holder in the final state.
        holders = defaultdict(list)
        for ag in d["agent"].values():
            if ag.get("holds"):
                holders[ag["holds"]].append(ag["key"])
        for cid, ags in holders.items():
            if len(ags) > 1:
                bad("invariant", "node %s: call %s held by agents %s" % (node, cid, ags))
        if d["frozen"]:
            for cid, c in d["call"].items():
                if c.get("state") in ("OFFERED", "ANSWERED"):
                    ag = d["agent"].get(c.get("agent"))
                    if ag is None or ag.get("holds") != cid:
                        bad("invariant", "node %s: call %s %s by %s, but that agent holds %r" %
                            (node, cid, c["state"], c.get("agent"), ag and ag.get("holds")))

    # 3: per-call life against the first node's final state.
    ref = dumps[0] if dumps else None
    undecided = 0
    for cid, lst in by_call.items():
        ack = [o for o in lst if o["outcome"] == "OK" and o["op"] != "ticket"]
        unk = [o for o in lst if o["outcome"] == "unknown" and o["op"] != "ticket"][:12]
        if not ack and not unk:
            continue
        c = ref["call"].get(cid) if ref else None
        final = None
        if c is not None and c["code"] == "OK":
            final = (c["state"], c.get("agent", "") if c["state"] != "WAITING" else "")
        try:
            ok = call_life_ok(ack, unk, final, fsm=c)
        except TimeoutError:
            undecided += 1
            continue
        if not ok:
            bad("order", "call %s: acknowledged ops %s cannot lead to final %s" %
                (cid, ["%s@%d%s" % (o["op"], o["index"], "/" + o.get("agent", "") if o.get("agent") else "") for o in sorted(ack, key=lambda o: o["index"])], final))
        answered_by = {o["agent"] for o in ack if o["op"] == "answer"}
        if len(answered_by) > 1:
            bad("invariant", "call %s answered by %d agents %s" % (cid, len(answered_by), sorted(answered_by)))
    res["calls_checked"] = len(by_call)
    res["calls_undecided"] = undecided

    # 4: log order agrees with real time.
    writes = sorted((o for o in acked if o["index"] > 0), key=lambda o: o["index"])
    max_start, max_start_op, prev_index, group_max = -1, None, None, (-1, None)
    for o in writes:
        if o["index"] != prev_index:
            if group_max[0] > max_start:
                max_start, max_start_op = group_max
            group_max, prev_index = (-1, None), o["index"]
        if o["end_ms"] < max_start:
            bad("realtime", "%s of %s at index %d acknowledged at %d, before %s at a lower index %d started at %d" %
                (o["op"], o.get("call") or o.get("agent"), o["index"], o["end_ms"], max_start_op["op"],
                 max_start_op["index"], max_start))
        if o["start_ms"] > group_max[0]:
            group_max = (o["start_ms"], o)

    # 6: replicas equal.
    def strip(r):
        return {k: v for k, v in r.items() if k != "index"}

    def comparable(d):
        out = {}
        for kind in ("call", "agent", "customer", "queue"):
            for k, r in d[kind].items():
                out[(kind, k)] = strip(r)
        return out

    if len(dumps) > 1:
        frozen = [d for d in dumps if d["frozen"]]
        same_index = len(frozen) == len(dumps) and len({d["applied"] for d in dumps}) == 1
        base = comparable(dumps[0])
        diffs = []
        for d in dumps[1:]:
            other = comparable(d)
            for key in base.keys() | other.keys():
                x, y = base.get(key), other.get(key)
                if not same_index:
                    final_obj = (key[0] == "customer" or
                                 (key[0] == "call" and x and y and x.get("state") in FINAL and y.get("state") in FINAL))
                    if not final_obj:
                        continue
                if x != y:
                    diffs.append("nodes %s and %s differ on %s %s: %s vs %s" % (dumps[0]["node"], d["node"], key[0], key[1], x, y))
        res["replicas_compared_at_equal_index"] = same_index
        res["replicas_equal"] = not diffs
        for m in diffs[:10]:
            bad("divergence", m)

    res["ok"] = res["lost"] == 0 and res["duplicated"] == 0 and not viol
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    print("check: %d ops, %d acknowledged %s, %d unknown; lost %d, duplicated %d, violations %d; "
          "%d calls checked (%d undecided); replicas equal: %s (at equal applied index: %s)" %
          (res["ops"], res["acknowledged"], res["acknowledged_by_op"], res["unknown"], res["lost"],
           res["duplicated"], len(viol), res["calls_checked"], undecided, res["replicas_equal"],
           res.get("replicas_compared_at_equal_index")))
    for v in viol[:20]:
        print("  " + v)
    return 0 if res["ok"] else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keys")
    k.add_argument("--history", nargs="+", required=True)
    k.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--history", nargs="+", required=True)
    c.add_argument("--dump", nargs="+", required=True)
    c.add_argument("--json")
    c.add_argument("--min-enqueues", type=int, default=1, metavar="N",
                   help="fail unless at least N enqueues were acknowledged (default 1)")
    c.add_argument("--events", metavar="EVENTS.jsonl",
                   help="drill.sh's events: fail unless an acknowledged enqueue ended before the "
                        "first fault and one started after the last heal")
    a = p.parse_args()
    if a.cmd == "keys":
        cmd_keys(a)
        return 0
    return check(a)


if __name__ == "__main__":
    sys.exit(main())
