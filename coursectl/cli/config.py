"""`coursectl config validate|show|schema`: check and print the release configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, OutputOption

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="Check and print the release configuration.", no_args_is_help=True)


@app.command("validate")
def validate(ctx: typer.Context, env: EnvOption = None, output: OutputOption = None) -> None:
    """Validate the configuration (and every environment overlay); exit 3 listing every problem."""
    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    cfg = loaded.config
    data: dict[str, Any] = {
        "valid": True,
        "files": [str(p) for p in loaded.sources],
        "environment": loaded.env_name,
        "services": sorted(cfg.services),
        "environments": sorted(cfg.environments),
    }
    files = " + ".join(str(p) for p in loaded.sources)
    out.result(
        data,
        human=f"ok: {files} — {len(cfg.services)} services, environments: {', '.join(cfg.environments)}"
        + (f" (selected: {loaded.env_name})" if loaded.env_name else ""),
        ids=[str(p) for p in loaded.sources],
    )


@app.command("show")
def show(ctx: typer.Context, env: EnvOption = None, output: OutputOption = None) -> None:
    """Print the resolved configuration (with the environment's overlay); secrets show as ***."""
    from coursectl.config.redact import redacted

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    data = {
        "file": str(loaded.path),
        "overlay": str(loaded.overlay_path) if loaded.overlay_path else None,
        "environment": loaded.env_name,
        "config": redacted(loaded.config, secrets_file=state.state_dir() / "secrets.env"),
    }

    def human(console: Console) -> None:
        import yaml

        console.print(f"# {data['file']}" + (f" + {data['overlay']}" if data["overlay"] else ""), markup=False)
        console.print(yaml.safe_dump(data["config"], sort_keys=False).rstrip(), markup=False)

    out.result(data, human=human, ids=[str(loaded.path)])


@app.command("schema")
def schema(ctx: typer.Context, output: OutputOption = None) -> None:
    """Print the JSON Schema of coursectl.yaml (always JSON)."""
    from coursectl.cli._output import dumps
    from coursectl.config.models import Config

    out = state_of(ctx).out(output)
    document = Config.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "coursectl.yaml"
    out.result(document, human=lambda console: console.out(dumps(document)), ids=["coursectl.yaml"])
