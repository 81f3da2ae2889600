#!/usr/bin/env python3
"""Database dump benchmark: the PostgreSQL blueprint streaming pg_dump's
stdout through `pods/exec` into the repository, against pg_dump to a local
file; the bytes a second dump adds; Arca's peak RSS.

Needs the PostgreSQL server of `scripts/db-servers.sh start` (its
ARCA_TEST_PG* env) and the test API server (whose pods' exec runs local
processes that reach that server):

  1. load:     a database of --size (default 1G) in one table of order rows;
  2. file:     `pg_dump --format=plain ... > FILE` (the floor), --runs times;
  3. arca:     `arca backup create` of a pod bound to the `postgresql`
               blueprint, --runs times into fresh repositories, under
               /usr/bin/time (peak RSS); the first run's repository is kept;
  4. dedup:    1 % of the rows changed in one stretch of keys, then another
               backup into the kept repository: its stored bytes against the
               first dump's; then 1 % changed at random all over the table.

Usage: dumps.py --arca BIN --testcluster BIN [--size 1G] [--runs 3]
       [--work DIR] [--out results.json]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

PASSWORD = "bench"
NS = "bench"
DB = "arca_bench"


def run(cmd, env=None, check=True, stdout=subprocess.PIPE):
    start = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - start
    if check and p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr[-3000:]}")
    return took, p.stdout if stdout == subprocess.PIPE else ""


def size_bytes(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * units[s[-1].upper()]) if s[-1].upper() in units else int(s)


def pg_env():
    env = dict(os.environ)
    try:
        env.update(PGHOST=os.environ["ARCA_TEST_PGHOST"], PGPORT=os.environ["ARCA_TEST_PGPORT"],
                   PGUSER=os.environ["ARCA_TEST_PGUSER"], PGPASSWORD=os.environ["ARCA_TEST_PGPASSWORD"])
    except KeyError as e:
        sys.exit(f"{e} is not set: eval \"$(scripts/db-servers.sh start)\" first")
    return env


def psql(db, sql):
    return run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql], env=pg_env())[1]


def load(size):
    # About 160 bytes per row in the dump: md5 text (poorly compressible) and numbers.
    rows = max(1000, size // 160)
    psql("postgres", f"DROP DATABASE IF EXISTS {DB}")
    psql("postgres", f"CREATE DATABASE {DB}")
    took, _ = run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c",
                   "CREATE TABLE orders (id bigint PRIMARY KEY, customer int, amount numeric(12,2), note text, "
                   "placed timestamptz); "
                   f"INSERT INTO orders SELECT i, i % 100000, (i * 7919 % 1000000) / 100.0, "
                   f"md5(i::text) || ' ' || md5((i * 31)::text) || ' ' || md5((i * 17)::text), "
                   f"'2026-01-01'::timestamptz + i * interval '1 second' FROM generate_series(1::bigint, {rows}) i"],
                  env=pg_env())
    return rows, took


class Cluster:
    """The test API server; its pods' commands are local processes."""

    def __init__(self, testcluster, arca, work):
        self.dir = os.path.join(work, "cluster")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            [testcluster, "--kubeconfig", self.kubeconfig, "--data-dir", os.path.join(self.dir, "data"),
             "--container-path", os.path.dirname(os.path.abspath(arca))],
            stdout=subprocess.PIPE, stderr=log, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            sys.exit("the test cluster did not start")
        with open(self.kubeconfig) as f:
            self.url = next(line.split("server:")[1].strip() for line in f if "server:" in line)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"null")

    def postgres_pod(self):
        """A pod bound to the postgresql blueprint, its env pointing at the server."""
        e = pg_env()
        self.call("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
        env = [{"name": k, "value": e[k]} for k in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD")]
        self.call("POST", f"/api/v1/namespaces/{NS}/pods", {
            "metadata": {"name": "pg-0", "annotations": {"blueprints.arca.io/name": "postgresql"}},
            "spec": {"containers": [{"name": "postgres", "image": "postgres:15", "command": ["sleep", "infinity"],
                                     "env": env}]}})
        start = time.monotonic()
        while time.monotonic() - start < 60:
            pod = self.call("GET", f"/api/v1/namespaces/{NS}/pods/pg-0")
            if any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])):
                return
            time.sleep(0.2)
        sys.exit("the postgres pod did not become Ready")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def arca_env(repo, kubeconfig):
    return dict(os.environ, ARCA_REPO=repo, ARCA_PASSWORD=PASSWORD, KUBECONFIG=kubeconfig)


