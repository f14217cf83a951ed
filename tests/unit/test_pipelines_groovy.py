"""The Groovy of pipelines/: npm-groovy-lint (CodeNarc on the machine's Java) at zero errors, and the shared
library's coursectl step run with Jenkins' steps stubbed (Groovy from npm-groovy-lint's own bundle)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import REPO

PIPELINES = REPO / "pipelines"
LINT = PIPELINES / "node_modules" / ".bin" / "npm-groovy-lint"
GROOVY_LIB = PIPELINES / "node_modules" / "npm-groovy-lint" / "lib" / "java" / "groovy" / "lib"

pytestmark = pytest.mark.slow


def _need_tools() -> None:
    if not LINT.exists():
        pytest.fail("npm-groovy-lint is not installed: run bash scripts/setup.sh (npm ci in pipelines/)")
    if not shutil.which("java"):
        pytest.fail("java is not installed: apt-get install default-jre-headless (scripts/setup.sh does)")


def test_groovy_lint_finds_no_error() -> None:
    _need_tools()
    done = subprocess.run(
        [str(LINT), "--noserver", "--failon", "error", "--ignorepattern", "**/node_modules/**", "--output", "json",
         "--path", ".", "--files", "**/*.groovy,**/Jenkinsfile"],
        cwd=PIPELINES, capture_output=True, text=True, timeout=300,
    )
    report = json.loads(done.stdout)
    summary = report["summary"]
    found = [f"{name}:{e['line']}: {e['severity']} {e['rule']}: {e['msg']}"
             for name, f in report["files"].items() for e in f["errors"]]
    assert summary["totalFilesLinted"] >= 8  # Jenkinsfile, vars/*, src/*, test/*
    assert summary["totalFoundErrorNumber"] == 0, found
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_coursectl_step_maps_every_exit_code() -> None:
    _need_tools()
    jars = sorted(GROOVY_LIB.glob("groovy-[0-9]*.jar"))
    assert jars, f"no Groovy jar in {GROOVY_LIB}"
    done = subprocess.run(["java", "-cp", str(jars[-1]), "groovy.ui.GroovyMain", "test/LibraryTest.groovy"],
                          cwd=PIPELINES, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "15 passed, 0 failed"
