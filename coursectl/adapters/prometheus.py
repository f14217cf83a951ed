"""The Prometheus MetricsProvider: instant PromQL queries; a Prometheus that is down is an error result."""

from __future__ import annotations

import logging
import math
from typing import Any

from coursectl.domain import QueryResult

log = logging.getLogger(__name__)


class PrometheusMetrics:
    """Queries through prometheus-api-client with a short timeout; never raises."""

    def __init__(self, url: str, *, timeout: float = 5.0):
        self.url = url
        self.timeout = timeout
        self._client: Any = None

    def _connect(self) -> Any:
        if self._client is None:
            from prometheus_api_client import PrometheusConnect
            from urllib3.util.retry import Retry

            self._client = PrometheusConnect(
                url=self.url,
                disable_ssl=True,
                timeout=int(max(1, self.timeout)),
                retry=Retry(total=1, backoff_factor=0.1),
            )
        return self._client

    def query(self, promql: str, *, at: float | None = None) -> QueryResult:
        params = {"time": f"{at:.3f}"} if at is not None else None
        try:
            result = self._connect().custom_query(promql, params=params)
        except Exception as exc:  # the boundary: any failure of the provider is an error measurement
            return QueryResult(promql, error=describe_failure(exc, self.url))
        return QueryResult(promql, value=first_value(result))


def describe_failure(exc: Exception, url: str) -> str:
    """A short reason for a failed query, most specific first."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"Prometheus at {url} is unreachable"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"Prometheus at {url} did not answer in time"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}"


def first_value(result: Any) -> float | None:
    """The value of an instant-vector (first series) or scalar answer; None for no data or NaN."""
    if isinstance(result, list):
        if not result:
            return None
        sample = result[0].get("value") if isinstance(result[0], dict) else result
        if not sample:
            return None
        raw = sample[1]
    elif isinstance(result, dict) and "value" in result:
        raw = result["value"][1]
    else:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value
