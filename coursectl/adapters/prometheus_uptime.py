"""Availability over a window from Prometheus (prometheus-api-client, imported lazily), errors translated."""

from __future__ import annotations

from coursectl.errors import ExternalError


def availability_query(template: str, window_seconds: float) -> str:
    """The PromQL of ``template`` with ``{window}`` set to the window as whole seconds (``2592000s``)."""
    return template.replace("{window}", f"{max(1, int(round(window_seconds)))}s")


def availability(url: str, query: str, at: float, *, timeout: float = 10.0) -> float | None:
    """The scalar value of ``query`` evaluated at ``at`` (Unix seconds); None when it returns no series."""
    from prometheus_api_client import PrometheusConnect

    from urllib3.util.retry import Retry

    try:
        prom = PrometheusConnect(url=url, disable_ssl=True, timeout=timeout, retry=Retry(total=0))
        result = prom.custom_query(query, params={"time": f"{at:.3f}"})
    except Exception as exc:  # the client raises requests errors and its own PrometheusApiClientException
        raise ExternalError(f"Prometheus at {url}: {exc}") from exc
    if not result:
        return None
    value = result[0].get("value") if isinstance(result, list) else None
    if not value:
        return None
    return float(value[1])
