#!/usr/bin/env python3
"""stepdowns.py OUT...: leadership churn in drills' outputs. For each drill output directory, from
its nodes' logs (OUT/lab/node*/log): how many times a leader left leadership while it lived, how
many of those were step-downs in its own term (raft's check-quorum: it had not heard from a
majority within an election timeout, on a loaded machine usually the scheduler), and the highest
term reached. A killed leader logs nothing, so kills are not counted."""
import glob
import re
import sys

ROLE = re.compile(r'term=(\d+) event=role_change role=(\w+)')
for d in sys.argv[1:]:
    exits = same_term = top = 0
    for f in glob.glob(d + '/lab/node*/log'):
        prev = None
        for line in open(f):
            m = ROLE.search(line)
            if not m:
                continue
            term, role = int(m.group(1)), m.group(2)
            top = max(top, term)
            if prev is not None and prev[1] == 'leader':
                exits += 1
                same_term += role == 'follower' and term == prev[0]
            prev = (term, role)
    print('%s: leaders left %d times, %d of them step-downs in their own term; highest term %d'
          % (d, exits, same_term, top))
