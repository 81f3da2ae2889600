#!/usr/bin/env python3
"""Kubernetes scale benchmark: back up and restore N objects against the test
API server, reporting objects/s and peak RSS of `arca` per step.

For each size: generate N objects (ConfigMaps, Secrets and custom resources
spread over 1,000 namespaces; deterministic content), start a test cluster
preloaded with them, back up twice (the second run measures what an
unchanged cluster adds), then restore into a second, empty test cluster.

Usage: kube_scale.py --arca BIN --testcluster BIN [--sizes 10000,100000,300000]
       [--namespaces 1000] [--work DIR] [--out results.json]
"""

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

GROUP = "bench.arca.io"


def crd():
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": schema}}],
        },
    }


def words(rng, n):
    vocab = ["replicas", "timeout", "endpoint", "cache", "region", "retry", "pool", "level", "debug", "feature",
             "enabled", "limit", "queue", "worker", "shard", "tenant", "backend", "frontend", "metrics", "trace"]
    return " ".join(rng.choice(vocab) for _ in range(n))


def objects(total, namespaces, seed=7):
    """Yields namespaces, the CRD, then `total` objects round-robin over namespaces."""
    rng = random.Random(seed)
    names = [f"bench-{i:04d}" for i in range(namespaces)]
    for ns in names:
        yield {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": ns[-2:]}}}
    yield crd()
    for i in range(total):
        ns = names[i % namespaces]
        labels = {"app": f"app-{i % 37}", "tier": rng.choice(["web", "api", "db", "cache"])}
        meta = {"name": f"obj-{i:06d}", "namespace": ns, "labels": labels}
        pick = i % 10
        if pick < 5:
            data = {f"key-{k}": words(rng, rng.randint(8, 40)) for k in range(rng.randint(1, 4))}
            yield {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
        elif pick < 8:
            data = {f"secret-{k}": base64.b64encode(rng.randbytes(rng.randint(16, 96))).decode()
                    for k in range(rng.randint(1, 3))}
            yield {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": data}
        else:
            spec = {"size": rng.randint(1, 100), "owner": words(rng, 2), "flags": [words(rng, 1) for _ in range(3)]}
            yield {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": meta, "spec": spec}


def write_fixture(path, total, namespaces):
    with open(path, "w") as f:
        for obj in objects(total, namespaces):
            f.write(json.dumps(obj, separators=(",", ":")))
            f.write("\n")


class Cluster:
    """A test cluster process, preloaded from a fixture file."""

    def __init__(self, binary, work, name, fixture=None):
        self.kubeconfig = os.path.join(work, f"{name}.kubeconfig")
        args = [binary, "--kubeconfig", self.kubeconfig]
        if fixture:
            args += ["--load", fixture]
        self.log = open(os.path.join(work, f"{name}.log"), "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"test cluster {name} did not start; see {self.log.name}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def run_rss(args, env):
    """Runs a command under wait4 to read its own peak RSS. Returns (s, MiB, stdout)."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise SystemExit(f"{' '.join(args)} exited {code}:\n{err.read()[-4000:]}")
        return seconds, usage.ru_maxrss / 1024.0, out.read()


def one_size(opts, total, work):
    fixture = os.path.join(work, f"objects-{total}.jsonl")
    write_fixture(fixture, total, opts.namespaces)
    repo = os.path.join(work, f"repo-{total}")
    env = dict(os.environ, ARCA_REPO=repo, ARCA_PASSWORD="bench")
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run([opts.arca, "repo", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    load_start = time.monotonic()
    source = Cluster(opts.testcluster, work, f"source-{total}", fixture)
    load_s = time.monotonic() - load_start
    try:
        kc = ["--kubeconfig", source.kubeconfig, "--client-qps", str(opts.client_qps)]
        first_s, first_rss, _ = run_rss([opts.arca, "backup", "create", "first", *kc], env)
        second_s, second_rss, _ = run_rss([opts.arca, "backup", "create", "second", *kc], env)
    finally:
        source.stop()
    reports = {}
    for name in ("first", "second"):
        out = subprocess.run([opts.arca, "backup", "describe", name, "-o", "json"], env=env, check=True,
                             capture_output=True, text=True).stdout
        reports[name] = json.loads(out)
    objects_backed = reports["first"]["objects"]
    target = Cluster(opts.testcluster, work, f"target-{total}")
    try:
        restore_s, restore_rss, _ = run_rss(
            [opts.arca, "restore", "create", "--from-backup", "first", "--kubeconfig", target.kubeconfig,
             "--client-qps", str(opts.client_qps)], env)
    finally:
        target.stop()
    shutil.rmtree(repo, ignore_errors=True)
    os.remove(fixture)
    first_stored = reports["first"].get("stored_bytes", 0)
    second_stored = reports["second"].get("stored_bytes", 0)
    return {
        "objects": objects_backed,
        "fixture_load_seconds": round(load_s, 2),
        "backup_seconds": round(first_s, 2),
        "backup_objects_per_s": round(objects_backed / first_s),
        "backup_peak_rss_mib": round(first_rss, 1),
        "second_backup_seconds": round(second_s, 2),
        "second_backup_peak_rss_mib": round(second_rss, 1),
        "first_stored_bytes": first_stored,
        "second_stored_bytes": second_stored,
        "second_vs_first_stored_pct": round(100.0 * second_stored / max(first_stored, 1), 3),
        "restore_seconds": round(restore_s, 2),
        "restore_objects_per_s": round(objects_backed / restore_s),
        "restore_peak_rss_mib": round(restore_rss, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arca", required=True)
    p.add_argument("--testcluster", required=True)
    p.add_argument("--sizes", default="10000,100000,300000")
    p.add_argument("--namespaces", type=int, default=1000)
    p.add_argument("--client-qps", default="0", help="arca's --client-qps (0: unthrottled, to measure arca)")
    p.add_argument("--work", default=None)
    p.add_argument("--out", default=None)
    opts = p.parse_args()
    work = opts.work or tempfile.mkdtemp(prefix="arca-kube-scale.")
    os.makedirs(work, exist_ok=True)
    results = []
    for total in (int(s) for s in opts.sizes.split(",")):
        print(f"== {total} objects in {opts.namespaces} namespaces", file=sys.stderr, flush=True)
        row = one_size(opts, total, work)
        print(json.dumps(row), file=sys.stderr, flush=True)
        results.append(row)
    text = json.dumps(results, indent=2)
    if opts.out:
        with open(opts.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
