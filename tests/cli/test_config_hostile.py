"""Hostile configuration files: every one is refused with exit 3 naming the file (and the key or line), never
accepted, never a traceback (exit 1), never slow."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from coursectl.config.loader import MAX_FILE_BYTES
from tests.conftest import MINIMAL_CONFIG

Cli = Callable[..., tuple[int, str, str]]
LOCAL = "local: {target: docker, strategy: blue-green}"


def _validate(cli: Cli, path: Path, *extra: str) -> tuple[int, str]:
    code, out, err = cli("config", "validate", "-c", str(path), *extra)
    assert "Traceback" not in err and "internal error" not in err
    return code, out + err


def _with_local(extra: str) -> str:
    """MINIMAL_CONFIG with ``extra`` added to the local environment's mapping."""
    return MINIMAL_CONFIG.replace(LOCAL, LOCAL[:-1] + ", " + extra + "}")


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("invalid UTF-8", MINIMAL_CONFIG.encode() + b"# caf\xe9\n", "line 14, column 6: is not valid UTF-8 (byte 0xe9)"),
        ("UTF-16 with BOM", MINIMAL_CONFIG.encode("utf-16"), "is encoded as UTF-16"),
        ("UTF-32 with BOM", MINIMAL_CONFIG.encode("utf-32"), "is encoded as UTF-32"),
        ("binary", bytes(range(256)) * 4, "contains NUL bytes"),
        ("20,000 nested [", b"project: [" + b"[" * 20_000, "nested deeper than 32 levels"),
        ("20,000 nested {", b"project: " + b"{a: " * 20_000, "nested deeper than 32 levels"),
        ("a control character", MINIMAL_CONFIG.replace("demo", "de\x1bmo").encode(), "invalid YAML"),
        ("duplicate key", (MINIMAL_CONFIG + "project: other\n").encode(), "duplicate key 'project' (first at line 1)"),
        ("duplicate nested key", MINIMAL_CONFIG.replace("port: 8001}", "port: 8001, port: 8003}").encode(),
         "duplicate key 'port'"),
        ("a billion laughs",
         b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
         b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
         "expands to more than 100,000 values"),
        ("a recursive alias", b"project: &p [*p]\n", "an alias refers to the node that contains it"),
        ("an integer of 5,000 digits", (MINIMAL_CONFIG + "build: {parallel: " + "9" * 5000 + "}\n").encode(),
         "invalid value"),
        ("a list at the top", b"- a\n- b\n", "expected a mapping at the top"),
        ("a lone surrogate", MINIMAL_CONFIG.replace("project: demo", 'project: "de\\udcffmo"').encode(),
         "invalid Unicode: a lone surrogate"),
    ],
)
def test_unreadable_or_malformed_files_exit_3_naming_the_file(
    cli: Cli, tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    path = tmp_path / "coursectl.yaml"
    path.write_bytes(data)
    started = time.monotonic()
    code, text = _validate(cli, path)
    assert code == 3, (name, text)
    assert f"{path}: " in text and expected in text, (name, text)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("name", "config", "key", "expected"),
    [
        ("true as a port", MINIMAL_CONFIG.replace("port: 8001", "port: true"), "services.user.port",
         "expected an integer, got True"),
        ("a quoted port", MINIMAL_CONFIG.replace("port: 8001", 'port: "8001"'), "services.user.port",
         "expected an integer"),
        ("an infinite interval", MINIMAL_CONFIG + "analysis: {interval: .inf}\n", "analysis.interval",
         "at most ten years"),
        ("a NaN delay", _with_local("scale_down_delay: .nan"), "environments.local.scale_down_delay", "got NaN"),
        ("a 10^23-day interval", MINIMAL_CONFIG + "analysis: {interval: 100000000000000000000000d}\n",
         "analysis.interval", "at most ten years"),
        ("a 1e400 s timeout", MINIMAL_CONFIG + "build: {timeout: 1.0e+400}\n", "build.timeout", "at most ten years"),
        ("a zero interval", MINIMAL_CONFIG + "analysis: {interval: 0s}\n", "analysis.interval", "greater than 0"),
        ("a NaN threshold", MINIMAL_CONFIG + "analysis: {metrics: [{name: error-rate, max: .nan}]}\n",
         "analysis.metrics[0].max", "finite"),
        ("an infinite ratio", MINIMAL_CONFIG + "analysis: {max_ratio_to_stable: .inf}\n",
         "analysis.max_ratio_to_stable", "finite"),
        ("port 99999", _with_local("edge: {bind: '0.0.0.0:99999'}"), "environments.local.edge.bind",
         "the port must be a number from 1 to 65535, got '99999'"),
        ("port 0", _with_local("edge: {bind: '127.0.0.1:0'}"), "environments.local.edge.bind",
         "from 1 to 65535, got '0'"),
        ("no port", _with_local("edge: {bind: '127.0.0.1'}"), "environments.local.edge.bind", "expected host:port"),
        ("a bad host", _with_local("edge: {stats_bind: 'local host:8404'}"), "environments.local.edge.stats_bind",
         "is not a host name or IP address"),
        ("an IPv6 without brackets", _with_local("edge: {bind: '::1:8080'}"), "environments.local.edge.bind",
         "an IPv6 address goes in brackets"),
        ("bind and stats on one port", _with_local("edge: {bind: '127.0.0.1:8080', stats_bind: '127.0.0.2:8080'}"),
         "environments.local.edge", "use the same port"),
        ("a slot on the edge's port", _with_local("edge: {bind: '127.0.0.1:8101'}"), "environments.local",
         "the blue slot of user (port + port_offset + 100) is port 8101, which edge.bind uses too"),
        ("two services' slots on one port", MINIMAL_CONFIG.replace("port: 8002", "port: 8101"), "environments.local",
         "the blue slot of course (port + port_offset + 100) is port 8201, which the green slot of user"),
        ("slots beyond 65535", MINIMAL_CONFIG.replace("port: 8002", "port: 65400"), "environments.local",
         "the green slot of course (port + port_offset + 200) would be port 65600, above 65535"),
        ("a registry port 70000", MINIMAL_CONFIG.replace("url: 127.0.0.1:5000", "url: 127.0.0.1:70000"),
         "registry.url", "from 1 to 65535"),
    ],
)
def test_invalid_values_exit_3_naming_file_and_key(
    cli: Cli, tmp_path: Path, name: str, config: str, key: str, expected: str
) -> None:
    path = tmp_path / "coursectl.yaml"
    path.write_text(config, encoding="utf-8")
    code, text = _validate(cli, path)
    assert code == 3, (name, text)
    assert f"{path}: {key}" in text and expected in text, (name, text)


