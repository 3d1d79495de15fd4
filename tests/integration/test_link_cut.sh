#!/usr/bin/env bash
# Writes through any surviving path (issue 12): the link between the two call-center cities is cut
# (iptables in the lab's router; the witness still reaches both) for 12 s under traffic whose
# clients know only their own site's nodes, so the city without the leader can write only if its
# nodes relay through the witness (node/forward.c, relay.h). The test fails unless
#   - the drill's checker finds nothing lost, nothing applied twice, no violation, equal replicas;
#   - both sites have acknowledged writes in the second half of the cut (writes continue; they did
#     not merely finish before it), and neither site went 6 s without one during it;
#   - a node of the city without the leader logged that it relayed (the path was exercised);
#   - no node logged a site lost: the cut city's PBX heartbeats, relayed, kept it alive (the false
#     positive of issue 12 item 2).
# Needs network namespaces (root): where they cannot be created it exits 77 (ctest: skipped) and
# says so. About 80 s.
. "$(dirname "$0")/drill_lib.sh" "${1:?usage: test_link_cut.sh BUILD_DIR}" link-cut lct \
  callraftd callraft callraft-traffic callraft-delayproxy
if ! drill_netns; then
  echo "SKIP: network namespaces cannot be created here (needs root and 'ip netns'):" \
    "a cut of one inter-city link needs the namespace lab (docs/lab.md)"
  exit 77
fi

hold=12
echo "--- cut tehran <-> shiraz for ${hold} s; clients know only their own site's nodes"
timeout 420 "$ROOT/deploy/drill.sh" --fault link-cut --site shiraz --clients site --warmup 5 \
  --hold "$hold" --settle 4 --rate 20 --out "$OUT/drill"

echo "--- both sites kept writing during the cut"
python3 - "$OUT/drill" "$hold" <<'PY'
import json, glob, sys
d, hold = sys.argv[1], int(sys.argv[2])
ev = [json.loads(l) for l in open(d + "/events.jsonl")]
fault = next(e["t_ms"] for e in ev if e["event"] == "fault")
heal = next(e["t_ms"] for e in ev if e["event"] == "heal")
assert heal - fault >= hold * 1000 - 500, (fault, heal)
ops = [json.loads(l) for p in glob.glob(d + "/history-*.jsonl") for l in open(p)]
rep = json.load(open(d + "/report.json"))
f = rep["faults"][0]
bad = []
for site in ("tehran", "shiraz"):
    late = [o for o in ops if o["site"] == site and o["outcome"] == "OK"
            and (fault + heal) / 2 <= o["end_ms"] <= heal]
    gap = f["sites"][site]["service_gap_ms"]
    print("  %-7s %4d acknowledged in the second half of the cut; service gap %s ms" % (site, len(late), gap))
    if not late:
        bad.append("%s: no acknowledged write in the second half of the cut" % site)
    if gap is None or gap > 6000:
        bad.append("%s: service gap %s ms during a %d s cut" % (site, gap, hold))
if bad:
    sys.exit("FAIL: " + "; ".join(bad))
PY

echo "--- the city without the leader relayed"
relayed=$(grep -l 'event=forward_relay' "$OUT"/drill/lab/node[1-4]/log 2>/dev/null | wc -l)
echo "  $relayed call-center node(s) logged forward_relay"
[ "$relayed" -ge 1 ] || { echo "FAIL: no node relayed: the cut city's writes went some other way"; exit 1; }
echo "--- no site was declared lost: the cut city's PBX heartbeats got through (issue 12 item 2)"
lost=$(grep -h 'event=site_lost' "$OUT"/drill/lab/node*/log 2>/dev/null | head -3 || true) # none: grep's 1
[ -z "$lost" ] || { echo "FAIL: a live site was declared lost (during the cut or after its heal):"; echo "$lost"; exit 1; }
echo "  no node logged site_lost"
echo "PASS: test_link_cut"
