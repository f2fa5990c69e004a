"""Load on loopback: C concurrent clients submit and poll J jobs against the fake backend.

    .venv/bin/python benchmarks/service_load.py [--jobs 500] [--clients 50] [--workers 2]

Starts `cinegen serve` as a child process (so the load generator does not share its GIL), one key
per client, then each client submits its share of jobs and polls them (every 250 ms) until they
finish. Prints API latency percentiles (create, retrieve) measured while the workers are busy,
throughput, and the audit of the store: none lost, none duplicated.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from cinegen.service.settings import Settings
from cinegen.service.testing import ProcessServer, make_key


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] * 1000 if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=1)
    ap.add_argument("--fps", type=int, default=8)
    ap.add_argument("--poll-ms", type=int, default=250)
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="cinegen-load-"))
    keys = [make_key(Settings(data_dir=data), f"client{i}", max_concurrent_jobs=10_000, seconds_per_day=10**9,
                     requests_per_minute=10**7) for i in range(args.clients)]
    srv = ProcessServer(data, env={"CINEGEN_WORKERS": str(args.workers)})
    srv.start()
    lat: dict[str, list[float]] = {"create": [], "retrieve": []}
    errors: list[str] = []
    accepted: list[str] = []
    lock = threading.Lock()
    share = [args.jobs // args.clients + (1 if i < args.jobs % args.clients else 0)
             for i in range(args.clients)]

    def client(i: int) -> None:
        h = {"Authorization": f"Bearer {keys[i]}"}
        mine: list[str] = []
        with httpx.Client(base_url=srv.base_url, headers=h, timeout=30) as c:
            for j in range(share[i]):
                t0 = time.perf_counter()
                r = c.post("/v1/videos", json={"prompt": f"a red ball {i}-{j}", "seconds": args.seconds,
                                               "fps": args.fps})
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    errors.append(f"create {r.status_code} {r.text[:100]}")
                    continue
                mine.append(r.json()["id"])
                with lock:
                    lat["create"].append(dt)
                    accepted.append(mine[-1])
            pending = set(mine)
            while pending:
                time.sleep(args.poll_ms / 1000)
                for vid in list(pending):
                    t0 = time.perf_counter()
                    r = c.get(f"/v1/videos/{vid}")
                    dt = time.perf_counter() - t0
                    with lock:
                        lat["retrieve"].append(dt)
                    if r.status_code != 200:
                        errors.append(f"retrieve {r.status_code}")
                        pending.discard(vid)
                    elif r.json()["status"] in ("completed", "failed"):
                        pending.discard(vid)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    metrics = httpx.get(srv.base_url + "/metrics").text
    srv.stop()

    db = sqlite3.connect(data / "jobs.sqlite3")
    rows = db.execute("SELECT id, status, completions FROM videos").fetchall()
    completed = sum(1 for _, st, n in rows if st == "completed" and n == 1)
    lost = len(set(accepted) - {r[0] for r in rows if r[1] == "completed"})
    dup = (len(accepted) - len(set(accepted)) + sum(1 for r in rows if r[2] > 1)
           + (len(rows) - len(set(accepted))))
    print(f"jobs submitted {args.jobs}, accepted {len(accepted)}, completed exactly once {completed}, "
          f"lost {lost}, duplicated {dup}, request errors {len(errors)}")
    print(f"clients {args.clients}, workers {args.workers}, clip {args.seconds}s@{args.fps}fps 128x128 "
          "(fake backend)")
    print(f"wall {wall:.1f} s, throughput {completed / wall:.1f} jobs/s")
    for name, xs in lat.items():
        print(f"{name:8s} n={len(xs):6d}  p50 {pct(xs, 50):6.1f} ms  p90 {pct(xs, 90):6.1f} ms  "
              f"p99 {pct(xs, 99):6.1f} ms  max {max(xs) * 1000:6.1f} ms  mean "
              f"{statistics.mean(xs) * 1000:6.1f} ms")
    for line in metrics.splitlines():
        if line.startswith(("cinegen_job_duration_seconds_sum", "cinegen_job_duration_seconds_count")):
            print(line)
    if errors:
        print("first errors:", errors[:5])


if __name__ == "__main__":
    main()
