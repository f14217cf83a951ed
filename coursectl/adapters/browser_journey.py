"""The storefront's browser journey as a subprocess: ``node e2e/journey.mjs`` driving Chromium, its steps read
from the JSON lines it prints (see platform-services/storefront/e2e/journey.mjs)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coursectl.adapters import process
from coursectl.errors import ExternalError, ToolMissing


def run_browser_journey(
    script: Path,
    base_url: str,
    *,
    chromium: str,
    artifacts: Path,
    admin: tuple[str, str] | None,
    timeout: float,
) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
    """(the steps, the summary line); ExternalError when the journey could not run at all (not a failed step)."""
    node = shutil.which("node")
    if node is None:
        raise ToolMissing("node is not installed (the journey runs on Node.js)", hint="apt-get install nodejs")
    env = {"BASE_URL": base_url, "CHROMIUM": chromium, "ARTIFACTS": str(artifacts)}
    if admin is not None:
        env.update(ADMIN_EMAIL=admin[0], ADMIN_PASSWORD=admin[1])
    done = process.run([node, str(script)], timeout=timeout, check=False, env=env, cwd=script.parent.parent)
    lines = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    steps = [line for line in lines if "step" in line]
    summary = next((line for line in reversed(lines) if "step" not in line), None)
    if summary is None or done.returncode not in (0, 1):
        raise ExternalError(
            f"the browser journey did not run (exit {done.returncode}): {done.tail(5)}",
            details={"returncode": done.returncode},
        )
    return steps, summary
