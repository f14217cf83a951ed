"""The storefront's own toolchain, run from pytest: Vitest, the typecheck, the build and its size budget."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.storefront import STOREFRONT, npm


def test_vitest_unit_tests_pass(tmp_path: Path) -> None:
    out = tmp_path / "vitest.json"
    done = npm("exec", "--", "vitest", "run", "--reporter=json", f"--outputFile={out}", timeout=300)
    report = json.loads(out.read_text()) if out.exists() else {}
    failed = [t["fullName"] for f in report.get("testResults", []) for t in f["assertionResults"]
              if t["status"] != "passed"]  # fmt: skip
    assert done.returncode == 0 and report.get("success"), f"{failed}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    assert report["numTotalTests"] >= 40 and report["numPassedTests"] == report["numTotalTests"]


def test_the_build_keeps_the_first_route_within_its_budget_and_other_routes_lazy() -> None:
    done = npm("run", "build", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "first route (src/pages/Catalogue.tsx + entry)" in done.stdout
    sizes = json.loads(npm("run", "--silent", "budget", "--", "--json").stdout)
    assert sizes["ok"] and sizes["budget_kb"] == 150
    assert 0 < sizes["first_route"]["gzip"] <= 150_000
    first = sizes["first_route"]["chunks"]
    assert any(name.startswith("assets/Catalogue-") for name in first)
    everything = [c["file"] for c in sizes["chunks"]]
    for page in ("Checkout", "LessonViewer", "Teach", "MyCourses", "Login", "Register", "CoursePage"):
        chunk = next(name for name in everything if name.startswith(f"assets/{page}-"))
        assert chunk not in first, f"{page} is loaded by the first route: it should be lazy"
    index = (STOREFRONT / "dist" / "index.html").read_text()
    assert '<script type="module" crossorigin src="/assets/index-' in index


def test_the_build_fails_above_the_budget() -> None:
    assert (STOREFRONT / "dist" / ".vite" / "manifest.json").exists() or npm("run", "build").returncode == 0
    done = npm("run", "budget", env={"STOREFRONT_JS_BUDGET_KB": "5"})
    assert done.returncode == 1
    assert "over the 5 kB budget" in done.stderr


def test_typecheck_is_clean() -> None:
    done = npm("run", "typecheck", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
