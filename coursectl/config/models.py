"""The configuration models of coursectl.yaml: every key typed, unknown keys rejected."""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from coursectl.config.kubernetes import KubernetesConfig, valid_namespace
from coursectl.config.secrets import SecretRef
from coursectl.domain import NOTIFY_EVENTS, SLOT_PORT_OFFSETS, slot_port

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")


MAX_DURATION = 10 * 365 * 86400.0
"""The longest duration accepted anywhere (ten years): longer ones are mistakes, and overflow date arithmetic."""


def parse_duration(value: object) -> float:
    """Seconds from ``10``, ``10s``, ``1.5m``, ``250ms``, ``2h`` or ``1d``: finite, 0 to ten years."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10s, 2m or 1h")
    seconds: float | None = None
    if isinstance(value, int | float):
        if value != value:  # NaN
            raise ValueError("expected a duration such as 10s, 2m or 1h, got NaN")
        seconds = float(value) if -1e300 < value < 1e300 else math.copysign(math.inf, value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds is None:
        shown = str(value)[:40]
        raise ValueError(f"expected a duration such as 10s, 2m or 1h, got {shown!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if not seconds <= MAX_DURATION:
        raise ValueError(f"a duration can be at most ten years ({MAX_DURATION:.0f} s), got {str(value)[:40]}")
    return seconds


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def parse_host_port(value: str, *, need_port: bool) -> tuple[str, int | None]:
    """``host:port`` (``[v6]:port``) split and checked: an IP address or a host name, a port from 1 to 65535."""
    if not isinstance(value, str):
        raise ValueError("expected host:port")
    host, port_text = value, ""
    if value.startswith("["):
        close = value.find("]")
        if close < 0 or (len(value) > close + 1 and value[close + 1] != ":"):
            raise ValueError(f"expected [IPv6]:port, got {value[:60]!r}")
        host, port_text = value[1:close], value[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host[:60]!r} is not an IPv6 address") from None
    else:
        if value.count(":") == 1:
            host, port_text = value.split(":")
        elif ":" in value:
            raise ValueError(f"expected host:port (an IPv6 address goes in brackets), got {value[:60]!r}")
        if not _HOSTNAME.match(host):
            raise ValueError(f"{host[:60]!r} is not a host name or IP address")
    if not port_text:
        if need_port or value.endswith(":"):
            raise ValueError(f"expected host:port, got {value[:60]!r}")
        return host, None
    if (
        not port_text.isascii()
        or not port_text.isdigit()
        or len(port_text) > 5
        or not 1 <= int(port_text) <= 65535
    ):
        raise ValueError(f"the port must be a number from 1 to 65535, got {port_text[:20]!r}")
    return host, int(port_text)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
            ],
            "description": "seconds, or a duration such as 250ms, 10s, 2m, 1h, 1d",
        }
    ),
]
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.I)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
}


def parse_size(value: object) -> int:
    """Bytes from ``1048576``, ``512KiB``, ``8MiB``, ``16MB`` or ``1GiB``."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 8MiB")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()])
    raise ValueError(f"expected a size such as 1MiB, 16MB or 1048576, got {value!r}")


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kKmMgG]i?[bB]?|[bB])?\s*$"},
            ],
            "description": "bytes, or a size such as 512KiB, 8MiB, 16MB, 1GiB",
        }
    ),
]
Port = Annotated[int, Field(ge=1, le=65535)]
Severity = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]


class Strict(BaseModel):
    """Base of every configuration model: unknown keys are errors; values are frozen once loaded."""

    # strict: true is not a port and "10" is not a number; NaN and infinity are never a valid setting
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False)


class PrebuildConfig(Strict):
    """Commands run on the building machine before a service's image is built (e.g. a front end's bundle)."""

    run: list[list[str]] = Field(
        min_length=1,
        description="argv lists run in order in the service folder, e.g. [[npm, ci], [npm, run, build]]",
    )
    outputs: list[str] = Field(
        default_factory=list,
        description="folders (relative to the service folder) the commands write: they reach the image but are not"
        " build inputs (their sources are)",
    )
    timeout: Duration = Field(900.0, description="time allowed for all the commands together")

    @field_validator("run")
    @classmethod
    def _argv(cls, value: list[list[str]]) -> list[list[str]]:
        if any(not argv or not argv[0].strip() for argv in value):
            raise ValueError("each command is a non-empty argv list such as [npm, ci]")
        return value

    @field_validator("outputs")
    @classmethod
    def _relative(cls, value: list[str]) -> list[str]:
        bad = [o for o in value if not o.strip("/") or o.startswith("/") or ".." in o.split("/")]
        if bad:
            raise ValueError(f"outputs are folders inside the service folder, got {', '.join(map(repr, bad))}")
        return [o.strip("/") for o in value]


class ServiceConfig(Strict):
    """One service of the platform: where its code is and how it is reached."""

    path: str = Field(description="folder of the service, relative to the configuration file")
    port: Port = Field(description="the port the service listens on")
    health: str = Field("/health/ready", description="readiness path checked before traffic is sent")
    dockerfile: str | None = Field(None, description="Dockerfile; default <path>/Dockerfile")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment for the service")
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict, description="environment variables of the service taken from secret references"
    )
    smoke: list[str] = Field(
        default_factory=lambda: ["/health/ready", "/version"], description="paths a smoke check GETs"
    )
    callers: list[str] = Field(
        default_factory=list, description="services that call this one (kubernetes: its NetworkPolicy admits them)"
    )
    route: str | None = Field(
        None,
        description="path prefix the edge sends to this service (default /api/<name>/); '/' makes it the edge's"
        " default: every path no other service takes, except unknown /api/ paths",
    )
    shared: list[str] | None = Field(
        None, description="shared folders this image includes (default: build.shared); [] for none"
    )
    prebuild: PrebuildConfig | None = Field(None, description="commands run before the image is built")
    depends_on: list[str] = Field(
        default_factory=list,
        description="services a release rolls out before this one (in an earlier wave; see release.order)",
    )

    @field_validator("route")
    @classmethod
    def _route(cls, value: str | None) -> str | None:
        if value is not None and (
            not re.fullmatch(r"/([A-Za-z0-9._~-]+/)*", value) or {".", ".."} & set(value.split("/"))
        ):
            raise ValueError("a route is a path prefix that starts and ends with '/', e.g. /api/user/ or /")
        return value


