"""Run the platform's unit or integration tests (pytest) and read the verdict from their JUnit report."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.errors import ExternalError, GateBlocked, PreconditionError, UsageError
from coursectl.render.test_argv import MARKERS, pytest_argv, test_paths

if TYPE_CHECKING:
    from coursectl.ports import ProcessRunner


@dataclass
class TestRun:
    """What a test run found: counts from its JUnit report, and where that report is."""

    __test__ = False  # not a pytest test class

    kind: str
    paths: list[str]
    report: str
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    returncode: int = 0
    tail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("kind", "paths", "report", "tests", "failures", "errors", "skipped", "returncode")
        }


def _counts(path: Path) -> tuple[int, int, int, int]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return 0, 0, 0, 0
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = [0, 0, 0, 0]
    for s in suites:
        for i, key in enumerate(("tests", "failures", "errors", "skipped")):
            total[i] += int(s.get(key, "0") or 0)
    return total[0], total[1], total[2], total[3]


def run_tests(
    config: Any,
    root: Path,
    kind: str,
    *,
    runner: ProcessRunner,
    services: Sequence[str] = (),
    junit: Path,
    timeout: float = 1800.0,
) -> TestRun:
    """Run the ``kind`` tests of ``services`` (default: all); GateBlocked (exit 6) when tests fail,
    PreconditionError when there is nothing to run, ExternalError when pytest itself failed."""
    if kind not in MARKERS:
        raise UsageError(f"unknown test kind {kind!r}: expected unit or integration")
    unknown = [s for s in services if s not in config.services]
    if unknown:
        raise UsageError(
            f"unknown service(s): {', '.join(unknown)}", hint=f"services: {', '.join(config.services)}"
        )
    names = list(services or config.services)
    shared = [] if services else list(config.build.shared)
    paths = test_paths(root, kind, [config.services[n].path for n in names], shared, config.build.context)
    if not paths:
        raise PreconditionError(
            f"no {kind} test folders found for {', '.join(names)}",
            hint="unit tests live in <service>/tests, integration tests in <context>/tests/integration",
        )
    junit.parent.mkdir(parents=True, exist_ok=True)
    done = runner.run(pytest_argv(sys.executable, kind, paths, str(junit.resolve())), cwd=root, timeout=timeout)
    tests, failures, errors, skipped = _counts(junit)
    run = TestRun(kind, paths, str(junit), tests, failures, errors, skipped, done.returncode, done.tail(15))
    if done.returncode == 0:
        return run
    if done.returncode == 1:
        raise GateBlocked(
            f"{kind} tests failed: {failures} failed, {errors} errors of {tests}",
            hint=f"the JUnit report is {junit}",
            details=run.to_dict(),
        )
    if done.returncode == 5:
        raise PreconditionError(f"no {kind} tests were collected in {', '.join(paths)}", details=run.to_dict())
    raise ExternalError(f"pytest failed with exit code {done.returncode}: {done.tail(8)}", details=run.to_dict())
