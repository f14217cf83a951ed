"""Find every coursectl call in Groovy (a Jenkinsfile, a shared library): the command lines, with Groovy string
interpolations replaced by ``PLACEHOLDER`` so that ``coursectl.cli.spec.check`` can judge each one."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from coursectl.cli.spec import PLACEHOLDER

_LITERAL = r'("""(?:\\.|[^\\])*?"""|\'\'\'(?:\\.|[^\\])*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')'
_CONCAT = re.compile(r"\s*\+\s*" + _LITERAL, re.S)
_STEP = re.compile(r"(?<![\w.])coursectl\s*\(?\s*" + _LITERAL, re.S)
_ANY_LITERAL = re.compile(_LITERAL, re.S)


@dataclass(frozen=True)
class Call:
    """One coursectl command line found in a Groovy file."""

    file: str
    line: int
    source: str  # the Groovy text of the string (interpolations as written)
    argv: tuple[str, ...]  # the words after "coursectl", interpolations as PLACEHOLDER


def _unquote(literal: str) -> str:
    for quote in ('"""', "'''", '"', "'"):
        if literal.startswith(quote) and literal.endswith(quote) and len(literal) >= 2 * len(quote):
            return literal[len(quote) : -len(quote)]
    return literal


def _interpolations(text: str) -> str:
    """``${...}`` (nested braces) and ``$name.path`` → PLACEHOLDER."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            out.append(PLACEHOLDER)
            i = j
            continue
        m = re.match(r"\$[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*", text[i:])
        if m:
            out.append(PLACEHOLDER)
            i += m.end()
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def strip_comments(source: str) -> str:
    """Groovy without its comments (string literals kept, so ``//`` in a URL survives); lines stay in place."""
    out, i = [], 0
    while i < len(source):
        m = _ANY_LITERAL.match(source, i)
        if m:
            out.append(m.group(0))
            i = m.end()
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = len(source) if end == -1 else end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            chunk = source[i : (len(source) if end == -1 else end + 2)]
            out.append("\n" * chunk.count("\n"))
            i += len(chunk)
        else:
            out.append(source[i])
            i += 1
    return "".join(out)


def _words(text: str) -> tuple[str, ...]:
    return tuple(shlex.split(_interpolations(text)))


def calls_in(path: Path, root: Path) -> list[Call]:
    """Every coursectl call of one file: the ``coursectl`` step with a string (concatenated literals joined),
    and any string literal that is a shell line starting with ``coursectl ``."""
    source = strip_comments(path.read_text(encoding="utf-8"))
    name = str(path.relative_to(root))
    found: list[Call] = []
    taken: set[int] = set()
    for m in _STEP.finditer(source):
        text, end = _unquote(m.group(1)), m.end()
        while True:
            more = _CONCAT.match(source, end)
            if not more:
                break
            text += _unquote(more.group(1))
            end = more.end()
        taken.add(m.start(1))
        found.append(Call(name, source.count("\n", 0, m.start()) + 1, text, _words(text)))
    for m in _ANY_LITERAL.finditer(source):
        text = _unquote(m.group(0)).lstrip()
        if m.start() in taken or not re.match(r"coursectl\s", text):
            continue
        found.append(Call(name, source.count("\n", 0, m.start()) + 1, text, _words(text)[1:]))
    return sorted(found, key=lambda c: (c.file, c.line))


def calls_under(folder: Path) -> list[Call]:
    """Every coursectl call in the Groovy files and Jenkinsfiles under ``folder`` (node_modules excluded)."""
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not {"node_modules", "test"} & set(p.parts)
        and (p.suffix == ".groovy" or p.name == "Jenkinsfile")
    ]
    return [c for p in files for c in calls_in(p, folder)]
