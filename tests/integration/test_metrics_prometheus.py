"""The MetricsProvider contract (tests/contract/test_metrics_contract.py) against a real Prometheus: the sandbox's,
through coursectl's Prometheus adapter."""

from __future__ import annotations

from typing import Any

import pytest

from coursectl.testing.drill import free_port
from tests.contract.test_metrics_contract import (  # noqa: F401 - collected here with the Prometheus rig
    Rig,
    test_a_provider_that_is_down_answers_an_error_result,
    test_a_query_answers_its_value,
    test_a_refused_query_is_an_error_result,
    test_is_a_metrics_provider,
    test_no_series_is_no_data_not_an_error,
    test_not_a_number_is_no_data,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(sandbox: Any) -> Rig:
    from coursectl.adapters.prometheus import PrometheusMetrics

    return Rig(
        PrometheusMetrics(sandbox.prometheus_url()),
        ("vector(0.25)", 0.25),
        'http_requests_total{service="contract-no-such-service"}',
        "vector(0) / 0",
        lambda: PrometheusMetrics(f"http://127.0.0.1:{free_port()}", timeout=2),
        refused="sum(rate(",
    )
