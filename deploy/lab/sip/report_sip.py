#!/usr/bin/env python3
"""report_sip.py: the report of one SIP site-kill drill (drill_sip.sh), from SIPp's own logs and
statistics, the carrier's log, callraft's event stream and the nodes' logs. Writes report.json and
timeline.svg into --dir and prints the text report.

Figures (docs/telephony.md, "The SIP drill"):
  offered          INVITEs the callers sent to the carrier
  answered         callers who got a 200 OK (and talked)
  abandoned        callers who hung up while waiting (CANCEL; those whose 487 never came are
                   counted apart)
  failed           callers who got an error (4xx/5xx/408 other than their own 487), or no outcome
  errors after probe  failed callers whose INVITE came after the carrier marked the killed site
                   down (target 0)
  lost at the dead site  callers whose call was at the killed site when it died
  dead-site waiting callers  calls queued at the killed site, waiting at the kill: how many became
                   callbacks, whether in their queue order, how many were not called back (target 0)
  longest gap      the longest time without an answer by a phone of the surviving site, from the
                   kill to the last caller's INVITE (target <= 2 s); the same before the kill
  redials          callers stuck at the killed site who dialed again (drill_sip.sh --redials), and
                   how many of them took back their earlier call's place (the entry that queued the
                   redial ended the earlier call of that caller: merged)
  answered twice   calls with more than one answer (target 0)
"""
import argparse
import collections
import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_sip import read_callers, read_events, read_phones, sipp_time  # noqa: E402

SITE_OF_IP = {"1": "tehran", "2": "shiraz"}


def carrier_lines(path):
    out = []
    for line in open(path, errors="replace"):
        m = re.search(r"carrier: (\S+) t=(\d+\.\d+) (.*)", line)
        if m:
            kv = dict(re.findall(r"(\w+)=(\S+)", m.group(3)))
            out.append((float(m.group(2)), m.group(1), kv))
    return out


def site_of_uri(u):
    m = re.search(r"10\.(\d)\.0\.20", u or "")
    return SITE_OF_IP.get(m.group(1)) if m else None


def raft_events(d):
    out = []
    for f in sorted(os.listdir(d)):
        if not re.match(r"node\d+\.log$", f):
            continue
        for line in open(os.path.join(d, f), errors="replace"):
            m = re.match(r"time=(\S+) .*event=(leader_change|role_change) (\S+)", line)
            if not m:
                continue
            if m.group(2) == "role_change" and m.group(3) != "role=leader":
                continue
            if m.group(2) == "leader_change" and "leader=0" in m.group(3):
                continue
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            out.append((t, "%s %s (%s)" % (f[:-4], m.group(2), m.group(3))))
    return sorted(out)


