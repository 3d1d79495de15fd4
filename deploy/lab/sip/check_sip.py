#!/usr/bin/env python3
"""check_sip.py: what happened to every SIP call of a run, from three independent records, and
the rules it must keep (issue 17; docs/telephony.md, "Checking a run").

Records:
  - the callers' own log (SIPp caller.xml, -trace_logs): per Call-ID INVITE, ANSWERED, BYE-OK/
    BYE-FAILED, GAVE-UP, CANCELLED/CANCEL-FAILED, LATE-ANSWER, REFUSED-<code>, with the caller's clock;
  - the agents' phones' logs (SIPp phone.xml, one per site): RING, ANSWER, CANCELLED per Call-ID
    and agent;
  - callraft's event stream (GET /v1/events?from=1 from a node, saved as SSE text): CALL_QUEUED,
    CALL_OFFERED (agent), CALL_ANSWERED (agent), CALL_ABANDONED, CALL_CALLBACK, ... in log order;
  - optionally the carrier's log (which site each call was routed to) and the agents' skills.

Rules (each violation is listed with the call):
  one-answer     no call is answered twice: at most one ANSWER by the phones, one ANSWERED by the
                 caller, one CALL_ANSWERED in callraft;
  answered-right every call the caller saw answered was answered in callraft by the agent whose
                 phone answered it, and that agent has the skill of the queue the number dialed;
  ring-offered   every phone ring is of a call callraft offered to that phone's agent;
  no-ring-taken  no phone rings for a call after another agent's phone answered it;
  abandon        a caller who hung up while waiting (CANCELLED) is ABANDONED in callraft and is
                 never offered after that;
  cancel-ended   every caller who hung up while waiting (GAVE-UP: sent CANCEL) got a final answer:
                 487 (CANCELLED), or a phone's 200 OK that crossed the CANCEL (LATE-ANSWER, then
                 ANSWERED and BYE). A late answer is whichever callraft applied first: CALL_ANSWERED
                 (counted answered, checked as any answer) or CALL_ABANDONED (counted abandoned: the
                 phone answered a caller already gone, who hung up at once);
  all-answered   (--expect-all) every caller who did not hang up on purpose was answered.

Usage: check_sip.py --callers callers.log --phones tehran/phones.log [--phones ...] --events events.sse
       [--agents agents.json] [--carrier carrier/kamailio.log] [--expect-all] [--json out.json]
Exit status 1 when a rule is broken.
"""
import argparse
import collections
import json
import re
import sys

QUEUE_OF_NUMBER = {"1000": "sales", "2000": "support"}


def sipp_time(s):
    """SIPp prints its doubles with decimals: '1796617389.000000.262799.000000' is s.us."""
    p = s.split(".")
    return int(p[0]) + int(p[2]) / 1e6 if len(p) >= 3 else float(s)


def read_callers(path):
    calls = collections.OrderedDict()
    for line in open(path):
        f = line.split()
        if len(f) < 3:
            continue
        t, what, cid = sipp_time(f[0]), f[1], f[2]
        c = calls.setdefault(cid, {"number": f[3] if len(f) > 3 else "", "events": []})
        c["events"].append((t, what))
    return calls


def read_phones(paths):
    rings = collections.defaultdict(list)  # call -> [(t, what, agent)]
    for path in paths:
        for line in open(path):
            f = line.split()
            if len(f) >= 4 and f[1] in ("RING", "ANSWER", "CANCELLED", "HUNGUP"):
                rings[f[2]].append((sipp_time(f[0]), f[1], f[3]))
    return rings


def read_events(path):
    events, data = [], None
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and data is not None:
            events.append(data)
            data = None
    return events


def read_carrier(path):
    site_of = {}
    for line in open(path, errors="replace"):
        m = re.search(r"carrier: ROUTE call=(\S+) site=sip:10\.(\d)\.0\.20", line)
        if m:
            site_of[m.group(1)] = {"1": "tehran", "2": "shiraz"}.get(m.group(2), m.group(2))
    return site_of