class RegistryConfig(Strict):
    """The image registry images are pushed to."""

    url: str = Field(description="host[:port] of the registry (Docker Registry v2 API)")
    namespace: str = Field("course-platform", description="repository prefix: <url>/<namespace>/<service>")
    kind: Literal["v2", "ecr"] = "v2"
    region: str | None = Field(None, description="AWS region (ECR only)")
    insecure: bool = Field(False, description="plain HTTP (loopback registries are always allowed)")
    username: SecretRef | None = None
    password: SecretRef | None = None

    @field_validator("url")
    @classmethod
    def _no_scheme(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("give host[:port] without a scheme, e.g. 127.0.0.1:5000")
        parse_host_port(value, need_port=False)
        return value


TagPolicy = Literal["git-sha", "branch", "build-number", "semver", "inputs"]


class BuildConfig(Strict):
    """How images are built and tagged."""

    context: str = Field("platform-services", description="build context shared by every service")
    shared: list[str] = Field(
        default_factory=lambda: ["common"],
        description="folders inside the context every image includes (a change there rebuilds every service)",
    )
    base_image: str = Field("python:3.11-slim", description="BASE_IMAGE build argument")
    tags: list[TagPolicy] = Field(default_factory=lambda: list(DEFAULT_TAGS))
    parallel: int = Field(2, ge=1, le=32)
    timeout: Duration = 1800.0


DEFAULT_TAGS: tuple[TagPolicy, ...] = ("git-sha", "branch", "build-number", "semver", "inputs")
DEFAULT_SCANNERS: tuple[Literal["trivy", "snyk"], ...] = ("trivy", "snyk")


class ScanConfig(Strict):
    """Which scanners run and what blocks a change."""

    scanners: list[Literal["trivy", "snyk"]] = Field(default_factory=lambda: list(DEFAULT_SCANNERS))
    fail_on: Severity = "HIGH"
    ignore_unfixed: bool = False
    ignore_file: str = ".coursectl-ignore.yaml"
    skip_missing: bool = Field(False, description="a scanner that is not installed is a recorded skip")
    timeout: Duration = 900.0
    trivy_cache_dir: str | None = Field(None, description="Trivy's --cache-dir (where its vulnerability DB lives)")
    offline: bool = Field(False, description="Trivy uses its cached DB only (--skip-db-update and friends)")


class SbomConfig(Strict):
    """Software bills of materials (syft): where the image is read from, and the licence policy."""

    enabled: bool = Field(True, description="release makes an SBOM of every image it builds")
    source: Literal["auto", "docker", "registry"] = Field(
        "auto", description="where syft reads the image: the engine, the registry, or auto (engine when it has it)"
    )
    deny_licenses: list[str] = Field(
        default_factory=list,
        description="SPDX licence ids or patterns (AGPL-*, GPL-3.0) that block a release, like a scan finding",
    )
    allow_unknown: bool = Field(True, description="a package that declares no licence does not block")
    skip_missing: bool = Field(False, description="syft not installed is a recorded skip instead of exit 4")
    timeout: Duration = Field(600.0, description="how long one syft run may take")

    @field_validator("deny_licenses")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("a licence id or pattern cannot be blank")
        return [v.strip() for v in value]


def _sonar_token() -> SecretRef:
    return SecretRef(env="SONAR_TOKEN")


class SonarQubeConfig(Strict):
    """Where the SonarQube server is and how its quality gate is awaited."""

    url: str | None = Field(None, description="server URL; default: serverUrl of report-task.txt")
    token: SecretRef = Field(default_factory=_sonar_token, description="a user token (default env SONAR_TOKEN)")
    project_key: str | None = Field(None, description="default project key; default: the report-task.txt's")
    report_task: str = Field(".scannerwork/report-task.txt", description="the scanner's metadata file")
    timeout: Duration = Field(300.0, description="how long to wait for the compute-engine task")
    poll_interval: Duration = Field(5.0, description="pause between two polls of the compute-engine task")
    none_is_failure: bool = Field(True, description="a project without a quality gate (NONE) blocks")


class MetricCheck(Strict):
    """One metric judged at every analysis interval."""

    name: str = Field(description="error-rate, latency-p95, or a name of your own with a query")
    query: str | None = Field(
        None,
        description="PromQL; {service}, {slot}, {window} and {selector} (service, version, user routes) are"
        " filled in",
    )
    max: float | None = None
    min: float | None = None
    on_no_data: Literal["fail", "inconclusive"] = Field(
        "fail", description="no value although there was traffic: a failure, or inconclusive"
    )
    min_requests: int | None = Field(
        None,
        ge=0,
        description="user requests a measurement window needs to be judged (fewer: inconclusive);"
        " default: the environment's, else analysis.min_requests",
    )
    requests_query: str | None = Field(
        None, description="PromQL counting the requests this metric is based on; default analysis.requests_query"
    )

    @model_validator(mode="after")
    def _has_threshold(self) -> MetricCheck:
        if self.max is None and self.min is None:
            raise ValueError(f"metric {self.name!r} needs a threshold: max or min")
        if self.name not in ("error-rate", "latency-p95") and not self.query:
            raise ValueError(f"metric {self.name!r} is not built in: give its PromQL as 'query'")
        return self


def _default_metrics() -> list[MetricCheck]:
    return [MetricCheck(name="error-rate", max=0.01), MetricCheck(name="latency-p95", max=0.5)]


def _default_excluded_routes() -> list[str]:
    return ["/health/.*", "/metrics", "/version"]


class AnalysisConfig(Strict):
    """How a canary (or a new colour) is judged."""

    interval: Annotated[Duration, Field(gt=0)] = 10.0
    failure_limit: int = Field(2, ge=0)
    inconclusive_limit: int = Field(2, ge=0)
    compare_with_stable: bool = True
    max_ratio_to_stable: float = Field(2.0, gt=0, description="canary value may be at most this × stable's")
    metrics: list[MetricCheck] = Field(default_factory=_default_metrics)
    min_requests: int = Field(
        20, ge=0, description="user requests a measurement window needs to be judged (fewer: inconclusive)"
    )
    on_no_traffic: Literal["pause", "abort"] = Field(
        "pause", description="too few user requests for more than inconclusive_limit rounds: pause or abort"
    )
    exclude_routes: list[str] = Field(
        default_factory=_default_excluded_routes,
        description="route templates (regexes on the route label) that are not user traffic",
    )
    requests_query: str | None = Field(
        None,
        description="PromQL counting a slot's user requests in {window}; default"
        ' sum(increase(http_requests_total{slot="{slot}",{selector}}[{window}]))',
    )
    observe_timeout: Annotated[Duration, Field(gt=0)] | None = Field(
        None,
        description="how long a new slot waits for the metrics provider's first scrapes of it before users are"
        " sent to it anyway (analysis then decides; no data never promotes); default max(15 s, 4 scrapes)",
    )


class Step(Strict):
    """One canary step: send ``weight`` percent to the canary, then wait ``pause`` while analysing."""

    weight: int | None = Field(None, ge=0, le=100)
    pause: Duration | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Step:
        if self.weight is None and self.pause is None:
            raise ValueError("a step needs a weight, a pause, or both")
        return self


class EdgeConfig(Strict):
    """The HAProxy edge in front of the docker target."""

    bind: str = "127.0.0.1:8080"
    stats_bind: str = "127.0.0.1:8404"
    rate_limit_requests: int = Field(200, ge=1, description="requests per client per period")
    rate_limit_period: Duration = 10.0

    @field_validator("bind", "stats_bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value, need_port=True)
        return value

    @model_validator(mode="after")
    def _distinct(self) -> EdgeConfig:
        if parse_host_port(self.bind, need_port=True)[1] == parse_host_port(self.stats_bind, need_port=True)[1]:
            raise ValueError(f"bind and stats_bind use the same port ({self.bind} and {self.stats_bind})")
        return self


OnReleaseFailure = Literal["rollback-all", "keep"]


class LoadStepConfig(Strict):
    """A bounded load through the environment's edge, judged against thresholds (``coursectl loadtest``'s
    defaults for the environment, and the ``load`` step of its releases)."""

    rps: float = Field(20.0, gt=0, le=100000, description="target requests per second")
    duration: Duration = Field(30.0, description="how long the load runs")
    connections: int = Field(4, ge=1, le=64, description="parallel connections")
    p95_max: Duration = Field(0.5, description="highest acceptable 95th-percentile latency")
    error_rate_max: float = Field(0.01, ge=0, le=1, description="highest acceptable share of failed requests")
    min_rate_ratio: float = Field(
        0.9, gt=0, le=1, description="share of the target rate the generator must reach, else the test fails"
    )
    paths: list[str] | None = Field(None, description="read paths (default: the journey's read paths)")

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or any(not p.startswith("/") for p in value)):
            raise ValueError("paths are a non-empty list of paths that start with '/'")
        return value


class ReleaseConfig(Strict):
    """How ``coursectl release`` rolls several services out: in waves, in parallel within a wave."""

    order: list[list[str]] = Field(
        default_factory=list,
        description="groups of services, released one group after the other (services not named join the last"
        " group); services.<name>.depends_on orders them too",
    )
    parallel: int = Field(3, ge=1, le=64, description="services of one wave rolled out at the same time")
    on_failure: OnReleaseFailure | None = Field(
        None,
        description="rollback-all: a failed service rolls every service the release promoted back, last first;"
        " keep: they stay (default: rollback-all for protected environments, keep otherwise)",
    )
    keep_old_warm: bool = Field(
        True,
        description="blue-green: every service's old colour keeps running until the whole release is good (a"
        " rollback meanwhile is one switch back; the waves do not wait out scale_down_delay one by one); false:"
        " each rollout retires its old colour itself, scale_down_delay after its own promotion (half the slots)",
    )


class EnvironmentReleaseConfig(Strict):
    """An environment's own release settings (over the top-level ``release``)."""

    parallel: int | None = Field(None, ge=1, le=64, description="release.parallel for this environment")
    on_failure: OnReleaseFailure | None = Field(None, description="release.on_failure for this environment")
    keep_old_warm: bool | None = Field(None, description="release.keep_old_warm for this environment")
    load: LoadStepConfig | None = Field(
        None, description="a load test after the rollout, before the release is declared good (a breach fails it)"
    )


class EnvironmentConfig(Strict):
    """One environment the platform is deployed to."""

    target: Literal["docker", "kubernetes", "process"] = Field(
        description="docker (containers + HAProxy edge), kubernetes, or process (local processes behind the edge,"
        " for drills and tests without a container engine)"
    )
    strategy: Literal["recreate", "rolling", "blue-green", "canary"] = "rolling"
    docker_host: str | None = Field(None, description="docker target: engine URL; default: the sandbox engine")
    context: str | None = Field(None, description="kubernetes target: kubeconfig context")
    namespace: str | None = Field(None, description="kubernetes target: namespace")
    steps: list[Step] = Field(default_factory=list, description="canary steps")
    scale_down_delay: Duration = Field(30.0, description="blue-green: how long the old colour stays warm")
    on_failure: Literal["abort", "pause"] = "abort"
    protected: bool = Field(False, description="mutating commands ask for confirmation (or --yes)")
    edge: EdgeConfig = Field(default_factory=EdgeConfig)
    post_promotion_analysis: Duration | None = Field(
        None, description="blue-green: analyse the new colour this long after the switch (None: no analysis)"
    )
    min_requests: int | None = Field(
        None, ge=0, description="analysis.min_requests for this environment (a metric's own still wins)"
    )
    on_no_traffic: Literal["pause", "abort"] | None = Field(
        None, description="analysis.on_no_traffic for this environment"
    )
    extends: str | None = Field(
        None,
        description="another environment whose overlay file (coursectl.<extends>.yaml) is merged before this"
        " environment's own: build, scan and registry settings shared, e.g. by every local environment",
    )
    port_offset: int = Field(0, ge=0, le=50000, description="added to every slot port (environments side by side)")
    ready_timeout: Duration = Field(90.0, description="how long a new slot may take to become ready")
    prometheus_url: str | None = Field(None, description="default: the sandbox's Prometheus (kubernetes: none)")
    file_sd_dir: str | None = Field(
        None, description="where Prometheus file_sd targets go; default: the sandbox's"
    )
    process_command: list[str] | None = Field(
        None, description="process target: argv of a slot ({service} is filled in); default: a stand-in service"
    )
    process_commands: dict[str, list[str]] = Field(
        default_factory=dict,
        description="process target: the argv of particular services, instead of process_command (e.g. a service"
        " that only runs from its image)",
    )
    # kubernetes target (coursectl/config/kubernetes.py)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    public_url: str | None = Field(
        None, description="kubernetes: the platform's public URL (the ingress), for the user-journey smoke test"
    )
    release: EnvironmentReleaseConfig = Field(default_factory=EnvironmentReleaseConfig)

    @model_validator(mode="after")
    def _target_fields(self) -> EnvironmentConfig:
        if self.target == "kubernetes":
            missing = [k for k in ("context", "namespace") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a kubernetes environment needs {' and '.join(missing)}")
            if not valid_namespace(str(self.namespace)):
                raise ValueError(f"namespace {self.namespace!r} is not a valid Kubernetes namespace name")
        elif "kubernetes" in self.model_fields_set or self.public_url:
            raise ValueError(f"kubernetes and public_url are for kubernetes environments, not {self.target}")
        if self.public_url and not re.match(r"^https?://", self.public_url):
            raise ValueError("public_url must start with http:// or https://")
        if self.target in ("docker", "process") and (self.context or self.namespace):
            raise ValueError(f"context and namespace are for kubernetes environments, not {self.target}")
        if self.docker_host and not re.match(r"^(unix|tcp|ssh)://", self.docker_host):
            raise ValueError("docker_host must start with unix://, tcp:// or ssh://")
        return self


class SlackConfig(Strict):
    """Slack notifications: an incoming webhook, or a bot token (chat.postMessage, one message per rollout
    updated in place with chat.update)."""

    webhook: SecretRef | None = Field(None, description="incoming webhook URL (a secret reference)")
    token: SecretRef | None = Field(None, description="bot token xoxb-... with chat:write (a secret reference)")
    channel: str = Field("#releases", description="channel name or id (bot token only; a webhook has its own)")
    base_url: str | None = Field(None, description="Web API base URL (default https://slack.com/api/)")
    timeout: Duration = Field(10.0, description="per request")

    @model_validator(mode="after")
    def _one_way(self) -> SlackConfig:
        if self.webhook is None and self.token is None:
            raise ValueError("slack needs a webhook or a token reference")
        if self.webhook is not None and self.token is not None:
            raise ValueError("give slack a webhook or a token, not both")
        return self


class EmailConfig(Strict):
    """E-mail notifications over SMTP."""

    host: str = "127.0.0.1"
    port: Port = 25
    sender: str = "coursectl@localhost"
    recipients: list[str] = Field(default_factory=list)
    starttls: bool = Field(False, description="upgrade the connection with STARTTLS (required when true)")
    ssl: bool = Field(False, description="SMTP over TLS from the first byte (port 465)")
    ca_file: str | None = Field(None, description="CA bundle to verify the server with (default: the system's)")
    username: SecretRef | None = None
    password: SecretRef | None = None
    timeout: Duration = Field(10.0, description="per connection")

    @field_validator("recipients", "sender")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        for address in [value] if isinstance(value, str) else value:
            if "@" not in address or any(c in address for c in " \r\n<>,"):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _tls(self) -> EmailConfig:
        if self.starttls and self.ssl:
            raise ValueError("starttls and ssl exclude each other")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        return self


NotifyChannel = Literal["slack", "email", "console"]
NotifySeverity = Literal["info", "warning", "critical"]
_EVENT_NAMES = NOTIFY_EVENTS
_EVENT_FAMILIES = sorted({e.split(".", 1)[0] for e in _EVENT_NAMES})


def _check_events(events: list[str]) -> list[str]:
    known = set(_EVENT_NAMES) | set(_EVENT_FAMILIES) | {"*"}
    bad = [e for e in events if e not in known]
    if bad:
        raise ValueError(
            f"unknown event(s) {', '.join(map(repr, bad))}: expected '*', a family ({', '.join(_EVENT_FAMILIES)})"
            f" or an event ({', '.join(_EVENT_NAMES)})"
        )
    return events


class RouteConfig(Strict):
    """Which events go to which channels: every route that matches an event delivers it (once per channel)."""

    events: list[str] = Field(default_factory=lambda: ["*"], description="events or families ('deploy'); '*' all")
    environments: list[str] = Field(default_factory=list, description="only these environments (empty: all)")
    severity: NotifySeverity = Field("info", description="lowest severity this route carries")
    to: list[NotifyChannel] = Field(description="channels: slack, email, console")

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        return _check_events(value)


class LinkConfig(Strict):
    """A link shown on every notification; {service} and {environment} are filled in."""

    name: str
    url: str


class RetryConfig(Strict):
    """How a failed delivery is tried again (in the background; a deployment never waits for it)."""

    attempts: int = Field(3, ge=1, le=10, description="tries per notification and channel")
    backoff: Duration = Field(1.0, description="pause before the 2nd try; doubled each time")
    max_backoff: Duration = Field(8.0, description="longest pause between two tries")
    drain: Duration = Field(20.0, description="how long a command waits at its end for deliveries still going")


class NotificationsConfig(Strict):
    """Where events are announced: channels, routes by event / environment / severity, links, retries."""

    slack: SlackConfig | None = None
    email: EmailConfig | None = None
    events: list[str] = Field(
        default_factory=lambda: ["deploy", "rollback", "gate", "backup", "lock", "build", "alert"],
        description="events of the default route (every configured channel) when no routes are given",
    )
    routes: list[RouteConfig] = Field(default_factory=list, description="event routing; default: one route")
    links: list[LinkConfig] = Field(
        default_factory=list, description="e.g. dashboards; the pipeline's link comes from BUILD_URL"
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        return _check_events(value)

    @model_validator(mode="after")
    def _channels_exist(self) -> NotificationsConfig:
        for i, route in enumerate(self.routes):
            for channel in route.to:
                if channel in ("slack", "email") and getattr(self, channel) is None:
                    raise ValueError(
                        f"routes[{i}] sends to {channel}, which is not configured (notifications.{channel})"
                    )
        return self


class SandboxConfig(Strict):
    """The local sandbox: private engine, registry, Prometheus, Alertmanager, exporters and base image."""

    registry_port: Port = 5000
    prometheus_port: Port = 9090
    alertmanager_port: Port = 9093
    blackbox_port: Port = 9115
    node_exporter_port: Port = 9100
    receiver_port: Port = Field(9097, description="coursectl's Alertmanager webhook receiver and ledger exporter")
    base_image: str = "coursectl/base:bookworm"


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""The bucket bounds of the platform's ``http_request_duration_seconds`` histogram (course_common.metrics)."""


class SLOConfig(Strict):
    """One service level objective: a share of good requests over a rolling window."""

    name: str = Field(description="lower-case name, e.g. course-availability (the slo label of its series)")
    service: str = Field(description="a service of the platform, or 'edge' for what users get through the edge")
    sli: Literal["availability", "latency"] = Field(
        description="availability: requests not answered 5xx; latency: requests answered within threshold"
    )
    objective: float = Field(gt=0, lt=1, description="e.g. 0.999 (99.9 % of requests good)")
    window: Duration = Field(30 * 86400.0, description="rolling window of the objective, 7d..90d")
    threshold: Duration | None = Field(
        None, description="latency SLIs: a good request is answered within this (a histogram bucket bound)"
    )
    description: str = ""

    @field_validator("name")
    @classmethod
    def _slo_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("lower-case letters, digits and '-', starting with a letter")
        return value

    @field_validator("window")
    @classmethod
    def _window_range(cls, value: float) -> float:
        if not 7 * 86400 <= value <= 90 * 86400:
            raise ValueError("the window must be between 7d and 90d (the burn-rate windows reach 3 days)")
        return value

    @model_validator(mode="after")
    def _threshold(self) -> SLOConfig:
        if self.sli == "latency":
            if self.threshold is None:
                raise ValueError(f"latency SLO {self.name!r} needs a threshold (e.g. 500ms)")
            if not any(abs(self.threshold - b) < 1e-9 for b in LATENCY_BUCKETS):
                bounds = ", ".join(f"{b:g}s" for b in LATENCY_BUCKETS)
                raise ValueError(
                    f"latency SLO {self.name!r}: threshold {self.threshold:g}s is not a bucket bound of "
                    f"http_request_duration_seconds ({bounds})"
                )
        elif self.threshold is not None:
            raise ValueError(f"availability SLO {self.name!r} takes no threshold")
        return self


class AlertThresholds(Strict):
    """The plain alerts: what is too much, and for how long before it fires."""

    service_down_for: Duration = Field(60.0, description="a scrape target down this long fires ServiceDown")
    error_rate: float = Field(0.05, gt=0, le=1, description="share of 5xx answers of a service (5-minute rate)")
    error_rate_for: Duration = 300.0
    latency_p95: Duration = Field(1.0, description="95th percentile latency of a service")
    latency_for: Duration = 600.0
    queue_messages: int = Field(1000, ge=1, description="RabbitMQ messages ready in one queue")
    queue_for: Duration = 600.0
    backup_max_age: Duration = Field(26 * 3600.0, description="no good backup of a source for this long")
    backup_sources: list[str] = Field(
        default_factory=list, description="sources that must have backups (their absence alerts too)"
    )
    lock_grace: Duration = Field(300.0, description="a deploy lock this long past its expiry fires")
    probe_failed_for: Duration = Field(120.0, description="an edge route failing its blackbox probe this long")


class AlertmanagerRouting(Strict):
    """How Alertmanager groups and repeats alerts before handing them to coursectl's receiver."""

    group_wait: Duration = 30.0
    group_interval: Duration = 300.0
    repeat_interval: Duration = 4 * 3600.0
    receiver_url: str | None = Field(
        None, description="coursectl's webhook receiver; default http://127.0.0.1:<sandbox.receiver_port>"
    )


class ObservabilityConfig(Strict):
    """Alert rules, probes and dashboards rendered by `coursectl observability`."""

    evaluation_interval: Duration = Field(30.0, description="how often Prometheus evaluates the rules")
    alerts: AlertThresholds = Field(default_factory=AlertThresholds)
    alertmanager: AlertmanagerRouting = Field(default_factory=AlertmanagerRouting)
    probes: list[str] = Field(
        default_factory=list,
        description="public edge paths the blackbox exporter probes (e.g. /api/course/courses)",
    )
    dashboard_url: str = Field("http://127.0.0.1:3000", description="Grafana base URL used in alert links")

    @field_validator("probes")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not p.startswith("/") or any(c.isspace() for c in p)]
        if bad:
            raise ValueError(f"probes are paths on the edge starting with '/': {', '.join(map(repr, bad))}")
        return value


class PrometheusSource(Strict):
    """Where uptime comes from: a Prometheus server and the availability query."""

    url: str = Field(description="base URL, e.g. http://127.0.0.1:9090")
    query: str = Field(
        'avg(avg_over_time(probe_success{job="blackbox"}[{window}]))',
        description="PromQL giving availability 0..1 over the window; {window} becomes e.g. 2592000s. The default "
        "is the share of successful blackbox probes of the edge's public routes (what users would see)",
    )
    timeout: Duration = 10.0


class JenkinsSource(Strict):
    """Where the build success rate comes from: a Jenkins job's build history."""

    url: str
    job: str = Field(description="job name; folders as a/b")
    username: SecretRef | None = None
    token: SecretRef | None = Field(None, description="API token (or password) of username")
    timeout: Duration = 10.0


class SonarQubeSource(Strict):
    """Where test coverage comes from: a SonarQube project."""

    url: str
    project: str = Field(description="project key")
    token: SecretRef | None = None
    timeout: Duration = 10.0


class MetricsTargets(Strict):
    """The seed's key success metrics and their targets."""

    deployments_per_day: float = Field(3.0, gt=0, description="'several a day'")
    lead_time: Duration = 3600.0
    recovery_time: Duration = 900.0
    change_failure_rate: float = Field(0.05, ge=0, le=1)
    uptime: float = Field(0.999, ge=0, le=1)
    build_success_rate: float = Field(0.95, ge=0, le=1)
    coverage: float = Field(80.0, ge=0, le=100, description="percent")
    scan_pass_rate: float = Field(1.0, ge=0, le=1)


class MetricsConfig(Strict):
    """DORA metrics and the success-metrics report: time zone, tiers, git history and external sources."""

    environment: str = Field("prod", description="the production environment the metrics are about")
    timezone: str = Field("UTC", description="IANA zone in which windows, days and weeks are counted")
    tiers: Literal[2023, 2024] = Field(2023, description="State of DevOps report year of the tier thresholds")
    min_deployments: int = Field(5, ge=1, description="fewer deployments in a window: tiers read n/a")
    window: Duration = Field(30 * 86400.0, description="default window (--since)")
    repository: str = Field(".", description="git repository for commits of deployments (relative to this file)")
    shared_paths: list[str] = Field(
        default_factory=lambda: ["platform-services/common"],
        description="paths whose commits count for every service (shared library)",
    )
    prometheus: PrometheusSource | None = None
    jenkins: JenkinsSource | None = None
    sonarqube: SonarQubeSource | None = None
    targets: MetricsTargets = Field(default_factory=MetricsTargets)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Europe/Berlin)") from exc
        return value


