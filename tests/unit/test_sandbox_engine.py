"""The private engine's paths and command line, the engine search order and the debootstrap mirror."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursectl.sandbox import baseimage, engine, layout

HOST_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_private_engine_lives_under_the_sandbox_dir() -> None:
    paths = layout.engine_paths(Path("/srv/state/sandbox"))
    assert paths.data_root == Path("/srv/state/sandbox/engine/data")
    assert paths.exec_root == Path("/srv/state/sandbox/engine/exec")
    assert paths.url == "unix:///srv/state/sandbox/docker.sock"


def test_long_state_dirs_put_sockets_under_run() -> None:
    long_dir = Path("/tmp") / ("x" * 80) / "sandbox"
    paths = layout.engine_paths(long_dir)
    assert paths.data_root == long_dir / "engine" / "data"
    assert str(paths.exec_root).startswith("/run/coursectl-")
    assert len(str(paths.exec_root / "containerd" / "containerd.sock.ttrpc")) <= 100
    assert layout.engine_paths(long_dir) == paths  # stable


def test_dockerd_argv_has_no_bridge_no_iptables_no_nat() -> None:
    paths = layout.engine_paths(Path("/s/sandbox"))
    argv = engine.dockerd_argv(paths)
    assert argv == [
        "/usr/sbin/dockerd",
        "--data-root", "/s/sandbox/engine/data",
        "--exec-root", "/s/sandbox/engine/exec",
        "-H", "unix:///s/sandbox/docker.sock",
        "--pidfile", "/s/sandbox/engine/dockerd.pid",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--userland-proxy=false",
        "--live-restore=false",
    ]  # fmt: skip
    assert engine.dockerd_argv(paths, storage_driver="vfs")[-2:] == ["--storage-driver", "vfs"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ["unix:///var/run/docker.sock"]),
        ({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, ["tcp://127.0.0.1:2375", "unix:///var/run/docker.sock"]),
        ({"DOCKER_HOST": "unix:///var/run/docker.sock"}, ["unix:///var/run/docker.sock"]),
    ],
)
def test_engine_candidates(environ: dict[str, str], expected: list[str]) -> None:
    assert engine.candidates(environ) == expected


def test_ping_of_a_missing_socket_is_false_without_importing_docker(tmp_path: Path) -> None:
    assert engine.ping(f"unix://{tmp_path}/nothing.sock") is False


def test_mirror_from_deb822() -> None:
    assert baseimage.parse_deb822(HOST_SOURCES, "bookworm") == "http://deb.debian.org/debian"
    assert baseimage.parse_deb822(HOST_SOURCES, "bookworm-security") == "http://deb.debian.org/debian-security"
    assert baseimage.parse_deb822(HOST_SOURCES, "trixie") is None


def test_mirror_from_deb822_skips_disabled_and_non_http() -> None:
    text = (
        "Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: cdrom:/media/ https://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert baseimage.parse_deb822(text, "bookworm") == "https://mirror.example/debian"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deb http://ftp.de.debian.org/debian bookworm main\n", "http://ftp.de.debian.org/debian"),
        ("# deb http://commented/debian bookworm main\ndeb-src http://src/debian bookworm main\n", None),
        ("deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main\n", "http://m.example/debian"),
        ("deb http://security.debian.org/debian-security bookworm-security main\n", None),
    ],
)
def test_mirror_from_one_line_sources(text: str, expected: str | None) -> None:
    assert baseimage.parse_one_line(text, "bookworm") == expected


def test_detect_mirror_prefers_deb822_then_sources_list_then_default(tmp_path: Path) -> None:
    assert baseimage.detect_mirror("bookworm", tmp_path) == "http://deb.debian.org/debian"
    (tmp_path / "sources.list").write_text("deb http://one-line.example/debian bookworm main\n")
    assert baseimage.detect_mirror("bookworm", tmp_path) == "http://one-line.example/debian"
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        HOST_SOURCES.replace("deb.debian.org", "d822.example")
    )
    assert baseimage.detect_mirror("bookworm", tmp_path) == "http://d822.example/debian"


def test_debootstrap_argv_and_cache_name() -> None:
    argv = baseimage.debootstrap_argv(Path("/c/rootfs"), suite="bookworm", mirror="http://m/debian")
    assert argv == [
        "debootstrap", "--variant=minbase", "--include=python3,python3-venv,nginx-light,ca-certificates",
        "bookworm", "/c/rootfs", "http://m/debian",
    ]  # fmt: skip
    name = baseimage.tarball_name("bookworm")
    assert name.startswith("rootfs-bookworm-minbase-") and name.endswith(".tar")
    assert baseimage.tarball_name("bookworm", ("python3",)) != name


def test_mounts_under_the_exec_root_deepest_first() -> None:
    mountinfo = (
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "901 22 0:4 net:[4026532290] /s/sandbox/engine/exec/netns/default rw shared:5 - nsfs nsfs rw\n"
        "902 22 0:4 net:[4026532291] /s/sandbox/engine/exec-other/netns/default rw - nsfs nsfs rw\n"
        "903 22 0:50 / /s/sandbox/engine/exec rw - tmpfs tmpfs rw\n"
        "904 22 0:51 / /s/sandbox/engine/exec/with\\040space rw - tmpfs tmpfs rw\n"
    )
    assert engine.mounts_under(mountinfo, Path("/s/sandbox/engine/exec")) == [
        "/s/sandbox/engine/exec/netns/default",
        "/s/sandbox/engine/exec/with space",
        "/s/sandbox/engine/exec",
    ]
    assert engine.mounts_under(mountinfo, Path("/elsewhere")) == []
