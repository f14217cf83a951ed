"""Prometheus metrics of one service: HTTP requests by route template, latency, faults, business counters."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """One registry per app, so several apps in one process (tests) never collide."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total", "HTTP requests answered, by route template, method and status.",
            ["service", "route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "http_request_duration_seconds", "Time to answer an HTTP request, by route template and method.",
            ["service", "route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.faults = Counter(
            "faults_injected_total", "Faults injected on purpose (FAULT_ERROR_RATE / FAULT_LATENCY_MS).",
            ["service", "kind"], registry=self.registry)
        self._business: dict[str, Counter] = {}

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        """A business counter (e.g. payments_total{status}), created once per name."""
        if name not in self._business:
            self._business[name] = Counter(name, documentation, ["service", *labels], registry=self.registry)
        return self._business[name]

    def inc(self, name: str, **labels: str) -> None:
        self._business[name].labels(service=self.service, **labels).inc()

    def initialise_routes(self, routes: Iterable[tuple[str, str]]) -> None:
        """Create the 200 and 500 series of every route at 0, so that a rate() over them sees the first errors.

        Prometheus' rate() misses what happened before a series' first sample: a canary whose first 500 creates
        the series would look healthier than it is for a whole analysis window.
        """
        for route, method in routes:
            if method == "HEAD":
                continue
            for status in ("200", "500"):
                self.requests.labels(self.service, route, method, status)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, route, method, str(status)).inc()
        self.latency.labels(self.service, route, method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