class JourneyConfig(Strict):
    """The user-journey smoke test after a release: over the API, and in a browser when one is there.

    ``browser``: the storefront's browser journey — ``auto`` (when Chromium, Node.js and the storefront's npm
    packages are present and the target runs real images), ``always`` (a missing piece fails), ``never``;
    ``service``: whose folder holds ``e2e/journey.mjs``; ``chromium``: the browser it drives;
    ``admin_email`` / ``admin_password``: an admin of the user service, so the journey can make a course to buy
    (without them it buys a course the catalogue has).
    """

    enabled: bool = Field(
        True, description="false: releases record the journey as skipped (drills of stand-in services)"
    )
    browser: Literal["auto", "always", "never"] = "auto"
    service: str = "storefront"
    chromium: str = "/usr/bin/chromium"
    admin_email: str | None = None
    admin_password: SecretRef | None = None
    timeout: Duration = 300.0


# backups -------------------------------------------------------------------------------------------------------


def _keep_count(value: object) -> int:
    if value == "unlimited":
        return -1
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a count (0 or more) or 'unlimited', got {value!r}")
    if value < -1:
        raise ValueError("expected a count (0 or more) or 'unlimited'")
    return value


KeepCount = Annotated[
    int,
    BeforeValidator(_keep_count),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": -1}, {"const": "unlimited"}],
            "description": "how many to keep; 0 turns the rule off; -1 or 'unlimited' keeps all",
        }
    ),
]