def longest_gap(times, start, end):
    ts = sorted(t for t in times if start <= t <= end)
    pts = [start] + ts + [end]
    best, at = 0.0, start
    for a, b in zip(pts, pts[1:]):
        if b - a > best:
            best, at = b - a, a
    return best, at


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True)
    a = p.parse_args()
    d = a.dir
    t0, t_kill, dead, alive = open(os.path.join(d, "times")).read().split()
    t0, t_kill = float(t0), float(t_kill)
    callers = read_callers(os.path.join(d, "calls/callers.log"))
    phones = {s: read_phones([os.path.join(d, "calls/phones-%s.log" % s)]) for s in ("tehran", "shiraz")}
    events = read_events(os.path.join(d, "calls/events.sse"))
    carrier = carrier_lines(os.path.join(d, "calls/kamailio-carrier.log"))
    check = json.load(open(os.path.join(d, "check.json")))

    final_site, failovers = {}, 0
    for t, what, kv in carrier:
        if what == "ROUTE":
            final_site[kv["call"]] = site_of_uri(kv.get("site"))
        elif what == "FAILOVER":
            failovers += 1
    downs = [t for t, what, kv in carrier if what == "SITE-DOWN" and t >= t_kill and
             dead in (site_of_uri(kv.get("site")), site_of_uri(kv.get("du")))]
    t_down = downs[0] if downs else None

    def outcome(c):
        kinds = [w for _, w in c["events"]]
        if "ANSWERED" in kinds:
            return "answered"
        if "CANCELLED" in kinds or "CANCEL-FAILED" in kinds:
            # The caller hung up while waiting (a CANCEL-FAILED one got no 487 within 10 s).
            return "abandoned"
        fin = [w for w in kinds if w not in ("INVITE", "GAVE-UP")]
        return "failed:" + (fin[-1] if fin else "no-outcome")

    out = collections.Counter()
    failed_after_probe, failed_before_probe = [], []
    lost_dead = collections.Counter()
    invites, answers_t, aband_t, fail_t = [], [], [], []
    for cid, c in callers.items():
        o = outcome(c)
        out[o.split(":")[0]] += 1
        t_inv = c["events"][0][0]
        invites.append(t_inv)
        if o == "answered":
            answers_t.append([t for t, w in c["events"] if w == "ANSWERED"][0])
        elif o == "abandoned":
            aband_t.append(c["events"][-1][0])
        else:
            fail_t.append(c["events"][-1][0])
            if t_down is not None and t_inv > t_down:
                failed_after_probe.append((cid, o))
            elif t_inv >= t_kill:
                failed_before_probe.append((cid, o))
        if final_site.get(cid) == dead and t_inv < t_kill:
            lost_dead[o.split(":")[0]] += 1

    # callraft's view of the killed site's callers
    by_call = collections.defaultdict(list)
    for e in events:
        if e.get("call_id"):
            by_call[e["call_id"]].append(e)
    t_kill_ms = t_kill * 1000
    site_lost = [e for e in events if e["kind"] == "SITE_LOST" and e.get("site") == dead]
    # The redials (drill_sip.sh --redials): callers stuck at the killed site who dialed again.
    redials = {}
    rpath = os.path.join(d, "redials/callers.log")
    if os.path.exists(rpath):
        redials = read_callers(rpath)
    merged, redial_out = [], collections.Counter()
    for cid, c in redials.items():
        redial_out[outcome(c).split(":")[0]] += 1
        took = [e.get("merged_from") for e in by_call.get(cid, []) if e.get("merged_from")]
        # The event stream does not carry merged_from: the redial took an earlier call's place when
        # one log entry both queued it and ended that earlier call of the same caller and queue.
        for q in [e for e in by_call.get(cid, []) if e["kind"] == "CALL_QUEUED"][:1]:
            took += [e["call_id"] for e in events if e["kind"] == "CALL_ENDED" and e["index"] == q["index"]
                     and e["call_id"] != cid and e.get("caller_number") == q.get("caller_number")
                     and e.get("queue") == q.get("queue")]
        if took:
            merged.append((cid, took[0]))
    merged_old = {old for _, old in merged}

    waiting_at_kill = []
    for cid, evs in by_call.items():
        q = [e for e in evs if e["kind"] == "CALL_QUEUED"]
        if not q or q[0].get("site") != dead or q[0]["at_ms"] > t_kill_ms:
            continue
        done_before = [e for e in evs if e["at_ms"] <= t_kill_ms and e["kind"] in
                       ("CALL_ANSWERED", "CALL_ABANDONED", "CALL_ENDED", "CALL_CALLBACK")]
        if not done_before:
            waiting_at_kill.append((q[0]["index"], q[0]["position"], cid, q[0].get("queue")))
    called_back, not_called_back, in_order = [], [], True
    per_queue = collections.defaultdict(list)
    for idx, pos, cid, queue in sorted(waiting_at_kill):
        cb = [e for e in by_call[cid] if e["kind"] == "CALL_CALLBACK" and e["at_ms"] >= t_kill_ms]
        # answered, abandoned, or its place taken by the caller's redial (merged)
        other = [e for e in by_call[cid] if e["at_ms"] >= t_kill_ms and e["kind"] in
                 ("CALL_ANSWERED", "CALL_ABANDONED")] + [cid] * (cid in merged_old)
        if cb:
            called_back.append(cid)
            per_queue[queue].append((cb[0]["index"], cb[0]["position"]))
        elif not other:
            not_called_back.append(cid)
    for queue, seq in per_queue.items():
        if seq != sorted(seq):
            in_order = False

    end = max(invites) if invites else t_kill
    gap_after, gap_after_at = longest_gap([t for t, w, _ in
                                           (r for rs in phones[alive].values() for r in rs) if w == "ANSWER"],
                                          t_kill, end)
    gap_before, _ = longest_gap([t for t, w, _ in (r for rs in phones[alive].values() for r in rs) if w == "ANSWER"],
                                t0 + 5, t_kill)
    raft = [(t, w) for t, w in raft_events(d) if t >= t_kill - 1]
    twice = [v for v in check.get("violations", []) if v["rule"] == "one-answer"]
    # A caller at the killed site who hung up gets no answer to the CANCEL: nobody is left there
    # to send it (expected, counted apart); every other violation is a finding.
    dead_cancels = [v for v in check.get("violations", []) if v["rule"] == "cancel-ended"
                    and final_site.get(v["call"]) == dead]

    rep = {
        "killed_site": dead, "surviving_site": alive,
        "offered": len(callers), "answered": out["answered"], "abandoned": out["abandoned"],
        "failed": out["failed"],
        "abandoned_without_487": sum(1 for c in callers.values() if c["events"][-1][1] == "CANCEL-FAILED"),
        "failed_by_kind": dict(collections.Counter(outcome(c) for c in callers.values()
                                                   if outcome(c).startswith("failed"))),
        "carrier_failovers": failovers,
        "carrier_marked_dead_after_s": round(t_down - t_kill, 2) if t_down else None,
        "errors_after_probe": len(failed_after_probe),
        "errors_between_kill_and_probe": len(failed_before_probe),
        "callers_at_dead_site_before_kill": dict(lost_dead),
        "site_lost_after_s": round(site_lost[0]["at_ms"] / 1000 - t_kill, 2) if site_lost else None,
        "dead_site_waiting_at_kill": len(waiting_at_kill),
        "dead_site_called_back": len(called_back),
        "dead_site_callbacks_in_order": in_order,
        "dead_site_not_called_back": len(not_called_back),
        "dead_site_redialed": sum(1 for _, _, cid, _ in waiting_at_kill if cid in merged_old and
                                  not any(e["kind"] == "CALL_CALLBACK" and e["at_ms"] >= t_kill_ms
                                          for e in by_call[cid])),
        "longest_gap_after_kill_s": round(gap_after, 2),
        "longest_gap_after_kill_from_s": round(gap_after_at - t_kill, 2),
        "longest_gap_before_kill_s": round(gap_before, 2),
        "redials": len(redials),
        "redials_kept_place": len(merged),
        "redials_outcomes": dict(redial_out),
        "answered_twice": len(twice),
        "check_violations": len(check.get("violations", [])),
        "check_violations_dead_site_cancels": len(dead_cancels),
        "check_violations_other": len(check.get("violations", [])) - len(dead_cancels),
        "raft_after_kill": [("+%.2fs" % (t - t_kill), w) for t, w in raft],
    }
    json.dump(rep, open(os.path.join(d, "report.json"), "w"), indent=1)
    lines = [
        "SIP drill: site %s killed at +%.1f s (callers started at +0)" % (dead, t_kill - t0),
        "offered by the carrier   %d" % rep["offered"],
        "answered by an agent     %d" % rep["answered"],
        "abandoned by the caller  %d (%d of them got no 487 within 10 s)" % (rep["abandoned"],
                                                                          rep["abandoned_without_487"]),
        "failed (SIP errors, timeouts) %d  %s" % (rep["failed"], rep["failed_by_kind"]),
        "carrier: site marked dead %s s after the kill; %d INVITEs failed over to the other site" %
        (rep["carrier_marked_dead_after_s"], failovers),
        "errors to callers who called after the carrier marked the site dead: %d (target 0)" %
        rep["errors_after_probe"],
        "errors to callers who called between the kill and the probe: %d" % rep["errors_between_kill_and_probe"],
        "callers at the killed site before the kill: %s" % rep["callers_at_dead_site_before_kill"],
        "callraft: SITE_LOST %s s after the kill" % rep["site_lost_after_s"],
        "killed site's callers waiting at the kill: %d; called back: %d, in queue order: %s; redialed and "
        "kept their place: %d; not called back: %d (target 0)" % (
            rep["dead_site_waiting_at_kill"], rep["dead_site_called_back"], "yes" if in_order else "NO",
            rep["dead_site_redialed"], rep["dead_site_not_called_back"]),
        "longest gap in answers at %s: %.2f s after the kill (from +%.2f s; target <= 2 s), %.2f s before" %
        (alive, gap_after, gap_after_at - t_kill, gap_before),
        "redials by callers stuck at the killed site: %d; took back their earlier call's place: %d; %s" %
        (rep["redials"], rep["redials_kept_place"], rep["redials_outcomes"]),
        "answered twice: %d (target 0); check_sip violations: %d (%d of them CANCELs to the killed site, "
        "which nobody is left to answer; other: %d)" % (rep["answered_twice"], rep["check_violations"],
                                                       rep["check_violations_dead_site_cancels"],
                                                       rep["check_violations_other"]),
        "raft after the kill: " + "; ".join("%s %s" % x for x in rep["raft_after_kill"][:6]),
    ]
    print("\n".join(lines))
    svg(os.path.join(d, "timeline.svg"), t0, t_kill, t_down, site_lost, raft, invites, phones, aband_t,
        fail_t, dead, alive)