def backup(arca, repo, kubeconfig, name):
    """One backup under /usr/bin/time: (seconds, peak RSS MiB, the bench database's dump record)."""
    env = arca_env(repo, kubeconfig)
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v", arca, "-o", "json", "backup", "create", name,
                        "--include-namespaces", NS, "--volumes", "none"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - start
    if p.returncode != 0:
        sys.exit(f"backup {name} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    rss = next(int(line.split(":")[1]) / 1024 for line in p.stderr.splitlines() if "Maximum resident set size" in line)
    report = json.loads(p.stdout)
    record = next(d for d in report["dumps"] if d["stream"] == f"db-{DB}")
    if record["state"] != "Completed":
        sys.exit(f"dump failed: {record}")
    return took, rss, record


def fresh_repo(arca, path, kubeconfig):
    shutil.rmtree(path, ignore_errors=True)
    run([arca, "repo", "init"], env=arca_env(path, kubeconfig))
    return path


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arca", required=True)
    ap.add_argument("--testcluster", required=True)
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="target/bench-dumps")
    ap.add_argument("--out")
    args = ap.parse_args()
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    rows, load_secs = load(size_bytes(args.size))
    print(f"loaded {rows} rows in {load_secs:.0f}s", file=sys.stderr)
    dump_file = os.path.join(work, "dump.sql")
    file_secs = []
    for _ in range(args.runs):
        with open(dump_file, "w") as out:
            file_secs.append(run(["pg_dump", "--format=plain", "--create", "--clean", "--if-exists", "-d", DB],
                                 env=pg_env(), stdout=out)[0])
    dump_bytes = os.path.getsize(dump_file)
    os.remove(dump_file)
    cluster = Cluster(args.testcluster, args.arca, work)
    try:
        cluster.postgres_pod()
        arca_secs, rss, first = [], [], None
        for i in range(args.runs):
            repo = fresh_repo(args.arca, os.path.join(work, f"repo{i}"), cluster.kubeconfig)
            took, peak, record = backup(args.arca, repo, cluster.kubeconfig, "b1")
            arca_secs.append(took)
            rss.append(peak)
            if i == 0:
                first = record
            else:
                shutil.rmtree(repo)
        repo = os.path.join(work, "repo0")
        step = max(1, rows // 100)
        psql(DB, f"UPDATE orders SET note = note || ' paid' WHERE id BETWEEN {rows // 2} AND {rows // 2 + step - 1}")
        _, _, clustered = backup(args.arca, repo, cluster.kubeconfig, "b2")
        psql(DB, "UPDATE orders SET amount = amount + 1 WHERE id % 100 = 37")
        _, _, scattered = backup(args.arca, repo, cluster.kubeconfig, "b3")
    finally:
        cluster.stop()
    psql("postgres", f"DROP DATABASE IF EXISTS {DB}")
    shutil.rmtree(work, ignore_errors=True)
    result = {
        "size": args.size, "rows": rows, "dump_bytes": dump_bytes, "runs": args.runs,
        "pg_dump_to_file_secs": file_secs, "arca_backup_secs": arca_secs, "arca_peak_rss_mib": rss,
        "pg_dump_to_file_mib_s": dump_bytes / med(file_secs) / 2**20,
        "arca_through_exec_mib_s": first["bytes"] / med(arca_secs) / 2**20,
        "first_stored_bytes": first["stored_bytes"],
        "second_clustered_1pct_stored_bytes": clustered["stored_bytes"],
        "second_clustered_ratio": clustered["stored_bytes"] / first["stored_bytes"],
        "third_scattered_1pct_stored_bytes": scattered["stored_bytes"],
        "third_scattered_ratio": scattered["stored_bytes"] / first["stored_bytes"],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
