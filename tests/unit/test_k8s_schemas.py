"""Every manifest coursectl renders, validated against the official schemas twice: kubernetes-validate for
Kubernetes 1.24 (the oldest minor the README supports; strict: unknown fields are errors) and the OpenAPI v3
documents recorded from a real v1.24 API server (shared/fixtures/kubernetes/openapi-v3-*.json), with every object
schema closed (additionalProperties: false) unless the API marks it open."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from coursectl.render import kubernetes as km
from coursectl.render.kubernetes import role_rules
from tests.conftest import FIXTURES, NO_FIXTURES, REPO

K8S = FIXTURES / "kubernetes"
OLDEST = "1.24.0"
DOCS = {
    "v1": "openapi-v3-api-v1.json",
    "apps/v1": "openapi-v3-apis-apps-v1.json",
    "autoscaling/v2": "openapi-v3-apis-autoscaling-v2.json",
    "networking.k8s.io/v1": "openapi-v3-apis-networking-k8s-io-v1.json",
    "policy/v1": "openapi-v3-apis-policy-v1.json",
    "rbac.authorization.k8s.io/v1": "openapi-v3-apis-rbac-authorization-k8s-io-v1.json",
}
needs_openapi = pytest.mark.skipif(not K8S.is_dir(), reason=NO_FIXTURES)


def _close(node: Any) -> None:
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for value in node:
            _close(value)


@cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    doc = json.loads((K8S / DOCS[api_version]).read_text())
    group, _, version = api_version.rpartition("/")
    components = copy.deepcopy(doc["components"])
    _close(components)
    for name, schema in components["schemas"].items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if (gvk["group"], gvk["version"], gvk["kind"]) == (group, version, kind):
                return jsonschema.Draft7Validator(
                    {"$ref": f"#/components/schemas/{name}", "components": components}
                )
    raise LookupError(f"{api_version} {kind} is not in {DOCS[api_version]}")


def openapi_errors(obj: dict[str, Any]) -> list[str]:
    validator = _validator(obj["apiVersion"], obj["kind"])
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]


def both(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, OLDEST, strict=True)
    assert openapi_errors(obj) == [], (obj["kind"], obj["metadata"]["name"])


SERVICES = {
    "user": km.ServiceInfo("user", 8001, env={"LOG_LEVEL": "info"}, secrets=("JWT_SECRET",)),
    "course": km.ServiceInfo("course", 8002, callers=("content", "enrollment", "payment")),
    "content": km.ServiceInfo("content", 8006, secrets=("CONTENT_SIGNING_KEY", "JWT_SECRET")),
}
SETTINGS = [
    km.Settings(
        namespace="course-prod",
        environment="prod",
        strategy="canary",
        image_pull_secrets=("regcred",),
        ingress_host="course.example.org",
        allow_cidrs=("10.0.0.0/8",),
        secret_keys={"CONTENT_SIGNING_KEY": ("content-keys", "signing-key")},
    ),
    km.Settings(
        namespace="course-staging",
        environment="staging",
        strategy="rolling",
        autoscaling=False,
        monitoring_namespace=None,
        requests={},
        limits={},
    ),
    km.Settings(
        namespace="drill",
        environment="drill",
        strategy="recreate",
        ingress_namespace=None,
        monitoring_namespace=None,
        replicas=1,
        min_available=0,
    ),
]


def everything(settings: km.Settings, traffic: str) -> list[dict[str, Any]]:
    slots = [
        km.SlotRequest(
            name,
            slot,
            "1.4.0-rc.1",
            f"registry.example.org/course-platform/{name}:1.4.0",
            "sha256:" + "c" * 64,
            rollout_id="0123456789ab",
            env={"FAULT_ERROR_RATE": "0.3"},
            replicas=1 if slot == "canary" else settings.replicas,
        )
        for name in SERVICES
        for slot in ("stable", "canary")
    ]
    objs = km.environment_objects(
        settings,
        SERVICES,
        slots,
        live={n: "stable" for n in SERVICES},
        traffic=traffic,
        rules=role_rules(["course-platform", "content-keys"]),
    )
    for svc in SERVICES.values():
        objs += [km.stable_service(settings, svc, None), km.canary_ingress(settings, svc, 37)]
    return objs


@needs_openapi
@pytest.mark.parametrize("traffic", ["replicas", "ingress-nginx"])
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.environment)
def test_every_rendered_manifest_is_valid_for_kubernetes_1_24(settings: km.Settings, traffic: str) -> None:
    objs = everything(settings, traffic)
    kinds = {o["kind"] for o in objs}
    assert kinds >= {
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceAccount",
        "Role",
        "RoleBinding",
    }
    for obj in objs:
        both(obj)


@needs_openapi
@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_shipped_configuration_renders_valid_manifests(env: str, tmp_path: Path) -> None:
    from coursectl.api.kubernetes import render_environment
    from coursectl.config import load_config
    from coursectl.ledger import open_ledger

    loaded = load_config(str(REPO / "coursectl.yaml"), env)
    ledger = open_ledger(tmp_path)
    rendered = render_environment(loaded, ledger, version="1.0.0", digest="sha256:" + "d" * 64)
    assert len(rendered.objects) >= 6 * 7
    for obj in rendered.objects:
        both(obj)


@needs_openapi
def test_the_validators_catch_mistakes() -> None:
    """Both checks are live: a wrong type and an unknown field are refused by each."""
    dep = km.deployment(
        SETTINGS[0], SERVICES["user"], km.SlotRequest("user", "blue", "1", "r/u:1", "sha256:" + "a" * 64)
    )
    wrong = copy.deepcopy(dep)
    wrong["spec"]["replicas"] = "two"
    typo = copy.deepcopy(dep)
    typo["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    for bad in (wrong, typo):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, OLDEST, strict=True)
        assert openapi_errors(bad)


@needs_openapi
def test_the_recorded_objects_pass_the_same_checks() -> None:
    """The checker agrees with the real server: what it answered validates (status and server fields dropped)."""
    for name in (
        "deployment-complete.json",
        "service-created.json",
        "hpa-created.json",
        "pdb-created.json",
        "networkpolicy.json",
        "ingress-canary.json",
    ):
        obj = json.loads((K8S / name).read_text())
        obj.pop("status", None)
        template_meta = obj.get("spec", {}).get("template", {}).get("metadata", {})
        if template_meta.get("creationTimestamp", "") is None:  # the server prints null; the schema says string
            del template_meta["creationTimestamp"]
        assert openapi_errors(obj) == [], name
