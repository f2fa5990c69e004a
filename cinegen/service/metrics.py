"""Prometheus text exposition for /metrics: queue depth, job durations, failures, HTTP latency.

Counters and histograms live in the API process; gauges (queue depth, jobs by status) are read
from the store at scrape time so they stay right across restarts and nodes.
"""

from __future__ import annotations

import threading
from collections import defaultdict

DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
STAGES = ("moderation", "model_load", "inputs", "text", "denoise", "vae_decode", "vae_encode", "publish",
          "previews")  # the generation stages /metrics breaks a job's time into
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.n = 0

    def observe(self, v: float) -> None:
        i = next((k for k, b in enumerate(self.buckets) if v <= b), len(self.buckets))
        self.counts[i] += 1
        self.sum += v
        self.n += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        out, acc = [], 0
        sep = "," if labels else ""
        for b, c in zip((*self.buckets, float("inf")), self.counts, strict=True):
            acc += c
            le = "+Inf" if b == float("inf") else f"{b:g}"
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {acc}')
        lab = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{lab} {self.sum:.6f}", f"{name}_count{lab} {self.n}"]
        return out


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.durations: dict[str, _Histogram] = {}
        self.stages: dict[str, _Histogram] = {}
        self.failures: dict[str, int] = defaultdict(int)
        self.workers_lost = 0
        self.http = _Histogram(LATENCY_BUCKETS)
        self.http_status: dict[str, int] = defaultdict(int)
        self.webhooks: dict[str, int] = defaultdict(int)
        self.refusals: dict[str, int] = defaultdict(int)

    def job_finished(self, status: str, seconds: float, code: str | None,
                     timings: dict[str, float] | None = None) -> None:
        with self._lock:
            self.durations.setdefault(status, _Histogram(DURATION_BUCKETS)).observe(seconds)
            if code:
                self.failures[code] += 1
            for stage, v in (timings or {}).items():
                if stage in STAGES:
                    self.stages.setdefault(stage, _Histogram(STAGE_BUCKETS)).observe(float(v))

    def refused(self, code: str) -> None:
        with self._lock:
            self.refusals[code] += 1

    def worker_lost(self) -> None:
        with self._lock:
            self.workers_lost += 1

    def request(self, status: int, seconds: float) -> None:
        with self._lock:
            self.http.observe(seconds)
            self.http_status[f"{status // 100}xx"] += 1

    def webhook(self, outcome: str) -> None:
        with self._lock:
            self.webhooks[outcome] += 1

    def render(self, counts: dict[str, int], ready: bool) -> str:
        lines = [
            "# HELP cinegen_queue_depth Jobs waiting for a worker.",
            "# TYPE cinegen_queue_depth gauge",
            f"cinegen_queue_depth {counts.get('queued', 0)}",
            "# HELP cinegen_jobs Jobs in the store by status.",
            "# TYPE cinegen_jobs gauge",
            *(f'cinegen_jobs{{status="{s}"}} {n}' for s, n in sorted(counts.items())),
            "# HELP cinegen_ready Whether a worker has loaded its backend.",
            "# TYPE cinegen_ready gauge",
            f"cinegen_ready {int(ready)}",
        ]
        with self._lock:
            lines += ["# HELP cinegen_job_duration_seconds Claim-to-finish time of jobs run by this node.",
                      "# TYPE cinegen_job_duration_seconds histogram"]
            for status, h in sorted(self.durations.items()):
                lines += h.lines("cinegen_job_duration_seconds", f'status="{status}"')
            lines += ["# HELP cinegen_job_stage_seconds Seconds a completed job spent in each generation "
                      "stage (this node).",
                      "# TYPE cinegen_job_stage_seconds histogram"]
            for stage, h in sorted(self.stages.items()):
                lines += h.lines("cinegen_job_stage_seconds", f'stage="{stage}"')
            lines += ["# HELP cinegen_job_failures_total Failed jobs by error code (this node).",
                      "# TYPE cinegen_job_failures_total counter"]
            lines += [f'cinegen_job_failures_total{{code="{c}"}} {n}' for c,
                      n in sorted(self.failures.items())]
            lines += ["# HELP cinegen_workers_lost_total Worker processes or actors lost mid-job.",
                      "# TYPE cinegen_workers_lost_total counter",
                      f"cinegen_workers_lost_total {self.workers_lost}"]
            lines += ["# HELP cinegen_http_request_duration_seconds API latency.",
                      "# TYPE cinegen_http_request_duration_seconds histogram"]
            lines += self.http.lines("cinegen_http_request_duration_seconds")
            lines += ["# TYPE cinegen_http_responses_total counter"]
            lines += [f'cinegen_http_responses_total{{class="{k}"}} {n}' for k,
                      n in sorted(self.http_status.items())]
            lines += ["# HELP cinegen_moderation_refusals_total Requests refused by the content policy, by "
                      "code.",
                      "# TYPE cinegen_moderation_refusals_total counter"]
            lines += [f'cinegen_moderation_refusals_total{{code="{c}"}} {n}' for c,
                      n in sorted(self.refusals.items())]
            lines += ["# TYPE cinegen_webhook_deliveries_total counter"]
            lines += [f'cinegen_webhook_deliveries_total{{outcome="{k}"}} {n}' for k,
                      n in sorted(self.webhooks.items())]
        return "\n".join(lines) + "\n"
