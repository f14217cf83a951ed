"""Find, read, overlay and validate coursectl.yaml, reporting every problem with file and key path."""

from __future__ import annotations

import difflib
import functools
import os
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coursectl.errors import ConfigError, ConfigProblem

DEFAULT_NAME = "coursectl.yaml"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration, where it came from, and the environment selected (if any)."""

    config: Any  # coursectl.config.models.Config (kept lazy for start-up time)
    path: Path
    env_name: str | None
    overlay_path: Path | None = None
    sources: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def root(self) -> Path:
        """The folder the configuration's relative paths are relative to."""
        return self.path.parent

    @property
    def environment(self) -> Any:
        """The selected EnvironmentConfig; ConfigError when none is selected."""
        if self.env_name is None:
            raise ConfigError(
                f"{self.path}: no environment selected",
                hint=f"pass --env with one of: {', '.join(self.config.environments)}",
            )
        return self.config.environments[self.env_name]


def find_config(explicit: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path:
    """The configuration file: ``explicit`` (``--config``/``COURSECTL_CONFIG``), else coursectl.yaml upward."""
    if explicit:
        path = Path(explicit).expanduser()
        if not os.path.lexists(path):
            raise ConfigError(
                [ConfigProblem(str(path), "", "configuration file not found")],
                hint="check --config / COURSECTL_CONFIG",
            )
        _must_be_file(path)
        return path.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        [ConfigProblem(DEFAULT_NAME, "", f"not found in {here} or any parent folder")],
        hint="run coursectl from the repository, or pass --config PATH",
    )


def _must_be_file(path: Path) -> None:
    """ConfigError when ``path`` exists (as a name) but is not a readable regular file: a directory, a symlink
    loop or a dangling symlink, a named pipe."""
    from coursectl.textfile import UnreadableText, check_regular

    try:
        check_regular(path)
    except UnreadableText as exc:
        raise ConfigError([ConfigProblem(str(path), "", exc.message)], hint="give a regular YAML file") from None


def overlay_exists(path: Path) -> bool:
    """Whether an overlay is there; one that exists but is not a regular file is a ConfigError, never skipped."""
    if not os.path.lexists(path):
        return False
    _must_be_file(path)
    return True


def overlay_path_for(path: Path, env_name: str) -> Path:
    """The per-environment overlay beside the main file: coursectl.yaml → coursectl.<env>.yaml."""
    return path.with_name(f"{path.stem}.{env_name}{path.suffix}")


def overlay_chain(path: Path, config: Any, env_name: str) -> list[Path]:
    """The overlay files of ``env_name`` that exist, most general first: those of the environments it
    ``extends`` (read from the main file, transitively), then its own.

    ``local-canary: {extends: local}`` → ``[coursectl.local.yaml, coursectl.local-canary.yaml]``.
    """
    names: list[str] = []
    name: str | None = env_name
    while name is not None and name not in names:  # the model refuses cycles; this loop never spins anyway
        names.append(name)
        env = config.environments.get(name)
        name = env.extends if env is not None else None
    return [f for f in (overlay_path_for(path, n) for n in reversed(names)) if overlay_exists(f)]


MAX_FILE_BYTES = 1024 * 1024
"""A configuration file (or overlay) larger than this is refused before it is read."""
MAX_DEPTH = 32
"""Mappings and lists nested deeper than this (aliases expanded) are refused."""
MAX_VALUES = 100_000
"""A document with more values than this once its aliases are expanded is refused (no "billion laughs")."""
MAX_PROBLEMS_SHOWN = 30
_SURROGATE = re.compile("[\ud800-\udfff]")


