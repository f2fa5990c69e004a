"""Crash drill: N random kills during a run of M jobs -> M completed, 0 lost, 0 duplicated.

    .venv/bin/python benchmarks/crash_drill.py [--jobs 60] [--kills 10] [--workers 2] [--seed 0]
    .venv/bin/python benchmarks/crash_drill.py --executor ray --jobs 20 --kills 5

Runs `cinegen serve` as a child process. A submitter sends M jobs, each with its own
`Idempotency-Key`, retrying through outages until accepted. Meanwhile a killer waits a random
0.3-2 s and then SIGKILLs one of: a worker process (mid-job), the API process alone (its workers
die with it), or the whole process group (a power cut); the server is restarted after the last
two. With `--executor ray` the workers are Ray actors and every kill is a SIGKILL of one actor's
process (found among the server's descendants), which the slot sees as `RayActorError` and
replaces. Finally the store is audited: every accepted job completed exactly once, its MP4
matching its recorded SHA-256, and no job twice.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from cinegen.service.settings import Settings
from cinegen.service.testing import ProcessServer, make_key
from cinegen.service.worker_process import sha256_file


def ray_actor_pids(root: int) -> list[int]:
    """PIDs of the Ray actors (process title `ray::RayWorker...`) among `root`'s descendants."""
    parents: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parents[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out = []
    for pid in parents:
        q = pid
        while q in parents and q != root and q > 1:
            q = parents[q]
        if q == root and pid != root:
            try:
                title = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"RayWorker" in title:
                out.append(pid)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=60)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.4, help="seconds each fake job takes")
    ap.add_argument("--executor", choices=("local", "ray"), default="local")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    data = Path(tempfile.mkdtemp(prefix="cgdrill"))  # short: a Ray head's sockets live under it
    key = make_key(Settings(data_dir=data), "drill", max_concurrent_jobs=10_000, seconds_per_day=10**9,
                   requests_per_minute=10**7)
    h = {"Authorization": f"Bearer {key}"}
    srv = ProcessServer(data, env={"CINEGEN_WORKERS": str(args.workers), "CINEGEN_MAX_ATTEMPTS": "20",
                                   "CINEGEN_EXECUTOR": args.executor})
    srv.start()
    accepted: dict[int, str] = {}
    retries = Counter[str]()
    kills = Counter[str]()
    up = threading.Event()
    up.set()

    def submitter() -> None:
        for i in range(args.jobs):
            while True:
                up.wait()
                try:
                    r = httpx.post(f"{srv.base_url}/v1/videos",
                                   headers={**h, "Idempotency-Key": f"drill-{i}"},
                                   json={"prompt": f"ball {i} [delay={args.delay}]", "seconds": 1, "fps": 8},
                                   timeout=10)
                    if r.status_code == 200:
                        accepted[i] = r.json()["id"]
                        break
                    retries[f"http {r.status_code}"] += 1
                except httpx.HTTPError:
                    retries["connection"] += 1
                time.sleep(0.05)
            time.sleep(rng.uniform(0, 0.1))

    t0 = time.perf_counter()
    sub = threading.Thread(target=submitter)
    sub.start()
    for _ in range(args.kills):
        time.sleep(rng.uniform(0.3, 2.0))
        if args.executor == "ray":
            actors = ray_actor_pids(srv.proc.pid if srv.proc else 0)
            if actors:
                os.kill(rng.choice(actors), signal.SIGKILL)
                kills["ray actor"] += 1
            continue
        kind = rng.choice(["worker", "worker", "api", "power"])
        workers = srv.worker_pids()
        if kind == "worker" and workers:
            os.kill(rng.choice(workers), signal.SIGKILL)
            kills["worker"] += 1
            continue
        up.clear()
        if kind == "api":
            srv.kill_api_only()
        else:
            srv.kill()
        kills[kind if kind != "worker" else "power"] += 1
        time.sleep(rng.uniform(0.0, 0.5))
        srv.start()
        up.set()
    sub.join()
    # wait for the queue to drain
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        counts = httpx.get(f"{srv.base_url}/metrics").text
        if "cinegen_queue_depth 0" in counts and 'cinegen_jobs{status="in_progress"} 0' in counts:
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    srv.stop()

    db = sqlite3.connect(data / "jobs.sqlite3")
    db.row_factory = sqlite3.Row
    rows = {r["id"]: r for r in db.execute("SELECT * FROM videos")}
    ids = set(accepted.values())
    completed_once = [v for v in ids
                      if v in rows and rows[v]["status"] == "completed" and rows[v]["completions"] == 1]
    lost = [v for v in ids if v not in rows or rows[v]["status"] != "completed"]
    duplicated = (len(rows) - len(ids)) + sum(1 for r in rows.values() if r["completions"] > 1)
    bad_files = [v for v in completed_once if sha256_file(Path(rows[v]["output_path"])) != rows[v]["sha256"]]
    attempts = Counter(rows[v]["attempts"] for v in ids if v in rows)
    print(f"jobs {args.jobs}, accepted {len(ids)}, completed exactly once {len(completed_once)}, lost "
          f"{len(lost)}, "
          f"duplicated {duplicated}, checksum mismatches {len(bad_files)}")
    print(f"kills {sum(kills.values())}: {dict(kills)}; client retries during outages: {dict(retries)}")
    print(f"attempts per job: {dict(sorted(attempts.items()))}; wall {wall:.1f} s")
    if lost:
        print("lost:", [(v, rows[v]["status"], rows[v]["error_code"]) for v in lost if v in rows][:5])


if __name__ == "__main__":
    main()
