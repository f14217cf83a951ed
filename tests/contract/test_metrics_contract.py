"""The MetricsProvider contract, run against every implementation: the scripted fake here, a real Prometheus (the
sandbox's) in ``tests/integration/test_metrics_prometheus.py``, which collects these same tests with its own
``rig``.

A provider answers a query with a value, with no data (value None — NaN and ±Inf read as no data too: 0/0 is what
an error rate is when nothing was requested), or with an error result when it is down or refuses the query.
It never raises: analysis counts failures as measurements (Argo's "Error" phase), not as crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from coursectl.ports import MetricsProvider, QueryResult

ERROR_RATE = 'sum(rate(http_requests_total{service="course",slot="canary",status=~"5.."}[1m]))'


@dataclass
class Rig:
    provider: MetricsProvider
    valued: tuple[str, float]  # a query and the value it answers
    no_data: str  # a query that matches no series
    not_a_number: str  # a query whose value is NaN (0/0)
    down: Callable[[], MetricsProvider]  # the same kind of provider, pointed at nothing
    refused: str | None = None  # a query the provider refuses (not PromQL), when it parses queries


@pytest.fixture
def rig() -> Rig:
    from coursectl.testing.fakes import ScriptedMetrics

    def script(metric: str, slot: str, query: str) -> float | None:
        return {"error-rate": 0.25, "custom": float("nan")}.get(metric)

    def down() -> MetricsProvider:
        dead = ScriptedMetrics()
        dead.down = True
        return dead

    return Rig(
        ScriptedMetrics(script=script), (ERROR_RATE, 0.25), "histogram_quantile(0.95, rate(x[1m]))", "0 / 0", down
    )


def test_is_a_metrics_provider(rig: Rig) -> None:
    assert isinstance(rig.provider, MetricsProvider)


def test_a_query_answers_its_value(rig: Rig) -> None:
    query, value = rig.valued
    result = rig.provider.query(query)
    assert isinstance(result, QueryResult)
    assert (result.query, result.error) == (query, None)
    assert result.value == pytest.approx(value)


def test_no_series_is_no_data_not_an_error(rig: Rig) -> None:
    result = rig.provider.query(rig.no_data)
    assert (result.query, result.value, result.error) == (rig.no_data, None, None)


def test_not_a_number_is_no_data(rig: Rig) -> None:
    result = rig.provider.query(rig.not_a_number)
    assert (result.value, result.error) == (None, None)


def test_a_provider_that_is_down_answers_an_error_result(rig: Rig) -> None:
    query, _ = rig.valued
    result = rig.down().query(query)  # never raises
    assert result.value is None and result.error
    assert result.query == query


def test_a_refused_query_is_an_error_result(rig: Rig) -> None:
    if rig.refused is None:
        result = rig.provider.query("sum(rate(")  # a provider that does not parse queries: no data, never a raise
        assert result.value is None
        return
    result = rig.provider.query(rig.refused)
    assert result.value is None and result.error
