"""Request counts and latency histograms per endpoint, kept in memory for `GET /metrics`."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any

LATENCY_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000)
"""Upper bounds of the latency buckets in milliseconds; slower requests land in a last, open bucket."""


@dataclass
class EndpointStats:
    """What one endpoint (method and route template) has served so far."""

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    total_ms: float = 0.0


class RequestMetrics:
    """Thread-safe counters: FastAPI runs plain endpoints on a thread pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[str, EndpointStats] = {}

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one request to `endpoint` that answered `status` after `seconds`."""
        milliseconds = seconds * 1000.0
        with self._lock:
            stats = self._stats.setdefault(endpoint, EndpointStats())
            stats.requests += 1
            stats.by_status[status] = stats.by_status.get(status, 0) + 1
            stats.bucket_counts[bisect.bisect_left(LATENCY_BUCKETS_MS, milliseconds)] += 1
            stats.total_ms += milliseconds

    def snapshot(self) -> dict[str, Any]:
        """Per endpoint: requests, counts by status, the latency histogram (`le_ms` bound, count) and the mean."""
        bounds = [*LATENCY_BUCKETS_MS, None]
        with self._lock:
            return {endpoint: {"requests": s.requests,
                               "by_status": {str(code): n for code, n in sorted(s.by_status.items())},
                               "latency_ms": [{"le_ms": bound, "count": n} for bound, n in zip(bounds, s.bucket_counts)],
                               "mean_ms": s.total_ms / s.requests if s.requests else None}
                    for endpoint, s in sorted(self._stats.items())}
