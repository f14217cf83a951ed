"""LogSource over the docker target: the containers coursectl labelled for an environment and service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from coursectl.domain import LogLine
from coursectl.errors import ExternalError, PreconditionError

LABEL = "coursectl"


def split_stamp(raw: str) -> tuple[datetime | None, str]:
    """``2026-11-30T06:00:00.123456789Z text`` (docker's ``timestamps=True``) → (time, text)."""
    head, sep, rest = raw.partition(" ")
    if not sep:
        return None, raw
    stamp = head.rstrip("Z")
    if "." in stamp:
        whole, frac = stamp.split(".", 1)
        stamp = f"{whole}.{frac[:6]}"
    try:
        return datetime.fromisoformat(stamp).replace(tzinfo=UTC), rest
    except ValueError:
        return None, raw


class DockerLogs:
    """The log lines of one environment's slot containers on one engine."""

    def __init__(self, *, environment: str, docker_host: str | None = None, timeout: float = 30.0):
        self.environment = environment
        self.docker_host = docker_host
        self.timeout = timeout
        self._client: Any = None

    def _docker(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = (
                    docker.DockerClient(base_url=self.docker_host, timeout=int(self.timeout))
                    if self.docker_host
                    else docker.from_env(timeout=int(self.timeout))
                )
                self._client.ping()
            except docker.errors.DockerException as exc:
                raise PreconditionError(
                    f"the docker engine at {self.docker_host or 'DOCKER_HOST'} does not answer: {exc}",
                    hint="start it (coursectl sandbox up)",
                ) from exc
        return self._client

    def read(self, service: str, *, since: datetime | None = None, slot: str | None = None) -> list[LogLine]:
        import docker

        client = self._docker()
        filters = [f"{LABEL}.environment={self.environment}", f"{LABEL}.service={service}"]
        if slot:
            filters.append(f"{LABEL}.slot={slot}")
        try:
            containers = client.containers.list(all=True, filters={"label": filters})
            out: list[LogLine] = []
            for c in sorted(containers, key=lambda c: c.name):
                kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": True}
                if since is not None:
                    kwargs["since"] = since
                raw = c.logs(**kwargs).decode("utf-8", errors="replace")
                name = (c.labels or {}).get(f"{LABEL}.slot", c.name)
                for text in raw.splitlines():
                    when, body = split_stamp(text)
                    out.append(LogLine(service, name, when, body))
            return out
        except docker.errors.DockerException as exc:
            raise ExternalError(f"docker: cannot read the logs of {service}: {exc}") from exc
