"""The content digest of an image's build inputs: the key that lets ``build --changed-only`` skip a service.

Inputs of a service's image:

- every file of the service folder and of each shared folder (``build.shared``, default ``common``, or the
  service's own ``shared`` list),
  except what never reaches an image: ``__pycache__``, ``*.pyc``/``*.pyo``, ``.venv``, ``*.egg-info``,
  tool caches (``.pytest_cache``, ``.mypy_cache``, ``.ruff_cache``), ``.git``, and what the context's
  ``.dockerignore`` excludes (simple patterns);
- not what a service's prebuild step writes (``services.<name>.prebuild.outputs``, e.g. a front end's
  ``dist/``): it reaches the image, but it is derived from sources that are counted (and ``node_modules`` is
  never an input: the lock file is);
- the Dockerfile (also when it lives outside the service folder);
- the base image's id (a rebuilt base image changes every service);
- the build arguments that shape the image (``SERVICE`` and ``SERVICE_PORT`` of a Dockerfile shared by several
  services: name and value) and the inputs format version.

Tests count when they reach the build context (a Dockerfile may copy or run them; leaving them out would
let a changed test ship under an old image) — the bundled platform's ``.dockerignore`` excludes
``**/tests``, so there a changed test does not rebuild anything. Version metadata (git sha, build time) is
deliberately
*not* an input: it changes on every commit, and the image of unchanged inputs is the same program.

Each file contributes its path relative to the context, whether it is executable, and the sha256 of its
bytes (symlinks: their target), in sorted path order — so the same inputs give the same digest on any
machine, whatever the file times or the order the file system lists them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

FORMAT = "coursectl-inputs-v1"
IGNORED_DIRS = frozenset(
    {"__pycache__", ".venv", "venv", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", "node_modules"}
)
IGNORED_SUFFIXES = (".pyc", ".pyo", ".egg-info")


@dataclass(frozen=True)
class InputFile:
    """One input file: its path relative to the build context, executable bit and content hash."""

    path: str
    executable: bool
    sha256: str


def _dockerignore(context: Path) -> list[str]:
    try:
        text = (context / ".dockerignore").read_text(encoding="utf-8")
    except OSError:
        return []
    except UnicodeDecodeError as exc:
        from coursectl.errors import PreconditionError

        raise PreconditionError(f"{context / '.dockerignore'} is not valid UTF-8 (byte {exc.start})") from None
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line.lstrip("/").rstrip("/"))
    return patterns


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    """Docker's .dockerignore semantics, simplified: later ``!pattern`` lines re-include; ``**`` any depth."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        candidates = {pat, pat.replace("**/", "")}
        hit = any(fnmatch.fnmatchcase(rel, c) or fnmatch.fnmatchcase(rel, c + "/*") for c in candidates)
        if not hit:  # a pattern naming a folder excludes everything below it
            hit = any(rel.startswith(c.rstrip("/") + "/") for c in candidates if "*" not in c)
        if hit:
            verdict = not negate
    return verdict


def _walk(folder: Path, excluded: frozenset[Path] = frozenset()) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in IGNORED_DIRS and not d.endswith(IGNORED_SUFFIXES) and Path(root) / d not in excluded
        )
        for name in sorted(files):
            if not name.endswith(IGNORED_SUFFIXES):
                yield Path(root) / name
        for name in dirs:  # symlinked folders are listed by os.walk as dirs but not followed
            path = Path(root) / name
            if path.is_symlink():
                yield path


def _hash_file(path: Path) -> tuple[bool, str]:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return False, hashlib.sha256(b"symlink:" + os.readlink(path).encode()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return bool(info.st_mode & stat.S_IXUSR), digest.hexdigest()


def input_files(
    context: Path, folders: Iterable[Path], extra_files: Iterable[Path] = (), excluded: Iterable[Path] = ()
) -> list[InputFile]:
    """Every input file below ``folders`` (and ``extra_files``), relative to ``context``, sorted by path;
    nothing below the ``excluded`` folders (what a prebuild step writes: derived from inputs counted already)."""
    context = context.resolve()
    patterns = _dockerignore(context)
    skip = frozenset(p.resolve() for p in excluded)
    seen: dict[str, InputFile] = {}
    candidates: list[Path] = []
    for folder in folders:
        candidates.extend(_walk(folder.resolve(), skip))
    candidates.extend(p.resolve() for p in extra_files)
    for path in candidates:
        try:
            rel = path.relative_to(context).as_posix()
        except ValueError:
            rel = path.as_posix()  # a Dockerfile outside the context: its absolute path is the name
        if rel in seen or _excluded(rel, patterns):
            continue
        executable, sha = _hash_file(path)
        seen[rel] = InputFile(rel, executable, sha)
    return [seen[k] for k in sorted(seen)]


def digest_of(files: Sequence[InputFile], *, dockerfile: str, base_image_id: str, args: Sequence[str] = ()) -> str:
    """``sha256:<hex>`` over the input files, the Dockerfile's name, the base image id and the image-shaping
    build arguments (``NAME=value``)."""
    h = hashlib.sha256()
    h.update(f"{FORMAT}\ndockerfile {dockerfile}\nbase {base_image_id}\nargs {','.join(sorted(args))}\n".encode())
    for f in files:
        h.update(f"{f.path}\0{'x' if f.executable else '-'}\0{f.sha256}\n".encode())
    return f"sha256:{h.hexdigest()}"


def inputs_digest(
    context: Path,
    service_dir: Path,
    shared_dirs: Sequence[Path],
    dockerfile: Path,
    base_image_id: str,
    excluded: Sequence[Path] = (),
    args: Mapping[str, str] | None = None,
) -> str:
    """The inputs digest of one service's image (see the module docstring for what counts); ``args``: the
    build arguments that shape the image (``render.image.image_args``)."""
    files = input_files(context, [service_dir, *shared_dirs], [dockerfile], excluded)
    try:
        df_name = dockerfile.resolve().relative_to(context.resolve()).as_posix()
    except ValueError:
        df_name = dockerfile.name
    shaping = [f"{name}={value}" for name, value in sorted((args or {}).items())]
    return digest_of(files, dockerfile=df_name, base_image_id=base_image_id, args=shaping)
