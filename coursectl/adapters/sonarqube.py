"""SonarQube's Web API through python-sonarqube-api (CE tasks, gate status, coverage), errors translated."""

from __future__ import annotations

import json
import logging
from typing import Any

from coursectl.domain import CeTask, GateStatus
from coursectl.errors import AuthError, ExternalError, ExternalTimeout, PreconditionError
from coursectl.parsers.sonarqube import (
    condition_value,
    error_messages,
    measure_value,
    parse_project_status,
    parse_task,
)

log = logging.getLogger(__name__)

TASK_PATH = "/api/ce/task"
MEASURES_PATH = "/api/measures/component"
PROJECT_STATUS_PATH = "/api/qualitygates/project_status"
AUTH_HINT = "check the token behind sonarqube.token (default env SONAR_TOKEN): it needs 'Browse' on the project"


class SonarQubeGate:
    """The QualityGate port for SonarQube (token as HTTP basic user with an empty password, all versions)."""

    def __init__(self, url: str, token: str | None, *, http_timeout: float = 30.0):
        from sonarqube import SonarQubeClient

        self.url = url.rstrip("/")
        self._client = SonarQubeClient(sonarqube_url=self.url, token=token or None, timeout=http_timeout)

    def close(self) -> None:
        """Close the HTTP session's connections."""
        self._client.session.close()

    def _get(self, path: str, params: dict[str, str]) -> Any:
        import requests
        from sonarqube.utils import exceptions as sq

        where = f"SonarQube {self.url}{path}"
        try:
            response = self._client.ce.request(method="GET", path=path, params=params)
        except sq.AuthError as exc:
            raise AuthError(f"{where}: credentials refused ({exc})", hint=AUTH_HINT) from exc
        except sq.NotFoundError as exc:
            raise PreconditionError(
                f"{where}: not found ({exc})", hint="check the project key / the report-task.txt of this analysis"
            ) from exc
        except (sq.ClientError, sq.ServerError) as exc:
            raise ExternalError(f"{where}: {exc}") from exc
        except requests.Timeout as exc:
            raise ExternalTimeout(f"{where}: no answer in time") from exc
        except requests.RequestException as exc:
            raise ExternalError(
                f"{where}: cannot connect ({type(exc).__name__})",
                hint="check sonarqube.url / serverUrl in report-task.txt",
            ) from exc
        try:
            data = response.json()
        except (ValueError, json.JSONDecodeError) as exc:
            raise ExternalError(f"{where}: the answer is not JSON (HTTP {response.status_code})") from exc
        problems = error_messages(data)
        if problems:
            raise ExternalError(f"{where}: {'; '.join(problems)}")
        return data

    def task(self, task_id: str) -> CeTask:
        return parse_task(self._get(TASK_PATH, {"id": task_id}))

    def project_status(
        self, *, analysis_id: str | None = None, project_key: str | None = None, branch: str | None = None
    ) -> GateStatus:
        if analysis_id:
            params = {"analysisId": analysis_id}
        elif project_key:
            params = {"projectKey": project_key}
            if branch:
                params["branch"] = branch
        else:
            raise ValueError("project_status needs an analysis id or a project key")
        data = self._get(PROJECT_STATUS_PATH, params)
        if "projectStatus" not in data:
            raise ExternalError(f"SonarQube {self.url}{PROJECT_STATUS_PATH}: answer without projectStatus")
        return parse_project_status(data)

    def coverage(self, project_key: str) -> tuple[float, str]:
        """The project's coverage: ``api/measures/component?metricKeys=coverage`` (overall coverage), else the
        quality gate's ``coverage`` or ``new_coverage`` condition."""
        problems = []
        try:
            body = self._get(MEASURES_PATH, {"component": project_key, "metricKeys": "coverage"})
            value = measure_value(body, "coverage")
            if value is not None:
                return value, "api/measures/component metricKeys=coverage"
            problems.append("api/measures/component has no coverage measure")
        except PreconditionError as exc:
            problems.append(exc.message)
        status = self._get(PROJECT_STATUS_PATH, {"projectKey": project_key})
        found = condition_value(status, ("coverage", "new_coverage"))
        if found is None:
            problems.append("no coverage condition in the quality gate")
            raise PreconditionError(f"SonarQube has no coverage for {project_key}: " + "; ".join(problems))
        metric, value = found
        return value, f"api/qualitygates/project_status condition {metric}"
