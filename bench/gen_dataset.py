#!/usr/bin/env python3
"""Generate the deterministic benchmark dataset (Python 3 standard library only).

The same --seed, --size and --small-files always give byte-identical files.
The tree mixes:

  small/   >= 50,000 files of 1-16 KiB (logs, CSV, JSON, binary) in a nested tree
  text/    large compressible files (log lines, CSV rows, JSON lines)
  binary/  large incompressible files (pseudo-random bytes)
  dup/     one set of files copied byte-for-byte into several directories
  misc/    a few symlinks and empty directories

Usage: gen_dataset.py --out DIR [--size 2G] [--small-files N] [--seed N]
"""

import argparse
import math
import os
import random
import sys
import time

MARKER = ".arca-bench-dataset"
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

WORDS = (
    "request response cache miss hit shard replica volume snapshot backup restore "
    "upload download chunk pack index tree blob object bucket prefix tenant pod node "
    "namespace deployment service ingress secret configmap lease leader follower "
    "timeout retry connect accept reject commit rollback flush compact merge split "
    "checkpoint journal segment offset partition consumer producer topic queue worker "
    "scheduler reconcile watch patch update create delete list get ok error warning"
).split()
LEVELS = ["INFO"] * 12 + ["DEBUG"] * 6 + ["WARN"] * 3 + ["ERROR"]
COMPONENTS = ["api", "store", "sched", "net", "auth", "db", "cache", "gc", "ctrl", "io"]
CITIES = ["Berlin", "Lyon", "Osaka", "Lima", "Perth", "Quebec", "Tunis", "Oslo", "Pune", "Cork"]
PRODUCTS = ["widget", "gadget", "sprocket", "gizmo", "doohickey", "flange", "bracket", "valve"]


def parse_size(text):
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    for suffix, m in (("K", KIB), ("M", MIB), ("G", GIB), ("T", 1024 * GIB)):
        if text.endswith(suffix):
            mult, text = m, text[:-1]
            break
    return int(float(text) * mult)


