"""The Protocols the engine and use cases talk to, one per external system (their value types: ``domain``).

Rollout ports (Target, TrafficRouter, MetricsProvider, Clock) serve every target: a *slot* is a process, a
container (docker) or a Deployment (kubernetes); the router's weights are HAProxy server weights (docker, process)
or a Service selector, a replica ratio or ingress-nginx canary annotations (kubernetes). What only some targets
need is still a member of every one (a do-nothing where there is nothing to do), so callers never probe.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from coursectl.domain import (
    BuildResult,
    CeTask,
    CiBuild,
    Completed,
    Delivery,
    GateStatus,
    LedgerEvent,
    LockInfo,
    LogLine,
    Notification,
    ParsedScan,
    PushResult,
    QueryResult,
    RestoreRequest,
    RestoreResult,
    SlotSpec,
    SlotState,
    SourcePart,
    StoredObject,
    TagInfo,
)


class Builder(Protocol):
    """An image builder (the docker engine)."""

    def ping(self) -> None: ...

    def image_id(self, ref: str) -> str | None: ...

    def repo_digests(self, ref: str) -> list[str]: ...

    def build(
        self,
        *,
        context: Path,
        dockerfile: str,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        on_line: Callable[[str], None] | None = None,
        timeout: float | None = None,
        network_mode: str = "host",
        nocache: bool = False,
    ) -> BuildResult: ...

    def tag(self, image: str, repository: str, tag: str) -> None: ...

    def push(
        self,
        repository: str,
        tag: str,
        *,
        auth: Mapping[str, str] | None,
        registry: str,
        on_line: Callable[[str], None] | None = None,
    ) -> PushResult: ...


class CommandRunner(Protocol):
    """Runs a command on the building machine: a step before an image build (``npm ci``, ``npm run build``).

    Returns when the command succeeded; raises ToolMissing (exit 4) when its program is not installed,
    ExternalTimeout after ``timeout`` seconds and ExternalError (exit 5, ``details['log_tail']``) when it fails.
    """

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        timeout: float,
        on_line: Callable[[str], None] | None = None,
    ) -> None: ...


class ProcessRunner(Protocol):
    """Runs a program on this machine to completion: the project's tests (pytest), promtool and amtool checks.

    Returns its exit code and output (a non-zero exit is a result, not an error); raises ToolMissing (exit 4)
    when the program is not installed, ExternalTimeout after ``timeout`` seconds.
    """

    def run(self, argv: Sequence[str], *, cwd: Path, timeout: float) -> Completed: ...


class BrowserJourney(Protocol):
    """Runs the storefront's journey script in a headless browser (Chromium driven by Node.js).

    Returns (the steps, the summary line); ToolMissing / ExternalError when the journey could not run at all (a
    failed step is data, not an error).
    """

    def __call__(
        self,
        script: Path,
        base_url: str,
        *,
        chromium: str,
        artifacts: Path,
        admin: tuple[str, str] | None,
        timeout: float,
    ) -> tuple[list[dict[str, Any]], Mapping[str, Any]]: ...


class Registry(Protocol):
    """An image registry (Docker Registry v2 API)."""

    def ping(self) -> None: ...

    def tags(self, repo: str) -> list[str]: ...

    def manifest_digest(self, repo: str, ref: str) -> str | None: ...

    def tag_info(self, repo: str, tag: str) -> TagInfo: ...

    def image_config(self, repo: str, ref: str) -> dict[str, Any]: ...

    def put_tag(self, repo: str, source_ref: str, tag: str) -> str: ...


class Scanner(Protocol):
    """A security scanner run as a subprocess: is it installed, and what does it find in a target."""

    name: str
    display_name: str
    install_hint: str
    kinds: tuple[str, ...]

    def available(self) -> bool: ...

    def scan(self, kind: str, target: str, *, dockerfile: str | None = None) -> ParsedScan: ...


class SbomGenerator(Protocol):
    """Makes a software bill of materials of an image (syft): is it installed, which version, write the SBOMs."""

    name: str
    display_name: str
    install_hint: str

    def available(self) -> bool: ...

    def version(self) -> str: ...

    def generate(self, source: str, target: str, outputs: Mapping[str, Path]) -> None:
        """Write an SBOM of ``target`` (an image ref, read through ``source``: docker, registry, ...) in each
        format of ``outputs`` to its path. Raises ToolMissing, PreconditionError (image not found, credentials
        refused) or ExternalError (the tool failed or timed out)."""
        ...


class QualityGate(Protocol):
    """A code-quality server (SonarQube): compute-engine tasks, the quality-gate verdict, a project's coverage."""

    def task(self, task_id: str) -> CeTask: ...

    def project_status(
        self, *, analysis_id: str | None = None, project_key: str | None = None, branch: str | None = None
    ) -> GateStatus: ...

    def coverage(self, project_key: str) -> tuple[float, str]:
        """The project's test coverage (percent) and where the server reported it; PreconditionError when it
        reports none, AuthError / ExternalError when it refuses or does not answer."""
        ...

    def close(self) -> None:
        """Release the connections."""
        ...


