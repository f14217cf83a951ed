"""Analysis queries are scoped to the version running in the slot, not just the slot."""

from __future__ import annotations

import pytest

from coursectl.rollout import analysis as an


@pytest.mark.parametrize("metric", ["error-rate", "latency-p95"])
def test_builtin_query_selects_service_slot_and_version(metric: str) -> None:
    query = an.render_query(an.MetricRule(metric, max=1.0), service="course", slot="canary", window="20s",
                            version="v3")
    assert 'slot="canary"' in query and 'service="course"' in query and 'version="v3"' in query
    assert "[20s]" in query


def test_without_a_version_the_query_covers_the_slot() -> None:
    query = an.render_query(an.MetricRule("error-rate", max=0.01), service="course", slot="stable", window="20s")
    assert "version=" not in query and 'slot="stable"' in query


def test_custom_queries_get_the_same_selector() -> None:
    rule = an.MetricRule("queue-depth", query="max(queue_depth{{slot=\"{slot}\",{selector}}})", max=10)
    query = an.render_query(rule, service="notification", slot="canary", window="20s", version="2.0.1")
    assert query == (
        'max(queue_depth{slot="canary",service="notification",version="2.0.1",'
        'route!~"/health/.*|/metrics|/version"})'
    )


@pytest.mark.parametrize("metric", ["error-rate", "latency-p95"])
def test_builtin_queries_leave_out_health_metrics_and_version_routes(metric: str) -> None:
    query = an.render_query(an.MetricRule(metric, max=1.0), service="course", slot="canary", window="20s")
    assert 'route!~"/health/.*|/metrics|/version"' in query


def test_the_request_count_is_user_requests_of_the_slot_version_in_the_window() -> None:
    rule = an.MetricRule("error-rate", max=0.01)
    query = an.render_requests_query(rule, service="course", slot="canary", window="20s", version="v3")
    assert query == (
        'sum(increase(http_requests_total{slot="canary",service="course",version="v3",'
        'route!~"/health/.*|/metrics|/version"}[20s]))'
    )


def test_excluded_routes_are_configurable_and_quoted_for_promql() -> None:
    query = an.render_query(
        an.MetricRule("error-rate", max=0.01), service="course", slot="canary", window="20s",
        exclude_routes=("/internal/.*", 'we"ird\\path'),
    )  # fmt: skip
    assert 'route!~"/internal/.*|we\\"ird\\\\path"' in query


def test_a_metric_may_bring_its_own_request_count() -> None:
    rule = an.MetricRule("jobs", query="x", max=1, requests_query='sum(increase(jobs_total{{{selector}}}[{window}]))')
    query = an.render_requests_query(rule, service="worker", slot="canary", window="30s", exclude_routes=())
    assert query == 'sum(increase(jobs_total{service="worker"}[30s]))'
