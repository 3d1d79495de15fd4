#!/usr/bin/env python3
"""powercut.py: the power cut itself, for processes run under libcallraft_powercut.so.

  powercut.py cut --data DIR --journal DIR --seed N
      After the process was killed (SIGKILL): every page of a file under DIR that was written
      but not synced (its durable content is in DIR's undo journals) is reverted (55%), kept
      (30%: the kernel had written it back) or torn at 512-byte sectors (15%), chosen with the
      seed. The journals are then removed. Prints what it did.
"""
import argparse
import os
import random
import struct
import sys

PAGE = 4096
SECTOR = 512


def inodes_under(root):
    found = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            found[(st.st_dev, st.st_ino)] = p
    return found


def cut(data, journal, seed):
    rng = random.Random(seed)
    files = inodes_under(data)
    reverted = kept = torn = 0
    for name in sorted(os.listdir(journal)):
        jpath = os.path.join(journal, name)
        dev, ino = (int(x) for x in name.split("-"))
        with open(jpath, "rb") as j:
            blob = j.read()
        os.unlink(jpath)
        path = files.get((dev, ino))
        if path is None:
            continue  # the file was deleted since: nothing to undo
        durable = {}
        for off in range(0, len(blob) - len(blob) % (8 + PAGE), 8 + PAGE):
            (no,) = struct.unpack_from("<Q", blob, off)
            durable.setdefault(no, blob[off + 8: off + 8 + PAGE])  # the oldest: what was synced
        with open(path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            for no in sorted(durable):
                r = rng.random()
                if r < 0.30:
                    kept += 1
                    continue
                page = durable[no]
                if no * PAGE >= size:
                    continue
                if r < 0.85:
                    f.seek(no * PAGE)
                    f.write(page[: max(0, min(PAGE, size - no * PAGE))])
                    reverted += 1
                else:
                    for s in range(PAGE // SECTOR):
                        at = no * PAGE + s * SECTOR
                        if at < size and rng.random() < 0.5:
                            f.seek(at)
                            f.write(page[s * SECTOR: min((s + 1) * SECTOR, size - no * PAGE)])
                    torn += 1
            f.flush()
            os.fsync(f.fileno())
    print("powercut: %s: %d unsynced pages reverted, %d torn, %d kept" % (data, reverted, torn, kept))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cut")
    c.add_argument("--data", required=True)
    c.add_argument("--journal", required=True)
    c.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "cut":
        cut(a.data, a.journal, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
