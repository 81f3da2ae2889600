#!/usr/bin/env python3
"""Dashboard benchmark: how fast the overview of `arca server --ui open`
comes with many Backups.

Against the test API server: a fixture of N Backup objects (default 1,000)
spread over M namespaces (default 50; one daily Schedule, one
BackupLocation and two claims each; deterministic content) is loaded, and
each Backup gets a status as the server writes one (phase, times, counts,
volumes, errors of the failed ones, the repository size) through the
status subresource. Then `arca server --ui open` starts on loopback; once
it has taken up every Backup (their finalizer is set) the overview
`/ui/` is fetched --runs times over HTTP (time to first byte, full
response, page size), and, if Chromium and tests/browser are installed
(scripts/browser-setup.sh), opened --runs times in Chromium
(tests/browser/page.mjs: --launches starts of a fresh browser, each
loading the page --runs + 1 times) for its first paint and first
contentful paint (`performance.getEntriesByType('paint')`, milliseconds
from the start of the navigation): the medians of the loads into a
running browser, and apart those of the first load after a start, when
the browser's own start-up competes for the two cores. The backups list and the
trends page are fetched over HTTP too, for comparison. The report gives
medians (and the first, cold request apart).

Usage: dashboard.py --arca BIN --testcluster BIN [--backups 1000]
       [--namespaces 50] [--runs 7] [--launches 3] [--pages /ui/,/ui/backups,/ui/trends]
       [--work DIR] [--out results.json]
"""

import argparse
import datetime
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
GROUP_VERSION = "arca.io/v1alpha1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def crds(arca):
    """arca-system and Arca's CRDs, as `arca install` makes them."""
    out = subprocess.run([arca, "install", "--dry-run", "-o", "json"], check=True, capture_output=True, text=True)
    items = json.loads(out.stdout)["items"]
    keep = [o for o in items if o["kind"] == "CustomResourceDefinition"
            or (o["kind"] == "Namespace" and o["metadata"]["name"] == "arca-system")]
    return sorted(keep, key=lambda o: o["kind"] != "Namespace")


