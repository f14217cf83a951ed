"""Static checks of what every service ships: Dockerfile conventions and pinned-from-below dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"user": 8001, "course": 8002, "payment": 8003, "enrollment": 8004, "notification": 8005,
            "content": 8006}
HEALTHCHECK = ('HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3'
               ' CMD ["python3", "-m", "course_healthcheck"]')


SHARED = ROOT / "python-service.Dockerfile"


def test_one_dockerfile_for_every_python_service() -> None:
    text = SHARED.read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim"
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM ${BASE_IMAGE} AS builder", "FROM ${BASE_IMAGE}"]  # multi-stage, same base
    assert "COPY --from=builder /opt/venv /opt/venv" in lines
    assert "python3 -m venv /opt/venv" in text
    # the service comes from build arguments, declared in both stages, after the shared library's layer
    assert text.count("ARG SERVICE\n") == 2 and text.count("ARG SERVICE_PORT\n") == 2
    assert text.index("pip install ./common") < text.index("ARG SERVICE\n")
    assert "COPY ${SERVICE}/${SERVICE}_service/ ${SERVICE}/${SERVICE}_service/" in lines
    assert re.search(r"^USER 10001:10001$", text, re.M)  # non-root
    assert "PORT=${SERVICE_PORT}" in text and "EXPOSE ${SERVICE_PORT}" in lines and "HOST=127.0.0.1" in text
    [healthcheck] = [line for line in lines if line.startswith("HEALTHCHECK")]
    assert not healthcheck.endswith("\\")  # one line, so that a change to it is one line too
    assert healthcheck == HEALTHCHECK  # the check imports the standard library only
    assert lines[-1] == 'CMD ["/opt/venv/bin/platform-service"]'
    assert 'ln -s "${SERVICE}-service" /opt/venv/bin/platform-service' in text
    for label in ("revision", "version", "created", "source"):
        assert f"org.opencontainers.image.{label}=" in text
    assert "curl" not in text and "wget" not in text
    assert not re.search(r"(^|[\s\"])python(\s|\")", text)  # python3 everywhere
    assert text.index("ARG GIT_SHA") > text.rindex("COPY ")  # what changes per commit comes last


@pytest.mark.parametrize("service,port", sorted(SERVICES.items()))
def test_each_python_service_is_built_from_the_shared_dockerfile(service: str, port: int) -> None:
    import yaml

    config = yaml.safe_load((ROOT.parent / "coursectl.yaml").read_text())["services"][service]
    assert config["dockerfile"] == "platform-services/python-service.Dockerfile"
    assert config["port"] == port  # coursectl passes it as SERVICE_PORT: the image's PORT and EXPOSE
    assert not (ROOT / service / "Dockerfile").exists()  # one definition, not a copy per service
    assert (ROOT / service / f"{service}_service" / "__main__.py").exists()
    scripts = tomllib.loads((ROOT / service / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[f"{service}-service"] == f"{service}_service.__main__:main"  # what platform-service runs


@pytest.mark.parametrize("folder", ["common", *sorted(SERVICES)])
def test_dependencies_have_lower_bounds(folder: str) -> None:
    project = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        assert ">=" in dep, f"{folder}: {dep} needs a lower bound"


def test_requirements_dev_installs_everything() -> None:
    text = (ROOT / "requirements-dev.txt").read_text()
    for folder in ["common", *SERVICES]:
        assert f"-e platform-services/{folder}\n" in text


def test_storefront_dockerfile_conventions() -> None:
    text = (ROOT / "storefront" / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("ARG BASE_IMAGE=")
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM ${BASE_IMAGE} AS assets", "FROM ${BASE_IMAGE}"]  # multi-stage, same base
    assert "COPY --from=assets /srv/storefront/ /srv/storefront/" in lines
    assert re.search(r"^USER 10001:10001$", text, re.M)  # non-root
    assert "PORT=8007" in text and "HOST=127.0.0.1" in text
    assert ('HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3'
            ' CMD ["python3", "-I", "-S", "/opt/storefront/course_healthcheck.py"]') in text.splitlines()
    assert "COPY common/course_healthcheck.py /opt/storefront/course_healthcheck.py" in text
    assert 'CMD ["python3", "/opt/storefront/storefront_runtime.py", "serve"]' in text
    for label in ("revision", "version", "created", "source"):
        assert f"org.opencontainers.image.{label}=" in text
    assert "curl" not in text and "wget" not in text
    # what changes per commit (version.json from the build args) comes after everything else is copied
    assert text.index("ARG GIT_SHA") > text.rindex("COPY ")


def test_storefront_context_sends_the_bundle_not_node_modules() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**/node_modules" in ignore
    assert not any(line.strip().rstrip("/") in ("storefront/dist", "**/dist") for line in ignore)
