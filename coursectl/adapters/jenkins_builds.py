"""Jenkins job build history through python-jenkins (imported lazily), errors translated."""

from __future__ import annotations

from typing import Any

from coursectl.domain import CiBuild
from coursectl.errors import ExternalError


def parse_build(info: dict[str, Any]) -> CiBuild:
    """A CiBuild from ``job/<name>/<n>/api/json`` (epoch milliseconds → seconds)."""
    return CiBuild(
        number=int(info.get("number", 0)),
        result=info.get("result"),
        started_at=float(info.get("timestamp") or 0) / 1000.0,
        duration=float(info.get("duration") or 0) / 1000.0,
        building=bool(info.get("building", False)),
    )


def job_builds(
    url: str,
    job: str,
    *,
    username: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
    limit: int = 100,
) -> list[CiBuild]:
    """The most recent builds of ``job`` (at most ``limit``, newest first).

    One request at depth 1 (the builds come with result, timestamp and duration); a build listed without them
    is fetched on its own.
    """
    import jenkins  # python-jenkins

    try:
        server = jenkins.Jenkins(url, username=username, password=token, timeout=timeout)
        info = server.get_job_info(job, depth=1)
        builds = []
        for entry in (info.get("builds") or [])[:limit]:
            if "timestamp" not in entry:
                entry = server.get_build_info(job, int(entry["number"]))
            builds.append(parse_build(entry))
        return builds
    except jenkins.JenkinsException as exc:
        raise ExternalError(f"Jenkins at {url}: {exc}") from exc
    except (OSError, ValueError) as exc:  # connection refused, timeouts, bad JSON
        raise ExternalError(f"Jenkins at {url} is unreachable: {exc}") from exc


class JenkinsBuilds:
    """The BuildHistory port for one Jenkins job (python-jenkins, imported on first use)."""

    def __init__(
        self, url: str, job: str, *, username: str | None = None, token: str | None = None, timeout: float = 10.0
    ):
        self.url = url
        self.job = job
        self._username = username
        self._token = token
        self.timeout = timeout

    def builds(self) -> list[CiBuild]:
        return job_builds(self.url, self.job, username=self._username, token=self._token, timeout=self.timeout)
