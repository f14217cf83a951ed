"""SonarQube Web API reads for coverage (plain HTTP via requests), errors translated."""

from __future__ import annotations

from typing import Any

from coursectl.errors import AuthError, ExternalError, PreconditionError


def _get(url: str, path: str, params: dict[str, str], token: str | None, timeout: float) -> dict[str, Any]:
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = requests.get(url.rstrip("/") + path, params=params, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise ExternalError(f"SonarQube at {url} is unreachable: {exc}") from exc
    if resp.status_code in (401, 403):
        raise AuthError(f"SonarQube refused the token ({resp.status_code}) for {path}")
    try:
        body = resp.json()
    except ValueError as exc:
        raise ExternalError(f"SonarQube {path} answered {resp.status_code} without JSON") from exc
    if resp.status_code == 404:
        raise PreconditionError(f"SonarQube {path}: {error_message(body) or 'not found'}")
    if resp.status_code >= 400:
        raise ExternalError(f"SonarQube {path} failed ({resp.status_code}): {error_message(body)}")
    return body if isinstance(body, dict) else {}


def error_message(body: Any) -> str:
    """The messages of a Web API error body ``{"errors": [{"msg": ...}]}``."""
    if isinstance(body, dict):
        return "; ".join(str(e.get("msg", "")) for e in body.get("errors", []) if isinstance(e, dict))
    return ""


def measure_value(body: dict[str, Any], metric: str) -> float | None:
    """The value of ``metric`` in an ``api/measures/component`` answer, None when absent."""
    for m in (body.get("component") or {}).get("measures") or []:
        if m.get("metric") == metric and m.get("value") is not None:
            return float(m["value"])
    return None


def condition_value(body: dict[str, Any], metrics: tuple[str, ...]) -> tuple[str, float] | None:
    """The first of ``metrics`` among the conditions of an ``api/qualitygates/project_status`` answer."""
    conditions = (body.get("projectStatus") or {}).get("conditions") or []
    for wanted in metrics:
        for c in conditions:
            if c.get("metricKey") == wanted and c.get("actualValue") is not None:
                return wanted, float(c["actualValue"])
    return None


def coverage(url: str, project: str, *, token: str | None, timeout: float = 10.0) -> tuple[float, str]:
    """The project's coverage (percent) and where it came from.

    First ``api/measures/component?metricKeys=coverage`` (overall coverage); when that has no coverage
    measure, the quality gate's ``coverage`` or ``new_coverage`` condition of ``api/qualitygates/project_status``.
    """
    problems = []
    try:
        body = _get(url, "/api/measures/component", {"component": project, "metricKeys": "coverage"}, token, timeout)
        value = measure_value(body, "coverage")
        if value is not None:
            return value, "api/measures/component metricKeys=coverage"
        problems.append("api/measures/component has no coverage measure")
    except PreconditionError as exc:
        problems.append(exc.message)
    body = _get(url, "/api/qualitygates/project_status", {"projectKey": project}, token, timeout)
    found = condition_value(body, ("coverage", "new_coverage"))
    if found is None:
        raise PreconditionError(f"SonarQube has no coverage for {project}: " + "; ".join(
            [*problems, "no coverage condition in the quality gate"]))
    metric, value = found
    return value, f"api/qualitygates/project_status condition {metric}"
