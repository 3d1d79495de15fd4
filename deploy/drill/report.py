#!/usr/bin/env python3
"""report.py: the figures of one drill, as text, JSON and a timeline SVG.

    report.py --dir OUT
reads OUT/history-*.jsonl (callraft-traffic center), OUT/events.jsonl (drill.sh: faults, heals,
catch-ups) and OUT/check.json (check.py), and writes OUT/report.txt, OUT/report.json and
OUT/timeline.svg (acknowledged writes per second per site, and p99 latency per second, with each
fault window shaded). No plotting library: the SVG is written by hand.

Per fault (from its injection to its heal):
  surviving sites   client sites the fault did not hit (kill-site/cut/restart-site S: all but S)
  service gap       per surviving site: the longest stretch without an acknowledged write there,
                    from the last acknowledgement before the fault to the heal (an election shows
                    here; the fault's own timestamp is taken just before the injection command)
  first ack         per surviving site: fault -> acknowledgement of the first write started after
                    it (small when the fault needs no election)
  latency           p50/p99/max of writes acknowledged at surviving sites that started in the window
  catch-up          heal -> the healed site's nodes applied what the leader had committed at heal
"""
import argparse
import glob
import json
import os


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def load(out):
    ops = []
    for p in sorted(glob.glob(os.path.join(out, "history-*.jsonl"))):
        with open(p) as f:
            ops += [json.loads(l) for l in f if l.strip()]
    events = []
    p = os.path.join(out, "events.jsonl")
    if os.path.exists(p):
        with open(p) as f:
            events = [json.loads(l) for l in f if l.strip()]
    check = {}
    p = os.path.join(out, "check.json")
    if os.path.exists(p):
        with open(p) as f:
            check = json.load(f)
    return ops, events, check


def fault_windows(events):
    """Pairs each fault with the heal that follows it."""
    out, open_f = [], None
    for e in events:
        if e["event"] == "fault":
            open_f = dict(e)
        elif e["event"] == "heal" and open_f is not None:
            open_f["heal_ms"] = e["t_ms"]
            out.append(open_f)
            open_f = None
        elif e["event"] == "caught_up" and out:
            out[-1]["catch_up_ms"] = e["t_ms"] - out[-1]["heal_ms"]
    if open_f is not None:
        open_f["heal_ms"] = None
        out.append(open_f)
    return out


def analyse(ops, events, check):
    acked = [o for o in ops if o["outcome"] == "OK"]
    sites = sorted({o["site"] for o in ops})
    t0 = min([o["start_ms"] for o in ops] + [e["t_ms"] for e in events]) if ops else 0
    lat_all = [o["end_ms"] - o["start_ms"] for o in acked]
    rep = {
        "acknowledged": len(acked),
        "ops": len(ops),
        "unknown": sum(1 for o in ops if o["outcome"] == "unknown"),
        "lost": check.get("lost"),
        "duplicated": check.get("duplicated"),
        "violations": len(check.get("violations", [])) if check else None,
        "check_ok": check.get("ok"),
        "replicas_equal": check.get("replicas_equal"),
        "replicas_compared_at_equal_index": check.get("replicas_compared_at_equal_index"),
        "latency_ms": {"p50": pct(lat_all, 50), "p99": pct(lat_all, 99), "max": max(lat_all) if lat_all else None},
        "faults": [],
    }
    for w in fault_windows(events):
        hit = w.get("site")
        end = w["heal_ms"] if w["heal_ms"] is not None else max(o["end_ms"] for o in ops)
        f = {"fault": w["what"], "at_s": round((w["t_ms"] - t0) / 1000.0, 1),
             "duration_s": round((end - w["t_ms"]) / 1000.0, 1), "sites": {}}
        lat = []
        for s in sites:
            if hit and s == hit:
                continue
            mine = sorted((o for o in acked if o["site"] == s), key=lambda o: o["end_ms"])
            first = next((o for o in mine if o["start_ms"] >= w["t_ms"]), None)
            in_win = [o["end_ms"] for o in mine if w["t_ms"] <= o["end_ms"] <= end]
            prev = max([o["end_ms"] for o in mine if o["end_ms"] < w["t_ms"]], default=w["t_ms"])
            pause = 0
            for t in in_win + [end]:
                pause = max(pause, t - prev)
                prev = max(prev, t)
            lat += [o["end_ms"] - o["start_ms"] for o in mine if w["t_ms"] <= o["start_ms"] <= end]
            f["sites"][s] = {"service_gap_ms": pause,
                             "first_ack_after_fault_ms": first["end_ms"] - w["t_ms"] if first else None,
                             "acknowledged_in_window": len(in_win)}
        f["latency_ms"] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat) if lat else None}
        f["catch_up_ms"] = w.get("catch_up_ms")
        rep["faults"].append(f)
    gaps = [s["service_gap_ms"] for f in rep["faults"] for s in f["sites"].values() if s["service_gap_ms"] is not None]
    rep["service_gap_ms_max"] = max(gaps) if gaps else None
    rep["service_gap_ms_p50"] = pct(gaps, 50)
    cu = [f["catch_up_ms"] for f in rep["faults"] if f["catch_up_ms"] is not None]
    rep["catch_up_ms_max"] = max(cu) if cu else None
    return rep, t0, sites


