"""The library's public surface: complete, sorted, importable, and light to import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import coursectl
from tests.conftest import REPO


def test_every_exported_name_is_listed_once_and_is_the_object_its_module_defines() -> None:
    names = list(coursectl.__all__)
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert all(not n.startswith("_") or n == "__version__" for n in names)
    for name in names:
        if name == "__version__":
            continue
        module = importlib.import_module(coursectl._EXPORTS[name])
        value = getattr(coursectl, name)
        assert value is getattr(module, name), f"coursectl.{name} is not {module.__name__}.{name}"
        defined_in = getattr(value, "__module__", None)
        assert defined_in is None or defined_in.startswith("coursectl."), f"{name} comes from {defined_in}"


def test_star_import_and_dir_give_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from coursectl import *", namespace)  # noqa: S102 - the import a user writes
    assert set(namespace) - {"__builtins__"} == set(coursectl.__all__)
    assert sorted(dir(coursectl)) == sorted(coursectl.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        coursectl.Nope  # noqa: B018 - an unknown name fails like a missing attribute, not a KeyError


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