class BuildHistory(Protocol):
    """A CI server's job (Jenkins): its most recent builds, newest first."""

    def builds(self) -> list[CiBuild]:
        """ExternalError (exit 5) when the server does not answer or refuses."""
        ...


@runtime_checkable
class Target(Protocol):
    """Where slots run: start a version in a slot, wait until ready, read live state, retire a slot."""

    def address(self, service: str, slot: str) -> tuple[str, int]:
        """Where a slot listens (deterministic, known before the slot exists)."""
        ...

    def start(self, spec: SlotSpec) -> SlotState:
        """Run ``spec`` in its slot; a slot already running that version, digest and fingerprint is left alone."""
        ...

    def wait_ready(self, service: str, slot: str, *, timeout: float) -> SlotState:
        """Block until the slot answers its readiness check; ExternalTimeout after ``timeout`` seconds."""
        ...

    def smoke(self, service: str, slot: str, paths: Sequence[str]) -> list[str]:
        """GET each path on the slot directly; the problems found (empty when all answered 2xx)."""
        ...

    def slots(self, service: str) -> list[SlotState]:
        """Every slot of ``service`` that exists, running or not."""
        ...

    def retire(self, service: str, slot: str) -> None:
        """Stop and remove a slot; a slot that does not exist is a no-op."""
        ...

    def healthy(self, state: SlotState, path: str) -> bool:
        """Whether a slot in ``state`` answers its health ``path`` now (for ``status``): a GET of the slot
        itself (docker, process), or the readiness the target already reports (kubernetes). Never raises."""
        ...

    def service_urls(self) -> dict[str, str]:
        """``<SERVICE>_URL`` of every service as a slot reaches it (kubernetes: the cluster's Services);
        empty when slots reach each other through the edge."""
        ...

    @property
    def in_place(self) -> tuple[str, ...]:
        """The strategies this target runs by updating the live slot itself (kubernetes: rolling, recreate);
        the others run in a second slot."""
        ...

    @property
    def records_fingerprints(self) -> bool:
        """Whether ``SlotState.fingerprint`` is the fingerprint of the spec that started the slot (False: the
        target keeps its own, e.g. kubernetes' template hash, and decides itself whether a slot is current)."""
        ...


@runtime_checkable
class TrafficRouter(Protocol):
    """What sends users to slots (Argo's trafficrouting interface): weights per slot, verify, remove."""

    def set_weights(
        self, service: str, weights: Mapping[str, int], addresses: Mapping[str, tuple[str, int]]
    ) -> None:
        """Make ``weights`` (slot → percent, summing to 100) the live routing of ``service``.

        Slots not yet known to the router are added from ``addresses`` first; slots at 0 are drained
        (existing connections finish, no new ones). Idempotent.
        """
        ...

    def weights(self, service: str) -> dict[str, int]:
        """The live weights of ``service`` (slot → percent); empty when it has no slots."""
        ...

    def verify(self, service: str, weights: Mapping[str, int]) -> bool | None:
        """Whether the live weights are ``weights``; None when the router cannot tell."""
        ...

    def remove(self, service: str, slot: str) -> None:
        """Take a slot out of the routing altogether; unknown slots are a no-op."""
        ...

    def ensure_running(self) -> None:
        """Bring the router up when coursectl runs it (the HAProxy edge, from its saved state); idempotent. A
        router that is always there (a cluster's Services) does nothing."""
        ...

    def running(self) -> bool:
        """Whether the router answers now (never raises); a router coursectl does not run is always up."""
        ...

    def planned_weights(self, service: str) -> dict[str, int]:
        """The weights in effect without changing anything (dry runs): the live ones, or those a stopped router
        would come back with."""
        ...

    def port_problems(self) -> list[str]:
        """What is wrong with the addresses the router listens on (another program holding them), for
        ``status``; empty when nothing is, or when the router listens nowhere of its own."""
        ...

    def explain(self, weight: int) -> str | None:
        """What a canary ``weight`` really becomes on this router, for plans (``20 % requested → 1 of 5 pods =
        20 %``); None when every weight is exact."""
        ...

    def snapshot(self, services: Sequence[str]) -> dict[str, tuple[list[SlotState], dict[str, int]]] | None:
        """Slots and live weights of ``services`` read together, one list per kind of object (kubernetes), for
        ``status``; None when the router has no such combined read (then slots and weights are read one by one)."""
        ...


