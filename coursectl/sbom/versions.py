"""Version ordering per ecosystem, pure: Debian (deb-version(7)), Python (PEP 440), else a natural order."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def _dpkg_order(ch: str) -> int:
    """deb-version(7): ``~`` sorts before everything, even the end of the part; letters before non-letters."""
    if ch == "~":
        return -1
    if ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def _dpkg_part(a: str, b: str) -> int:
    """Compare two upstream-version or revision strings the way dpkg does."""
    i = j = 0
    while i < len(a) or j < len(b):
        # the non-digit prefix, character by character (end of string sorts as 0: after ~, before anything else)
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ca = _dpkg_order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            cb = _dpkg_order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ca != cb:
                return -1 if ca < cb else 1
            i += 1
            j += 1
        # the digit run, as a number
        na = nb = 0
        while i < len(a) and a[i].isdigit():
            na = na * 10 + int(a[i])
            i += 1
        while j < len(b) and b[j].isdigit():
            nb = nb * 10 + int(b[j])
            j += 1
        if na != nb:
            return -1 if na < nb else 1
    return 0


def _dpkg_split(version: str) -> tuple[int, str, str]:
    epoch, _, rest = version.partition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return (int(epoch) if epoch.isdigit() else 0), upstream, revision


def compare_deb(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian orders ``a`` and ``b`` (epoch, then upstream version, then revision)."""
    ea, ua, ra = _dpkg_split(a)
    eb, ub, rb = _dpkg_split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _dpkg_part(ua, ub) or _dpkg_part(ra, rb)


def _natural_key(version: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in _DIGITS.split(version.lower()) if p]


def compare_natural(a: str, b: str) -> int:
    """Numbers compared as numbers, text as text (``1.10`` after ``1.9``)."""
    ka, kb = _natural_key(a), _natural_key(b)
    if ka == kb:
        return 0 if a == b else (-1 if a < b else 1)
    return -1 if ka < kb else 1


def compare_pep440(a: str, b: str) -> int:
    """PEP 440 order (``2.0rc1`` < ``2.0`` < ``2.0.post1``); natural order for what is not PEP 440."""
    from packaging.version import InvalidVersion, Version

    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return compare_natural(a, b)
    return (va > vb) - (va < vb)


def compare(package_type: str, a: str, b: str) -> int:
    """-1 when ``a`` is older than ``b``, 1 when newer, 0 when equal, in the package type's own ordering."""
    if a == b:
        return 0
    kind = package_type.lower()
    if kind in ("deb", "debian", "dpkg"):
        return compare_deb(a, b)
    if kind in ("python", "pypi"):
        return compare_pep440(a, b)
    return compare_natural(a, b)