def namespace_objects(ns):
    yield {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    yield {"apiVersion": GROUP_VERSION, "kind": "Schedule", "metadata": {"name": "daily", "namespace": ns},
           "spec": {"schedule": "0 2 * * *", "template": {"includeNamespaces": [ns]}}}
    # No password Secret: the location shows Unavailable, and no catalog
    # sync competes with the pages for the CPU.
    yield {"apiVersion": GROUP_VERSION, "kind": "BackupLocation", "metadata": {"name": "main", "namespace": ns},
           "spec": {"repository": f"s3://backups/{ns}", "default": True,
                    "passwordSecret": {"name": "main-password", "key": "password"}}}
    for claim in ("data", "logs"):
        yield {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": ns},
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}


def backups(total, namespaces, now, seed=11):
    """(object, status) of `total` daily Backups, round robin over the
    namespaces, the newest finishing this morning; a few failed."""
    rng = random.Random(seed)
    today = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if today > now:
        today -= datetime.timedelta(days=1)
    size = {ns: rng.randint(1, 50) * 2**30 for ns in namespaces}
    for i in range(total):
        ns = namespaces[i % len(namespaces)]
        day = today - datetime.timedelta(days=i // len(namespaces))
        started = day + datetime.timedelta(seconds=rng.randint(0, 120))
        took = rng.randint(30, 900)
        finished = started + datetime.timedelta(seconds=took)
        name = "daily-" + started.strftime("%Y%m%d%H%M%S")
        obj = {"apiVersion": GROUP_VERSION, "kind": "Backup",
               "metadata": {"name": name, "namespace": ns,
                            "labels": {"arca.io/schedule": "daily", "arca.io/location": "main"}},
               "spec": {"includeNamespaces": [ns]}}
        read = rng.randint(1, 40) * 2**28
        added = read // rng.randint(5, 60)
        size[ns] += added
        phase, errors = "Completed", []
        if i % 53 == 7:
            phase = "Failed"
            errors = [{"reason": "BackupFailed", "message": "the repository refused a write: 503 Slow Down"}]
        elif i % 37 == 5:
            phase = "PartiallyFailed"
            errors = [{"reason": "ObjectFailed", "message": "forbidden: cannot get resource",
                       "object": f"{ns}/secrets/token-{k}"} for k in range(2)]
        volumes = [{"claim": f"{ns}/{c}", "method": "snapshot", "phase": "Completed",
                    "bytes": read // 2, "durationSeconds": took / 3} for c in ("data", "logs")]
        status = {"phase": phase, "startTime": iso(started), "completionTime": iso(finished),
                  "progress": {"objects": rng.randint(50, 500), "resourceTypes": 14, "bytes": read,
                               "bytesAdded": added if phase != "Failed" else 0},
                  "volumes": volumes if phase != "Failed" else [],
                  "errors": errors, "errorCount": len(errors), "warningCount": 0,
                  "message": f"{phase} in {took} s"}
        if phase != "Failed":
            status["snapshot"] = "%064x" % rng.getrandbits(256)
            status["repositoryBytes"] = size[ns]
        yield obj, status


class Api:
    """Just enough of the test cluster's API over HTTP (kubeconfig: server, token)."""

    def __init__(self, kubeconfig):
        text = open(kubeconfig).read()
        server = re.search(r"server:\s*http://([^\s:]+):(\d+)", text)
        token = re.search(r"token:\s*(\S+)", text)
        if not server or not token:
            raise SystemExit(f"{kubeconfig}: no http server and token in it")
        self.host, self.port, self.token = server.group(1), int(server.group(2)), token.group(1)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method, path, body=None, content_type="application/json"):
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": content_type}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            raise SystemExit(f"{method} {path}: {resp.status} {data[:500]!r}")
        return json.loads(data) if data else None


class Process:
    def __init__(self, args, log, env=None):
        self.log = open(log, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def get(port, path):
    """One GET on a new connection: (seconds to the first byte, seconds in all, bytes, status)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path)
    resp = conn.getresponse()
    first = time.perf_counter() - start
    body = resp.read()
    total = time.perf_counter() - start
    conn.close()
    return first, total, len(body), resp.status


def wait_until(what, seconds, check):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise SystemExit(f"gave up waiting for {what} after {seconds} s")


def browser_ready():
    chromium = os.environ.get("ARCA_CHROMIUM", "/usr/bin/chromium")
    modules = os.path.join(BROWSER_DIR, "node_modules", "playwright-core", "package.json")
    return os.path.isfile(chromium) and shutil.which("node") and os.path.isfile(modules)


def paint(url, loads):
    """Chromium started once, the page loaded `loads` times: the timings of
    each load (the first with the browser just started) and the overview's
    namespace rows."""
    out = subprocess.run(["node", os.path.join(BROWSER_DIR, "page.mjs"), url, "--repeat", str(loads),
                          "--", "#protection tbody tr"], check=True, capture_output=True, text=True, timeout=300)
    seen = json.loads(out.stdout)
    if seen["status"] != 200 or seen["console_errors"] or seen["page_errors"]:
        raise SystemExit(f"{url}: status {seen['status']}, errors {seen['console_errors'] + seen['page_errors']}")
    return seen["timings"], seen["selectors"]["#protection tbody tr"]["count"]


def median(xs):
    return round(statistics.median(xs), 1) if xs else None


def ms(seconds):
    return round(seconds * 1000.0, 1)


def run(opts, work):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    namespaces = [f"app-{i:03d}" for i in range(opts.namespaces)]
    fixture = os.path.join(work, "objects.jsonl")
    statuses = []
    with open(fixture, "w") as f:
        objects = crds(opts.arca)
        for ns in namespaces:
            objects.extend(namespace_objects(ns))
        for obj, status in backups(opts.backups, namespaces, now):
            objects.append(obj)
            statuses.append((obj["metadata"]["namespace"], obj["metadata"]["name"], status))
        for obj in objects:
            f.write(json.dumps(obj, separators=(",", ":")) + "\n")
    kubeconfig = os.path.join(work, "kubeconfig")
    cluster = Process([opts.testcluster, "--kubeconfig", kubeconfig, "--load", fixture], os.path.join(work, "cluster.log"))
    server = None
    try:
        if cluster.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the test cluster did not start; see {work}/cluster.log")
        api = Api(kubeconfig)
        start = time.monotonic()
        for ns, name, status in statuses:
            api.request("PATCH", f"/apis/{GROUP_VERSION}/namespaces/{ns}/backups/{name}/status",
                        {"status": status}, "application/merge-patch+json")
        status_s = time.monotonic() - start
        port = free_port()
        server = Process([opts.arca, "server", "--kubeconfig", kubeconfig, "--identity", "bench",
                          "--metrics-address", f"127.0.0.1:{port}", "--ui", "open", "--shutdown-grace", "5s"],
                         os.path.join(work, "server.log"))

        def ready():
            try:
                return get(port, "/readyz")[3] == 200
            except OSError:
                return False

        wait_until("the server's /readyz", 120, ready)

        def taken_up():
            items = api.request("GET", f"/apis/{GROUP_VERSION}/backups")["items"]
            return len(items) >= opts.backups and all(o["metadata"].get("finalizers") for o in items)

        wait_until("the server to take up every Backup", 300, taken_up)
        time.sleep(2)
        # What one page view asks of the API server first: every Backup.
        listing = []
        for _ in range(opts.runs):
            t = time.perf_counter()
            api.request("GET", f"/apis/{GROUP_VERSION}/backups")
            listing.append(ms(time.perf_counter() - t))
        print(f"API list of the Backups: {median(listing)} ms", file=sys.stderr, flush=True)
        pages = {}
        for path in opts.pages.split(","):
            cold = get(port, path)
            if cold[3] != 200:
                raise SystemExit(f"{path}: status {cold[3]}")
            samples = [get(port, path) for _ in range(opts.runs)]
            pages[path] = {
                "bytes": cold[2],
                "cold_first_byte_ms": ms(cold[0]),
                "cold_full_ms": ms(cold[1]),
                "first_byte_ms_median": median([ms(s[0]) for s in samples]),
                "full_ms_median": median([ms(s[1]) for s in samples]),
                "full_ms_max": max(ms(s[1]) for s in samples),
            }
            print(f"{path}: {json.dumps(pages[path])}", file=sys.stderr, flush=True)
        browser = None
        if browser_ready():
            cold, warm, rows = [], [], 0
            for _ in range(opts.launches):
                timings, rows = paint(f"http://127.0.0.1:{port}/ui/", opts.runs + 1)
                cold.append(timings[0])
                warm.extend(timings[1:])

            def pick(timings, key):
                return median([t[key] for t in timings if t.get(key) is not None])

            browser = {
                "launches": opts.launches,
                "loads_per_launch": opts.runs + 1,
                "namespace_rows": rows,
                "first_paint_ms_median": pick(warm, "first_paint"),
                "first_contentful_paint_ms_median": pick(warm, "first_contentful_paint"),
                "first_contentful_paint_ms_max": max(t["first_contentful_paint"] or 0 for t in warm),
                "response_start_ms_median": pick(warm, "response_start"),
                "response_end_ms_median": pick(warm, "response_end"),
                "load_ms_median": pick(warm, "load"),
                "cold_browser_first_contentful_paint_ms_median": pick(cold, "first_contentful_paint"),
                "cold_browser_response_start_ms_median": pick(cold, "response_start"),
            }
            print(f"chromium /ui/: {json.dumps(browser)}", file=sys.stderr, flush=True)
        else:
            print("no Chromium or tests/browser/node_modules: first paint not measured "
                  "(scripts/browser-setup.sh installs them)", file=sys.stderr)
        return {
            "backups": opts.backups,
            "namespaces": opts.namespaces,
            "runs": opts.runs,
            "status_writes_seconds": round(status_s, 2),
            "api_list_backups_ms_median": median(listing),
            "load_average": os.getloadavg()[0],
            "pages": pages,
            "chromium_overview": browser,
        }
    finally:
        if server:
            server.stop()
        cluster.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arca", required=True)
    p.add_argument("--testcluster", required=True)
    p.add_argument("--backups", type=int, default=1000)
    p.add_argument("--namespaces", type=int, default=50)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--launches", type=int, default=3, help="Chromium starts, each loading the page --runs + 1 times")
    p.add_argument("--pages", default="/ui/,/ui/backups,/ui/trends")
    p.add_argument("--work", default=None)
    p.add_argument("--out", default=None)
    opts = p.parse_args()
    work = opts.work or tempfile.mkdtemp(prefix="arca-dashboard-bench.")
    os.makedirs(work, exist_ok=True)
    result = run(opts, work)
    text = json.dumps(result, indent=2)
    if opts.out:
        with open(opts.out, "w") as f:
            f.write(text + "\n")
    print(text)
    if not opts.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