def test_a_utf8_byte_order_mark_is_fine(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "coursectl.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL_CONFIG.encode())
    assert _validate(cli, path)[0] == 0


def test_an_oversized_file_is_refused_before_it_is_read(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "coursectl.yaml"
    with open(path, "wb") as fh:  # a sparse 50 MB file: refused by its size, not by parsing 50 MB
        fh.write(MINIMAL_CONFIG.encode())
        fh.truncate(50 * 1024 * 1024)
    started = time.monotonic()
    code, text = _validate(cli, path)
    assert code == 3 and f"is 52,428,800 bytes; the limit is {MAX_FILE_BYTES:,} bytes" in text
    assert time.monotonic() - started < 2
    path.write_text(MINIMAL_CONFIG + "#" * (MAX_FILE_BYTES - len(MINIMAL_CONFIG) - 1) + "\n")
    assert os.path.getsize(path) == MAX_FILE_BYTES and _validate(cli, path)[0] == 0  # the limit itself is fine


@pytest.mark.parametrize("selected", [True, False])
@pytest.mark.parametrize("kind", ["invalid UTF-8", "directory", "symlink loop", "dangling symlink", "named pipe"])
def test_a_broken_overlay_is_an_error_never_skipped(cli: Cli, config_file: Path, kind: str, selected: bool) -> None:
    overlay = config_file.with_name("coursectl.local.yaml")
    if kind == "invalid UTF-8":
        overlay.write_bytes(b"environments:\n  local: {strategy: \xff}\n")
    elif kind == "directory":
        overlay.mkdir()
    elif kind == "symlink loop":
        overlay.symlink_to(overlay.name)
    elif kind == "dangling symlink":
        overlay.symlink_to("nowhere.yaml")
    else:
        os.mkfifo(overlay)
    env = ("-e", "local") if selected else ("-e", "prod")
    started = time.monotonic()
    code, text = _validate(cli, config_file, *env)
    assert code == 3 and f"{overlay}: " in text, text
    assert time.monotonic() - started < 5  # a named pipe is not opened and waited on


def test_a_config_path_that_is_a_directory(cli: Cli, tmp_path: Path) -> None:
    code, text = _validate(cli, tmp_path)
    assert code == 3 and f"{tmp_path}: is a directory, not a file" in text


def test_many_problems_are_counted_and_the_message_stays_short(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "coursectl.yaml"
    services = "".join(f"  s{i}: {{path: x, port: {i + 1}, bogus: 1}}\n" for i in range(200))
    path.write_text(MINIMAL_CONFIG.replace("services:\n", "services:\n" + services), encoding="utf-8")
    code, out, err = cli("config", "validate", "-c", str(path), "-o", "json")
    assert code == 3
    error = json.loads(err)["error"]
    assert error["message"].startswith("200 problems") or error["message"].split()[0].isdigit()
    assert "... and" in error["message"] and error["message"].count("\n") <= 32


def test_config_show_json_never_prints_nan_or_infinity(cli: Cli, config_file: Path) -> None:
    code, out, _ = cli("config", "show", "-c", str(config_file), "-o", "json")
    assert code == 0
    json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the output"))


def test_dumps_turns_nan_and_infinity_into_null() -> None:
    from coursectl.cli._output import dumps

    text = dumps({"a": float("nan"), "b": [float("inf"), 1.5], "c": "ok"})
    assert json.loads(text, parse_constant=lambda name: pytest.fail(name)) == {"a": None, "b": [None, 1.5], "c": "ok"}
