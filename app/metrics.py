"""A small Prometheus text-format registry (counters and one latency histogram)."""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["Metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Thread-safe counters keyed by label tuples."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.issued: dict[tuple[str, str], int] = defaultdict(int)
        self.status_changes: dict[str, int] = defaultdict(int)
        self._hist: dict[str, list[float]] = defaultdict(lambda: [0.0] * (len(_BUCKETS) + 2))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count a request and its latency."""
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            h = self._hist[route]
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += 1  # count
            h[-1] += seconds  # sum

    def count_issued(self, authority: str, kind: str, n: int = 1) -> None:
        """Count issued certificates."""
        with self._lock:
            self.issued[(authority, kind)] += n

    def count_status_change(self, status: str) -> None:
        """Count revocations, suspensions and unsuspensions."""
        with self._lock:
            self.status_changes[status] += 1

    def render(self) -> str:
        """Return the exposition text."""
        out = [
            "# HELP hcert_http_requests_total HTTP requests by method, route and status.",
            "# TYPE hcert_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                out.append(f'hcert_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            out += [
                "# HELP hcert_certificates_issued_total Certificates issued.",
                "# TYPE hcert_certificates_issued_total counter",
            ]
            for (authority, kind), n in sorted(self.issued.items()):
                out.append(f'hcert_certificates_issued_total{{authority="{authority}",kind="{kind}"}} {n}')
            out += [
                "# HELP hcert_status_changes_total Certificate status changes.",
                "# TYPE hcert_status_changes_total counter",
            ]
            for status, n in sorted(self.status_changes.items()):
                out.append(f'hcert_status_changes_total{{status="{status}"}} {n}')
            out += [
                "# HELP hcert_http_request_duration_seconds Request latency.",
                "# TYPE hcert_http_request_duration_seconds histogram",
            ]
            for route, h in sorted(self._hist.items()):
                bucket = "hcert_http_request_duration_seconds_bucket"
                for bound, hits in zip(_BUCKETS, h, strict=False):
                    out.append(f'{bucket}{{route="{route}",le="{bound}"}} {int(hits)}')
                out.append(f'hcert_http_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} {int(h[-2])}')
                out.append(f'hcert_http_request_duration_seconds_count{{route="{route}"}} {int(h[-2])}')
                out.append(f'hcert_http_request_duration_seconds_sum{{route="{route}"}} {h[-1]:.6f}')
        return "\n".join(out) + "\n"
