"""What changed between two SBOMs, pure: packages added, removed, upgraded, downgraded (by purl or type+name)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coursectl.domain import SbomPackage
from coursectl.sbom.versions import compare


@dataclass(frozen=True)
class PackageChange:
    """One package whose versions differ between the two SBOMs."""

    key: str
    name: str
    type: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    change: str  # upgraded | downgraded | changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "type": self.type,
            "from": list(self.before),
            "to": list(self.after),
            "change": self.change,
        }

    def describe(self) -> str:
        return f"{self.name} {', '.join(self.before)} → {', '.join(self.after)}"


@dataclass(frozen=True)
class SbomDiff:
    """Packages added, removed and changed from ``before`` to ``after`` (each list sorted by key)."""

    added: tuple[SbomPackage, ...] = ()
    removed: tuple[SbomPackage, ...] = ()
    changed: tuple[PackageChange, ...] = ()
    unchanged: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def upgraded(self) -> list[PackageChange]:
        return [c for c in self.changed if c.change == "upgraded"]

    @property
    def downgraded(self) -> list[PackageChange]:
        return [c for c in self.changed if c.change == "downgraded"]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "upgraded": len(self.upgraded),
            "downgraded": len(self.downgraded),
            "changed": sum(1 for c in self.changed if c.change == "changed"),
            "unchanged": self.unchanged,
        }

    def summary(self, limit: int = 5) -> str:
        """``+2 added (a 1.0, b 2.0), 1 upgraded (c 1.0 → 1.1)`` — or ``no dependency changes``."""
        parts = []

        def some(items: list[str]) -> str:
            return ", ".join(items[:limit]) + (f", … {len(items) - limit} more" if len(items) > limit else "")

        if self.added:
            parts.append(
                f"{len(self.added)} added ({some([f'{p.name} {p.version}'.strip() for p in self.added])})"
            )
        if self.removed:
            parts.append(
                f"{len(self.removed)} removed ({some([f'{p.name} {p.version}'.strip() for p in self.removed])})"
            )
        for kind in ("upgraded", "downgraded", "changed"):
            rows = [c.describe() for c in self.changed if c.change == kind]
            if rows:
                parts.append(f"{len(rows)} {kind} ({some(rows)})")
        return "; ".join(parts) or "no dependency changes"

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.meta,
            "counts": self.counts(),
            "added": [p.to_dict() for p in self.added],
            "removed": [p.to_dict() for p in self.removed],
            "upgraded": [c.to_dict() for c in self.upgraded],
            "downgraded": [c.to_dict() for c in self.downgraded],
            "changed": [c.to_dict() for c in self.changed if c.change == "changed"],
        }


def _group(packages: Iterable[SbomPackage]) -> dict[str, list[SbomPackage]]:
    groups: dict[str, list[SbomPackage]] = {}
    for p in packages:
        groups.setdefault(p.key, []).append(p)
    return groups


def _newest(ptype: str, versions: Iterable[str]) -> str:
    best = ""
    for v in versions:
        if not best or compare(ptype, v, best) > 0:
            best = v
    return best


def diff(
    before: Iterable[SbomPackage], after: Iterable[SbomPackage], meta: Mapping[str, Any] | None = None
) -> SbomDiff:
    """The difference between two package lists.

    A package is identified by its key (purl without version and qualifiers, else type and name). The same
    package found twice at one version (two copies in the image) counts once. When its set of versions differs,
    the change is ``upgraded`` if the newest version went up, ``downgraded`` if it went down, else ``changed``
    (e.g. a second copy at an older version appeared).
    """
    old, new = _group(before), _group(after)
    # a package that appeared or vanished at several versions is listed once per version
    added = [p for k in sorted(new.keys() - old.keys()) for p in _distinct(new[k])]
    removed = [p for k in sorted(old.keys() - new.keys()) for p in _distinct(old[k])]
    changed: list[PackageChange] = []
    unchanged = 0
    for key in sorted(old.keys() & new.keys()):
        ptype = new[key][0].type or old[key][0].type
        va = sorted({p.version for p in old[key]}, key=_sort_key(ptype))
        vb = sorted({p.version for p in new[key]}, key=_sort_key(ptype))
        if va == vb:
            unchanged += 1
            continue
        direction = compare(ptype, _newest(ptype, va), _newest(ptype, vb))
        kind = "upgraded" if direction < 0 else "downgraded" if direction > 0 else "changed"
        changed.append(PackageChange(key, new[key][0].name, ptype, tuple(va), tuple(vb), kind))
    return SbomDiff(tuple(added), tuple(removed), tuple(changed), unchanged, dict(meta or {}))


def _distinct(packages: list[SbomPackage]) -> list[SbomPackage]:
    seen: dict[str, SbomPackage] = {}
    for p in packages:
        seen.setdefault(p.version, p)
    return [seen[v] for v in sorted(seen, key=_sort_key(packages[0].type))]


def _sort_key(ptype: str) -> Any:
    from functools import cmp_to_key

    return cmp_to_key(lambda a, b: compare(ptype, a, b))