def text(rep):
    L = []
    L.append("drill: %s" % ("PASS" if rep["check_ok"] and rep["lost"] == 0 and rep["duplicated"] == 0 else "FAIL"))
    L.append("  acknowledged writes %d of %d (%d without a final reply)" % (rep["acknowledged"], rep["ops"], rep["unknown"]))
    L.append("  lost %s, applied twice %s, other violations %s, replicas equal %s (at one applied index: %s)" %
             (rep["lost"], rep["duplicated"], rep["violations"], rep["replicas_equal"], rep["replicas_compared_at_equal_index"]))
    l = rep["latency_ms"]
    L.append("  write latency overall p50 %s ms, p99 %s ms, max %s ms" % (l["p50"], l["p99"], l["max"]))
    for f in rep["faults"]:
        l = f["latency_ms"]
        L.append("  fault %-28s at %6.1fs for %5.1fs: p50 %s p99 %s max %s ms; catch-up %s ms" %
                 (f["fault"], f["at_s"], f["duration_s"], l["p50"], l["p99"], l["max"], f["catch_up_ms"]))
        for s, v in f["sites"].items():
            L.append("      %-8s service gap %s ms (first ack of a write started after the fault: %s ms), %d acknowledged in window" %
                     (s, v["service_gap_ms"], v["first_ack_after_fault_ms"], v["acknowledged_in_window"]))
    L.append("  service gap at surviving sites: p50 %s ms, max %s ms; catch-up max %s ms" %
             (rep["service_gap_ms_p50"], rep["service_gap_ms_max"], rep["catch_up_ms_max"]))
    return "\n".join(L) + "\n"


def svg(ops, events, t0, sites, path):
    acked = [o for o in ops if o["outcome"] == "OK"]
    if not acked:
        return
    t_end = max(o["end_ms"] for o in ops)
    secs = int((t_end - t0) / 1000) + 1
    rate = {s: [0] * secs for s in sites}
    lat = [[] for _ in range(secs)]
    for o in acked:
        b = int((o["end_ms"] - t0) / 1000)
        rate[o["site"]][b] += 1
        lat[int((o["start_ms"] - t0) / 1000)].append(o["end_ms"] - o["start_ms"])
    p99 = [pct(x, 99) or 0 for x in lat]
    W, H, ml, mr, mt, gap, ph = 900, 430, 60, 20, 30, 40, 160
    x = lambda t: ml + (W - ml - mr) * t / max(secs, 1)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>']
    for w in fault_windows(events):
        a = (w["t_ms"] - t0) / 1000.0
        b = ((w["heal_ms"] or t_end) - t0) / 1000.0
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f4c7c3" opacity="0.6"/>' % (x(a), mt, max(1, x(b) - x(a)), 2 * ph + gap))
        out.append('<text x="%.1f" y="%d" fill="#a00">%s</text>' % (x(a) + 2, mt - 4, w["what"]))
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    ymax = max(max(v) for v in rate.values()) or 1
    y1 = lambda v: mt + ph - ph * v / ymax
    for i, s in enumerate(sites):
        pts = " ".join("%.1f,%.1f" % (x(t + 0.5), y1(v)) for t, v in enumerate(rate[s]))
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colors[i % 4], pts))
        out.append('<text x="%d" y="%d" fill="%s">%s acknowledged writes/s</text>' % (ml + 10 + 190 * i, mt + 12, colors[i % 4], s))
    out.append('<text x="5" y="%d">%d/s</text><text x="5" y="%d">0</text>' % (mt + 10, ymax, mt + ph))
    lmax = max(p99) or 1
    top2 = mt + ph + gap
    y2 = lambda v: top2 + ph - ph * v / lmax
    pts = " ".join("%.1f,%.1f" % (x(t + 0.5), y2(v)) for t, v in enumerate(p99))
    out.append('<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="%s"/>' % pts)
    out.append('<text x="%d" y="%d" fill="#d62728">p99 write latency per second (by start)</text>' % (ml + 10, top2 + 12))
    out.append('<text x="5" y="%d">%d ms</text><text x="5" y="%d">0</text>' % (top2 + 10, lmax, top2 + ph))
    for y0 in (mt + ph, top2 + ph):
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (ml, y0, W - mr, y0))
    step = max(1, secs // 10)
    for t in range(0, secs + 1, step):
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%ds</text>' % (x(t), top2 + ph + 15, t))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True)
    a = p.parse_args()
    ops, events, check = load(a.dir)
    rep, t0, sites = analyse(ops, events, check)
    rep["events"] = events
    with open(os.path.join(a.dir, "report.json"), "w") as f:
        json.dump(rep, f, indent=1)
    t = text(rep)
    with open(os.path.join(a.dir, "report.txt"), "w") as f:
        f.write(t)
    svg(ops, events, t0, sites, os.path.join(a.dir, "timeline.svg"))
    print(t, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
