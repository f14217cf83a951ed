"""No SDK exception leaves an adapter: every docker SDK / requests / JSON failure is forced here and must come out
as a coursectl error with its documented exit code and a message naming what failed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker
import pytest
import requests

from coursectl.adapters.docker_engine import DockerEngine
from coursectl.adapters.docker_target import DockerTarget
from coursectl.adapters.prometheus import PrometheusMetrics
from coursectl.adapters.registry_v2 import RegistryClient
from coursectl.domain import SlotSpec
from coursectl.errors import CoursectlError

NOT_FOUND = docker.errors.NotFound("404 Client Error: Not Found (\"No such image: x\")")
API_ERROR = docker.errors.APIError("500 Server Error: Internal Server Error (\"boom\")")
REFUSED = requests.exceptions.ConnectionError("('Connection aborted.', FileNotFoundError(2, 'No such file'))")
TIMEOUT = requests.exceptions.ReadTimeout("read timed out")


def raising(exc: BaseException) -> Any:
    def fail(*_a: Any, **_k: Any) -> Any:
        raise exc

    return fail


def expect(exc: BaseException, code: int, *words: str) -> None:
    assert isinstance(exc, CoursectlError), f"{type(exc).__name__} escaped: {exc}"
    assert exc.exit_code == code, (exc.exit_code, exc.message)
    for word in words:
        assert word in exc.message, (word, exc.message)


# --- docker engine (build, tag, push, inspect) ---------------------------------------------------------------


class FakeApi:
    def __init__(self, **failures: BaseException):
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        if name in self.failures:
            return raising(self.failures[name])
        return lambda *a, **k: {"Id": "sha256:" + "a" * 64, "RepoDigests": []}


def engine_with(**failures: BaseException) -> DockerEngine:
    engine = DockerEngine("unix:///nonexistent.sock")
    engine._local.api = FakeApi(**failures)
    return engine


@pytest.mark.parametrize(
    ("failure", "code", "words"),
    [
        (NOT_FOUND, 4, ("tag 127.0.0.1:5000/p/course:v1", "not found")),
        (API_ERROR, 5, ("tag 127.0.0.1:5000/p/course:v1 failed", "boom")),
        (REFUSED, 4, ("no Docker engine answers",)),
        (TIMEOUT, 5, ("tag 127.0.0.1:5000/p/course:v1 failed",)),
    ],
)
def test_docker_engine_tag(failure: BaseException, code: int, words: tuple[str, ...]) -> None:
    with pytest.raises(CoursectlError) as info:
        engine_with(tag=failure).tag("sha256:abc", "127.0.0.1:5000/p/course", "v1")
    expect(info.value, code, *words)


def test_docker_engine_inspect_of_a_missing_image_is_none_and_other_failures_are_errors() -> None:
    assert engine_with(inspect_image=NOT_FOUND).image_id("course:v1") is None
    with pytest.raises(CoursectlError) as info:
        engine_with(inspect_image=API_ERROR).image_id("course:v1")
    expect(info.value, 5, "inspect course:v1 failed")


@pytest.mark.parametrize(
    ("failure", "code"),
    [(API_ERROR, 5), (docker.errors.APIError("denied: requested access to the resource is denied"), 4),
     (REFUSED, 4), (TIMEOUT, 5)],
)  # fmt: skip
def test_docker_engine_push(failure: BaseException, code: int) -> None:
    with pytest.raises(CoursectlError) as info:
        engine_with(push=failure).push("127.0.0.1:5000/p/course", "v1", auth=None, registry="127.0.0.1:5000")
    expect(info.value, code)


def test_docker_engine_build_failure_is_build_failed_with_the_log() -> None:
    with pytest.raises(CoursectlError) as info:
        engine_with(build=API_ERROR).build(
            context=Path("."), dockerfile="Dockerfile", tag="course:v1", buildargs={}, labels={}
        )
    expect(info.value, 5, "build of course:v1 failed", "boom")


# --- docker target (containers per slot) ---------------------------------------------------------------------


class FakeContainer:
    def __init__(self, name: str, *, labels: dict[str, str] | None = None, status: str = "running", **fail: Any):
        self.name, self.labels, self.status, self.fail = name, labels or {}, status, fail

    def reload(self) -> None:
        if "reload" in self.fail:
            raise self.fail["reload"]

    def logs(self, tail: int = 20) -> bytes:
        if "logs" in self.fail:
            raise self.fail["logs"]
        return b"Traceback: boom\n"

    def stop(self, timeout: int = 10) -> None:
        if "stop" in self.fail:
            raise self.fail["stop"]

    def remove(self, force: bool = False) -> None:
        if "remove" in self.fail:
            raise self.fail["remove"]


class FakeClient:
    def __init__(self, container: FakeContainer | None = None, **fail: BaseException):
        self.fail = fail
        self.container = container
        self.containers = SimpleNamespace(get=self._get, run=self._run, list=self._list)
        self.images = SimpleNamespace(get=self._image, pull=self._pull)

    def _maybe(self, what: str) -> None:
        if what in self.fail:
            raise self.fail[what]

    def _get(self, name: str) -> FakeContainer:
        self._maybe("get")
        if self.container is None:
            raise docker.errors.NotFound("No such container")
        return self.container

    def _run(self, image: str, **kw: Any) -> FakeContainer:
        self._maybe("run")
        return FakeContainer(kw["name"], labels=kw["labels"])

    def _list(self, **kw: Any) -> list[FakeContainer]:
        self._maybe("list")
        return [self.container] if self.container else []

    def _image(self, ref: str) -> Any:
        self._maybe("image")
        raise docker.errors.ImageNotFound("No such image")

    def _pull(self, repo: str, **kw: Any) -> Any:
        self._maybe("pull")
        return None


def target_with(client: FakeClient) -> DockerTarget:
    target = DockerTarget(environment="t", ports={"course": 8002})
    target._client = client
    return target


SPEC = SlotSpec("course", "canary", "v2", 8202, image="127.0.0.1:5000/p/course:v2", digest=None, env={})


@pytest.mark.parametrize(
    ("client", "code", "words"),
    [
        (FakeClient(pull=NOT_FOUND), 4, ("image 127.0.0.1:5000/p/course:v2 not found", "")),
        (FakeClient(pull=API_ERROR), 5, ("start course-canary", "boom")),
        (FakeClient(run=API_ERROR), 5, ("start course-canary", "boom")),
        (FakeClient(run=REFUSED), 4, ("does not answer", "start course-canary")),
        (FakeClient(run=TIMEOUT), 5, ("timed out",)),
        (FakeClient(get=API_ERROR), 5, ("look up course-canary failed",)),
        (FakeClient(get=REFUSED), 4, ("does not answer",)),
    ],
)
def test_docker_target_start(client: FakeClient, code: int, words: tuple[str, ...]) -> None:
    with pytest.raises(CoursectlError) as info:
        target_with(client).start(SPEC)
    expect(info.value, code, *words)


@pytest.mark.parametrize(
    ("container", "code", "words"),
    [
        (FakeContainer("course-canary", reload=NOT_FOUND), 5, ("inspect course-canary", "not found")),
        (FakeContainer("course-canary", reload=REFUSED), 4, ("does not answer",)),
        (FakeContainer("course-canary", status="exited", logs=API_ERROR), 5, ("read the log of course-canary",)),
        (FakeContainer("course-canary", status="exited"), 5, ("course-canary exited", "Traceback: boom")),
    ],
)
def test_docker_target_readiness_wait(container: FakeContainer, code: int, words: tuple[str, ...]) -> None:
    with pytest.raises(CoursectlError) as info:
        target_with(FakeClient(container)).wait_ready("course", "canary", timeout=5)
    expect(info.value, code, *words)


def test_docker_target_readiness_uses_the_slot_health_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from coursectl.adapters import docker_target

    asked: list[str] = []
    monkeypatch.setattr(docker_target, "http_get", lambda url, timeout=2.0: (asked.append(url), (200, b""))[1])
    labels = {"coursectl.service": "course", "coursectl.slot": "canary", "coursectl.health": "/api/course/ready"}
    target = target_with(FakeClient(FakeContainer("course-canary", labels=labels)))
    target.wait_ready("course", "canary", timeout=5)
    assert asked == ["http://127.0.0.1:8202/api/course/ready"]
    assert docker_target.labels_for(SPEC, "t")["coursectl.health"] == "/health/ready"


@pytest.mark.parametrize(("failure", "code"), [(API_ERROR, 5), (REFUSED, 4), (TIMEOUT, 5)])
def test_docker_target_listing_and_retiring(failure: BaseException, code: int) -> None:
    with pytest.raises(CoursectlError) as info:
        target_with(FakeClient(list=failure)).slots("course")
    expect(info.value, code)
    container = FakeContainer("course-canary", stop=failure, remove=failure)
    with pytest.raises(CoursectlError) as info:
        target_with(FakeClient(container))._remove(container)
    expect(info.value, code)


def test_docker_target_without_an_engine_is_a_precondition() -> None:
    target = DockerTarget(environment="t", ports={"course": 8002}, docker_host="unix:///nonexistent/docker.sock")
    with pytest.raises(CoursectlError) as info:
        target.slots("course")
    expect(info.value, 4, "does not answer")


# --- registry v2 and Prometheus -------------------------------------------------------------------------------


class FakeSession:
    def __init__(self, failure: BaseException | None = None, body: bytes = b"<html>proxy error</html>"):
        self.failure, self.body = failure, body

    def request(self, *_a: Any, **_k: Any) -> Any:
        if self.failure is not None:
            raise self.failure
        text = self.body.decode()
        return SimpleNamespace(status_code=200, content=self.body, headers={}, reason="OK", text=text)


@pytest.mark.parametrize(
    ("session", "words"),
    [
        (FakeSession(REFUSED), ("unreachable",)),
        (FakeSession(requests.exceptions.Timeout("slow")), ("did not answer",)),
        (FakeSession(requests.exceptions.TooManyRedirects("loop")), ("registry 127.0.0.1:5000",)),
        (FakeSession(body=b"<html>proxy error</html>"), ("the tag list of p/course is not JSON",)),
        (FakeSession(body=b"[1, 2]"), ("is not a JSON object",)),
    ],
)
def test_registry_client(session: FakeSession, words: tuple[str, ...]) -> None:
    client = RegistryClient("127.0.0.1:5000", session=session)  # type: ignore[arg-type]
    with pytest.raises(CoursectlError) as info:
        client.tags("p/course")
    expect(info.value, 5, *words)


@pytest.mark.parametrize("failure", [REFUSED, TIMEOUT, ValueError("bad json"), RuntimeError("anything")])
def test_prometheus_failures_are_error_measurements_never_exceptions(failure: BaseException) -> None:
    metrics = PrometheusMetrics("http://127.0.0.1:1")
    metrics._client = SimpleNamespace(custom_query=raising(failure))
    result = metrics.query("up")
    assert result.value is None and result.error
