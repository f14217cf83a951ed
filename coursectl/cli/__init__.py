"""The coursectl command line: one module per noun, assembled here; ``main`` maps errors to exit codes.

``main`` loads a command's module only when that command runs (coursectl/cli/_lazy.py; the help line of each
command is kept in coursectl/cli/_commands.py), so ``--version`` imports nothing of the CLI and ``--help``
none of the commands; ``build_app`` assembles the whole tree at once (``cli-spec``, tests).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from coursectl.cli._output import Output, OutputMode
    from coursectl.cli._state import AppState


def build_app() -> typer.Typer:
    """The full command tree."""
    from coursectl.cli import backup as backup_cmd
    from coursectl.cli import build as build_cmd
    from coursectl.cli import config as config_cmd
    from coursectl.cli import deploy as deploy_cmd
    from coursectl.cli import history as history_cmd
    from coursectl.cli import journey as journey_cmd
    from coursectl.cli import k8s as k8s_cmd
    from coursectl.cli import ledger as ledger_cmd
    from coursectl.cli import loadtest as loadtest_cmd
    from coursectl.cli import lock as lock_cmd
    from coursectl.cli import logs as logs_cmd
    from coursectl.cli import metrics as metrics_cmd
    from coursectl.cli import notify as notify_cmd
    from coursectl.cli import observability as observability_cmd
    from coursectl.cli import quality_gate as quality_gate_cmd
    from coursectl.cli import release as release_cmd
    from coursectl.cli import rollout as rollout_cmd
    from coursectl.cli import sandbox as sandbox_cmd
    from coursectl.cli import sbom as sbom_cmd
    from coursectl.cli import scan as scan_cmd
    from coursectl.cli import spec as spec_cmd
    from coursectl.cli import status as status_cmd
    from coursectl.cli import testsuite as testsuite_cmd
    from coursectl.cli._app import create_app

    app = create_app()
    app.add_typer(config_cmd.app, name="config")
    app.add_typer(sandbox_cmd.app, name="sandbox")
    app.add_typer(lock_cmd.app, name="lock")
    app.add_typer(metrics_cmd.app, name="metrics")
    app.add_typer(ledger_cmd.app, name="ledger")
    app.add_typer(rollout_cmd.app, name="rollout")
    app.add_typer(notify_cmd.app, name="notify")
    app.add_typer(sbom_cmd.app, name="sbom")
    app.add_typer(backup_cmd.app, name="backup")
    app.add_typer(k8s_cmd.app, name="k8s")
    app.add_typer(observability_cmd.app, name="observability")
    history_cmd.register(app)
    app.command("logs")(logs_cmd.logs)
    build_cmd.register(app)
    scan_cmd.register(app)
    quality_gate_cmd.register(app)
    deploy_cmd.register(app)
    status_cmd.register(app)
    release_cmd.register(app)
    journey_cmd.register(app)
    loadtest_cmd.register(app)
    testsuite_cmd.register(app)
    spec_cmd.register(app)
    return app


def lazy_command() -> Any:
    """The root command as ``main`` runs it: the global options, and each command loaded when it is used."""
    import typer

    from coursectl.cli._app import create_app
    from coursectl.cli._lazy import LazyGroup

    return typer.main.get_command(create_app(cls=LazyGroup))


def _mode_from_argv(argv: Sequence[str]) -> OutputMode:
    """The output mode asked for, read before parsing so that parse errors honour ``-o json`` too."""
    import os

    from coursectl.cli._output import OutputMode

    mode = os.environ.get("COURSECTL_OUTPUT", "human")
    for i, arg in enumerate(argv):
        if arg in ("-o", "--output") and i + 1 < len(argv):
            mode = argv[i + 1]
        elif arg.startswith("--output="):
            mode = arg.split("=", 1)[1]
        elif arg.startswith("-o") and len(arg) > 2:
            mode = arg[2:]
    try:
        return OutputMode(mode.lower())
    except ValueError:
        return OutputMode.human


_GLOBAL_WITH_VALUE = ("-c", "--config", "--kubeconfig")
_GLOBAL_FLAGS = ("-v", "-vv", "-vvv", "--verbose", "-q", "--quiet")


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move global-only options given after the command (``coursectl config show -c x.yaml``) to the front."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in _GLOBAL_WITH_VALUE and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 2
            continue
        if arg.startswith(("--config=", "--kubeconfig=")) or arg in _GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code of the STYLE table instead of raising."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # the quickest answer: no parser, no command module
        from coursectl import __version__

        sys.stdout.write(f"coursectl {__version__}\n")
        return 0
    import os

    from coursectl.cli._fast import parse_status

    fast = parse_status(hoist_global_options(args), os.environ)  # a plain `status`: no parser (cli/_fast.py)
    if fast is not None:
        return guarded(args, fast)
    return run(lazy_command(), args)


def _not_utf8(argv: Sequence[str]) -> str | None:
    """The first argument (or COURSECTL_* variable) that is not valid UTF-8, shown as bytes; None when all are."""
    import os

    named = [(f"argument {i}", arg) for i, arg in enumerate(argv, start=1)]
    named += [(name, value) for name, value in os.environ.items() if name.startswith("COURSECTL_")]
    for what, value in named:
        if any("\udc80" <= ch <= "\udcff" for ch in value):
            raw = value.encode("utf-8", "surrogateescape")
            return f"{what} is not valid UTF-8 text: {raw!r}"
    return None


def _record_interrupt(state: AppState, argv: Sequence[str], started: datetime) -> str | None:
    """Write an ``interrupted`` event (the command, the process) unless the command already recorded one.

    Returns why it could not be recorded, or None. Only an existing ledger is written to.
    """
    import os

    from coursectl.config.redact import redact_text
    from coursectl.domain import LedgerEvent, current_actor
    from coursectl.errors import CoursectlError
    from coursectl.ledger import open_ledger

    try:
        state_dir = state.state_dir()
        if not (state_dir / "ledger.db").is_file():
            return None
        with open_ledger(state_dir) as ledger:  # its own connection: the command's may be mid-transaction
            actor = current_actor()
            already = ledger.events(kinds=["interrupted"], since=started, limit=20)
            if any(e.actor == actor and e.details.get("pid", os.getpid()) == os.getpid() for e in already):
                return None
            command = redact_text(" ".join(["coursectl", *argv]))[:500]
            ledger.record(
                LedgerEvent(
                    kind="interrupted",
                    actor=actor,
                    environment=state.env_name,
                    outcome="interrupted",
                    details={"command": command, "pid": os.getpid()},
                )
            )
        return None
    except CoursectlError as exc:
        return exc.message


def run(app: typer.Typer | Any, argv: Sequence[str]) -> int:
    """Run ``app`` (a Typer app, or the command built from one with ``typer.main.get_command``, to run many
    times) with ``argv``, mapping every error to its exit code and a message without a traceback."""
    import typer

    from coursectl.cli._output import OutputMode
    from coursectl.errors import Interrupted

    args = hoist_global_options(argv)
    command = typer.main.get_command(app) if isinstance(app, typer.Typer) else app

    def parse_and_run(state: AppState) -> int:
        try:
            rv = command.main(args=args, prog_name="coursectl", standalone_mode=False, obj=state)
        except typer.Exit as exc:
            return int(getattr(exc, "exit_code", 0) or 0)
        except typer.Abort:
            raise KeyboardInterrupt from None
        except typer.TyperException as exc:  # usage errors from the parser: bad flags, missing arguments
            mode = _mode_from_argv(args)
            if mode is OutputMode.json:
                from coursectl.cli._output import Output

                Output(mode).error({"type": "usage", "message": str(exc), "exit_code": 2}, str(exc), None)
            else:  # the parser's own text (usage line, message) — it may quote a hostile argument: printable only
                import io

                from coursectl.render.printable import printable_text

                shown = io.StringIO()
                exc.show(file=shown)  # type: ignore[attr-defined]
                sys.stderr.write(printable_text(shown.getvalue()))
                sys.stderr.flush()
            return int(getattr(exc, "exit_code", 2))
        if rv == Interrupted.exit_code:  # the parser turns Ctrl-C into a bare 130
            raise KeyboardInterrupt
        return rv if isinstance(rv, int) else 0

    return guarded(argv, parse_and_run)


def guarded(argv: Sequence[str], command: Callable[[AppState], int]) -> int:
    """Run ``command`` on a fresh AppState for the command line ``argv``: every error becomes its exit code and
    a message (JSON with ``-o json``) without a traceback; Ctrl-C is recorded in the ledger (exit 130)."""
    from datetime import UTC

    from coursectl.cli._output import Output
    from coursectl.cli._state import AppState, debug_enabled
    from coursectl.errors import CoursectlError, Interrupted, UsageError

    args = hoist_global_options(argv)
    out = Output(_mode_from_argv(args))
    state = AppState()
    started = datetime.now(UTC)
    try:
        bad = _not_utf8(args)
        if bad:
            raise UsageError(bad, hint="names and values must be UTF-8 text")
        return command(state)
    except CoursectlError as exc:
        if debug_enabled():
            import traceback

            traceback.print_exc()
        out = _sink(state, out)
        out.error(exc.to_dict(), exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        problem = _record_interrupt(state, args, started)
        err = Interrupted(
            "interrupted" + (f" (could not be recorded in the ledger: {problem})" if problem else ""),
            hint="coursectl history shows what was done; coursectl rollout status shows a rollout left behind",
        )
        out = _sink(state, out)
        out.error(err.to_dict(), err.message, err.hint)
        return err.exit_code
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so, without a traceback unless asked
        if debug_enabled():
            import traceback

            traceback.print_exc()
        message = f"internal error (a bug): {type(exc).__name__}: {exc}"
        out = _sink(state, out)
        out.error(
            {"type": "internal", "message": message, "exit_code": 1},
            message,
            "run again with COURSECTL_DEBUG=1 for the traceback, and report it",
        )
        return 1
    finally:
        state.close()


def _sink(state: AppState, fallback: Output) -> Output:
    """The command's own output sink when it chose one (its ``-o`` decides how the error is printed)."""
    return state.out() if state._outputs else fallback
