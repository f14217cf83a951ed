"""The rendered rules and their generated unit tests through the real promtool (Debian `prometheus`), and the
Alertmanager configuration through the real amtool; and proof that those tests catch a wrong rule."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rules") / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "coursectl",
            "-c",
            str(REPO / "coursectl.yaml"),
            "observability",
            "render",
            "--out",
            str(out),
            "--check",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    checks = json.loads(result.stdout)["checks"]
    assert [(c["check"], c["ok"]) for c in checks] == [
        ("promtool check rules", True),
        ("promtool test rules", True),
        ("amtool check-config", True),
    ]
    assert "SUCCESS" in checks[1]["output"] and "FAILED" not in checks[1]["output"]
    return out


def _promtool_test(folder: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "test", "rules", *files], cwd=folder, capture_output=True, text=True, timeout=300
    )


def test_every_burn_rate_alert_of_the_shipped_slos_has_its_tests(rendered: Path) -> None:
    slos = [p.name[len("slo-") : -len(".rules.yml")] for p in (rendered / "rules").glob("slo-*.rules.yml")]
    assert sorted(slos) == [
        "course-latency",
        "edge-availability",
        "edge-latency",
        "enrollment-availability",
        "payment-availability",
    ]
    for slo in slos:
        for burn in ("page-1h", "page-6h", "ticket-1d", "ticket-3d"):
            assert (rendered / "tests" / f"slo-{slo}-{burn}.test.yml").is_file()


def test_a_wrong_burn_rate_fails_the_generated_tests(rendered: Path) -> None:
    rules = rendered / "rules" / "slo-payment-availability.rules.yml"
    original = rules.read_text()
    try:
        rules.write_text(original.replace("(14.4 * 0.001)", "(16 * 0.001)"))  # pages too late: 1.1x must fire
        result = _promtool_test(rendered / "tests", "slo-payment-availability-page-1h.test.yml")
        assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr
        rules.write_text(original.replace("(14.4 * 0.001)", "(12 * 0.001)"))  # pages too early: 0.9x must not
        result = _promtool_test(rendered / "tests", "slo-payment-availability-page-1h.test.yml")
        assert result.returncode != 0
        from coursectl.api.observability import check_files
        from coursectl.errors import GateBlocked
        from coursectl.wiring import process_runner

        with pytest.raises(GateBlocked) as info:  # `render --check` exits 6 and names the failure
            check_files(rendered, runner=process_runner())
        assert info.value.exit_code == 6 and "promtool test rules failed" in info.value.message
        rules.write_text(original)
        assert _promtool_test(rendered / "tests", "slo-payment-availability-page-1h.test.yml").returncode == 0
    finally:
        rules.write_text(original)


def test_a_longer_for_or_a_higher_threshold_fails_the_plain_alert_tests(rendered: Path) -> None:
    rules = rendered / "rules" / "alerts.rules.yml"
    original = rules.read_text()
    try:
        rules.write_text(original.replace("for: 1m", "for: 5m", 1))  # ServiceDown would page 4 minutes late
        assert _promtool_test(rendered / "tests", "alerts.test.yml").returncode != 0
        rules.write_text(original.replace("> 0.05", "> 0.5"))
        assert _promtool_test(rendered / "tests", "alerts.test.yml").returncode != 0
    finally:
        rules.write_text(original)
