"""SBOM documents (CycloneDX JSON, SPDX 2.x JSON, as syft writes them) → SbomPackages, pure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from coursectl.domain import SbomPackage
from coursectl.errors import ExternalError
from coursectl.parsers._common import as_dict, as_list

_NO_LICENSE = {"", "NOASSERTION", "NONE", "UNKNOWN"}
_SKIPPED_TYPES = {"operating-system", "file", "container", "device", "firmware", "data"}


@dataclass(frozen=True)
class SbomDocument:
    """What an SBOM says: its format and spec version, the tool that made it, its subject and its packages."""

    format: str
    spec_version: str
    packages: tuple[SbomPackage, ...]
    tool: str = ""
    subject: str = ""
    subject_version: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "spec_version": self.spec_version,
            "tool": self.tool,
            "subject": self.subject,
            "subject_version": self.subject_version,
            "packages": [p.to_dict() for p in self.packages],
        }


def purl_type(purl: str) -> str:
    """``pypi`` from ``pkg:pypi/requests@2.31.0``; empty for anything that is not a purl."""
    if not purl.startswith("pkg:"):
        return ""
    return purl[4:].split("/", 1)[0].lower()


def _property(component: dict[str, Any], name: str) -> str:
    for prop in as_list(component.get("properties")):
        if isinstance(prop, dict) and prop.get("name") == name:
            return str(prop.get("value") or "")
    return ""


def _cdx_licenses(component: dict[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for entry in as_list(component.get("licenses")):
        entry = as_dict(entry)
        if entry.get("expression"):
            text = str(entry["expression"]).strip()
        else:
            lic = as_dict(entry.get("license"))
            text = str(lic.get("id") or lic.get("name") or "").strip()
        if text.upper() not in _NO_LICENSE and text not in out:
            out.append(text)
    return tuple(out)


def _cdx_components(components: list[Any]) -> list[dict[str, Any]]:
    """Every component, nested ones included (CycloneDX allows components inside components)."""
    out: list[dict[str, Any]] = []
    for c in components:
        if isinstance(c, dict):
            out.append(c)
            out.extend(_cdx_components(as_list(c.get("components"))))
    return out


def parse_cyclonedx(doc: dict[str, Any]) -> SbomDocument:
    """A CycloneDX JSON BOM (1.4–1.6): every library/application/framework component."""
    meta = as_dict(doc.get("metadata"))
    tools = meta.get("tools")
    tool_list = as_list(as_dict(tools).get("components")) if isinstance(tools, dict) else as_list(tools)
    tool = next(
        (f"{t.get('name', '')} {t.get('version', '')}".strip() for t in tool_list if isinstance(t, dict)), ""
    )
    subject = as_dict(meta.get("component"))
    packages = []
    for c in _cdx_components(as_list(doc.get("components"))):
        if str(c.get("type") or "library") in _SKIPPED_TYPES:
            continue
        purl = str(c.get("purl") or "")
        packages.append(
            SbomPackage(
                name=str(c.get("name") or ""),
                version=str(c.get("version") or ""),
                type=_property(c, "syft:package:type") or purl_type(purl) or str(c.get("type") or ""),
                purl=purl,
                licenses=_cdx_licenses(c),
            )
        )
    return SbomDocument(
        format="cyclonedx-json",
        spec_version=str(doc.get("specVersion") or ""),
        packages=tuple(packages),
        tool=tool,
        subject=str(subject.get("name") or ""),
        subject_version=str(subject.get("version") or ""),
        meta={"serial": doc.get("serialNumber"), "timestamp": meta.get("timestamp")},
    )


def _spdx_type(package: dict[str, Any], purl: str) -> str:
    """syft names SPDX packages ``SPDXRef-Package-<type>-<name>-<id>``: the type is the third part."""
    spdx_id = str(package.get("SPDXID") or "")
    if spdx_id.startswith("SPDXRef-Package-"):
        return spdx_id[len("SPDXRef-Package-") :].split("-", 1)[0]
    return purl_type(purl)


def parse_spdx(doc: dict[str, Any]) -> SbomDocument:
    """An SPDX 2.2/2.3 JSON document: every package but the document's own subject (the image or folder)."""
    roots = {str(x) for x in as_list(doc.get("documentDescribes"))}
    for rel in as_list(doc.get("relationships")):
        rel = as_dict(rel)
        if rel.get("relationshipType") == "DESCRIBES" and rel.get("spdxElementId") == "SPDXRef-DOCUMENT":
            roots.add(str(rel.get("relatedSpdxElement")))
    creators = as_list(as_dict(doc.get("creationInfo")).get("creators"))
    tool = next((str(c)[len("Tool: ") :] for c in creators if str(c).startswith("Tool: ")), "")
    packages = []
    subject = subject_version = ""
    for p in as_list(doc.get("packages")):
        p = as_dict(p)
        spdx_id = str(p.get("SPDXID") or "")
        if spdx_id in roots or spdx_id.startswith("SPDXRef-DocumentRoot-"):
            subject, subject_version = str(p.get("name") or ""), str(p.get("versionInfo") or "")
            continue
        purl = next(
            (str(r.get("referenceLocator") or "") for r in as_list(p.get("externalRefs"))
             if isinstance(r, dict) and r.get("referenceType") == "purl"),
            "",
        )  # fmt: skip
        licenses = []
        for key in ("licenseDeclared", "licenseConcluded"):
            text = str(p.get(key) or "").strip()
            if text.startswith("(") and text.endswith(")") and text.count("(") == 1:
                text = text[1:-1]
            if text.upper() not in _NO_LICENSE and text not in licenses:
                licenses.append(text)
                break  # declared wins; concluded only when nothing was declared
        packages.append(
            SbomPackage(
                name=str(p.get("name") or ""),
                version=str(p.get("versionInfo") or ""),
                type=_spdx_type(p, purl),
                purl=purl,
                licenses=tuple(licenses),
            )
        )
    return SbomDocument(
        format="spdx-json",
        spec_version=str(doc.get("spdxVersion") or ""),
        packages=tuple(packages),
        tool=tool,
        subject=subject,
        subject_version=subject_version,
        meta={
            "namespace": doc.get("documentNamespace"),
            "created": as_dict(doc.get("creationInfo")).get("created"),
        },
    )


def parse(text: str | bytes, *, source: str = "SBOM") -> SbomDocument:
    """Detect the format (CycloneDX or SPDX JSON) and parse; anything else is ExternalError naming ``source``."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExternalError(f"{source} is not a JSON document: {exc}") from exc
    if not isinstance(doc, dict):
        raise ExternalError(f"{source} is not an SBOM: expected a JSON object")
    if doc.get("bomFormat") == "CycloneDX":
        return parse_cyclonedx(doc)
    if str(doc.get("spdxVersion") or "").startswith("SPDX-"):
        return parse_spdx(doc)
    raise ExternalError(f"{source} is neither CycloneDX JSON nor SPDX JSON (no bomFormat / spdxVersion)")