class RetentionConfig(Strict):
    """Which backups of a source prune keeps, with restic's semantics (rules ORed; see docs/backups.md)."""

    keep_last: KeepCount = 0
    keep_hourly: KeepCount = 0
    keep_daily: KeepCount = 0
    keep_weekly: KeepCount = 0
    keep_monthly: KeepCount = 0
    keep_yearly: KeepCount = 0


class LocalStoreConfig(Strict):
    """Backups in a directory (a mounted disk, NFS)."""

    type: Literal["local"]
    path: str = Field(description="the directory; relative paths are relative to this file")


class S3StoreConfig(Strict):
    """Backups in an S3 bucket (or anything speaking the S3 API)."""

    type: Literal["s3"]
    bucket: str
    prefix: str = Field("coursectl", description="key prefix inside the bucket")
    endpoint_url: str | None = Field(None, description="S3 API endpoint; default: AWS for the region")
    region: str = "us-east-1"
    access_key_id: SecretRef | None = Field(None, description="default: boto3's credential chain")
    secret_access_key: SecretRef | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    part_size: Size = Field(
        16 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        le=5 * 1024**3,
        description="multipart upload part size (larger objects are uploaded in parts)",
    )
    timeout: Duration = Field(60.0, description="connect and read timeout of one request")

    @model_validator(mode="after")
    def _both_keys(self) -> S3StoreConfig:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        return self


