"""The Protocols the use cases talk to (one per external system), and nothing else."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from coursectl.adapters.docker_engine import BuildResult, PushResult
from coursectl.adapters.registry_v2 import TagInfo


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