@runtime_checkable
class MetricsProvider(Protocol):
    """Answers PromQL (or an equivalent) queries. Failures are results, not exceptions."""

    def query(self, promql: str, *, at: float | None = None) -> QueryResult:
        """The value of ``promql`` now, or evaluated at ``at`` (Unix seconds)."""
        ...


@runtime_checkable
class Clock(Protocol):
    """Time, injectable so that engine tests never sleep."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """A channel that announces notifications (Slack, e-mail, the console).

    ``send`` delivers one notification and says how (``Delivery``); with ``update`` (the ``ref`` of an earlier
    delivery of the same rollout) a channel that ``supports_update`` edits that message in place instead of
    posting a new one. Failures raise coursectl errors only: ``ExternalError`` when trying again may help (the
    service is down, rate-limited — ``details["retry_after"]`` in seconds when it said so), ``PreconditionError``
    / ``AuthError`` when it will not (a refused token, an unknown channel, a missing secret).
    """

    name: str
    supports_update: bool

    def send(self, notification: Notification, *, update: str | None = None) -> Delivery: ...


@runtime_checkable
class BackupStore(Protocol):
    """Where backups are kept (a local directory, an S3 bucket): whole objects under keys relative to its prefix.

    An object appears under its key only once it is complete (local: written to a hidden temporary file, then
    renamed; S3: a multipart upload completed), so a crash leaves *pending* uploads, never a truncated object.
    """

    name: str

    def location(self) -> str:
        """Where the store is (``/srv/backups``, ``s3://bucket/prefix``), safe to print."""
        ...

    def check(self) -> None:
        """Raise PreconditionError when the store does not exist (missing bucket or folder), ExternalError when it
        cannot be reached."""
        ...

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store the concatenation of ``chunks`` under ``key`` (replacing it); returns the bytes written."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """The bytes of ``key`` as chunks; PreconditionError when there is no such object."""
        ...

    def list(self, prefix: str = "") -> builtins.list[StoredObject]:
        """Every complete object whose key starts with ``prefix``, sorted by key."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Remove ``keys``; keys that do not exist are a no-op."""
        ...

    def pending(self, prefix: str = "") -> builtins.list[StoredObject]:
        """Uploads under ``prefix`` that were started but never completed (leftovers of a crash)."""
        ...

    def discard(self, upload: StoredObject) -> None:
        """Remove one pending upload (as returned by ``pending``)."""
        ...


@runtime_checkable
class BackupSource(Protocol):
    """Something backed up (a MariaDB server, the ledger, Jenkins, the docker target's data folders).

    ``dump`` yields parts one at a time; each part's chunks are consumed before the next part is asked for.
    ``facts`` (after the dump) is what the restore is later compared with: row counts and checksums, event
    counts, file digests. ``restore`` consumes the parts' plaintext (``open_part(name)``) into ``request``'s
    target (or a scratch place for verify) and returns what it observed there.
    """

    name: str
    kind: str

    def check(self) -> None:
        """Raise PreconditionError when the source cannot be backed up (database missing, tool not installed)."""
        ...

    def dump(self) -> Iterator[SourcePart]: ...

    def facts(self) -> dict[str, Any]: ...

    def restore(
        self,
        open_part: Callable[[str], Iterator[bytes]],
        parts: Sequence[str],
        facts: Mapping[str, Any],
        request: RestoreRequest,
    ) -> RestoreResult: ...

    def describe_target(self, request: RestoreRequest, facts: Mapping[str, Any]) -> str:
        """Where ``request`` would restore to, for confirmations and dry runs (reads only)."""
        ...


class LogSource(Protocol):
    """Where the log lines of a service's slots are read (docker containers, log files, Kubernetes pods).

    ``read`` returns the lines the service's slots (only ``slot`` when given) wrote, each with its service,
    slot, the time the runtime stamped it (None when it does not stamp lines) and the text as written; oldest
    first within one slot. A source that stamps lines leaves out those before ``since``; one that does not
    returns them all (the JSON lines carry their own time, and the merge filters on it). A service with no slot
    gives [].
    The runtime's failures raise coursectl errors (``PreconditionError`` when it does not answer).
    The kubernetes source lists the slot pods by their labels and reads each container's log with
    ``timestamps=true`` and ``sinceSeconds``; the pods of one slot are one slot, merged by time.
    """

    def read(self, service: str, *, since: datetime | None = None, slot: str | None = None) -> list[LogLine]: ...


# the ledger ------------------------------------------------------------------------------------------------


@runtime_checkable
class Ledger(Protocol):
    """The append-only record of what happened (builds, scans, deployments, rollout steps, rollbacks, backups),
    and the reads DORA metrics make of it. Failures raise coursectl errors (busy: ExternalError; damaged or
    read-only: PreconditionError)."""

    def record(self, event: LedgerEvent) -> LedgerEvent:
        """Append ``event``; returns it with its id."""
        ...

    def events(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> builtins.list[LedgerEvent]:
        """Events matching every filter given (``since`` inclusive, ``until`` exclusive), newest first unless
        ``newest_first`` is False."""
        ...

    def deployment_rows(
        self, environment: str | None, service: str | None = None, statuses: Sequence[str] | None = None
    ) -> builtins.list[tuple[Any, ...]]:
        """Every finished deployment, oldest first: (id, service, environment, version, git_commit, status,
        finished_at as Unix seconds, hotfix, packed commit times or None, commits also listed by another one)."""
        ...

    def rollback_rows(self, environment: str | None, service: str | None = None) -> builtins.list[tuple[Any, ...]]:
        """Every rollback, oldest first: (id, service, environment, from_version, to_version, outcome,
        finished_at)."""
        ...

    def commit_rows(self, event_ids: Sequence[int]) -> builtins.list[tuple[int, str, float]]:
        """(event_id, sha, committed_at) of the commits recorded for these deployments."""
        ...


@runtime_checkable
class DeployLock(Protocol):
    """One deploy lock per (environment, service), shared by every process: taken, kept alive, released.

    A lock past its expiry is taken over by the next ``acquire_lock``; every acquisition, take-over and release
    is recorded in the ledger. A held lock raises LockHeld (exit 8) naming its holder.
    """

    def hand_over_lock(self, lock: LockInfo, *, reason: str, ttl: float = ...) -> LockInfo:
        """Pass a lock this process holds to another process (same holder, a new token and ``reason``);
        LockHeld if it was taken from us."""
        ...

    def lock_info(self, environment: str, service: str) -> LockInfo | None:
        """The lock held on (environment, service), expired or not; None when there is none."""
        ...

    def locks(self, environment: str | None = None) -> builtins.list[LockInfo]:
        """Every lock held (in ``environment``)."""
        ...

    def acquire_lock(
        self,
        environment: str,
        service: str,
        *,
        holder: str,
        reason: str,
        ttl: float = ...,
        wait: float = 0.0,
        take_over: bool = False,
        poll: float = 0.25,
    ) -> LockInfo:
        """Take the lock (an expired one is taken over; ``take_over`` takes even a live one, recording whose it
        was); retry a held lock for ``wait`` seconds, then LockHeld."""
        ...

    def refresh_lock(self, lock: LockInfo, ttl: float = ...) -> LockInfo:
        """Push the expiry of a lock we hold ``ttl`` seconds ahead; LockHeld when it was taken from us."""
        ...

    def release_lock(self, lock: LockInfo) -> bool:
        """Release a lock we hold; False when it was no longer ours."""
        ...

    def force_release(self, environment: str, service: str, *, actor: str) -> LockInfo | None:
        """Remove whatever lock is held on (environment, service), recording whose it was."""
        ...

    def for_thread(self) -> DeployLock:
        """A handle on the same locks that another thread may use while this one is inside a transaction (a
        heartbeat); the caller closes it, unless it is this very object (a ledger with no file)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class RolloutStore(Protocol):
    """Where rollouts are kept between steps and between processes: one JSON document per rollout (the
    rollout's whole state, written before each step), plus at most one pending operator request per rollout.

    ``save_rollout`` never touches the pending request, so a request another process posts between two saves
    is not lost; ``take_request`` reads and clears it in one transaction.
    """

    def save_rollout(self, document: Mapping[str, Any]) -> None:
        """Insert or replace the rollout ``document["id"]`` (its ``environment``, ``service``, ``phase``,
        ``started_at`` and ``updated_at`` are indexed; the document is stored as JSON)."""
        ...

    def load_rollout(self, rollout_id: str) -> dict[str, Any] | None:
        """The document of a rollout, as saved; None when there is none."""
        ...

    def latest_rollout(self, environment: str, service: str, phases: Sequence[str] = ()) -> dict[str, Any] | None:
        """The newest rollout of a service (started last; of the last saved when two started together), only
        among ``phases`` when given."""
        ...

    def post_request(self, rollout_id: str, request: Mapping[str, str]) -> None:
        """Leave ``request`` for the process running the rollout (replacing one not yet taken)."""
        ...

    def take_request(self, rollout_id: str) -> dict[str, str] | None:
        """The pending request of a rollout, cleared; None when there is none."""
        ...

    def pending_request(self, rollout_id: str) -> dict[str, str] | None:
        """The pending request of a rollout, left in place."""
        ...


@runtime_checkable
class RolloutLedger(Ledger, DeployLock, RolloutStore, Protocol):
    """Everything the rollout use cases keep in the ledger: events, deploy locks and rollouts (one database)."""
