"""``coursectl status`` without the parser: the command an on-call engineer or a pipeline runs most, answered
without importing Typer and building the command tree (about a sixth of its time).

Only a plain command line takes this path: the global options, ``status``, service names and the command's
own ``--env``/``--output``, each spelled as a whole word. Anything else — ``--help``, an unknown or attached
option, a value that looks like an option, an output mode that does not exist, ``--`` — returns None, and the
Typer command tree parses it as always (so every error message stays the parser's). tests/cli/test_fast_path.py
runs both paths on the same command lines and compares what they print and return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coursectl.cli._output import OutputMode
from coursectl.cli._state import AppState

_GLOBAL_VALUES = {
    "-c": "config",
    "--config": "config",
    "-e": "env",
    "--env": "env",
    "-o": "output",
    "--output": "output",
    "--kubeconfig": "kubeconfig",
}
_VERBOSE = {"-v": 1, "-vv": 2, "-vvv": 3, "--verbose": 1}
_QUIET = ("-q", "--quiet")
_COMMAND_VALUES = {"-e": "env", "--env": "env", "-o": "output", "--output": "output"}
_ENVVARS = {
    "config": "COURSECTL_CONFIG",
    "env": "COURSECTL_ENV",
    "output": "COURSECTL_OUTPUT",
    "kubeconfig": "COURSECTL_KUBECONFIG",
}


@dataclass(frozen=True)
class StatusCall:
    """A ``status`` command line, parsed as the Typer tree would parse it."""

    config: str | None = None
    env: str | None = None
    kubeconfig: str | None = None
    output: OutputMode = OutputMode.human
    verbose: int = 0
    quiet: bool = False
    command_env: str | None = None
    command_output: OutputMode | None = None
    services: list[str] = field(default_factory=list)

    def __call__(self, state: AppState) -> int:
        from coursectl.cli._rollout_common import show_status

        state.apply_globals(
            config=self.config,
            env=self.env,
            kubeconfig=self.kubeconfig,
            output=self.output,
            verbose=self.verbose,
            quiet=self.quiet,
        )
        show_status(state, self.services or None, env=self.command_env, output=self.command_output)
        return 0


def _mode(value: str) -> OutputMode | None:
    try:
        return OutputMode(value.lower())
    except ValueError:
        return None


def _take(args: Sequence[str], i: int, names: Mapping[str, str]) -> tuple[str, str, int] | None:
    """The option at ``args[i]`` when it is one of ``names`` with its value (``--env x`` or ``--env=x``), and
    where the next argument is; None for anything else."""
    arg = args[i]
    if arg in names:
        if i + 1 >= len(args) or args[i + 1].startswith("-"):
            return None
        return names[arg], args[i + 1], i + 2
    name, eq, value = arg.partition("=")
    if eq and name.startswith("--") and name in names:
        return names[name], value, i + 1
    return None


def parse_status(args: Sequence[str], environ: Mapping[str, str]) -> StatusCall | None:
    """The ``status`` command ``args`` (global options already in front) asks for, or None when the arguments
    are anything but a plain ``status`` command line."""
    given: dict[str, str] = {}
    verbose, quiet, i = 0, False, 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in _VERBOSE:
            verbose += _VERBOSE[args[i]]
            i += 1
        elif args[i] in _QUIET:
            quiet, i = True, i + 1
        elif (taken := _take(args, i, _GLOBAL_VALUES)) is not None:
            key, value, i = taken
            given[key] = value
        else:
            return None
    if i >= len(args) or args[i] != "status":
        return None
    values = {key: given.get(key, environ.get(var) or None) for key, var in _ENVVARS.items()}
    output = _mode(values["output"]) if values["output"] is not None else OutputMode.human
    if output is None:
        return None
    own: dict[str, str] = {}
    services: list[str] = []
    i += 1
    while i < len(args):
        if not args[i].startswith("-"):
            services.append(args[i])
            i += 1
        elif (taken := _take(args, i, _COMMAND_VALUES)) is not None:
            key, value, i = taken
            own[key] = value
        else:
            return None
    command_output = None
    if "output" in own:
        command_output = _mode(own["output"])
        if command_output is None:
            return None
    return StatusCall(
        config=values["config"],
        env=values["env"],
        kubeconfig=values["kubeconfig"],
        output=output,
        verbose=verbose,
        quiet=quiet,
        command_env=own.get("env"),
        command_output=command_output,
        services=services,
    )
