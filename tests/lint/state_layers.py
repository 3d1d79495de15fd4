#!/usr/bin/env python3
"""state_layers.py STATE_DIR: the files of state/ call each other in one direction only.

state_internal.h lists the files of state/ from the top caller down to store.c; no file may call a
non-static function defined in a file listed above it (that would be a call circle, issue 11 item
3), and every .c file of the folder must be listed. Exit 0 when the order holds, 1 with the edges
that break it. Reads the sources as text: a function is "defined" where a line at column 0 starts
a non-static definition, and "called" where its name is followed by '('.
"""
import os
import re
import sys

state = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../state")
header = open(os.path.join(state, "state_internal.h")).read()
listing = header[: header.index("#ifndef")]
order = re.findall(r"^ \*   ([a-z_]+\.c)\b", listing, re.M)
files = sorted(f for f in os.listdir(state) if f.endswith(".c"))
problems = []
for f in files:
    if f not in order:
        problems.append(f"{f}: not listed in state_internal.h")

definition = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b([a-z_][a-z0-9_]*)\(([^;]*)$", re.M)
defined = {}
sources = {}
for f in files:
    text = open(os.path.join(state, f)).read()
    sources[f] = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # calls named in comments do not count
    for m in definition.finditer(text):
        defined.setdefault(m.group(1), f)

edges = 0
for caller, text in sources.items():
    for name, callee in defined.items():
        if callee == caller or not re.search(r"\b%s\(" % re.escape(name), text):
            continue
        edges += 1
        if caller in order and callee in order and order.index(caller) >= order.index(callee):
            problems.append(f"{caller} calls {name}() of {callee}, listed above it")

if edges < 20:  # a broken scan would find nothing and pass
    problems.append(f"only {edges} calls between files found: the scan is broken")
for p in problems:
    print("state_layers:", p)
print(f"state_layers: {len(files)} files, {edges} calls between files, "
      f"{'ok' if not problems else str(len(problems)) + ' problem(s)'}")
sys.exit(1 if problems else 0)
