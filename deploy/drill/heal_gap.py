#!/usr/bin/env python3
"""heal_gap.py DIR...: per link-cut heal in a drill's output, how long until each node that had
no leader at the heal logs `leader is now` (it heard the leader across the healed link)."""
import json, re, sys, datetime, glob, os
for d in sys.argv[1:]:
    heals = [json.loads(l)['t_ms'] for l in open(os.path.join(d, 'events.jsonl')) if '"heal"' in l]
    logs = {}
    for f in glob.glob(os.path.join(d, 'lab/node*/log')):
        n = int(re.search(r'node(\d+)/log', f).group(1))
        ev = []
        for l in open(f):
            m = re.match(r'time=(\S+)Z .*event=leader_change leader=(\d+)', l)
            if m:
                t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp() * 1000
                ev.append((t, int(m.group(2))))
        logs[n] = ev
    out = []
    for h in heals:
        per = []
        for n, ev in sorted(logs.items()):
            before = [l for t, l in ev if t <= h]
            if before and before[-1] != 0:
                continue  # knew a leader at the heal
            after = [t for t, l in ev if t > h and l != 0]
            per.append('node%d %s' % (n, '%d ms' % (after[0] - h) if after else 'never'))
        out.append(', '.join(per) or '(every node knew a leader)')
    print(d, '|', ' ; '.join(out))
