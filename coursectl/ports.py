"""The small interfaces the use cases talk to (Protocols only); adapters implement them, tests fake them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
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