def svg(path, t0, t_kill, t_down, site_lost, raft, invites, phones, aband_t, fail_t, dead, alive):
    def per_sec(ts):
        c = collections.Counter(int(t - t0) for t in ts)
        return c
    series = [
        ("offered (INVITE/s)", per_sec(invites), "#555"),
        ("answered at %s/s" % alive, per_sec([r[0] for rs in phones[alive].values() for r in rs if r[1] == "ANSWER"]), "#2a7"),
        ("answered at %s/s" % dead, per_sec([r[0] for rs in phones[dead].values() for r in rs if r[1] == "ANSWER"]), "#27c"),
        ("abandoned/s", per_sec(aband_t), "#e90"),
        ("failed/s", per_sec(fail_t), "#d22"),
    ]
    tmax = max([k for _, s, _ in series for k in s] + [int(t_kill - t0) + 5]) + 1
    ymax = max([v for _, s, _ in series for v in s.values()] + [1])
    W, H, L, B, T = 900, 360, 50, 40, 30
    x = lambda t: L + (W - L - 20) * t / tmax  # noqa: E731
    y = lambda v: H - B - (H - B - T) * v / ymax  # noqa: E731
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="18" font-size="13">SIP drill: site %s killed (SIGKILL: nodes, Kamailio, phones)</text>' % (L, dead),
         '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, H - B, W - 20, H - B),
         '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, T, L, H - B)]
    for i in range(0, tmax + 1, 10):
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%d s</text>' % (x(i), H - B + 14, i))
    for v in range(0, ymax + 1, max(1, ymax // 5)):
        o.append('<text x="%d" y="%.1f" text-anchor="end">%d</text>' % (L - 4, y(v) + 4, v))
    marks = [(t_kill, "kill", "#d22")]
    if t_down:
        marks.append((t_down, "carrier: site down", "#e90"))
    if site_lost:
        marks.append((site_lost[0]["at_ms"] / 1000, "callraft: SITE_LOST", "#a3a"))
    for t, w in raft[:3]:
        marks.append((t, "raft: " + w.split(" (")[0].split(" ", 1)[1], "#36c"))
    for i, (t, label, col) in enumerate(marks):
        xx = x(t - t0)
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="4,3"/>' % (xx, T, xx, H - B, col))
        o.append('<text x="%.1f" y="%d" fill="%s">%s</text>' % (xx + 3, T + 12 + 12 * i, col, label))
    for i, (name, s, col) in enumerate(series):
        pts = " ".join("%.1f,%.1f" % (x(k + 0.5), y(s.get(k, 0))) for k in range(tmax))
        o.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (col, pts))
        o.append('<text x="%d" y="%d" fill="%s">%s</text>' % (W - 200, T + 12 * i + 80, col, name))
    o.append('</svg>')
    open(path, "w").write("\n".join(o))


if __name__ == "__main__":
    main()
