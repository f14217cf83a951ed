"""Run Prometheus (Debian ``prometheus``) on 127.0.0.1 with file_sd targets, and write those target files."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursectl.adapters import http_probe
from coursectl.errors import PreconditionError, ToolMissing, UsageError
from coursectl.render.templates import render
from coursectl.sandbox import daemon, probe
from coursectl.sandbox.layout import PrometheusPaths, prometheus_paths, prometheus_url

PROMETHEUS_BINARY = "prometheus"
FILE_SD_JOB = "coursectl"
SCRAPE_INTERVAL = "5s"
REFRESH_INTERVAL = "5s"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Monitoring:
    """What else the sandbox Prometheus talks to: Alertmanager, the exporters, coursectl's receiver."""

    alertmanager_port: int
    blackbox_port: int
    node_exporter_port: int
    receiver_port: int


def render_config(
    paths: PrometheusPaths,
    *,
    port: int,
    monitoring: Monitoring | None = None,
    scrape_interval: str = SCRAPE_INTERVAL,
    evaluation_interval: str = SCRAPE_INTERVAL,
) -> str:
    """prometheus.yml: scrape itself and every target in ``file_sd/*.json``, every 5 s; with ``monitoring``
    also the rule files in ``rules/``, Alertmanager, node exporter, coursectl's receiver and the blackbox probes
    listed in ``file_sd/probes/*.json``."""
    return render(
        "sandbox/prometheus.yml.j2",
        port=port,
        scrape_interval=scrape_interval,
        evaluation_interval=evaluation_interval,
        refresh_interval=REFRESH_INTERVAL,
        file_sd_job=FILE_SD_JOB,
        file_sd_dir=str(paths.file_sd),
        rules_dir=str(paths.rules),
        monitoring=monitoring,
    )


def argv(binary: str, paths: PrometheusPaths, *, port: int) -> list[str]:
    """The Prometheus command line: 127.0.0.1 only, lifecycle API on, storage under the state directory."""
    return [
        binary,
        f"--config.file={paths.config}",
        f"--storage.tsdb.path={paths.storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=7d",
    ]


def url(port: int) -> str:
    return prometheus_url(port)


def healthy(port: int) -> bool:
    """True when Prometheus on the port says it is ready."""
    return http_probe.http_status(f"{url(port)}/-/ready") == 200


def render_targets(targets: Sequence[Mapping[str, Any]]) -> str:
    """The file_sd JSON for ``targets`` (``[{"targets": ["host:port"], "labels": {...}}]``), validated."""
    groups: list[dict[str, Any]] = []
    for i, group in enumerate(targets):
        hosts = group.get("targets")
        labels = group.get("labels", {}) or {}
        unknown = set(group) - {"targets", "labels"}
        if unknown:
            raise UsageError(f"file_sd group {i}: unknown keys {sorted(unknown)} (expected targets, labels)")
        if not isinstance(hosts, (list, tuple)) or not all(isinstance(h, str) and h for h in hosts):
            raise UsageError(f"file_sd group {i}: targets must be a list of 'host:port' strings")
        if not isinstance(labels, Mapping):
            raise UsageError(f"file_sd group {i}: labels must be a mapping")
        for key, value in labels.items():
            if not isinstance(key, str) or not _LABEL.match(key) or key.startswith("__"):
                raise UsageError(f"file_sd group {i}: invalid label name {key!r}")
            if not isinstance(value, str):
                raise UsageError(f"file_sd group {i}: label {key} must be a string, not {type(value).__name__}")
        groups.append({"targets": list(hosts), "labels": dict(sorted(labels.items()))})
    return render("sandbox/file_sd.json.j2", groups=groups)


def write_targets(file_sd_dir: Path, name: str, targets: Sequence[Mapping[str, Any]]) -> Path:
    """Atomically write ``<file_sd_dir>/<name>.json`` with ``targets``; Prometheus reads it within 5 s."""
    if not _NAME.match(name):
        raise UsageError(f"invalid file_sd name {name!r} (letters, digits, '.', '_', '-')")
    text = render_targets(targets)
    file_sd_dir.mkdir(parents=True, exist_ok=True)
    path = file_sd_dir / f"{name}.json"
    tmp = file_sd_dir / f".{name}.json.tmp"  # does not match *.json, so Prometheus never reads it half-written
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def remove_targets(file_sd_dir: Path, name: str) -> bool:
    """Delete ``<file_sd_dir>/<name>.json``; True when it existed."""
    path = file_sd_dir / f"{name}.json"
    if path.exists():
        path.unlink()
        return True
    return False


def reload(port: int) -> bool:
    """Ask Prometheus to read its configuration and rules again (lifecycle API); True when it did."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(f"{url(port)}/-/reload", method="POST"), timeout=10) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it already holds exactly that; True when written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def write_rules(paths: PrometheusPaths, files: Sequence[tuple[str, str]]) -> bool:
    """Make ``rules/`` hold exactly ``files`` (name, YAML); True when anything changed."""
    paths.rules.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed = False
    wanted = dict(files)
    for old in paths.rules.glob("*.rules.yml"):
        if old.name not in wanted:
            old.unlink()
            changed = True
    for name, text in wanted.items():
        if not _NAME.match(name) or not name.endswith(".rules.yml"):
            raise UsageError(f"invalid rule file name {name!r} (expected <name>.rules.yml)")
        changed = write_if_changed(paths.rules / name, text) or changed
    return changed


def start(sandbox_dir: Path, *, port: int, timeout: float, config_text: str | None = None) -> daemon.Started:
    """Render the configuration and start Prometheus on 127.0.0.1:port."""
    binary = shutil.which(PROMETHEUS_BINARY)
    if not binary:
        raise ToolMissing("prometheus is not installed", hint="apt-get install prometheus")
    if probe.port_in_use(port):
        raise PreconditionError(
            f"prometheus: port 127.0.0.1:{port} is already in use by another program",
            hint="stop that program (Debian starts a prometheus service: systemctl stop prometheus) "
            "or choose another prometheus port",
        )
    paths = prometheus_paths(sandbox_dir)
    for folder in (paths.file_sd, paths.probes, paths.storage, paths.log.parent, paths.rules):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths.config.write_text(config_text or render_config(paths, port=port), encoding="utf-8")
    return daemon.start(
        f"prometheus on 127.0.0.1:{port}",
        argv(binary, paths, port=port),
        log_path=paths.log,
        ready=lambda: healthy(port),
        timeout=timeout,
    )
