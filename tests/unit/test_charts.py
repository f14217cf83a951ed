"""charts/course-platform without a helm binary: its values (and every example) against values.schema.json, every
.Values path the templates use exists, the Prometheus scrape job is valid for promtool and gives the analysis its
labels. Rendering the chart itself is checked only where helm exists (see the README)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from coursectl.render import kubernetes as km
from tests.conftest import REPO

CHART = REPO / "charts" / "course-platform"
VALUES_FILES = [CHART / "values.yaml", *sorted((CHART / "examples").glob("*.yaml"))]


def schema() -> dict[str, Any]:
    return dict(json.loads((CHART / "values.schema.json").read_text()))


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_values_files_match_the_schema(path: Path) -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema(), cls=jsonschema.Draft7Validator)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda v: v["services"][0].update(port="80a"), "'80a' is not of type 'integer'"),
        (lambda v: v["ingress"].update(pathPrefix="api"), "does not match"),
        (lambda v: v.update(extra=1), "Additional properties are not allowed"),
        (lambda v: v["deployer"].pop("secretNames"), "'secretNames' is a required property"),
    ],
)
def test_the_schema_refuses_bad_values(change: Any, complaint: str) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    change(values)
    with pytest.raises(jsonschema.ValidationError, match=re.escape(complaint) if "'" in complaint else complaint):
        jsonschema.validate(values, schema(), cls=jsonschema.Draft7Validator)


def _values_paths() -> set[str]:
    found = set()
    for path in (CHART / "templates").iterdir():
        for match in re.finditer(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", path.read_text()):
            found.add(match.group(1).lstrip("."))
    return found


def test_every_values_path_the_templates_use_exists() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    props = schema()["properties"]
    paths = _values_paths()
    assert "ingress.root.service" in paths and "deployer.secretNames" in paths  # the scan finds nested ones
    for dotted in sorted(paths):
        node: Any = values
        spec: Any = {"properties": props}
        for key in dotted.split("."):
            assert isinstance(node, dict) and key in node, f".Values.{dotted}: {key} is not in values.yaml"
            assert key in spec.get("properties", {}), f".Values.{dotted}: {key} is not in values.schema.json"
            node, spec = node[key], spec["properties"][key]


def test_every_value_is_used_by_a_template() -> None:
    used = {p.split(".")[0] for p in _values_paths()}
    assert used == set(yaml.safe_load((CHART / "values.yaml").read_text()))


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "course-platform"
    assert chart["kubeVersion"] == ">=1.24.0-0"  # the oldest Kubernetes the README says is supported


def scrape_config(namespace: str = "course-prod") -> dict[str, Any]:
    text = (CHART / "files" / "prometheus-scrape.yaml").read_text()
    assert text.count("{{") == 1  # only the namespace is templated (so promtool can check the file as is)
    return dict(yaml.safe_load(text.replace("{{ .Release.Namespace | quote }}", json.dumps(namespace))))


def test_promtool_accepts_the_scrape_configuration(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: install the Debian package 'prometheus' (scripts/setup.sh does)")
    # Debian's prometheus (the one installable here) is built without Kubernetes service discovery, so its
    # promtool refuses kubernetes_sd_configs as an unknown field: the job is checked with that one block swapped
    # for a static target, and the block itself is checked in the next test
    checked = scrape_config()
    (job,) = checked["scrape_configs"]
    assert job.pop("kubernetes_sd_configs") == [{"role": "pod", "namespaces": {"names": ["course-prod"]}}]
    job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(checked))
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _meta(label: str) -> str:
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)


def test_the_scrape_job_labels_slots_the_way_the_analysis_selects_them() -> None:
    (job,) = scrape_config()["scrape_configs"]
    relabel = {r.get("target_label"): r["source_labels"] for r in job["relabel_configs"] if r.get("target_label")}
    # the analysis selects service, slot and version (rollout/analysis.py); coursectl labels the pods with these
    assert relabel["service"] == [_meta(km.LABEL_NAME)]
    assert relabel["slot"] == [_meta(km.LABEL_SLOT)]
    assert relabel["version"] == [_meta(km.LABEL_VERSION)]
    assert relabel["environment"] == [_meta(km.LABEL_ENV)]
    keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert {"source_labels": [_meta(km.LABEL_MANAGED_BY)], "regex": km.MANAGER, "action": "keep"} in keep
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["course-prod"]}}]


def test_the_pods_coursectl_renders_carry_what_the_scrape_job_keeps() -> None:
    settings = km.Settings(namespace="course-prod", environment="prod")
    svc = km.ServiceInfo("course", 8002)
    dep = km.deployment(
        settings, svc, km.SlotRequest("course", "canary", "1.2.0", "r/c:1.2.0", "sha256:" + "a" * 64)
    )
    template = dep["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert template["spec"]["containers"][0]["ports"][0]["name"] == "http"
    labels = template["metadata"]["labels"]
    assert labels[km.LABEL_SLOT] == "canary" and labels[km.LABEL_VERSION] == "1.2.0"
    assert labels[km.LABEL_MANAGED_BY] == "coursectl"


@pytest.mark.skipif(shutil.which("helm") is None, reason="no helm binary here (none in this project's registries)")
def test_helm_renders_valid_manifests(tmp_path: Path) -> None:  # pragma: no cover - only where helm exists
    import kubernetes_validate

    for values in VALUES_FILES:
        out = subprocess.run(
            ["helm", "template", "course-platform", str(CHART), "-n", "course", "-f", str(values)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for doc in yaml.safe_load_all(out):
            if doc:
                kubernetes_validate.validate(doc, "1.24.0", strict=True)
