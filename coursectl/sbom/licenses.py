"""The licence policy, pure: which packages of an SBOM carry a denied (or an unknown) licence → judged findings.

* ``sbom.deny_licenses`` holds SPDX ids or shell-style patterns, matched case-insensitively: ``AGPL-*``,
  ``SSPL-1.0``. An id without ``-only``/``-or-later``/``+`` covers all three (``GPL-3.0`` denies
  ``GPL-3.0-only``, ``GPL-3.0-or-later`` and ``GPL-3.0+``); ``+`` and ``-or-later`` are the same.
* SPDX expressions are read as such: ``A OR B`` is denied only when every choice is denied (the user may pick
  the other one), ``A AND B`` when any part is; ``A WITH exception`` is judged by ``A``. Several licences
  declared for one package count as ``AND``. Text that is not an expression (a free-text name, unbalanced
  parentheses) is denied when the whole text matches, or any word of it does.
* A package that declares no licence is *unknown*: it blocks unless ``sbom.allow_unknown``.
* A finding can be accepted like a scan finding, with an entry of the ignore file (``id`` the licence, or
  ``unknown-license``; ``package``; ``reason``; ``expires``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from coursectl.domain import Finding, SbomPackage
from coursectl.scan.ignores import IgnoreEntry
from coursectl.scan.policy import BLOCKING, IGNORED, Judged, matches

SCANNER = "licenses"
UNKNOWN_ID = "unknown-license"
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_SUFFIXES = ("-only", "-or-later", "+")


class _BadExpression(ValueError):
    """The text is not an SPDX expression: it is judged as one free-text licence name."""


def _base(license_id: str) -> tuple[str, str]:
    """``('GPL-3.0', '-or-later')`` from ``GPL-3.0+``; the suffix is empty when there is none."""
    upper = license_id.upper()
    for suffix in _SUFFIXES:
        if upper.endswith(suffix.upper()):
            return upper[: -len(suffix)], "-OR-LATER" if suffix == "+" else suffix.upper()
    return upper, ""


def _matches(license_id: str, pattern: str) -> bool:
    lic, pat = license_id.strip().upper(), pattern.strip().upper()
    if any(ch in pat for ch in "*?["):
        return fnmatch.fnmatchcase(lic, pat)
    lic_base, lic_suffix = _base(lic)
    pat_base, pat_suffix = _base(pat)
    if lic_base != pat_base:
        return lic == pat
    return not pat_suffix or pat_suffix == lic_suffix


@dataclass(frozen=True)
class LicensePolicy:
    """Denied licences (ids or patterns) and whether a package without any licence is acceptable."""

    deny: tuple[str, ...] = ()
    allow_unknown: bool = True

    def denying_pattern(self, license_id: str) -> str | None:
        """The first deny entry that matches ``license_id`` (None when the licence is allowed)."""
        return next((p for p in self.deny if _matches(license_id, p)), None)

    def denied(self, text: str) -> list[tuple[str, str]]:
        """``[(licence, pattern), …]`` that make the licence text denied; empty when it is acceptable."""
        try:
            tokens = _TOKEN.findall(text)
            result, rest = self._or(tokens)
            if rest:
                raise _BadExpression(text)
            return result
        except _BadExpression:  # a free-text name, or a broken expression: the whole text, else any of its words
            pattern = self.denying_pattern(text)
            if pattern:
                return [(text, pattern)]
            words = [w for w in _TOKEN.findall(text) if w not in "()" and w.upper() not in ("AND", "OR", "WITH")]
            return [(w, p) for w in words if (p := self.denying_pattern(w))]

    # a small recursive-descent reader of SPDX expressions: or := and (OR and)*; and := atom (AND atom)*
    def _or(self, tokens: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
        parts = []
        first, tokens = self._and(tokens)
        parts.append(first)
        while tokens and tokens[0].upper() == "OR":
            nxt, tokens = self._and(tokens[1:])
            parts.append(nxt)
        if all(parts):
            return [d for part in parts for d in part], tokens
        return [], tokens

    def _and(self, tokens: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
        found, tokens = self._atom(tokens)
        while tokens and tokens[0].upper() == "AND":
            more, tokens = self._atom(tokens[1:])
            found = found + more
        return found, tokens

    def _atom(self, tokens: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
        if not tokens:
            raise _BadExpression("unexpected end")
        head, rest = tokens[0], tokens[1:]
        if head == "(":
            inner, rest = self._or(rest)
            if not rest or rest[0] != ")":
                raise _BadExpression("unbalanced parenthesis")
            return inner, rest[1:]
        if head == ")" or head.upper() in ("AND", "OR", "WITH"):
            raise _BadExpression(f"unexpected {head}")
        if rest and rest[0].upper() == "WITH":
            if len(rest) < 2:
                raise _BadExpression("WITH needs an exception")
            rest = rest[2:]
        pattern = self.denying_pattern(head)
        return ([(head, pattern)] if pattern else []), rest


def _finding(pkg: SbomPackage, license_id: str, title: str, *, service: str, target: str) -> Finding:
    spdx_like = re.fullmatch(r"[A-Za-z0-9.+-]+", license_id) is not None and license_id != UNKNOWN_ID
    return Finding(
        id=license_id,
        package=pkg.name,
        installed_version=pkg.version,
        severity="HIGH",
        title=title,
        target=target,
        scanners=(SCANNER,),
        status="denied" if license_id != UNKNOWN_ID else "unknown",
        url=f"https://spdx.org/licenses/{license_id}.html" if spdx_like else "",
        service=service,
        kind="license",
        aliases=(pkg.purl,) if pkg.purl else (),
    )


def check(
    packages: Iterable[SbomPackage],
    policy: LicensePolicy,
    *,
    service: str,
    target: str,
    ignores: Sequence[IgnoreEntry] = (),
    today: date,
) -> list[Judged]:
    """One judged finding per package and denied licence (and per package without a licence, when unknown
    licences are not allowed): ``blocking``, or ``ignored`` by a valid entry of the ignore file."""
    judged: list[Judged] = []
    seen: set[tuple[str, str, str]] = set()
    for pkg in packages:
        problems: list[tuple[str, str]] = []
        if not pkg.licenses:
            if not policy.allow_unknown:
                problems.append(
                    (UNKNOWN_ID, f"{pkg.name} {pkg.version} declares no licence (sbom.allow_unknown is false)")
                )
        else:
            for text in pkg.licenses:
                for license_id, pattern in policy.denied(text):
                    problems.append(
                        (license_id, f"{pkg.name} {pkg.version} is licensed {text}: {license_id} is denied "
                                     f"(sbom.deny_licenses: {pattern})")
                    )  # fmt: skip
        for license_id, title in problems:
            identity = (pkg.key, pkg.version, license_id.upper())
            if identity in seen:  # the same package twice in the image: one finding
                continue
            seen.add(identity)
            finding = _finding(pkg, license_id, title, service=service, target=target)
            valid = next((e for e in ignores if matches(e, finding) and not e.expired(today)), None)
            expired = next((e for e in ignores if matches(e, finding) and e.expired(today)), None)
            if valid is not None:
                judged.append(Judged(finding, IGNORED, ignore=valid, reason=valid.reason))
            else:
                reason = f"ignore entry expired on {expired.expires.isoformat()}" if expired else ""
                judged.append(Judged(finding, BLOCKING, expired_ignore=expired, reason=reason))
    return judged


def license_counts(packages: Iterable[SbomPackage]) -> dict[str, int]:
    """How many packages declare each licence text (``(none)`` for none), most common first."""
    counts: dict[str, int] = {}
    for pkg in packages:
        for text in pkg.licenses or ("(none)",):
            counts[text] = counts.get(text, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
