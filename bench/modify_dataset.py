#!/usr/bin/env python3
"""Modify a deterministic share (default 5 %) of the regular files of a dataset.

Half of the chosen files get bytes appended (new log lines), the other half get
a few short ranges overwritten in place, so most of every file's content stays
the same and a deduplicating tool only has to store the changed chunks.
The choice of files and the new bytes depend only on --seed and the file list.

Usage: modify_dataset.py DIR [--percent 5] [--seed 7]
"""

import argparse
import math
import os
import random

MARKER = ".arca-bench-dataset"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--percent", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    files = []
    for root, dirs, names in os.walk(args.dir):
        dirs.sort()
        for name in sorted(names):
            p = os.path.join(root, name)
            if name != MARKER and os.path.isfile(p) and not os.path.islink(p):
                files.append(p)
    files.sort()
    r = random.Random(args.seed)
    k = math.ceil(len(files) * args.percent / 100)
    chosen = r.sample(files, k)
    appended = overwritten = changed = 0
    for i, path in enumerate(chosen):
        size = os.path.getsize(path)
        if i % 2 == 0 or size == 0:
            n = r.randint(100, 4096)
            line = b"2026-12-31T23:59:59Z INFO [bench] appended by modify_dataset run %d\n" % args.seed
            data = (line * (n // len(line) + 1))[:n]
            with open(path, "ab") as f:
                f.write(data)
            appended += 1
            changed += n
        else:
            # Overwrite 1-3 ranges of 16 B-4 KiB at random offsets; the size stays the same.
            with open(path, "r+b") as f:
                for _ in range(1 + r.randrange(3)):
                    off = r.randrange(size)
                    n = min(size - off, r.randint(16, 4096))
                    f.seek(off)
                    f.write(r.randbytes(n))
                    changed += n
            overwritten += 1
    print("modify_dataset: %s: %d of %d files changed (%d appended, %d overwritten in place), %d bytes written"
          % (args.dir, k, len(files), appended, overwritten, changed))


if __name__ == "__main__":
    main()