StoreConfig = Annotated[LocalStoreConfig | S3StoreConfig, Field(discriminator="type")]


class _SourceBase(Strict):
    store: str = Field(description="name of the store (backups.stores) this source's backups go to")
    retention: RetentionConfig = Field(default_factory=RetentionConfig)


class MariaDBSourceConfig(_SourceBase):
    """MySQL/MariaDB databases: a consistent logical dump per database, with row counts and CHECKSUM TABLE."""

    type: Literal["mariadb"]
    databases: list[str] = Field(min_length=1)
    host: str = "127.0.0.1"
    port: Port = 3306
    socket: str | None = Field(None, description="unix socket (instead of host and port)")
    user: str = "backup"
    password: SecretRef | None = None
    dump_command: str = Field("mariadb-dump", description="mariadb-dump or mysqldump")
    client_command: str = Field("mariadb", description="mariadb or mysql (used to restore)")
    checksums: bool = Field(True, description="record CHECKSUM TABLE of every table (compared after a restore)")
    lock_timeout: Duration = Field(10.0, description="how long to wait for the brief global read lock")
    timeout: Duration = Field(6 * 3600.0, description="how long one dump may take")

    @field_validator("databases")
    @classmethod
    def _database_names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not re.match(r"^[A-Za-z0-9_$-]{1,64}$", name)]
        if bad:
            raise ValueError(f"not a plain database name: {', '.join(map(repr, bad))}")
        if len(set(value)) != len(value):
            raise ValueError("a database is listed twice")
        return value


