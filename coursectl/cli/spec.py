"""`coursectl cli-spec`: the command line as data (commands, options, arguments, choices), and the checker that
tells whether an argv is a valid coursectl call — so pipelines cannot drift from the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import OutputOption

PLACEHOLDER = "@P@"
"""Stands for a value not known until run time (a Groovy interpolation): valid wherever a value is."""


def _param(p: Any) -> dict[str, Any]:
    described = getattr(p, "type_descriptor", None)  # Typer's own core (>= 0.26); click's types before it
    kind = getattr(described, "annotation", None) if described is not None else getattr(p, "type", None)
    choices = getattr(described, "choices", None) if described is not None else getattr(kind, "choices", None)
    case_sensitive = getattr(described if described is not None else kind, "case_sensitive", True)
    out: dict[str, Any] = {
        "name": p.name,
        "required": bool(p.required),
        "nargs": p.nargs,
        "choices": [str(getattr(c, "value", c)) for c in choices] if choices else None,
        "case_sensitive": bool(case_sensitive if case_sensitive is not None else True),
        "type": getattr(kind, "__name__", None) or getattr(kind, "name", None) or str(kind),
    }
    if p.param_type_name == "option":
        out.update(
            names=list(p.opts),
            negations=list(p.secondary_opts),
            flag=bool(getattr(p, "is_flag", False) or getattr(p, "count", False)),
            multiple=bool(p.multiple),
            help=(p.help or "").strip(),
        )
    return out


def describe(command: Any, path: Sequence[str] = ()) -> dict[str, Any]:
    """A click-style command (``typer.main.get_command(app)``) as data, recursively."""
    options = [_param(p) for p in command.params if p.param_type_name == "option"]
    options.append(
        {
            "name": "help",
            "names": ["-h", "--help"],
            "negations": [],
            "flag": True,
            "multiple": False,
            "required": False,
            "nargs": 1,
            "choices": None,
            "case_sensitive": True,
            "type": "boolean",
            "help": "Show the help and exit.",
        }
    )
    node: dict[str, Any] = {
        "path": list(path),
        "help": ((command.help or "").strip().splitlines() or [""])[0],
        "options": options,
        "arguments": [_param(p) for p in command.params if p.param_type_name == "argument"],
    }
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        node["commands"] = [describe(sub, [*path, name]) for name, sub in sorted(subcommands.items())]
    return node


def spec_of_app() -> dict[str, Any]:
    """The whole CLI as data: ``{"program", "version", "global_after_command", "root": {...}}``."""
    from coursectl import __version__
    from coursectl.cli import _GLOBAL_FLAGS, _GLOBAL_WITH_VALUE, build_app

    root = describe(typer.main.get_command(build_app()))
    return {
        "program": "coursectl",
        "version": __version__,
        "global_after_command": {"with_value": list(_GLOBAL_WITH_VALUE), "flags": list(_GLOBAL_FLAGS)},
        "root": root,
    }


def _hoist(spec: dict[str, Any], argv: Sequence[str]) -> list[str]:
    with_value = spec["global_after_command"]["with_value"]
    flags = spec["global_after_command"]["flags"]
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in with_value and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 2
            continue
        (front if arg.startswith("--config=") or arg in flags else rest).append(arg)
        i += 1
    return front + rest


def _option(node: dict[str, Any], token: str) -> dict[str, Any] | None:
    for opt in node["options"]:
        if token in opt["names"] or token in opt["negations"]:
            found: dict[str, Any] = opt
            return found
    return None


def check(spec: dict[str, Any], argv: Sequence[str]) -> list[str]:
    """The problems of ``argv`` (the words after ``coursectl``) against ``spec``; empty when it is valid.

    ``PLACEHOLDER`` (alone or inside a word) stands for a run-time value; alone as a positional it may stand for
    several words (a list of services)."""
    problems: list[str] = []
    tokens = _hoist(spec, list(argv))
    node = spec["root"]
    where = "coursectl"
    i = 0
    positionals: list[str] = []
    seen: set[str] = set()
    only_positionals = False
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--" and not only_positionals:
            only_positionals = True
            continue
        if token.startswith("-") and token != "-" and not only_positionals:
            name, has_inline, inline = token.partition("=")
            if PLACEHOLDER in name:
                problems.append(f"{where}: an option name cannot be a run-time value ({token})")
                continue
            opt = _option(node, name)
            if opt is None:
                problems.append(f"{where}: no such option {name}")
                continue
            seen.add(opt["name"])
            if opt["flag"]:
                if has_inline:
                    problems.append(f"{where}: {name} takes no value")
                continue
            if has_inline:
                value = inline
            elif i < len(tokens):
                value = tokens[i]
                i += 1
            else:
                problems.append(f"{where}: {name} needs a value")
                continue
            problems += _choice(where, name, value, opt)
            continue
        if "commands" in node and not positionals:
            sub = next((c for c in node["commands"] if c["path"][-1] == token), None)
            if sub is None:
                names = ", ".join(c["path"][-1] for c in node["commands"])
                problems.append(f"{where}: no such command {token!r} (commands: {names})")
                return problems
            node, where, seen = sub, f"coursectl {' '.join(sub['path'])}", set()
            continue
        positionals.append(token)
    if "commands" in node:
        problems.append(f"{where}: a command is missing")
        return problems
    problems += _positionals(where, node, positionals)
    for opt in node["options"]:
        if opt["required"] and opt["name"] not in seen:
            problems.append(f"{where}: {opt['names'][-1]} is required")
    return problems


def _choice(where: str, name: str, value: str, opt: dict[str, Any]) -> list[str]:
    choices = opt.get("choices")
    if not choices or PLACEHOLDER in value:
        return []
    fold = (lambda s: s) if opt.get("case_sensitive", True) else str.lower
    if fold(value) not in {fold(c) for c in choices}:
        return [f"{where}: {name} {value!r} is not one of {', '.join(choices)}"]
    return []


def _positionals(where: str, node: dict[str, Any], words: list[str]) -> list[str]:
    problems: list[str] = []
    queue = list(words)
    for arg in node["arguments"]:
        if arg["nargs"] == -1:
            taken, queue = queue, []
            if arg["required"] and not taken:
                problems.append(f"{where}: {arg['name'].upper()} is required")
            for word in taken:
                problems += _choice(where, arg["name"].upper(), word, arg)
            continue
        if not queue:
            if arg["required"]:
                problems.append(f"{where}: {arg['name'].upper()} is required")
            continue
        word = queue.pop(0)
        problems += _choice(where, arg["name"].upper(), word, arg)
    extra = [w for w in queue if w != PLACEHOLDER] if node["arguments"] else queue
    if extra:
        problems.append(f"{where}: unexpected argument(s) {' '.join(extra)}")
    return problems


def register(app: typer.Typer) -> None:
    app.command("cli-spec")(cli_spec)


def cli_spec(ctx: typer.Context, output: OutputOption = None) -> None:
    """Print coursectl's command line as data: every command, option, argument and choice (use -o json)."""
    state = state_of(ctx)
    out = state.out(output)
    spec = spec_of_app()

    def lines(node: dict[str, Any]) -> list[str]:
        opts = " ".join(sorted(o["names"][-1] for o in node["options"] if o["name"] != "help"))
        args = " ".join(a["name"].upper() + ("..." if a["nargs"] == -1 else "") for a in node["arguments"])
        here = (
            [f"coursectl {' '.join(node['path'])} {args} {opts}".replace("  ", " ").strip()]
            if node["path"]
            else []
        )
        for sub in node.get("commands", []):
            here += lines(sub)
        return here

    out.result(spec, human="\n".join(lines(spec["root"])), ids=[" ".join(c) for c in _paths(spec["root"])])


def _paths(node: dict[str, Any]) -> list[list[str]]:
    subs = node.get("commands")
    if subs is None:
        return [node["path"]]
    return [p for sub in subs for p in _paths(sub)]
