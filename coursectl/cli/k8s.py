"""`coursectl k8s render`: the manifests of a kubernetes environment, to stdout or one file per object."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, OutputOption

app = typer.Typer(help="The kubernetes target: manifests coursectl owns.", no_args_is_help=True)


@app.command("render")
def render(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Only these services.", show_default=False)] = None,
    env: EnvOption = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", metavar="DIR", help="Write one <kind>-<name>.yaml per object here.")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Version to render (default: each service's last push).")
    ] = None,
    digest: Annotated[str | None, typer.Option("--digest", help="Image digest of that version.")] = None,
    output: OutputOption = None,
) -> None:
    """Render every object coursectl owns in a kubernetes environment (Deployments and ConfigMaps per slot,
    Services, autoscalers, disruption budgets, NetworkPolicies, canary Ingresses, the deployer's RBAC).

    Offline: nothing is read from or sent to a cluster. Without --out the YAML goes to stdout.
    """
    from coursectl.api import kubernetes as kapi
    from coursectl.render import kubernetes as km

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    _ = loaded.environment
    result = kapi.render_environment(
        loaded, state.ledger(), services=services or (), version=version, digest=digest
    )
    for note in result.notes:
        out.warn(note)
    files: list[str] = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for obj in result.objects:
            path = out_dir / km.file_name(obj)
            path.write_text(km.to_yaml([obj]), encoding="utf-8")
            files.append(str(path))
    data = {**result.to_dict(), "files": files}
    ids = files or [f"{o['kind']}/{o['metadata']['name']}" for o in result.objects]
    text = f"wrote {len(files)} manifests to {out_dir}\n" if out_dir is not None else km.to_yaml(result.objects)

    def human(_console: object) -> None:
        sys.stdout.write(text)  # verbatim: YAML must not be wrapped or styled

    out.result(data, human=human, ids=ids)
