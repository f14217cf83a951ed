"""The library's public surface: complete, sorted, importable, and light to import."""

from __future__ import annotations

import subprocess
import sys

import coursectl
from tests.conftest import REPO


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert coursectl.__all__ == sorted(coursectl.__all__)
    for name in coursectl.__all__:
        assert getattr(coursectl, name) is not None, name


def test_every_error_class_is_exported() -> None:
    from coursectl.errors import error_classes

    ours = {cls.__name__ for cls in error_classes() if cls.__module__ == "coursectl.errors"}
    assert ours <= set(coursectl.__all__)


def test_importing_coursectl_loads_no_heavy_sdk() -> None:
    code = (
        "import sys, coursectl, coursectl.cli; "
        "heavy = [m for m in ('docker', 'kubernetes', 'boto3', 'slack_sdk', 'jenkins', 'numpy', "
        "'prometheus_api_client', 'pydantic') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
