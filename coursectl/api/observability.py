"""Use cases of observability as code: render rules / tests / Alertmanager config, receive alerts, export the
ledger's metrics, build dashboards."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.domain import utcnow
from coursectl.errors import GateBlocked, ToolMissing

if TYPE_CHECKING:
    from coursectl.ports import ProcessRunner

log = logging.getLogger(__name__)


@dataclass
class RenderedFiles:
    """Relative path → text of everything ``observability render`` writes."""

    files: dict[str, str] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def write(self, out: Path) -> list[Path]:
        written = []
        for rel, text in sorted(self.files.items()):
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def receiver_url(config: Any) -> str:
    return config.observability.alertmanager.receiver_url or f"http://127.0.0.1:{config.sandbox.receiver_port}"


def render_files(config: Any, *, source: str) -> RenderedFiles:
    """Rules (``rules/*.rules.yml``), their promtool tests (``tests/*.test.yml``), ``alertmanager.yml`` and
    ``blackbox.yml`` of ``config``."""
    from coursectl.observability.alertmanager import render_alertmanager, render_blackbox
    from coursectl.observability.rule_tests import test_files
    from coursectl.observability.rules import rule_files, rule_groups

    groups = rule_groups(config)
    files = {f"rules/{name}": text for name, text in rule_files(groups, source=source).items()}
    files.update(
        {f"tests/{name}": text for name, text in test_files(config, groups, rules_dir="../rules").items()}
    )
    files["alertmanager.yml"] = render_alertmanager(config.observability.alertmanager, receiver_url(config))
    files["blackbox.yml"] = render_blackbox()
    return RenderedFiles(files)


def check_files(out: Path, *, runner: ProcessRunner, timeout: float = 600.0) -> list[dict[str, Any]]:
    """``promtool check rules``, ``promtool test rules`` and ``amtool check-config`` over what ``render`` wrote
    in ``out``: exit 4 when a tool is missing, 6 when a check fails (the output names the failure)."""
    import shutil

    results = []
    rules = sorted(str(p) for p in (out / "rules").glob("*.rules.yml"))
    tests = sorted(str(p.name) for p in (out / "tests").glob("*.test.yml"))
    commands = [
        ("promtool check rules", ["promtool", "check", "rules", *rules], out, "prometheus"),
        ("promtool test rules", ["promtool", "test", "rules", *tests], out / "tests", "prometheus"),
        (
            "amtool check-config",
            ["amtool", "check-config", str(out / "alertmanager.yml")],
            out,
            "prometheus-alertmanager",
        ),
    ]
    for name, argv, cwd, package in commands:
        if not shutil.which(argv[0]):
            raise ToolMissing(f"{argv[0]} is not installed", hint=f"apt-get install {package}")
        result = runner.run(argv, cwd=cwd, timeout=timeout)
        ok = result.returncode == 0
        text = (result.stdout + result.stderr).strip()
        results.append({"check": name, "ok": ok, "output": text[-4000:]})
        if not ok:
            raise GateBlocked(f"{name} failed:\n{text[-3000:]}", details={"checks": results})
    return results


def handle_alerts(
    service: Any, body: Mapping[str, Any], *, dashboard_url: str | None, wait: float = 10.0
) -> tuple[bool, dict[str, Any]]:
    """Publish the notifications of one Alertmanager payload and wait (bounded) for their delivery; ok is False
    only when something was meant to go out and nothing did (Alertmanager will post again)."""
    from coursectl.observability.alerts import notifications

    notes = notifications(body, dashboard_url=dashboard_url)
    for n in notes:
        service.publish(n)
    deliveries = service.drain(wait)
    counts: dict[str, int] = {}
    for d in deliveries:
        counts[d.status] = counts.get(d.status, 0) + 1
    attempted = [d for d in deliveries if d.status != "skipped"]
    ok = not attempted or any(d.ok for d in attempted)
    log.info("alerts: %d notification(s), deliveries %s", len(notes), counts)
    return ok, {"notifications": len(notes), "deliveries": counts}


def ledger_metrics(ledger: Any) -> str:
    from coursectl.observability.ledger_metrics import ledger_exposition

    return ledger_exposition(ledger, now=utcnow())
