"""The Typer application factory; the per-run context every command receives is coursectl/cli/_state.py's."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from coursectl import __version__
from coursectl.cli._output import Output, OutputMode
from coursectl.cli._state import AppState, LogFormatter, debug_enabled

__all__ = ["AppState", "LogFormatter", "confirm_or_fail", "create_app", "debug_enabled", "state_of"]


def state_of(ctx: typer.Context) -> AppState:
    """The AppState of the running command."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"coursectl {__version__}\n")
        raise typer.Exit(0)


def create_app(cls: type[typer.core.TyperGroup] | None = None) -> typer.Typer:
    """The root Typer app with the house settings and global options (``cls``: its click group's class)."""
    app = typer.Typer(
        cls=cls,
        name="coursectl",
        help="Release control plane for the course platform: build, scan, push, roll out, roll back, measure.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        config: Annotated[
            str | None,
            typer.Option(
                "--config",
                "-c",
                envvar="COURSECTL_CONFIG",
                metavar="PATH",
                help="Configuration file (default: coursectl.yaml here or in a parent folder).",
            ),
        ] = None,
        env: Annotated[
            str | None,
            typer.Option("--env", "-e", envvar="COURSECTL_ENV", help="Environment to act on."),
        ] = None,
        output: Annotated[
            OutputMode,
            typer.Option(
                "--output",
                "-o",
                envvar="COURSECTL_OUTPUT",
                case_sensitive=False,
                help="Default result format for the command: human, json or quiet.",
            ),
        ] = OutputMode.human,
        kubeconfig: Annotated[
            str | None,
            typer.Option(
                "--kubeconfig",
                envvar="COURSECTL_KUBECONFIG",
                metavar="PATH",
                help="Kubernetes environments: kubeconfig file (default: the environment's, KUBECONFIG, "
                "~/.kube/config, in-cluster).",
            ),
        ] = None,
        verbose: Annotated[
            int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")
        ] = 0,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
        version: Annotated[
            bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
        ] = False,
    ) -> None:
        state = state_of(ctx)
        state.apply_globals(
            config=config, env=env, kubeconfig=kubeconfig, output=output, verbose=verbose, quiet=quiet
        )
        ctx.call_on_close(state.close)

    return app


def confirm_or_fail(out: Output, question: str, *, yes: bool) -> None:
    """Ask ``question`` on a terminal; without one, ``--yes`` is required (exit 2)."""
    from coursectl.errors import UsageError

    if yes:
        return
    if not sys.stdin.isatty() or out.mode is not OutputMode.human:
        raise UsageError(f"{question} — confirmation needed", hint="pass --yes to confirm when not interactive")
    if not typer.confirm(question, default=False):
        raise UsageError("not confirmed")
