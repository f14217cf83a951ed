"""Pure JUnit XML builder (what Jenkins' junit step reads), and the test cases of coursectl's own checks:
quality-gate conditions, journey steps, analysis measurements, load-test thresholds.

The layout follows ``scan --report X.xml``: ``<testsuites>`` with the totals, one ``<testsuite>``, one
``<testcase classname="<check>.<subject>" name="...">`` per checked thing, ``<failure>`` when it blocked,
``<error>`` when it could not be checked, ``<skipped>`` when it was not judged.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters: drop them."""
    return text.translate(_CONTROL)


@dataclass(frozen=True)
class Case:
    """One test case: passed, or with a failure / an error / a skip (message and optional text)."""

    classname: str
    name: str
    time: float | None = None
    failure: str | None = None
    error: str | None = None
    skipped: str | None = None
    text: str = ""
    kind: str = ""
    output: str = ""


def to_xml(suite: str, cases: Sequence[Case], *, properties: Mapping[str, str] | None = None) -> str:
    """The JUnit XML document of ``cases`` in one suite named ``suite``."""
    counts = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
    total_time = sum(c.time or 0.0 for c in cases)
    node = ET.Element("testsuite", name=_clean(suite))
    if properties:
        props = ET.SubElement(node, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=_clean(key), value=_clean(value))
    for c in cases:
        case = ET.SubElement(node, "testcase", classname=_clean(c.classname), name=_clean(c.name))
        if c.time is not None:
            case.set("time", f"{c.time:.3f}")
        if c.failure is not None:
            counts["failures"] += 1
            el = ET.SubElement(case, "failure", message=_clean(c.failure), type=c.kind or "Failure")
            el.text = _clean(c.text or c.failure)
        elif c.error is not None:
            counts["errors"] += 1
            el = ET.SubElement(case, "error", message=_clean(c.error), type=c.kind or "Error")
            el.text = _clean(c.text or c.error)
        elif c.skipped is not None:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_clean(c.skipped))
        if c.output:
            ET.SubElement(case, "system-out").text = _clean(c.output)
    for key, count in counts.items():
        node.set(key, str(count))
    node.set("time", f"{total_time:.3f}")
    root = ET.Element("testsuites", {"name": _clean(suite), **{k: str(v) for k, v in counts.items()}})
    root.set("time", f"{total_time:.3f}")
    root.append(node)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_COMPARATOR = {"GT": ">", "LT": "<", "EQ": "=", "NE": "!="}


def gate_cases(project: str, conditions: Iterable[Any], status: str) -> list[Case]:
    """One case per quality-gate condition (SonarQube: metric, comparator, threshold, actual, status)."""
    cases = []
    for c in conditions:
        shown = (
            f"{c.metric} is {c.actual} (fails when {_COMPARATOR.get(c.comparator, c.comparator)} {c.threshold})"
        )
        if c.status == "ERROR":
            cases.append(Case(f"quality-gate.{project}", c.metric, failure=shown, kind="QualityGate"))
        elif c.status in ("OK", "WARN"):
            cases.append(Case(f"quality-gate.{project}", c.metric, output=shown))
        else:
            cases.append(Case(f"quality-gate.{project}", c.metric, skipped=f"status {c.status}: {shown}"))
    if not cases:
        verdict = None if status in ("OK", "WARN") else f"quality gate status {status} with no conditions"
        cases.append(Case(f"quality-gate.{project}", "status", failure=verdict, kind="QualityGate"))
    return cases


def journey_cases(environment: str, steps: Iterable[Any]) -> list[Case]:
    """One case per step of the user journey; steps after the first failure were not run (none are listed)."""
    return [
        Case(
            f"journey.{environment}",
            s.name,
            failure=None if s.ok else s.detail,
            kind="JourneyStep",
            output=s.detail if s.ok else "",
        )
        for s in steps
    ]


def measurement_cases(rollouts: Iterable[Mapping[str, Any]]) -> list[Case]:
    """One case per analysis measurement of each rollout (metric on a slot at a time): failed → failure,
    error → error, inconclusive → skipped, successful → passed. ``rollouts`` are RolloutState dicts."""
    cases = []
    for r in rollouts:
        for m in r.get("measurements", []):
            classname = f"analysis.{r.get('environment')}.{r.get('service')}.{m.get('slot')}"
            name = f"{m.get('metric')} @ {m.get('at')}"
            value = m.get("value")
            shown = f"{m.get('metric')} = {'no data' if value is None else value}: {m.get('reason')}"
            verdict = m.get("verdict")
            if verdict == "failed":
                cases.append(Case(classname, name, failure=shown, kind="Analysis"))
            elif verdict == "error":
                cases.append(Case(classname, name, error=shown, kind="MetricsProvider"))
            elif verdict == "inconclusive":
                cases.append(Case(classname, name, skipped=shown))
            else:
                cases.append(Case(classname, name, output=shown))
        if not r.get("measurements"):
            cases.append(
                Case(
                    f"analysis.{r.get('environment')}.{r.get('service')}",
                    f"rollout {r.get('id')}",
                    skipped="no analysis ran in this rollout",
                )
            )
    return cases


def threshold_cases(suite: str, checks: Iterable[tuple[str, float | None, float, bool]]) -> list[Case]:
    """One case per threshold of a load test: (name, measured value, limit, whether it held)."""
    out = []
    for name, value, limit, ok in checks:
        shown = f"{name} = {'no data' if value is None else f'{value:.4g}'} (limit {limit:g})"
        out.append(Case(suite, name, failure=None if ok else shown, kind="Threshold", output=shown if ok else ""))
    return out
