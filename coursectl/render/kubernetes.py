"""Pure builders of the Kubernetes manifests coursectl owns, rendered from templates/kubernetes/*.j2.

Per service: a Deployment and a ConfigMap per slot (``<svc>-<slot>``), the stable Service ``<svc>`` (its
selector names the live slot), the preview Service ``<svc>-preview`` (the new slot), a HorizontalPodAutoscaler
(autoscaling/v2), a PodDisruptionBudget (policy/v1), a NetworkPolicy and, with ``traffic: ingress-nginx``, a
canary Ingress. Plus the deployer's ServiceAccount, Role and RoleBinding. Data in, dicts out; nothing here
talks to a cluster. Secrets appear only as ``secretKeyRef`` (a Secret's name and key), never as values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from coursectl.render.templates import render

MANAGER = "coursectl"  # field manager of every write, and app.kubernetes.io/managed-by

LABEL_NAME = "app.kubernetes.io/name"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_ENV = "coursectl.io/environment"
LABEL_SLOT = "coursectl.io/slot"
LABEL_VERSION = "coursectl.io/version"
LABEL_ROLLOUT = "coursectl.io/rollout-id"
LABEL_ROLE = "coursectl.io/role"  # stable | preview (Services), canary (Ingress)
ANN_DIGEST = "coursectl.io/digest"
ANN_IMAGE = "coursectl.io/image"
ANN_VERSION = "coursectl.io/version"
ANN_HASH = "coursectl.io/template-hash"
NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
NGINX_TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total"

DATA_DIR = "/var/lib/course-platform"  # the images' writable home (an emptyDir; root filesystem is read-only)

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ManifestError(ValueError):
    """A value that cannot go into a manifest (the adapter turns it into a precondition error)."""


def label_value(value: str, what: str) -> str:
    """``value`` when it is a valid label value (63 characters of [A-Za-z0-9-_.], alphanumeric at both ends)."""
    if not value or len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ManifestError(
            f"{what} {value!r} cannot be a Kubernetes label value (at most 63 characters of "
            "letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
        )
    return value


@dataclass(frozen=True)
class Settings:
    """What every manifest of one environment shares (from its configuration)."""

    namespace: str
    environment: str
    project: str = "course-platform"
    replicas: int = 2
    requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "100m", "memory": "128Mi"})
    limits: Mapping[str, str] = field(default_factory=lambda: {"memory": "256Mi"})
    run_as_user: int = 10001
    liveness_path: str = "/health/live"
    progress_deadline: int = 90
    strategy: str = "rolling"
    secret_name: str = "course-platform"
    secret_keys: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    image_pull_secrets: tuple[str, ...] = ()
    autoscaling: bool = True
    max_replicas: int = 6
    cpu_utilization: int = 70
    min_available: int = 1
    ingress_class: str = "nginx"
    ingress_host: str | None = None
    path_prefix: str = "/api"
    ingress_namespace: str | None = "ingress-nginx"
    monitoring_namespace: str | None = "monitoring"
    allow_cidrs: tuple[str, ...] = ()
    platform_configmap: str = "course-platform"
    deployer: str = "coursectl-deployer"

    @classmethod
    def from_config(cls, config: Any, env_name: str) -> Settings:
        """From a loaded Config and the name of one of its kubernetes environments."""
        env = config.environments[env_name]
        k8s = env.kubernetes
        return cls(
            namespace=str(env.namespace),
            environment=env_name,
            project=config.project,
            replicas=k8s.replicas,
            requests={k: v for k, v in k8s.requests.model_dump().items() if v},
            limits={k: v for k, v in k8s.limits.model_dump().items() if v},
            run_as_user=k8s.run_as_user,
            liveness_path=k8s.liveness_path,
            progress_deadline=max(10, int(k8s.progress_deadline or env.ready_timeout * 3 / 4)),
            strategy=env.strategy,
            secret_name=k8s.secret_name,
            secret_keys={var: (ref.secret, ref.key) for var, ref in k8s.secret_keys.items()},
            image_pull_secrets=tuple(k8s.image_pull_secrets),
            autoscaling=k8s.autoscaling.enabled,
            max_replicas=max(k8s.autoscaling.max_replicas, k8s.replicas),
            cpu_utilization=k8s.autoscaling.cpu_utilization,
            min_available=k8s.min_available,
            ingress_class=k8s.ingress.class_name,
            ingress_host=k8s.ingress.host,
            path_prefix=k8s.ingress.path_prefix.rstrip("/"),
            ingress_namespace=k8s.network.ingress_namespace,
            monitoring_namespace=k8s.network.monitoring_namespace,
            allow_cidrs=tuple(k8s.network.allow_cidrs),
            platform_configmap=k8s.platform_configmap,
        )


@dataclass(frozen=True)
class ServiceInfo:
    """One service as the manifests need it."""

    name: str
    port: int
    health: str = "/health/ready"
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # names of the variables that come from Secrets
    callers: tuple[str, ...] = ()

    @classmethod
    def all_from_config(cls, config: Any) -> dict[str, ServiceInfo]:
        return {
            name: cls(
                name=name,
                port=svc.port,
                health=svc.health,
                env=dict(svc.env),
                secrets=tuple(sorted(svc.secrets)),
                callers=tuple(sorted(svc.callers)),
            )
            for name, svc in config.services.items()
        }


@dataclass(frozen=True)
class SlotRequest:
    """What to run in one slot: the version, its image (by digest), its extra environment, its scale."""

    service: str
    slot: str
    version: str
    image: str
    digest: str | None = None
    rollout_id: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    replicas: int = 1


# names ---------------------------------------------------------------------------------------------------


def slot_name(service: str, slot: str) -> str:
    return f"{service}-{slot}"


def preview_name(service: str) -> str:
    return f"{service}-preview"


def canary_ingress_name(service: str) -> str:
    return f"{service}-canary"


def image_by_digest(image: str, digest: str | None) -> str:
    """``repo@sha256:…`` for ``repo:tag`` and a digest; the image unchanged when it already names a digest or
    no digest is known (``coursectl k8s render`` of a version never pushed)."""
    if "@" in image or not digest:
        return image
    head, _, last = image.rpartition("/")
    repo = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    return f"{repo}@{digest}"


# labels --------------------------------------------------------------------------------------------------


def common_labels(settings: Settings, service: str) -> dict[str, str]:
    return {
        LABEL_NAME: service,
        LABEL_PART_OF: settings.project,
        LABEL_MANAGED_BY: MANAGER,
        LABEL_ENV: label_value(settings.environment, "environment"),
    }


def service_selector(service: str) -> dict[str, str]:
    """Every pod of a service, whichever slot (PDB, the replica-ratio canary's stable Service)."""
    return {LABEL_NAME: service, LABEL_MANAGED_BY: MANAGER}


def slot_selector(service: str, slot: str) -> dict[str, str]:
    """The pods of one slot (a Deployment's selector; a Service selecting one slot)."""
    return {**service_selector(service), LABEL_SLOT: slot}


def managed_selector(settings: Settings, service: str | None = None) -> str:
    """The label selector (query syntax) of what coursectl manages in this environment (one service or all)."""
    return environment_selector(settings.environment, service)


def environment_selector(environment: str, service: str | None = None, slot: str | None = None) -> str:
    """``managed_selector`` from the environment's name, narrowed to one slot's pods when ``slot`` is given."""
    parts = [f"{LABEL_MANAGED_BY}={MANAGER}", f"{LABEL_ENV}={environment}"]
    if service:
        parts.insert(0, f"{LABEL_NAME}={service}")
    if slot:
        parts.append(f"{LABEL_SLOT}={slot}")
    return ",".join(parts)


def _yaml(template: str, **context: Any) -> dict[str, Any]:
    data = yaml.safe_load(render(f"kubernetes/{template}", **context))
    assert isinstance(data, dict), template
    return data


def template_hash(template: Mapping[str, Any]) -> str:
    """A short digest of a pod template: equal hashes mean the same pods."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]


# per slot ------------------------------------------------------------------------------------------------


def slot_env(settings: Settings, svc: ServiceInfo, req: SlotRequest) -> dict[str, str]:
    """The ConfigMap data of a slot: the service's and the slot's variables, then HOST/PORT/slot/version."""
    env = {**svc.env, **req.env}
    secret_vars = set(svc.secrets)
    clash = sorted(secret_vars & set(env))
    if clash:
        raise ManifestError(
            f"{', '.join(clash)} of {svc.name} come from a Secret and cannot also be set as plain environment"
        )
    for key in env:
        if not _ENV_NAME.match(key):
            raise ManifestError(f"{key!r} is not a valid environment variable name for a ConfigMap")
    return {
        **env,
        "HOST": "0.0.0.0",
        "PORT": str(svc.port),
        "SERVICE_SLOT": req.slot,  # noqa: S104 - in a pod
        "APP_VERSION": req.version,
    }


def configmap(settings: Settings, svc: ServiceInfo, req: SlotRequest) -> dict[str, Any]:
    labels = {**common_labels(settings, svc.name), LABEL_SLOT: req.slot}
    return _yaml(
        "configmap.yaml.j2",
        name=slot_name(svc.name, req.slot),
        namespace=settings.namespace,
        labels=labels,
        data=slot_env(settings, svc, req),
    )


def secret_refs(settings: Settings, svc: ServiceInfo) -> list[dict[str, str]]:
    """The secretKeyRefs of a service's secret variables: (variable, Secret, key), sorted by variable."""
    out = []
    for var in sorted(svc.secrets):
        secret, key = settings.secret_keys.get(var, (settings.secret_name, var))
        out.append({"name": var, "secret": secret, "key": key})
    return out


def deployment(settings: Settings, svc: ServiceInfo, req: SlotRequest) -> dict[str, Any]:
    """The Deployment of one slot, with its template hash annotation (what ``start`` compares)."""
    version = label_value(req.version, "version")
    name = slot_name(svc.name, req.slot)
    pod_labels = {**common_labels(settings, svc.name), LABEL_SLOT: req.slot, LABEL_VERSION: version}
    labels = dict(pod_labels)
    if req.rollout_id:
        labels[LABEL_ROLLOUT] = label_value(req.rollout_id, "rollout id")
    image = image_by_digest(req.image, req.digest)
    env_data = slot_env(settings, svc, req)
    pod_annotations = {
        "coursectl.io/config-hash": hashlib.sha256(json.dumps(env_data, sort_keys=True).encode()).hexdigest()[:16],
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(svc.port),
        "prometheus.io/path": "/metrics",
    }
    recreate = settings.strategy == "recreate"
    manifest = _yaml(
        "deployment.yaml.j2",
        name=name,
        namespace=settings.namespace,
        labels=labels,
        annotations={
            ANN_VERSION: req.version,
            ANN_IMAGE: req.image,
            **({ANN_DIGEST: req.digest} if req.digest else {}),
        },
        replicas=req.replicas,
        progress_deadline=settings.progress_deadline,
        min_ready_seconds=0,
        strategy="Recreate" if recreate else "RollingUpdate",
        max_surge="25%",
        max_unavailable=0,
        selector=slot_selector(svc.name, req.slot),
        pod_labels=pod_labels,
        pod_annotations=pod_annotations,
        run_as_user=settings.run_as_user,
        image_pull_secrets=list(settings.image_pull_secrets),
        container=svc.name,
        image=image,
        port=svc.port,
        env_from=[{"name": settings.platform_configmap, "optional": True}, {"name": name, "optional": False}],
        secret_env=secret_refs(settings, svc),
        resources={"requests": dict(settings.requests), "limits": dict(settings.limits)},
        readiness_path=svc.health,
        liveness_path=settings.liveness_path,
        data_dir=DATA_DIR,
    )
    manifest["metadata"]["annotations"][ANN_HASH] = template_hash(manifest["spec"]["template"])
    return manifest


# per service ---------------------------------------------------------------------------------------------


def stable_service(settings: Settings, svc: ServiceInfo, slot: str | None) -> dict[str, Any]:
    """The Service users reach: selecting ``slot``, or every slot (None: a replica-ratio canary)."""
    selector = slot_selector(svc.name, slot) if slot else service_selector(svc.name)
    return _yaml(
        "service.yaml.j2",
        name=svc.name,
        namespace=settings.namespace,
        labels={**common_labels(settings, svc.name), LABEL_ROLE: "stable"},
        annotations=None,
        selector=selector,
        port=svc.port,
    )


def preview_service(settings: Settings, svc: ServiceInfo, slot: str) -> dict[str, Any]:
    """The Service of the new slot: smoke checks (through the API server's proxy), analysis, canary Ingress."""
    return _yaml(
        "service.yaml.j2",
        name=preview_name(svc.name),
        namespace=settings.namespace,
        labels={**common_labels(settings, svc.name), LABEL_ROLE: "preview"},
        annotations=None,
        selector=slot_selector(svc.name, slot),
        port=svc.port,
    )


def hpa(settings: Settings, svc: ServiceInfo, slot: str, pinned: int | None = None) -> dict[str, Any]:
    """The service's autoscaler, scaling the live slot's Deployment between replicas and max_replicas; with
    ``pinned``, held at exactly that many pods (a replica-ratio canary: the autoscaler must not undo the ratio)."""
    return _yaml(
        "hpa.yaml.j2",
        name=svc.name,
        namespace=settings.namespace,
        labels=common_labels(settings, svc.name),
        target=slot_name(svc.name, slot),
        min_replicas=pinned or settings.replicas,
        max_replicas=pinned or settings.max_replicas,
        cpu_utilization=settings.cpu_utilization,
    )


def pdb(settings: Settings, svc: ServiceInfo) -> dict[str, Any]:
    return _yaml(
        "pdb.yaml.j2",
        name=svc.name,
        namespace=settings.namespace,
        labels=common_labels(settings, svc.name),
        min_available=settings.min_available,
        selector=service_selector(svc.name),
    )


def network_policy(settings: Settings, svc: ServiceInfo) -> dict[str, Any]:
    """Only the ingress controller, the declared callers, Prometheus and the configured ranges reach it."""
    namespaces = [ns for ns in (settings.ingress_namespace, settings.monitoring_namespace) if ns]
    return _yaml(
        "networkpolicy.yaml.j2",
        name=svc.name,
        namespace=settings.namespace,
        labels=common_labels(settings, svc.name),
        selector=service_selector(svc.name),
        namespaces=namespaces,
        callers=list(svc.callers),
        cidrs=list(settings.allow_cidrs),
        port=svc.port,
    )


def canary_ingress(settings: Settings, svc: ServiceInfo, weight: int) -> dict[str, Any]:
    """The ingress-nginx canary Ingress: ``weight`` of 100 to the preview Service, on the service's route."""
    if not 0 <= weight <= 100:
        raise ManifestError(f"a canary weight is 0..100, got {weight}")
    annotations = {NGINX_CANARY: "true", NGINX_WEIGHT: str(weight), NGINX_TOTAL: "100"}
    return _yaml(
        "ingress-canary.yaml.j2",
        name=canary_ingress_name(svc.name),
        namespace=settings.namespace,
        labels={**common_labels(settings, svc.name), LABEL_ROLE: "canary"},
        annotations=annotations,
        class_name=settings.ingress_class,
        host=settings.ingress_host,
        path=f"{settings.path_prefix}/{svc.name}",
        backend=preview_name(svc.name),
    )


def service_objects(settings: Settings, svc: ServiceInfo) -> list[dict[str, Any]]:
    """The per-service objects a slot's start keeps applied: PodDisruptionBudget and NetworkPolicy."""
    return [pdb(settings, svc), network_policy(settings, svc)]


# the deployer's identity ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One Role rule: verbs on resources of an API group (optionally only named objects)."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()


# Every verb coursectl uses, per resource. Objects are written by server-side apply, a PATCH that creates the
# object when it does not exist yet — which the API server authorizes as create as well as patch. A retired slot
# is scaled to zero (PATCH), nothing is ever deleted or updated with PUT, and Secrets are only checked to exist,
# by name, reading their metadata (never listed, never read whole).
PERMISSIONS: tuple[Rule, ...] = (
    Rule("apps", ("deployments",), ("create", "get", "list", "patch", "watch")),
    Rule("", ("services",), ("create", "get", "list", "patch")),
    Rule("", ("services/proxy",), ("get",)),
    Rule("", ("configmaps",), ("create", "get", "patch")),
    Rule("", ("pods",), ("list",)),
    Rule("", ("pods/log",), ("get",)),
    Rule("", ("events",), ("list",)),
    Rule("", ("secrets",), ("get",)),
    Rule("autoscaling", ("horizontalpodautoscalers",), ("create", "get", "patch")),
    Rule("policy", ("poddisruptionbudgets",), ("create", "get", "patch")),
    Rule("networking.k8s.io", ("networkpolicies",), ("create", "get", "patch")),
    Rule("networking.k8s.io", ("ingresses",), ("create", "get", "list", "patch")),
)


def role_rules(secret_names: Sequence[str]) -> list[Rule]:
    """The Role's rules: ``PERMISSIONS`` with the Secrets limited to ``secret_names`` (none: no Secret rule)."""
    out = []
    for rule in PERMISSIONS:
        if rule.resources == ("secrets",):
            if secret_names:
                out.append(Rule(rule.group, rule.resources, rule.verbs, tuple(sorted(set(secret_names)))))
            continue
        out.append(rule)
    return out


def rbac(settings: Settings, rules: Sequence[Rule]) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding of the deployer in the environment's namespace (no ClusterRole)."""
    text = render(
        "kubernetes/rbac.yaml.j2",
        name=settings.deployer,
        namespace=settings.namespace,
        labels={LABEL_PART_OF: settings.project, LABEL_MANAGED_BY: MANAGER},
        rules=[
            {
                "group": r.group,
                "resources": list(r.resources),
                "verbs": list(r.verbs),
                "resource_names": list(r.resource_names),
            }
            for r in rules
        ],
    )
    return [doc for doc in yaml.safe_load_all(text) if doc]


# whole environment ---------------------------------------------------------------------------------------


def environment_objects(
    settings: Settings,
    services: Mapping[str, ServiceInfo],
    slots: Iterable[SlotRequest],
    *,
    live: Mapping[str, str],
    traffic: str = "replicas",
    rules: Sequence[Rule] = (),
) -> list[dict[str, Any]]:
    """Everything ``coursectl k8s render`` writes: per slot, per service (with ``live`` slot → stable Service
    selector and HPA target), and the deployer's RBAC when ``rules`` are given."""
    out: list[dict[str, Any]] = []
    for req in slots:
        svc = services[req.service]
        out += [configmap(settings, svc, req), deployment(settings, svc, req)]
    for name in sorted(live):
        svc, slot = services[name], live[name]
        out += [stable_service(settings, svc, slot), preview_service(settings, svc, slot)]
        if settings.autoscaling:
            out.append(hpa(settings, svc, slot))
        out += service_objects(settings, svc)
        if traffic == "ingress-nginx":
            out.append(canary_ingress(settings, svc, 0))
    if rules:
        out += rbac(settings, rules)
    return out


def file_name(obj: Mapping[str, Any]) -> str:
    """``<kind>-<name>.yaml`` in lower case, for ``coursectl k8s render --out DIR``."""
    return f"{str(obj['kind']).lower()}-{obj['metadata']['name']}.yaml"


def to_yaml(objs: Sequence[Mapping[str, Any]]) -> str:
    """A multi-document YAML stream (keys in manifest order)."""
    return "---\n".join(yaml.safe_dump(dict(o), sort_keys=False, default_flow_style=False) for o in objs)