class LedgerSourceConfig(_SourceBase):
    """coursectl's own ledger, copied with SQLite's online backup API (consistent while coursectl writes)."""

    type: Literal["ledger"]
    path: str | None = Field(None, description="default: ledger.db in the state directory")


class JenkinsHomeSourceConfig(_SourceBase):
    """Jenkins configuration from JENKINS_HOME on disk, the controller's secrets sealed under their own key."""

    type: Literal["jenkins-home"]
    path: str = Field(description="JENKINS_HOME")
    secrets_key: SecretRef = Field(description="seals secrets/master.key and secrets/hudson.util.Secret")


class JenkinsSourceConfig(_SourceBase):
    """Jenkins configuration (job configs, plugin list) from a running controller through its API."""

    type: Literal["jenkins"]
    url: str
    username: SecretRef | None = None
    token: SecretRef | None = Field(None, description="API token (or password) of username")
    timeout: Duration = 30.0


class DockerDataSourceConfig(_SourceBase):
    """The data folders of a docker environment's services (their SQLite files), copied consistently."""

    type: Literal["docker-data"]
    environment: str = Field(description="a docker environment; its data is <state>/data/<environment>")
    path: str | None = Field(None, description="default: <state directory>/data/<environment>")


SourceConfig = Annotated[
    MariaDBSourceConfig
    | LedgerSourceConfig
    | JenkinsHomeSourceConfig
    | JenkinsSourceConfig
    | DockerDataSourceConfig,
    Field(discriminator="type"),
]