@functools.cache
def _yaml_loaders() -> tuple[type, Any]:
    """A safe YAML loader that refuses duplicate keys and documents nested or expanded beyond the limits; and
    a quick reader of the same rules on libyaml (None without it): text in, data out, any problem raised."""
    import yaml
    from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

    class Limited(yaml.MarkedYAMLError):  # type: ignore[misc]  # PyYAML ships no type information
        pass

    class UniqueKeys:
        """The constructor's half: a key twice in one mapping is an error (shared by both loaders)."""

        def construct_mapping(self, node: Node, deep: bool = False) -> dict[object, object]:
            if isinstance(node, MappingNode):
                seen: dict[object, Node] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, ScalarNode):
                        continue
                    key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
                    try:
                        first = seen.setdefault(key, key_node)
                    except TypeError:
                        continue
                    if first is not key_node:
                        raise Limited(
                            None,
                            None,
                            f"duplicate key {key!r} (first at line {first.start_mark.line + 1})",
                            key_node.start_mark,
                        )
            mapping: dict[object, object] = super().construct_mapping(node, deep=deep)  # type: ignore[misc]
            return mapping

    class Loader(UniqueKeys, yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type information
        _depth = 0

        def compose_node(self, parent: Node | None, index: object) -> Node:
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    mark = self.peek_event().start_mark
                    raise Limited(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def compose_document(self) -> Node:
            node = super().compose_document()
            if node is not None:
                _check_expansion(node)
            return node

    def _check_expansion(root: Node) -> None:
        sizes: dict[int, tuple[int, int]] = {}
        active: set[int] = set()

        def measure(node: Node) -> tuple[int, int]:
            known = sizes.get(id(node))
            if known is not None:
                return known
            if id(node) in active:
                raise Limited(
                    None,
                    None,
                    "an alias refers to the node that contains it (a recursive structure)",
                    node.start_mark,
                )
            active.add(id(node))
            if isinstance(node, ScalarNode) and _SURROGATE.search(node.value):
                what = "invalid Unicode: a lone surrogate (\\ud800-\\udfff escape)"
                raise Limited(None, None, what, node.start_mark)
            children: list[Node] = []
            if isinstance(node, SequenceNode):
                children = list(node.value)
            elif isinstance(node, MappingNode):
                children = [part for pair in node.value for part in pair]
            count, depth = 1, 1
            for child in children:
                c, d = measure(child)
                count += c
                depth = max(depth, d + 1)
                if count > MAX_VALUES or depth > MAX_DEPTH:
                    too_many = count > MAX_VALUES
                    what = f"more than {MAX_VALUES:,} values" if too_many else f"deeper than {MAX_DEPTH} levels"
                    raise Limited(None, None, f"expands to {what} (aliases included)", node.start_mark)
            active.discard(id(node))
            sizes[id(node)] = (count, depth)
            return count, depth

        measure(root)

    quick = None
    if getattr(yaml, "__with_libyaml__", False):

        class QuickLoader(UniqueKeys, yaml.CSafeLoader):  # type: ignore[misc]
            pass

        def quick(text: str) -> object:
            if _NON_PRINTABLE.search(text):  # left to the pure reader, which names the character and its place
                raise ValueError("a character YAML does not allow")
            loader = QuickLoader(text)
            try:
                node = loader.get_single_node()  # libyaml refuses nesting beyond 1,000 levels by itself
                if node is None:
                    return None
                _check_expansion(node)
                return loader.construct_document(node)
            finally:
                loader.dispose()

    return Loader, quick


_UNREAD = object()
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What PyYAML's reader refuses (yaml/reader.py): such a document is read by the pure loader, for its message."""


def _quick_read(quick: Any, text: str) -> Any:
    """``text`` read by libyaml under the same rules (about ten times quicker than the pure-Python loader), or
    _UNREAD when there is no libyaml or it finds any problem: then the pure loader reads it, as the reference
    that names the problem and its line."""
    if quick is None:
        return _UNREAD
    import yaml

    try:
        return quick(text)
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        return _UNREAD


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; every way it can be unreadable or invalid becomes a ConfigError naming the
    file (and line and column when known): too large, not UTF-8, binary, invalid YAML, duplicate keys, nested
    too deeply, aliases expanding too far."""
    import yaml

    from coursectl.textfile import UnreadableText, read_text

    try:
        text = read_text(path, limit=MAX_FILE_BYTES)
    except UnreadableText as exc:
        raise ConfigError([ConfigProblem(str(path), exc.where, exc.message)]) from None
    loader, quick = _yaml_loaders()
    try:
        data = _quick_read(quick, text)
        if data is _UNREAD:  # no libyaml, or the document has a problem: the pure loader says which, and where
            data = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(str(path), where, f"invalid YAML: {problem}")]) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an integer with more than 4,300 digits
        raise ConfigError([ConfigProblem(str(path), "", f"invalid value: {exc}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(str(path), "", f"expected a mapping at the top, got {type(data).__name__}")]
        )
    return data


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: mappings merge key by key, everything else (lists too) is replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _drop_union_tags(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` without the tags pydantic inserts for discriminated unions (``stores.disk.local.path`` →
    ``stores.disk.path``): a part that is not a key of the document there but is the mapping's ``type``."""
    kept: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping):
            if part in node:
                node = node[part]
            elif node.get("type") == part:
                continue
            else:
                node = None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
        kept.append(part)
    return tuple(kept)


def _has_path(data: Any, loc: tuple[Any, ...]) -> bool:
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


def _unwrap(node: Any) -> Any:
    """``node`` without Annotated and Optional wrappers (a union of several models is kept as it is)."""
    import types

    while True:
        origin = typing.get_origin(node)
        if origin is typing.Annotated:
            node = typing.get_args(node)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(node) if a is not type(None)]
            if len(args) != 1:
                return node
            node = args[0]
        else:
            return node


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at ``loc`` (for 'did you mean' hints on unknown keys)."""
    import types

    from pydantic import BaseModel

    from coursectl.config.models import Config

    node: Any = Config
    for part in loc:
        node = _unwrap(node)
        if typing.get_origin(node) in (typing.Union, types.UnionType):  # a discriminated union: part is the tag
            chosen = [
                m
                for m in typing.get_args(node)
                if isinstance(m, type)
                and issubclass(m, BaseModel)
                and "type" in m.model_fields
                and part in typing.get_args(m.model_fields["type"].annotation)
            ]
            if not chosen:
                return []
            node = chosen[0]
        elif isinstance(node, type) and issubclass(node, BaseModel):
            info = node.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return []
            node = info.annotation
        elif typing.get_origin(node) in (dict, list):
            node = typing.get_args(node)[-1]
        else:
            return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (a 50 MB string is not repeated in an error message)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _problem_text(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    given = err.get("input")
    got = "" if kind == "missing" else f", got {_short(given)}" if not isinstance(given, dict | list) else ""
    if kind == "extra_forbidden":
        allowed = _allowed_keys(tuple(err["loc"][:-1]))
        close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        suggestion = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key{suggestion}" + (f" (allowed: {', '.join(allowed)})" if allowed and not close else "")
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"type must be one of {ctx.get('expected_tags', '')}, got {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return "a 'type' key is needed"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected an integer{got}"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number{got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false{got}"
    if kind == "string_type":
        return f"expected a string{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping{got}"
    if kind == "list_type":
        return f"expected a list{got}"
    if kind == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", ""))
        return f"expected one of {expected}{got}"
    message = str(err.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = message.replace("Input should be", "expected a value")
        return f"{message}{got}"
    return message


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def validate_document(
    data: Mapping[str, Any],
    *,
    base_file: Path,
    overlay: Mapping[str, Any] | None = None,
    overlay_file: Path | None = None,
    layers: Sequence[tuple[Path, Mapping[str, Any]]] = (),
) -> Any:
    """The Config model for ``data``; ConfigError listing every problem, each blamed on the file that set it
    (the last of ``layers`` — overlay files, most general first — that has the key, else ``base_file``)."""
    from pydantic import ValidationError

    from coursectl.config.models import Config

    if overlay is not None and overlay_file is not None:
        layers = (*layers, (overlay_file, overlay))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            # pydantic appends a synthetic loc part for union members and function validators; drop them
            loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
            loc = _drop_union_tags(data, loc)
            blamed = next((f for f, doc in reversed(layers) if _has_path(doc, loc)), base_file)
            problems.append(ConfigProblem(str(blamed), _format_loc(loc), _problem_text(err)))
        raise ConfigError(
            problems, hint="fix the keys named above; `coursectl config schema` shows every key"
        ) from None


def load_config(
    explicit: str | os.PathLike[str] | None = None,
    env_name: str | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Find, read and validate the configuration; apply the selected environment's overlay file.

    Validation is complete before anything else happens: the base file, then (when an environment is
    selected, or for every environment that has an overlay file when none is) base + overlay.
    """
    env = os.environ if environ is None else environ
    path = find_config(explicit or env.get("COURSECTL_CONFIG"), cwd)
    base = read_yaml(path)
    config = validate_document(base, base_file=path)
    selected = env_name or env.get("COURSECTL_ENV") or config.default_environment
    problems: list[ConfigProblem] = []
    for name in config.environments:  # every overlay is checked, whichever environment is selected
        if name == selected:
            continue
        try:
            if overlay_exists(overlay_path_for(path, name)):
                _merge_overlays(base, path, overlay_chain(path, config, name))
        except ConfigError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        raise ConfigError(problems, hint="fix the keys named above; `coursectl config schema` shows every key")
    if selected is None:
        return LoadedConfig(config=config, path=path, env_name=None, sources=(path,))
    if selected not in config.environments:
        raise ConfigError(
            [ConfigProblem(str(path), "environments", f"no environment named {selected!r}")],
            hint=f"choose one of: {', '.join(config.environments)}",
        )
    chain = overlay_chain(path, config, selected)
    if not chain:
        return LoadedConfig(config=config, path=path, env_name=selected, sources=(path,))
    merged = _merge_overlays(base, path, chain)
    return LoadedConfig(
        config=merged, path=path, env_name=selected, overlay_path=chain[-1], sources=(path, *chain)
    )


def _merge_overlays(base: Mapping[str, Any], path: Path, chain: Sequence[Path]) -> Any:
    """``chain`` (overlay files, most general first) merged over ``base`` and validated."""
    layers = [(f, read_yaml(f)) for f in chain]
    merged: Mapping[str, Any] = base
    for _, doc in layers:
        merged = deep_merge(merged, doc)
    return validate_document(merged, base_file=path, layers=layers)
