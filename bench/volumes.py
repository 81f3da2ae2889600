#!/usr/bin/env python3
"""Volume data benchmark: Arca's mover pods against the bare file mover.

Against the test API server (whose kubelet runs pod commands as local
processes, so mover pods run the real `arca` binary):

  1. bare:     `arca fs backup DATA` and `arca fs restore` of the same tree
               (no cluster, no pods): the floor;
  2. fs:       `arca backup create --volumes fs` of a claim holding DATA,
               mounted by a running pod (the mover reads it in place through
               the kubelet's pods directory), then `arca restore create`
               into a fresh claim after the namespace was deleted;
  3. move:     the same with `--volumes move` (CSI snapshot, temporary
               claim from it, mover): includes the test cluster's snapshot
               and clone copies, which a real storage system makes in
               constant time, so it is reported apart;
  4. parallel: DATA split over four claims, backed up with
               `--mover-concurrency 4` against `--mover-concurrency 1`;
  5. memory:   peak RSS of `arca mover backup` (the command mover pods run)
               over a volume of many small files.

Each timed step runs --runs times; the report gives medians and ratios.

Usage: volumes.py --arca BIN --testcluster BIN [--size 2G] [--small-files N]
       [--memory-files 1000000] [--runs 3] [--work DIR] [--out results.json]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "bench"


def run(cmd, env=None, check=True):
    """Runs a command, returns (seconds, stdout)."""
    start = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - start
    if check and p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return took, p.stdout


def peak_rss_mib(cmd, env):
    """Runs a command under GNU time, returns its peak RSS in MiB."""
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    for line in p.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1]) / 1024
    sys.exit("no RSS in /usr/bin/time output")


class Cluster:
    """A test API server with snapshot CRDs whose containers find `arca` on PATH."""

    def __init__(self, testcluster, arca, work):
        self.dir = os.path.join(work, "cluster")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            [testcluster, "--kubeconfig", self.kubeconfig, "--snapshot-crds", "--data-dir", os.path.join(self.dir, "data"),
             "--container-path", os.path.dirname(os.path.abspath(arca))],
            stdout=subprocess.PIPE, stderr=log, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            sys.exit("the test cluster did not start")
        with open(self.kubeconfig) as f:
            self.url = next(l.split("server:")[1].strip() for l in f if "server:" in l)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def wait(self, what, ok, timeout=600):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            v = ok()
            if v:
                return v
            time.sleep(0.2)
        sys.exit(f"timed out waiting for {what}")

    def claim(self, ns, name, size="8Gi"):
        self.call("POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {
            "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "arca-test",
                     "resources": {"requests": {"storage": size}}}})

        def bound():
            c = self.call("GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}")
            return c and c.get("status", {}).get("phase") == "Bound" and c["spec"]["volumeName"]
        pv = self.wait(f"claim {ns}/{name}", bound)
        return self.call("GET", f"/api/v1/persistentvolumes/{pv}")["spec"]["csi"]["volumeAttributes"]["path"]

    def app(self, ns, claims):
        """A running pod mounting every claim (so `fs` can read them in place)."""
        self.call("POST", f"/api/v1/namespaces/{ns}/pods", {
            "metadata": {"name": "app"},
            "spec": {"containers": [{"name": "app", "image": "app", "command": ["sleep", "infinity"],
                                     "volumeMounts": [{"name": c, "mountPath": f"/data/{c}"} for c in claims]}],
                     "volumes": [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]}})
        self.wait("the app pod", lambda: (self.call("GET", f"/api/v1/namespaces/{ns}/pods/app") or {})
                  .get("status", {}).get("phase") == "Running")

    def namespace(self, ns):
        self.call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})

    def delete_namespace(self, ns):
        self.call("DELETE", f"/api/v1/namespaces/{ns}")
        self.wait(f"namespace {ns} gone", lambda: self.call("GET", f"/api/v1/namespaces/{ns}") is None)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def arca_env(repo, kubeconfig=None):
    env = dict(os.environ, ARCA_REPO=repo, ARCA_PASSWORD=PASSWORD)
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    return env


def fresh_repo(arca, path):
    shutil.rmtree(path, ignore_errors=True)
    run([arca, "repo", "init"], env=arca_env(path))
    return path


def fill(data, target):
    """Copies the dataset into a volume directory, keeping metadata."""
    run(["cp", "-a", data + "/.", target])


def volume_durations(arca, env, backup):
    _, out = run([arca, "-o", "json", "backup", "describe", backup, "--volumes"], env=env)
    doc = json.loads(out)
    records = doc if isinstance(doc, list) else doc.get("volumes", [])
    return [r.get("duration_secs", 0.0) for r in records], [r.get("state") for r in records]


def bench_bare(args, data, work):
    times = {"backup": [], "restore": []}
    for _ in range(args.runs):
        repo = fresh_repo(args.arca, os.path.join(work, "repo-bare"))
        t, _ = run([args.arca, "fs", "backup", data], env=arca_env(repo))
        times["backup"].append(t)
        target = os.path.join(work, "restore-bare")
        shutil.rmtree(target, ignore_errors=True)
        t, _ = run([args.arca, "fs", "restore", "latest", "--target", target], env=arca_env(repo))
        times["restore"].append(t)
        shutil.rmtree(target, ignore_errors=True)
    return times


def bench_cluster(args, data, work, method):
    times = {"backup": [], "restore": [], "volume": []}
    for _ in range(args.runs):
        cluster = Cluster(args.testcluster, args.arca, work)
        try:
            cluster.namespace("bench")
            fill(data, cluster.claim("bench", "data"))
            if method == "fs":
                cluster.app("bench", ["data"])
            repo = fresh_repo(args.arca, os.path.join(work, f"repo-{method}"))
            env = arca_env(repo, cluster.kubeconfig)
            t, _ = run([args.arca, "backup", "create", "b1", "--include-namespaces", "bench",
                        "--volumes", method, "--volume-timeout", "1h"], env=env)
            times["backup"].append(t)
            durations, states = volume_durations(args.arca, env, "b1")
            if states != ["Completed"]:
                sys.exit(f"volume backup did not complete: {states}")
            times["volume"].append(durations[0])
            cluster.delete_namespace("bench")
            t, _ = run([args.arca, "restore", "create", "--from-backup", "b1", "--include-resources",
                        "namespaces,persistentvolumeclaims", "--volume-timeout", "1h"], env=env)
            times["restore"].append(t)
        finally:
            cluster.stop()
    return times


def bench_parallel(args, data, work):
    """Four claims holding a quarter of the dataset each."""
    parts = sorted(os.listdir(data))
    times = {}
    for concurrency in (1, 4):
        times[concurrency] = []
        for _ in range(args.runs):
            cluster = Cluster(args.testcluster, args.arca, work)
            try:
                cluster.namespace("bench")
                claims = [f"part-{i}" for i in range(4)]
                for i, c in enumerate(claims):
                    target = cluster.claim("bench", c)
                    for name in parts[i::4]:
                        run(["cp", "-a", os.path.join(data, name), target])
                cluster.app("bench", claims)
                repo = fresh_repo(args.arca, os.path.join(work, "repo-parallel"))
                t, _ = run([args.arca, "backup", "create", "b1", "--include-namespaces", "bench", "--volumes", "fs",
                            "--mover-concurrency", str(concurrency), "--movers-per-node", str(concurrency),
                            "--volume-timeout", "1h"], env=arca_env(repo, cluster.kubeconfig))
                times[concurrency].append(t)
            finally:
                cluster.stop()
    return times


def many_files(root, n):
    """n files of 100-1,100 bytes in directories of 1,000."""
    marker = os.path.join(root, ".done")
    if os.path.exists(marker):
        return
    shutil.rmtree(root, ignore_errors=True)
    for i in range(n):
        d = os.path.join(root, f"d{i // 1000:04d}")
        if i % 1000 == 0:
            os.makedirs(d)
        with open(os.path.join(d, f"f{i:07d}"), "wb") as f:
            f.write(os.urandom(100 + i % 1000))
    open(marker, "w").close()


def bench_memory(args, work):
    src = os.path.join(work, "many")
    many_files(src, args.memory_files)
    rss = []
    for _ in range(args.runs):
        repo = fresh_repo(args.arca, os.path.join(work, "repo-memory"))
        rss.append(peak_rss_mib([args.arca, "-o", "json", "mover", "backup", "--source", src,
                                 "--volume", "bench/many", "--backup", "b1"], arca_env(repo)))
    return rss


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arca", required=True)
    ap.add_argument("--testcluster", required=True)
    ap.add_argument("--size", default="2G")
    ap.add_argument("--small-files", type=int, default=None)
    ap.add_argument("--memory-files", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "arca-bench-volumes"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default="bare,fs,move,parallel,memory")
    args = ap.parse_args()
    steps = set(args.only.split(","))
    os.makedirs(args.work, exist_ok=True)
    data = os.path.join(args.work, "data")
    gen = [sys.executable, os.path.join(HERE, "gen_dataset.py"), "--out", data, "--size", args.size]
    if args.small_files is not None:
        gen += ["--small-files", str(args.small_files)]
    if not os.path.exists(os.path.join(data, ".arca-bench-dataset")):
        run(gen)
    results = {"size": args.size, "runs": args.runs}
    if "bare" in steps:
        results["bare"] = bench_bare(args, data, args.work)
    for method in ("fs", "move"):
        if method in steps:
            results[method] = bench_cluster(args, data, args.work, method)
    if "parallel" in steps:
        results["parallel"] = bench_parallel(args, data, args.work)
    if "memory" in steps:
        results["memory_rss_mib"] = bench_memory(args, args.work)
    print(json.dumps(results, indent=2))
    report(results)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


def report(r):
    lines = []
    bare = r.get("bare")
    for method in ("fs", "move"):
        m = r.get(method)
        if not (bare and m):
            continue
        for step in ("backup", "restore"):
            ratio = med(m[step]) / med(bare[step])
            lines.append(f"{method} {step}: median {med(m[step]):.1f}s vs bare {med(bare[step]):.1f}s "
                         f"= {ratio:.2f}x ({(ratio - 1) * 100:+.0f} %)")
        lines.append(f"{method} mover time inside the backup: median {med(m['volume']):.1f}s")
    p = r.get("parallel")
    if p:
        lines.append(f"four claims: concurrency 1 median {med(p[1]):.1f}s, concurrency 4 median {med(p[4]):.1f}s "
                     f"= {med(p[1]) / med(p[4]):.2f}x faster")
    if r.get("memory_rss_mib"):
        lines.append(f"mover peak RSS: median {med(r['memory_rss_mib']):.0f} MiB")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
