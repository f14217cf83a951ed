"""`coursectl observability render|dashboards|receive|textfile`: alert rules, dashboards and the alert receiver."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, OutputOption

app = typer.Typer(
    help="Observability as code: SLO alert rules, Alertmanager, dashboards, the alert receiver.",
    no_args_is_help=True,
)

OutDir = Annotated[Path, typer.Option("--out", help="Folder to write into (created; files in it are replaced).")]


@app.command("render")
def render(
    ctx: typer.Context,
    out_dir: OutDir,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Then run promtool check/test rules and amtool "
            "check-config on what was written (exit 6 when one fails).",
        ),
    ] = False,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Write the Prometheus rules (recording rules and multiwindow burn-rate alerts of every SLO, plain alerts),
    their promtool unit tests, alertmanager.yml and blackbox.yml."""
    from coursectl.api.observability import check_files, render_files
    from coursectl.wiring import process_runner

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    rendered = render_files(loaded.config, source=loaded.path.name)
    written = rendered.write(out_dir)
    checks: list[dict[str, Any]] = []
    if check:
        out.progress("checking with promtool and amtool")
        checks = check_files(out_dir, runner=process_runner())
    data = {"out": str(out_dir), "files": [str(p) for p in written], "checks": checks}
    lines = [f"wrote {len(written)} files to {out_dir}"]
    lines += [f"{c['check']}: {'ok' if c['ok'] else 'FAILED'}" for c in checks]
    out.result(data, human="\n".join(lines), ids=[str(p) for p in written])


@app.command("dashboards")
def dashboards(
    ctx: typer.Context,
    out_dir: OutDir,
    environment: Annotated[
        str | None,
        typer.Option(
            "--environment",
            help="Default value of the dashboards' environment variable (default: metrics.environment).",
        ),
    ] = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Write the four Grafana dashboards (Jenkins overview, application performance, infrastructure, business
    metrics) and annotations.json: the ledger's deployments as Grafana annotations API bodies."""
    from coursectl.observability.dashboards import DASHBOARDS, deployment_annotations
    from coursectl.observability.dashboards import dashboards as build

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    chosen = environment or loaded.config.metrics.environment
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in build(chosen).items():
        path = out_dir / name
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    rows = state.ledger().deployment_rows(chosen, None, None)
    notes = deployment_annotations(rows, dashboard_uids=[d.uid for d in DASHBOARDS])
    path = out_dir / "annotations.json"
    path.write_text(json.dumps(notes, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(path)
    out.result(
        {"out": str(out_dir), "files": [str(p) for p in written], "annotations": len(notes)},
        human=f"wrote {len(written) - 1} dashboards and {len(notes)} deployment annotations to {out_dir}",
        ids=[str(p) for p in written],
    )


def _listen(text: str) -> tuple[str, int]:
    from coursectl.errors import UsageError

    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen: expected HOST:PORT, got {text!r}")
    return host, int(port)


@app.command("receive")
def receive(
    ctx: typer.Context,
    listen: Annotated[
        str | None,
        typer.Option("--listen", help="HOST:PORT on loopback (default 127.0.0.1:<sandbox.receiver_port>)."),
    ] = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Run the Alertmanager webhook receiver (POST /alertmanager → notifications through notifications.routes)
    and the ledger exporter (GET /metrics) until interrupted (SIGTERM or Ctrl-C)."""
    from coursectl.api.observability import handle_alerts, ledger_metrics
    from coursectl.wiring import alert_receiver

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    host, port = _listen(listen or f"127.0.0.1:{loaded.config.sandbox.receiver_port}")
    service = state.notifications()
    ledger = state.ledger()
    dashboard_url = loaded.config.observability.dashboard_url
    server = alert_receiver(
        host, port,
        on_alerts=lambda body: handle_alerts(service, body, dashboard_url=dashboard_url),
        metrics=lambda: ledger_metrics(ledger),
    )  # fmt: skip

    def stop(_signum: int, _frame: Any) -> None:
        import threading

        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    out.progress(
        f"receiving Alertmanager webhooks on http://{host}:{server.port}/alertmanager, ledger metrics on /metrics"
    )
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    out.result({"listen": f"{host}:{server.port}", "stopped": True}, human="receiver stopped")


@app.command("textfile")
def textfile(
    ctx: typer.Context,
    path: Annotated[Path, typer.Option("--out", help="The .prom file (node exporter's textfile collector).")],
    output: OutputOption = None,
) -> None:
    """Write the ledger's backup, deploy-lock and deployment metrics for node exporter's textfile collector
    (atomically; run it from cron or a systemd timer where the receiver does not run)."""
    import os

    from coursectl.api.observability import ledger_metrics

    state = state_of(ctx)
    out = state.out(output)
    text = ledger_metrics(state.ledger())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    out.result({"out": str(path), "bytes": len(text)}, human=f"wrote {path}", ids=[str(path)])
