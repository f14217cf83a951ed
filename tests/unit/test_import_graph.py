"""The import graph of ``coursectl/`` follows the layers (docs/architecture.md), read from the source with ast.

Every ``import`` counts, also the lazy ones inside functions and those under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "coursectl"

# top-level module or package of coursectl → its layer; a new one must be placed here
LAYERS: dict[str, str] = {
    "": "foundation",  # coursectl/__init__.py: the public API, names imported on first use
    "__main__": "main",
    "errors": "foundation",
    "paths": "foundation",
    "processes": "foundation",
    "textfile": "foundation",
    "domain": "domain",
    "ports": "ports",
    "wiring": "wiring",
    "cli": "cli",
    "api": "api",
    "render": "render",
    "config": "engine",
    "rollout": "engine",
    "dora": "engine",
    "scan": "engine",
    "sbom": "engine",
    "backup": "engine",
    "notify": "engine",
    "observability": "engine",
    "parsers": "engine",
    "images": "engine",
    "adapters": "adapters",
    "ledger": "adapters",
    "sandbox": "adapters",
    "tinyservice": "adapters",  # the stand-in service the process target runs; imports nothing of coursectl
    "testing": "testing",
}
CONCRETE = ("adapters", "ledger", "sandbox", "tinyservice")  # the layers' names of real adapters

# what each layer must not import (layer → forbidden layers), besides the rules on testing and wiring below
FORBIDDEN: dict[str, set[str]] = {
    "foundation": {"ports", "engine", "render", "api", "adapters", "cli", "wiring", "testing"},
    "engine": {"adapters", "api", "cli", "wiring"},
    "render": {"adapters", "api", "cli", "wiring"},
    "api": {"adapters", "cli", "wiring"},
    "adapters": {"api", "cli", "wiring"},
}
ONLY_DOMAIN = {"domain", "ports"}  # import nothing of coursectl but coursectl.domain
MAY_IMPORT_WIRING = {"cli", "main"}

# Imports against the layers that other work is yet to remove (none today); an entry that no import needs any
# more fails the test below, so none outlives its import.
ALLOWED_FOR_NOW: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, source: str, modules: set[str]) -> Iterator[tuple[str, int]]:
    """(imported module of coursectl, line) for every import statement of ``source`` (module ``name``), at any
    depth; ``from X import y`` names X.y when that is a module, else X."""
    is_package = f"{name}.__init__" in modules or any(m.startswith(name + ".") for m in modules)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                package = name.split(".") if is_package else name.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in modules else base), node.lineno


def layer_of(module: str) -> str:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top not in LAYERS:
        raise KeyError(f"{module}: coursectl.{top} has no layer: place it in LAYERS (and docs/architecture.md)")
    return LAYERS[top]


def problems(importer: str, imported: str) -> list[str]:
    """Why ``importer`` may not import ``imported`` (both modules of coursectl); [] when it may."""
    mine, theirs = layer_of(importer), layer_of(imported)
    if mine == theirs and mine not in ONLY_DOMAIN:
        return []
    out = []
    if mine in ONLY_DOMAIN and imported != "coursectl.domain" and importer != imported:
        out.append(f"{mine} imports nothing of coursectl but coursectl.domain")
    if theirs == "testing" and mine != "testing":
        out.append("coursectl.testing (fakes) is imported only by tests")
    if theirs == "wiring" and mine not in MAY_IMPORT_WIRING:
        out.append("only cli (and __main__) build adapters through wiring")
    if theirs in FORBIDDEN.get(mine, set()):
        what = "concrete adapters (it receives them typed by the ports)" if theirs == "adapters" else theirs
        out.append(f"{mine} imports no {what}")
    return out


def violations() -> list[tuple[str, str, int, str]]:
    found = []
    names = set(MODULES)
    for name, path in MODULES.items():
        for imported, line in imports(name, path.read_text(encoding="utf-8"), names):
            if imported != "coursectl" and not imported.startswith("coursectl."):
                continue
            for why in problems(name, imported):
                found.append((name, imported, line, why))
    return found


def _allowed(importer: str, imported: str) -> tuple[str, str] | None:
    for key in ALLOWED_FOR_NOW:
        if importer.startswith(key[0]) and (imported == key[1] or imported.startswith(key[1] + ".")):
            return key
    return None


def test_every_module_of_coursectl_has_a_layer() -> None:
    assert len(MODULES) > 100  # the walk found the package
    for name in MODULES:
        layer_of(name)


def test_no_import_runs_against_the_layers() -> None:
    found = [v for v in violations() if _allowed(v[0], v[1]) is None]
    assert not found, "imports against the layers (docs/architecture.md):\n" + "\n".join(
        f"  {MODULES[a].relative_to(ROOT)}:{line}: {a} imports {b}: {why}" for a, b, line, why in found
    )


def test_every_allowed_exception_is_still_needed() -> None:
    used = {_allowed(a, b) for a, b, _, _ in violations()}
    stale = [f"{a} → {b} ({why})" for (a, b), why in ALLOWED_FOR_NOW.items() if (a, b) not in used]
    assert not stale, "no import needs these exceptions any more: remove them from ALLOWED_FOR_NOW:\n" + "\n".join(
        stale
    )


@pytest.mark.parametrize(
    ("importer", "source", "expected"),
    [
        ("coursectl.ports", "from coursectl.adapters.docker_engine import BuildResult", "imports nothing"),
        ("coursectl.ports", "from coursectl.parsers.sonarqube import GateStatus", "imports nothing"),
        ("coursectl.domain", "from coursectl.errors import UsageError", "imports nothing"),
        ("coursectl.api.scan", "def f():\n    from coursectl.adapters.trivy import TrivyScanner\n", "concrete"),
        ("coursectl.api.scan", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import coursectl.cli\n",
         "imports no cli"),
        ("coursectl.api.metrics", "def f():\n    import coursectl.wiring\n", "wiring"),
        ("coursectl.rollout.engine", "from coursectl.adapters import haproxy", "engine imports no concrete"),
        ("coursectl.render.scan_reports", "from coursectl.api.scan import ScanRequest", "render imports no api"),
        ("coursectl.adapters.docker_target", "from coursectl.testing.fakes import FakeTarget", "only by tests"),
        ("coursectl.wiring", "from coursectl.testing import fakes", "only by tests"),
        ("coursectl.adapters.haproxy", "from ..api import rollout", "adapters imports no api"),
    ],
)  # fmt: skip
def test_the_rules_catch_an_import_against_the_layers(importer: str, source: str, expected: str) -> None:
    names = set(MODULES)
    found = [why for imported, _ in imports(importer, source, names) for why in problems(importer, imported)]
    assert any(expected in why for why in found), found


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("coursectl.ports", "coursectl.domain"),
        ("coursectl.cli.deploy", "coursectl.wiring"),
        ("coursectl.__main__", "coursectl.cli"),
        ("coursectl.api.scan", "coursectl.scan.policy"),
        ("coursectl.wiring", "coursectl.adapters.haproxy"),
        ("coursectl.testing.drill", "coursectl.adapters.process_target"),
        ("coursectl.adapters.docker_target", "coursectl.render.prometheus"),
    ],
)
def test_the_rules_let_the_layers_import_downwards(importer: str, imported: str) -> None:
    assert problems(importer, imported) == []