class Gen:
    """Content generators. Each takes its own Random so files are independent."""

    @staticmethod
    def log(r, n, t0):
        out, size, t = [], 0, t0
        choice, rand, words = r.choice, r.random, WORDS
        while size < n:
            t += rand() * 0.05
            sec = int(t)
            msg = " ".join(r.choices(words, k=3 + int(rand() * 8)))
            line = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ %s [%s] %s user=%d req=%08x latency=%.2fms\n" % (
                2026, 1 + (sec // 2592000) % 12, 1 + (sec // 86400) % 28, (sec // 3600) % 24,
                (sec // 60) % 60, sec % 60, int((t - sec) * 1e6), choice(LEVELS), choice(COMPONENTS),
                msg, r.randrange(100000), r.getrandbits(32), rand() * 250)
            out.append(line)
            size += len(line)
        return "".join(out).encode()[:n]

    @staticmethod
    def csv(r, n, t0):
        out = ["id,timestamp,city,product,quantity,unit_price,total,status\n"]
        size, i = len(out[0]), int(t0) % 1000000
        choice, rand = r.choice, r.random
        while size < n:
            i += 1
            q = 1 + int(rand() * 40)
            p = round(1 + rand() * 200, 2)
            line = "%d,%d,%s,%s,%d,%.2f,%.2f,%s\n" % (
                i, int(t0) + i * 7, choice(CITIES), choice(PRODUCTS), q, p, q * p,
                "shipped" if rand() < 0.8 else "pending")
            out.append(line)
            size += len(line)
        return "".join(out).encode()[:n]

    @staticmethod
    def jsonl(r, n, t0):
        out, size, i = [], 0, int(t0) % 1000000
        choice, rand = r.choice, r.random
        while size < n:
            i += 1
            line = ('{"seq":%d,"ts":%d,"node":"node-%02d","component":"%s","level":"%s",'
                    '"metrics":{"cpu":%.3f,"mem_mib":%d,"io_ops":%d},"tags":["%s","%s"],"msg":"%s"}\n') % (
                i, int(t0) + i, r.randrange(64), choice(COMPONENTS), choice(LEVELS), rand() * 4,
                r.randrange(64, 16384), r.randrange(100000), choice(WORDS), choice(WORDS),
                " ".join(r.choices(WORDS, k=4)))
            out.append(line)
            size += len(line)
        return "".join(out).encode()[:n]

    @staticmethod
    def binary(r, n, t0=0):
        return r.randbytes(n)


TEXT_KINDS = [("log", Gen.log), ("csv", Gen.csv), ("jsonl", Gen.jsonl)]


def write_file(path, data_iter, mtime):
    with open(path, "wb") as f:
        for block in data_iter:
            f.write(block)
    os.utime(path, (mtime, mtime))


def blocks(gen, r, n, t0, block=4 * MIB):
    """Yield n bytes of gen's content in blocks (so huge files need little memory)."""
    done = 0
    while done < n:
        k = min(block, n - done)
        yield gen(r, k, t0 + done)
        done += k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (must not exist or be empty)")
    ap.add_argument("--size", default="2G", help="approximate total size, e.g. 2G, 512M (default 2G)")
    ap.add_argument("--small-files", type=int, default=None,
                    help="number of 1-16 KiB files (default: 60000 per 2 GiB of --size, at least 1000)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    total = parse_size(args.size)
    n_small = args.small_files if args.small_files is not None else max(1000, round(60000 * total / (2 * GIB)))
    if os.path.exists(args.out) and os.listdir(args.out):
        sys.exit(f"gen_dataset: {args.out} exists and is not empty")
    os.makedirs(args.out, exist_ok=True)
    base_mtime = 1767225600  # 2026-01-01T00:00:00Z, so mtimes are reproducible too
    started = time.time()
    written = 0
    nfiles = 0

    def done(path, n):
        nonlocal written, nfiles
        written += n
        nfiles += 1

    # 1. Small files: 1-16 KiB, 100 per leaf directory, three levels deep.
    r = random.Random(args.seed * 1000003 + 1)
    kinds = [("log", Gen.log)] * 4 + [("csv", Gen.csv)] * 2 + [("json", Gen.jsonl)] * 2 + [("bin", Gen.binary)] * 2
    for i in range(n_small):
        leaf = i // 100
        d = os.path.join(args.out, "small", "%02d" % (leaf // 100 % 100), "%02d" % (leaf // 10 % 10), "%02d" % (leaf % 10))
        if i % 100 == 0:
            os.makedirs(d, exist_ok=True)
        ext, gen = kinds[r.randrange(len(kinds))]
        n = r.randint(1 * KIB, 16 * KIB)
        fr = random.Random(r.getrandbits(64))
        path = os.path.join(d, "f%06d.%s" % (i, ext))
        write_file(path, [gen(fr, n, base_mtime + i * 60)], base_mtime + i)
        done(path, n)
    small_bytes = written

    rest = max(0, total - small_bytes)
    text_budget = int(rest * 0.45)
    bin_budget = int(rest * 0.30)
    dup_copies = 4
    dup_budget = rest - text_budget - bin_budget  # all copies together

    # 2. Large compressible text files, 1-32 MiB each.
    r = random.Random(args.seed * 1000003 + 2)
    os.makedirs(os.path.join(args.out, "text"), exist_ok=True)
    i, left = 0, text_budget
    while left > 0:
        n = min(left, r.randint(1 * MIB, 32 * MIB))
        ext, gen = TEXT_KINDS[i % len(TEXT_KINDS)]
        path = os.path.join(args.out, "text", "data-%04d.%s" % (i, ext))
        write_file(path, blocks(gen, random.Random(r.getrandbits(64)), n, base_mtime + i * 10**6), base_mtime)
        done(path, n)
        left -= n
        i += 1

    # 3. Large incompressible files, 1-64 MiB each.
    r = random.Random(args.seed * 1000003 + 3)
    os.makedirs(os.path.join(args.out, "binary"), exist_ok=True)
    i, left = 0, bin_budget
    while left > 0:
        n = min(left, r.randint(1 * MIB, 64 * MIB))
        path = os.path.join(args.out, "binary", "blob-%04d.bin" % i)
        write_file(path, blocks(Gen.binary, random.Random(r.getrandbits(64)), n, 0), base_mtime)
        done(path, n)
        left -= n
        i += 1

    # 4. Duplicates: one source set (text + binary + small files), identical copies in several dirs.
    r = random.Random(args.seed * 1000003 + 4)
    src_budget = dup_budget // dup_copies
    sources = []  # (name, kind, size, seed)
    left = src_budget
    j = 0
    while left > 0:
        if j % 8 == 7:
            n = r.randint(1 * KIB, 16 * KIB)
        else:
            n = r.randint(256 * KIB, 8 * MIB)
        n = min(left, n)
        ext, gen = ([("bin", Gen.binary)] + TEXT_KINDS)[j % 4]
        sources.append(("shared-%03d.%s" % (j, ext), gen, n, r.getrandbits(64)))
        left -= n
        j += 1
    for c in range(dup_copies):
        d = os.path.join(args.out, "dup", "team-%d" % c, "assets")
        os.makedirs(d, exist_ok=True)
        for name, gen, n, seed in sources:
            path = os.path.join(d, name)
            write_file(path, blocks(gen, random.Random(seed), n, base_mtime), base_mtime + c)
            done(path, n)

    # 5. Symlinks and empty directories.
    misc = os.path.join(args.out, "misc")
    for k in range(5):
        os.makedirs(os.path.join(misc, "empty-%d" % k), exist_ok=True)
    os.makedirs(os.path.join(misc, "links"), exist_ok=True)
    for k in range(10):
        os.symlink("../../text/data-%04d.log" % (3 * k), os.path.join(misc, "links", "link-%d" % k))

    with open(os.path.join(args.out, MARKER), "w") as f:
        f.write("seed=%d size=%d small_files=%d\n" % (args.seed, total, n_small))
    print("gen_dataset: %s: %d files, %.1f MiB (%d small files, %.1f MiB) in %.0f s"
          % (args.out, nfiles, written / MIB, n_small, small_bytes / MIB, time.time() - started))


if __name__ == "__main__":
    main()
