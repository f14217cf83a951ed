"""The remote-Jenkins backup source: job configurations and the plugin list of a running controller through
python-jenkins (imported lazily), laid out as on disk (jobs/<folder>/jobs/<job>/config.xml, plugins.json)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from coursectl.adapters import tarstream
from coursectl.adapters.backup_sqlite import prepare_directory
from coursectl.domain import RestoreRequest, RestoreResult, SourcePart
from coursectl.errors import AuthError, CoursectlError, ExternalError, UsageError


def job_path(fullname: str) -> str:
    """``folder/job`` → ``jobs/folder/jobs/job/config.xml`` (JENKINS_HOME's layout)."""
    return "/".join(f"jobs/{part}" for part in fullname.split("/")) + "/config.xml"


class JenkinsRemoteSource:
    """A Jenkins controller reached over HTTP(S)."""

    kind = "jenkins"
    PART = "jenkins/remote.tar"

    def __init__(
        self, name: str, url: str, *, username: str | None = None, token: str | None = None, timeout: float = 30.0
    ):
        self.name = name
        self.url = url
        self._username, self._token = username, token
        self.timeout = timeout
        self._server: Any = None
        self._facts: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"JenkinsRemoteSource({self.name!r}, {self.url!r})"

    def _error(self, exc: Exception) -> CoursectlError:
        import jenkins

        if isinstance(exc, jenkins.JenkinsException) and (
            "401" in str(exc) or "403" in str(exc) or "Unauthorized" in str(exc)
        ):
            return AuthError(f"Jenkins at {self.url} refused the credentials: {exc}")
        if isinstance(exc, jenkins.JenkinsException):
            return ExternalError(f"Jenkins at {self.url}: {exc}")
        return ExternalError(f"Jenkins at {self.url} is unreachable: {exc}")

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        import jenkins

        try:
            if self._server is None:
                self._server = jenkins.Jenkins(
                    self.url, username=self._username, password=self._token, timeout=self.timeout
                )
            return getattr(self._server, method)(*args, **kwargs)
        except (jenkins.JenkinsException, OSError, ValueError) as exc:
            raise self._error(exc) from exc

    def check(self) -> None:
        self._call("get_info", query="?tree=mode")

    def dump(self) -> Iterator[SourcePart]:
        self._facts = {"files": {}, "jobs": [], "plugins": []}
        yield SourcePart(self.PART, self._tar(), "application/x-tar")

    def _tar(self) -> Iterator[bytes]:
        jobs = self._call("get_all_jobs")
        plugins = list(self._call("get_plugins", depth=1).values())
        listed = sorted(
            (
                {
                    "name": p.get("shortName"),
                    "version": p.get("version"),
                    "enabled": p.get("enabled"),
                    "active": p.get("active"),
                }
                for p in plugins
            ),
            key=lambda p: str(p["name"]),
        )
        self._facts["plugins"] = listed
        self._facts["jobs"] = sorted(j["fullname"] for j in jobs)

        def members() -> Iterator[tarstream.Member]:
            for job in sorted(jobs, key=lambda j: j["fullname"]):
                xml = self._call("get_job_config", job["fullname"])
                yield tarstream.Member(job_path(job["fullname"]), data=xml.encode("utf-8"))
            yield tarstream.Member("plugins.json", data=json.dumps(listed, indent=2).encode())

        yield from tarstream.stream(members(), self._facts["files"])

    def facts(self) -> dict[str, Any]:
        return self._facts

    def _target(self, request: RestoreRequest) -> Path:
        if request.scratch:
            assert request.workdir is not None
            return request.workdir / "jenkins"
        if len(request.to) != 1:
            raise UsageError("restore of a Jenkins configuration needs --to DIR: a directory to unpack it into")
        return Path(request.to[0]).expanduser().absolute()

    def describe_target(self, request: RestoreRequest, facts: Mapping[str, Any]) -> str:
        return f"directory {self._target(request)}"

    def restore(
        self,
        open_part: Callable[[str], Iterator[bytes]],
        parts: Sequence[str],
        facts: Mapping[str, Any],
        request: RestoreRequest,
    ) -> RestoreResult:
        target = self._target(request)
        prepare_directory(target, force=request.force)
        began = time.monotonic()
        names = tarstream.extract(open_part(self.PART), target)
        return RestoreResult(
            where=str(target),
            seconds=time.monotonic() - began,
            observed={"files": tarstream.digest_tree(target, names)},
        )
