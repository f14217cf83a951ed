"""Environments that extend another: overlay files chained (Kamal-style destinations sharing a base), and the
analysis settings an environment may override."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursectl.config import load_config
from coursectl.errors import ConfigError
from coursectl.rollout.analysis import AnalysisRules
from tests.conftest import REPO

BASE = """project: t
services:
  course: {path: course, port: 8002}
registry: {url: 127.0.0.1:5000}
build: {base_image: "python:3.11-slim"}
analysis:
  metrics:
    - {name: error-rate, max: 0.01}
    - {name: latency-p95, max: 0.5, min_requests: 50}
environments:
  local: {target: docker}
  local-canary: {target: docker, strategy: canary, extends: local, min_requests: 5, on_no_traffic: abort}
  drill: {target: process, extends: local-canary}
  prod: {target: docker}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "coursectl.yaml").write_text(BASE)
    overlay = "build: {base_image: coursectl/base:bookworm}\nscan: {skip_missing: true}\n"
    (tmp_path / "coursectl.local.yaml").write_text(overlay)
    return tmp_path / "coursectl.yaml"


def test_an_environment_gets_the_overlay_of_the_one_it_extends(project: Path) -> None:
    canary = load_config(project, "local-canary")
    assert canary.config.build.base_image == "coursectl/base:bookworm" and canary.config.scan.skip_missing
    assert canary.sources == (project, project.parent / "coursectl.local.yaml")
    prod = load_config(project, "prod")
    assert prod.config.build.base_image == "python:3.11-slim" and prod.sources == (project,)


def test_extends_is_transitive_and_the_own_overlay_comes_last(project: Path) -> None:
    (project.parent / "coursectl.local-canary.yaml").write_text("build: {parallel: 4}\n")
    (project.parent / "coursectl.drill.yaml").write_text("build: {base_image: drill-base}\n")
    drill = load_config(project, "drill")
    assert drill.config.build.base_image == "drill-base"  # its own overlay wins
    assert drill.config.build.parallel == 4 and drill.config.scan.skip_missing  # inherited from both
    assert drill.sources == (
        project,
        project.parent / "coursectl.local.yaml",
        project.parent / "coursectl.local-canary.yaml",
        project.parent / "coursectl.drill.yaml",
    )
    assert drill.overlay_path == project.parent / "coursectl.drill.yaml"


def test_a_problem_is_blamed_on_the_overlay_that_set_it(project: Path) -> None:
    (project.parent / "coursectl.local.yaml").write_text("build: {parallel: many}\n")
    with pytest.raises(ConfigError) as info:
        load_config(project, "local-canary")
    assert [str(p) for p in info.value.problems] == [
        f"{project.parent / 'coursectl.local.yaml'}: build.parallel: expected an integer, got 'many'"
    ]


def test_extending_an_unknown_environment_is_a_config_error(project: Path) -> None:
    project.write_text(BASE.replace("extends: local,", "extends: nowhere,"))
    with pytest.raises(ConfigError) as info:
        load_config(project, "prod")
    assert info.value.exit_code == 3
    assert "environment local-canary extends 'nowhere', which is not an environment" in str(info.value.problems)


def test_environments_extending_each_other_is_a_config_error(project: Path) -> None:
    project.write_text(BASE.replace("local: {target: docker}", "local: {target: docker, extends: drill}"))
    with pytest.raises(ConfigError) as info:
        load_config(project, "prod")
    assert "extend each other in a cycle: local → drill → local-canary → local" in str(info.value.problems)


def test_min_requests_metric_then_environment_then_analysis(project: Path) -> None:
    canary = load_config(project, "local-canary")
    rules = AnalysisRules.from_config(canary.config.analysis, canary.environment)
    assert [(m.name, m.min_requests) for m in rules.metrics] == [("error-rate", 5), ("latency-p95", 50)]
    assert rules.on_no_traffic == "abort"
    prod = load_config(project, "prod")
    rules = AnalysisRules.from_config(prod.config.analysis, prod.environment)
    assert [(m.name, m.min_requests) for m in rules.metrics] == [("error-rate", 20), ("latency-p95", 50)]
    assert rules.on_no_traffic == "pause"
    assert rules.exclude_routes == ("/health/.*", "/metrics", "/version")


@pytest.mark.parametrize("env", ["local", "local-canary", "drill"])
def test_every_shipped_local_environment_builds_from_the_sandbox_base_image(env: str) -> None:
    loaded = load_config(REPO / "coursectl.yaml", env)
    assert loaded.config.build.base_image == "coursectl/base:bookworm"
    assert loaded.config.scan.skip_missing  # scanners not installed here are recorded skips, never passes
