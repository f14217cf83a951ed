"""The root command group that imports a command's module only when that command is used.

``coursectl --help`` lists every command from coursectl/cli/_commands.py (name, module, help text) without
importing one of them; ``coursectl status`` imports coursectl/cli/status.py alone. tests/cli/test_cli_startup.py
keeps that table equal to what the modules register and the lazy help equal to the eager one.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from coursectl.cli._commands import COMMANDS


def load(name: str) -> Any:
    """The click command ``name`` as ``build_app`` would have it, built from its module alone."""
    module_name, attach, _ = COMMANDS[name]
    from coursectl.cli._app import create_app

    module = importlib.import_module(f"coursectl.cli.{module_name}")
    holder = create_app()  # the root's settings (plain help, -h), which the command inherits as in build_app
    if attach == "group":
        holder.add_typer(module.app, name=name)
    elif attach == "register":
        module.register(holder)
    else:
        holder.command(name)(getattr(module, attach))
    return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]


class LazyGroup(TyperGroup):
    """The root group: commands listed from the table, loaded on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """click's own listing, from the table's help texts instead of the loaded commands."""
        stubs = [(name, TyperCommand(name, help=help_text)) for name, (_, _, help_text) in COMMANDS.items()]
        if not stubs:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in stubs)
        rows = [(name, stub.get_short_help_str(limit)) for name, stub in stubs]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def command_table(app: typer.Typer) -> dict[str, tuple[str, str, str]]:
    """``COMMANDS`` as the eager tree ``app`` (``build_app()``) has them, in its help order."""
    import sys

    where: dict[str, tuple[str, str]] = {}
    for info in app.registered_groups:
        owner = next(
            name
            for name, module in sorted(sys.modules.items())
            if name.startswith("coursectl.cli.") and getattr(module, "app", None) is info.typer_instance
        )
        where[str(info.name)] = (owner, "group")
    for command in app.registered_commands:
        callback = command.callback
        assert callback is not None
        name = command.name or callback.__name__.replace("_", "-")
        module = sys.modules[callback.__module__]
        where[name] = (callback.__module__, "register" if hasattr(module, "register") else callback.__name__)
    group = typer.main.get_command(app)
    table = {}
    for name in group.list_commands(typer.Context(group)):  # type: ignore[attr-defined]
        help_text = (group.commands[name].help or "").split("\n\n")[0]  # type: ignore[attr-defined]
        module_name, attach = where[name]
        table[name] = (module_name.removeprefix("coursectl.cli."), attach, help_text)
    return table


def render_table(table: dict[str, tuple[str, str, str]]) -> str:
    """The text of coursectl/cli/_commands.py for ``table`` (then formatted by ``ruff format`` when it is here)."""
    import json

    head = '''"""Every command of coursectl: its module in coursectl/cli, how the module attaches it, its help.

Data for the lazy root group (coursectl/cli/_lazy.py), which lists the commands from here without importing
them. Generated from the commands themselves: tests/cli/test_cli_startup.py fails when a command or its help
changes; regenerate with ``python -m coursectl.cli._lazy``.
"""

from __future__ import annotations

# name -> (module, "group" (its app) | "register" (its register(app)) | a function's name, first help paragraph)
COMMANDS: dict[str, tuple[str, str, str]] = {
'''

    def literal(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a valid Python literal for printable text, double-quoted

    rows = []
    for name, (module, attach, text) in table.items():
        rows.append(f"    {literal(name)}: (\n        {literal(module)},\n        {literal(attach)},\n")
        words, chunk, parts = text.split(" "), "", []
        for word in words:
            piece = word if not chunk else f"{chunk} {word}"
            if len(literal(piece)) > 100 and chunk:
                parts.append(chunk + " ")
                chunk = word
            else:
                chunk = piece
        parts.append(chunk)
        rows.append(
            "".join(f"        {literal(part)}\n" for part in parts[:-1]) + f"        {literal(parts[-1])},\n    ),"
        )
    return head + "\n".join(rows) + "\n}\n"


if __name__ == "__main__":  # python -m coursectl.cli._lazy: rewrite coursectl/cli/_commands.py
    from pathlib import Path

    from coursectl.cli import build_app

    target = Path(__file__).with_name("_commands.py")
    target.write_text(render_table(command_table(build_app())), encoding="utf-8")
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "ruff", "format", "--line-length", "115", str(target)], check=False)
    print(f"wrote {target}")
