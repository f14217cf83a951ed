"""Pure builder of the pytest command line that runs the platform's unit or integration tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

MARKERS = {"unit": "not integration", "integration": "integration"}


def test_paths(
    root: Path, kind: str, service_paths: Sequence[str], shared: Sequence[str], context: str
) -> list[str]:
    """The test folders of ``kind``: each service's (and the shared library's) ``tests/`` for unit tests, the
    build context's ``tests/integration`` for integration tests; only folders that exist."""
    if kind == "integration":
        candidates = [f"{context}/tests/integration"]
    else:
        candidates = [f"{p}/tests" for p in service_paths] + [f"{context}/{s}/tests" for s in shared]
    return [c for c in dict.fromkeys(candidates) if (root / c).is_dir()]


def pytest_argv(python: str, kind: str, paths: Sequence[str], junit: str) -> list[str]:
    """``python -m pytest`` over ``paths`` with the marker of ``kind`` and a JUnit XML report."""
    return [
        python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        MARKERS[kind],
        f"--junitxml={junit}",
        *paths,
    ]