class ScratchConfig(Strict):
    """The scratch MariaDB server verify --restore starts (socket only, no TCP port, in a temporary folder)."""

    mariadbd: str = Field("mariadbd", description="the server binary (Debian package mariadb-server)")
    install_db: str = "mariadb-install-db"
    start_timeout: Duration = 90.0
    buffer_pool: Size = 256 * 1024 * 1024


class BackupsConfig(Strict):
    """What is backed up, where to, under which key, and how long it is kept."""

    key: SecretRef = Field(description="the encryption key: 32 random bytes as base64 or 64 hex digits")
    previous_keys: list[SecretRef] = Field(default_factory=list, description="older keys, to read old backups")
    compression: Literal["zstd", "gzip"] = "zstd"
    compression_level: int | None = Field(None, ge=1, le=19, description="default: zstd 3, gzip 6")
    chunk_size: Size = Field(1024 * 1024, ge=4096, le=64 * 1024 * 1024, description="encryption chunk size")
    timezone: str = Field("UTC", description="IANA zone in which retention counts days, weeks and months")
    grace: Duration = Field(86400.0, description="prune removes incomplete backups and uploads older than this")
    scratch: ScratchConfig = Field(default_factory=ScratchConfig)
    stores: dict[str, StoreConfig]
    sources: dict[str, SourceConfig]

    @field_validator("stores", "sources")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("at least one entry is needed")
        bad = [name for name in value if not _NAME.match(name)]
        if bad:
            raise ValueError(f"names must be lower-case letters, digits and '-': {', '.join(map(repr, bad))}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Europe/Berlin)") from exc
        return value

    @model_validator(mode="after")
    def _stores_exist(self) -> BackupsConfig:
        for name, source in self.sources.items():
            if source.store not in self.stores:
                raise ValueError(
                    f"source {name!r} uses store {source.store!r}, which is not one of: {', '.join(self.stores)}"
                )
        return self


