#!/usr/bin/env python3
"""redialers.py: the callers the SIP drill makes dial again (drill_sip.sh --redials N).

Reads the callers' log so far (SIPp, caller.xml), the carrier's log and the killed site's Kamailio
log, and prints a SIPp CSV (caller.xml's fields: number dialed, caller's number, patience
"patient") of up to N callers whose call the carrier had delivered to the killed site before the
kill, which that site had queued in callraft (QUEUED) and no phone had answered (no ANSWERED, no
answer request in flight): the callers waiting or being rung at a dead site, who hang up and dial
the same number again. Issue 12's redial rule
says such a caller keeps their place: the new call takes over the earlier call's place (or its
site-loss callback's), which report_sip.py checks in callraft's events (merged_from).
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_sip import read_callers  # noqa: E402
from report_sip import carrier_lines, site_of_uri  # noqa: E402

FINAL = ("ANSWERED", "CANCELLED", "CANCEL-FAILED", "LATE-ANSWER")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--callers", required=True)
    p.add_argument("--carrier", required=True)
    p.add_argument("--site", required=True, help="the killed site")
    p.add_argument("--kill", type=float, required=True, help="the kill's time (epoch s)")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--site-log", required=True, help="the killed site's Kamailio log")
    a = p.parse_args()
    queued, answered = set(), set()
    for line in open(a.site_log, errors="replace"):
        m = re.search(r"callraft-sip: (QUEUED|ADOPTED|ANSWERED) call=(\S+)", line)
        if m:
            (answered if m.group(1) == "ANSWERED" else queued).add(m.group(2))
        # A phone answered and the answer was on its way to callraft (retried, slow) when the site
        # died: a call in progress, not a waiting caller.
        m = re.search(r"path=/v1/calls/(\S+?)/answer", line)
        if m:
            answered.add(m.group(1))
    site = {}
    for _, what, kv in carrier_lines(a.carrier):
        if what == "ROUTE":
            site[kv["call"]] = site_of_uri(kv.get("site"))
    lines = []
    for line in open(a.callers):
        f = line.split()
        if len(f) >= 5 and f[1] == "INVITE":
            lines.append(f)
    calls = read_callers(a.callers)
    out = []
    for f in lines:
        cid = f[2]
        evs = calls[cid]["events"]
        if site.get(cid) != a.site or evs[0][0] >= a.kill or cid not in queued or cid in answered:
            continue
        if any(w in FINAL or w.startswith("REFUSED") for _, w in evs):
            continue
        out.append("%s;%s;patient" % (f[3], f[4]))
        if len(out) >= a.count:
            break
    print("SEQUENTIAL")
    print("\n".join(out))
    print("redialers: %d callers stuck at %s dial again" % (len(out), a.site), file=sys.stderr)


if __name__ == "__main__":
    main()
