"""The configuration model of a kubernetes environment's ``kubernetes:`` block (objects, traffic, access)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _seconds(value: object) -> float:
    from coursectl.config.models import parse_duration

    return parse_duration(value)


Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
            "description": "seconds, or a duration such as 10s, 2m",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _quantity(value: str | None) -> str | None:
    if value is not None and not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)")
    return value


class ResourceAmounts(_Strict):
    """CPU and memory of one container (Kubernetes quantities)."""

    cpu: str | None = None
    memory: str | None = None

    @field_validator("cpu", "memory")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return _quantity(value)


def _requests() -> ResourceAmounts:
    return ResourceAmounts(cpu="100m", memory="128Mi")


def _limits() -> ResourceAmounts:
    return ResourceAmounts(memory="256Mi")


class Autoscaling(_Strict):
    """The HorizontalPodAutoscaler (autoscaling/v2) of every service; it follows the live slot."""

    enabled: bool = True
    max_replicas: int = Field(default=6, ge=1, le=1000)
    cpu_utilization: int = Field(default=70, ge=1, le=100, description="target average CPU utilisation, percent")


class SecretKey(_Strict):
    """Where one secret variable comes from: a key of a Secret that exists in the namespace."""

    secret: str
    key: str

    @field_validator("secret")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _DNS_SUBDOMAIN.match(value) or len(value) > 253:
            raise ValueError(f"{value!r} is not a valid Secret name")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _SECRET_KEY.match(value):
            raise ValueError(f"{value!r} is not a valid Secret key (letters, digits, '-', '_', '.')")
        return value


class IngressConfig(_Strict):
    """Where the platform's Ingress routes live (the chart's), so canary Ingresses can match them."""

    class_name: str = Field(default="nginx", description="ingressClassName of the platform's Ingress")
    host: str | None = Field(default=None, description="host of the platform's Ingress rules (None: any host)")
    path_prefix: str = Field(default="/api", description="services are routed at <path_prefix>/<service>")


class NetworkConfig(_Strict):
    """Who may reach a service besides its declared callers (NetworkPolicies)."""

    ingress_namespace: str | None = Field(
        default="ingress-nginx", description="namespace of the ingress controller (None: no ingress reaches it)"
    )
    monitoring_namespace: str | None = Field(
        default="monitoring", description="namespace of the Prometheus that scrapes the slots (None: no scraping)"
    )
    allow_cidrs: list[str] = Field(
        default_factory=list,
        description="extra source ranges, e.g. the API server's addresses when smoke checks go through its proxy",
    )


class KubernetesConfig(_Strict):
    """The ``kubernetes:`` block of a kubernetes environment."""

    kubeconfig: str | None = Field(
        default=None, description="kubeconfig file; default --kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster"
    )
    traffic: Literal["replicas", "ingress-nginx"] = Field(
        default="replicas",
        description="canary weights as a replica ratio (the stable Service selects both slots) or as an "
        "ingress-nginx canary Ingress with exact weights",
    )
    replicas: int = Field(default=2, ge=1, le=1000, description="pods of a service's live slot")
    requests: ResourceAmounts = Field(default_factory=_requests)
    limits: ResourceAmounts = Field(default_factory=_limits)
    autoscaling: Autoscaling = Field(default_factory=lambda: Autoscaling())
    min_available: int = Field(default=1, ge=0, description="PodDisruptionBudget minAvailable of each service")
    smoke: bool = Field(
        default=True, description="smoke-check a new slot through the API server's service proxy to <svc>-preview"
    )
    secret_name: str = Field(
        default="course-platform",
        description="the Secret holding the services' secret variables (key = variable name)",
    )
    secret_keys: dict[str, SecretKey] = Field(
        default_factory=dict, description="per variable: another Secret / key than secret_name / the variable"
    )
    image_pull_secrets: list[str] = Field(default_factory=list)
    run_as_user: int = Field(default=10001, ge=1, description="the non-root user the services' images run as")
    liveness_path: str = Field(default="/health/live", description="liveness probe path of every service")
    progress_deadline: Seconds | None = Field(
        default=None,
        description="Deployment progressDeadlineSeconds (default: 3/4 of the environment's ready_timeout, so that "
        "the Deployment controller's verdict, with its reasons, comes before coursectl's own timeout)",
    )
    request_timeout: Seconds = Field(default=30.0, description="timeout of one API request")
    ingress: IngressConfig = Field(default_factory=lambda: IngressConfig())
    network: NetworkConfig = Field(default_factory=lambda: NetworkConfig())
    platform_configmap: str = Field(
        default="course-platform",
        description="the chart's shared ConfigMap every slot also takes its environment from",
    )

    @field_validator("secret_name", "platform_configmap")
    @classmethod
    def _object_name(cls, value: str) -> str:
        if not _DNS_SUBDOMAIN.match(value) or len(value) > 253:
            raise ValueError(f"{value!r} is not a valid Kubernetes object name")
        return value

    @field_validator("image_pull_secrets")
    @classmethod
    def _pull_secrets(cls, value: list[str]) -> list[str]:
        for name in value:
            cls._object_name(name)
        return value

    @model_validator(mode="after")
    def _paths(self) -> KubernetesConfig:
        for path in (self.liveness_path, self.ingress.path_prefix):
            if not path.startswith("/"):
                raise ValueError(f"paths start with '/': {path!r}")
        return self


def valid_namespace(value: str) -> bool:
    """Whether ``value`` can be a namespace name (an RFC 1123 label)."""
    return bool(_DNS_LABEL.match(value)) and len(value) <= 63
