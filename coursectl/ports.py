"""The small interfaces the use cases talk to (Protocols only); adapters implement them, tests fake them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from coursectl.adapters.docker_engine import BuildResult, PushResult
    from coursectl.adapters.registry_v2 import TagInfo
    from coursectl.parsers._common import ParsedScan
    from coursectl.parsers.sonarqube import CeTask, GateStatus


class Scanner(Protocol):
    """A security scanner run as a subprocess: is it installed, and what does it find in a target."""

    name: str
    display_name: str
    install_hint: str
    kinds: tuple[str, ...]

    def available(self) -> bool: ...

    def scan(self, kind: str, target: str, *, dockerfile: str | None = None) -> ParsedScan: ...


class QualityGate(Protocol):
    """A code-quality server (SonarQube): compute-engine tasks and the quality-gate verdict."""

    def task(self, task_id: str) -> CeTask: ...

    def project_status(
        self, *, analysis_id: str | None = None, project_key: str | None = None, branch: str | None = None
    ) -> GateStatus: ...


class Builder(Protocol):
    """An image builder (the docker engine)."""

    def ping(self) -> None: ...

    def image_id(self, ref: str) -> str | None: ...

    def repo_digests(self, ref: str) -> list[str]: ...

    def build(
        self,
        *,
        context: Path,
        dockerfile: str,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        on_line: Callable[[str], None] | None = None,
        timeout: float | None = None,
        network_mode: str = "host",
        nocache: bool = False,
    ) -> BuildResult: ...

    def tag(self, image: str, repository: str, tag: str) -> None: ...

    def push(
        self,
        repository: str,
        tag: str,
        *,
        auth: Mapping[str, str] | None,
        registry: str,
        on_line: Callable[[str], None] | None = None,
    ) -> PushResult: ...


class Registry(Protocol):
    """An image registry (Docker Registry v2 API)."""

    def ping(self) -> None: ...

    def tags(self, repo: str) -> list[str]: ...

    def manifest_digest(self, repo: str, ref: str) -> str | None: ...

    def tag_info(self, repo: str, tag: str) -> TagInfo: ...

    def image_config(self, repo: str, ref: str) -> dict[str, Any]: ...

    def put_tag(self, repo: str, source_ref: str, tag: str) -> str: ...