class Config(Strict):
    """The whole release configuration of a platform."""

    project: str
    default_environment: str | None = Field(None, description="used when --env / COURSECTL_ENV are not given")
    services: dict[str, ServiceConfig]
    registry: RegistryConfig
    build: BuildConfig = Field(default_factory=BuildConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    sbom: SbomConfig = Field(default_factory=SbomConfig)
    sonarqube: SonarQubeConfig = Field(default_factory=SonarQubeConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    environments: dict[str, EnvironmentConfig]
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    journey: JourneyConfig = Field(default_factory=JourneyConfig)
    backups: BackupsConfig | None = None
    slos: list[SLOConfig] = Field(default_factory=list, description="service level objectives (alerts from them)")
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)

    @field_validator("services", "environments")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("at least one entry is needed")
        bad = [name for name in value if not _NAME.match(name)]
        if bad:
            raise ValueError(f"names must be lower-case letters, digits and '-': {', '.join(map(repr, bad))}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        if self.default_environment and self.default_environment not in self.environments:
            raise ValueError(f"default_environment {self.default_environment!r} is not one of the environments")
        defaults = [name for name, service in self.services.items() if service.route == "/"]
        if len(defaults) > 1:
            raise ValueError(
                f"only one service can have route '/' (the edge's default), not {', '.join(defaults)}"
            )
        for i, route in enumerate(self.notifications.routes):
            unknown = [e for e in route.environments if e not in self.environments]
            if unknown:
                names = ", ".join(map(repr, unknown))
                raise ValueError(f"notifications.routes[{i}].environments: unknown environment(s) {names}")
        places: dict[tuple[str | None, str | None], str] = {}
        for name, env in self.environments.items():
            if env.target == "kubernetes":
                where = (env.context, env.namespace)
                if where in places:
                    raise ValueError(
                        f"environments {places[where]} and {name} both use namespace {env.namespace} "
                        f"of context {env.context}: each kubernetes environment needs its own"
                    )
                places[where] = name
        seen: set[str] = set()
        for i, slo in enumerate(self.slos):
            if slo.service != "edge" and slo.service not in self.services:
                raise ValueError(f"slos[{i}].service: {slo.service!r} is neither a service nor 'edge'")
            if slo.name in seen:
                raise ValueError(f"slos[{i}].name: {slo.name!r} is used twice")
            seen.add(slo.name)
        for name, env in self.environments.items():
            chain = [name]
            parent = env.extends
            while parent is not None:
                if parent not in self.environments:
                    raise ValueError(f"environment {name} extends {parent!r}, which is not an environment")
                if parent in chain:
                    raise ValueError(f"environments extend each other in a cycle: {' → '.join([*chain, parent])}")
                chain.append(parent)
                parent = self.environments[parent].extends
        from coursectl.rollout.waves import check_order

        reserved = sorted({"resume", "abort", "status", "list"} & set(self.services))
        if reserved:  # `coursectl release resume|abort|status|list` would not reach them
            raise ValueError(
                f"services: {', '.join(reserved)} is a word of `coursectl release`, not a service name"
            )

        try:  # exit 3 naming the key: an unknown service, a service named twice, a dependency cycle
            check_order(
                list(self.services), self.release.order, {n: s.depends_on for n, s in self.services.items()}
            )
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        ports: dict[int, str] = {}
        for name, service in self.services.items():
            unknown = [c for c in service.callers if c not in self.services]
            if unknown:
                raise ValueError(f"services.{name}.callers: unknown services {', '.join(unknown)}")
            if service.port in ports:
                raise ValueError(f"services {ports[service.port]} and {name} both use port {service.port}")
            ports[service.port] = name
        for env_name, env in self.environments.items():
            if env.target != "kubernetes":
                _check_slot_ports(env_name, env, self.services)
        if self.backups is not None:
            for name, source in self.backups.sources.items():
                if isinstance(source, DockerDataSourceConfig):
                    docker_env = self.environments.get(source.environment)
                    if docker_env is None or docker_env.target != "docker":
                        raise ValueError(
                            f"backups source {name!r}: {source.environment!r} is not a docker environment"
                        )
        return self


def _check_slot_ports(env_name: str, env: EnvironmentConfig, services: dict[str, ServiceConfig]) -> None:
    """Every slot of every service, and the edge, need a port of their own on the host."""
    used: dict[int, str] = {
        parse_host_port(env.edge.bind, need_port=True)[1] or 0: "edge.bind",
        parse_host_port(env.edge.stats_bind, need_port=True)[1] or 0: "edge.stats_bind",
    }
    for name, service in services.items():
        for slot in ("blue", "green"):  # stable/canary share their ports
            offset = SLOT_PORT_OFFSETS[slot]
            port = slot_port(service.port + env.port_offset, slot)
            what = f"the {slot} slot of {name} (port + port_offset + {offset})"
            if port > 65535:
                raise ValueError(f"environments.{env_name}: {what} would be port {port}, above 65535")
            if port in used:
                raise ValueError(f"environments.{env_name}: {what} is port {port}, which {used[port]} uses too")
            used[port] = what