def check(a):
    callers = read_callers(a.callers)
    phones = read_phones(a.phones)
    events = read_events(a.events)
    skills = {}
    if a.agents:
        for ag in json.load(open(a.agents)).get("agents", []):
            skills[ag["agent_id"]] = set(ag.get("skills", []))
    by_call = collections.defaultdict(list)
    for e in events:
        if e.get("call_id"):
            by_call[e["call_id"]].append(e)
    v = []

    def bad(rule, cid, why):
        v.append({"rule": rule, "call": cid, "why": why})

    outcome = collections.Counter()
    late_abandoned = set()
    for cid, c in callers.items():
        kinds = [w for _, w in c["events"]]
        final = [w for w in kinds if w not in ("INVITE", "GAVE-UP", "LATE-ANSWER")]
        outcome[final[-1] if final else "NO-OUTCOME"] += 1
        evs = by_call.get(cid, [])
        answered_ev = [e for e in evs if e["kind"] == "CALL_ANSWERED"]
        phone_answers = [r for r in phones.get(cid, []) if r[1] == "ANSWER"]
        if kinds.count("ANSWERED") > 1 or len(answered_ev) > 1 or len(phone_answers) > 1:
            bad("one-answer", cid, "caller %d, callraft %d, phones %d answers" %
                (kinds.count("ANSWERED"), len(answered_ev), len(phone_answers)))
        if "GAVE-UP" in kinds and "CANCELLED" not in kinds and not (
                "LATE-ANSWER" in kinds and "ANSWERED" in kinds):
            bad("cancel-ended", cid, "hung up waiting, the CANCEL got no final answer: %s" % kinds)
        if "LATE-ANSWER" in kinds and "ANSWERED" in kinds and not answered_ev:
            if not any(e["kind"] == "CALL_ABANDONED" for e in evs):
                bad("cancel-ended", cid, "answered as it hung up: callraft has neither CALL_ANSWERED "
                    "nor CALL_ABANDONED")
            elif not phone_answers:
                bad("cancel-ended", cid, "a late answer that no phone gave")
            elif kinds[-1] != "BYE-OK":
                bad("cancel-ended", cid, "a late answer the caller did not hang up: %s" % kinds)
            late_abandoned.add(cid)
        if "ANSWERED" in kinds and cid not in late_abandoned:
            if not answered_ev:
                bad("answered-right", cid, "the caller was answered but callraft has no CALL_ANSWERED")
            elif not phone_answers:
                bad("answered-right", cid, "the caller was answered but no phone answered")
            else:
                agent = answered_ev[0].get("agent_id")
                if phone_answers[0][2] != agent:
                    bad("answered-right", cid, "phone of %s answered, callraft says %s" %
                        (phone_answers[0][2], agent))
                queue = QUEUE_OF_NUMBER.get(c["number"])
                if skills and queue not in skills.get(agent, set()):
                    bad("answered-right", cid, "agent %s (skills %s) answered a %s call" %
                        (agent, sorted(skills.get(agent, [])), queue))
        if "CANCELLED" in kinds or cid in late_abandoned:
            ab = [e for e in evs if e["kind"] == "CALL_ABANDONED"]
            if not evs:
                # No site queued the call (refused: too late for the carrier, or no node could
                # take it) before the caller hung up: nothing waits, nothing to abandon.
                pass
            elif not ab:
                bad("abandon", cid, "the caller hung up waiting, callraft has no CALL_ABANDONED")
            else:
                later = [e for e in evs if e["kind"] == "CALL_OFFERED" and e["index"] > ab[0]["index"]]
                if later:
                    bad("abandon", cid, "offered to %s after it was abandoned" % later[0].get("agent_id"))
                t_ab = ab[0]["at_ms"] / 1000.0
                rings_after = [r for r in phones.get(cid, []) if r[1] == "RING" and r[0] > t_ab + 0.05]
                if rings_after:
                    bad("abandon", cid, "phone of %s rang %.3f s after the abandon" %
                        (rings_after[0][2], rings_after[0][0] - t_ab))
        if a.expect_all and "GAVE-UP" not in kinds and "ANSWERED" not in kinds:
            bad("all-answered", cid, "never answered: %s" % kinds)
    for cid, rs in phones.items():
        offers = collections.Counter(e.get("agent_id") for e in by_call.get(cid, [])
                                     if e["kind"] == "CALL_OFFERED")
        rang = collections.Counter(r[2] for r in rs if r[1] == "RING")
        for agent, n in rang.items():
            if n > offers.get(agent, 0):
                bad("ring-offered", cid, "phone of %s rang %d times, offered %d times" %
                    (agent, n, offers.get(agent, 0)))
        answers = sorted(r for r in rs if r[1] == "ANSWER")
        if answers:
            t0, _, who = answers[0]
            for t, what, agent in rs:
                if what == "RING" and agent != who and t > t0:
                    bad("no-ring-taken", cid, "phone of %s rang %.3f s after %s answered" %
                        (agent, t - t0, who))
    summary = {
        "callers": len(callers),
        "outcomes": dict(outcome),
        "answered": sum(1 for cid, c in callers.items()
                        if cid not in late_abandoned and any(w == "ANSWERED" for _, w in c["events"])),
        "abandoned": len(late_abandoned) + sum(1 for c in callers.values()
                                               if any(w == "CANCELLED" for _, w in c["events"])),
        "late_answers": sum(1 for c in callers.values() if any(w == "LATE-ANSWER" for _, w in c["events"])),
        "refused": sum(1 for c in callers.values() if any(w.startswith("REFUSED") for _, w in c["events"])),
        "phone_rings": sum(1 for rs in phones.values() for r in rs if r[1] == "RING"),
        "callraft_answered": sum(1 for e in events if e["kind"] == "CALL_ANSWERED"),
        "violations": v,
    }
    if a.carrier:
        summary["site_of"] = read_carrier(a.carrier)
    return summary


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--callers", required=True)
    p.add_argument("--phones", action="append", default=[])
    p.add_argument("--events", required=True)
    p.add_argument("--agents")
    p.add_argument("--carrier")
    p.add_argument("--expect-all", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    s = check(a)
    if a.json:
        json.dump(s, open(a.json, "w"), indent=1)
    short = {k: s[k] for k in s if k not in ("violations", "site_of")}
    print(json.dumps(short))
    for x in s["violations"]:
        print("VIOLATION %(rule)s %(call)s: %(why)s" % x)
    sys.exit(1 if s["violations"] else 0)


if __name__ == "__main__":
    main()
