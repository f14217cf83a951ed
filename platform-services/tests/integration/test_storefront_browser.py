"""The storefront behind the HAProxy edge with the six services, and its journey in a real browser.

The storefront runs as in its image: the built files served by nginx through storefront_runtime.py (the host's
nginx-light), behind the same edge template coursectl renders, with the storefront as the default route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.platform import ADMIN, SERVICES, Platform, platform_env, sqlite_urls
from tests.support.servers import free_port
from tests.support.storefront import STOREFRONT, StorefrontServer, build_dist, journey

pytestmark = pytest.mark.integration

ARTIFACTS = STOREFRONT / "e2e" / "artifacts"  # kept after the run (screenshots of failed steps)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, smtp_sink) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    workdir = tmp_path_factory.mktemp("storefront-platform")
    site = StorefrontServer(build_dist(workdir / "site"), workdir / "storefront").start()
    ports = {svc: free_port() for svc in SERVICES}
    extra = {"notification": {"SMTP_HOST": smtp_sink.host, "SMTP_PORT": str(smtp_sink.port)}}
    plat = Platform(workdir, platform_env(workdir, ports, sqlite_urls(workdir), extra), ports,
                    storefront_port=site.port)
    plat.site = site  # type: ignore[attr-defined]
    try:
        plat.start()
        yield plat
    except BaseException:
        print(plat.logs())
        raise
    finally:
        plat.stop()
        site.stop()


def test_the_edge_sends_pages_to_the_storefront_and_api_paths_to_the_services(shop: Platform) -> None:
    edge = shop.edge.url  # type: ignore[union-attr]
    with httpx.Client(base_url=edge, timeout=10) as client:
        for path in ("/", "/courses/12", "/my-courses", "/teach"):
            r = client.get(path)
            assert r.status_code == 200 and r.headers["x-served-by"] == "storefront", path
            assert '<div id="root"></div>' in r.text and r.headers["cache-control"] == "no-cache"
            assert "default-src 'self'" in r.headers["content-security-policy"]
        r = client.get("/api/course/courses")
        assert r.status_code == 200 and r.headers["x-served-by"] == "course" and "items" in r.json()
        r = client.get("/api/nowhere/at-all")
        assert r.status_code == 404 and r.json()["error"]["code"] == "no_route"
        script = re.search(r'src="(/assets/index-[^"]+\.js)"', client.get("/").text)
        assert script is not None
        r = client.get(script.group(1), headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        assert "immutable" in r.headers["cache-control"] and "javascript" in r.headers["content-type"]
        assert client.get("/assets/missing-0000.js").status_code == 404
        assert r.headers["x-request-id"]  # the edge's request id reaches the storefront and comes back


def test_health_version_and_metrics_of_the_storefront(shop: Platform) -> None:
    site: StorefrontServer = shop.site  # type: ignore[attr-defined]
    assert httpx.get(site.url + "/health/live").json() == {"status": "alive"}
    assert httpx.get(site.url + "/health/ready").json()["status"] == "ready"
    assert httpx.get(site.url + "/version").json() == {"service": "storefront", "version": "9.9.9-test",
                                                       "git_sha": "0123456789abcdef",
                                                       "build_time": "2026-01-01T00:00:00Z"}
    for _ in range(3):
        httpx.get(site.url + "/courses/1")
    text = httpx.get(site.url + "/metrics").text
    served = re.search(
        r'http_requests_total\{service="storefront",route="/\{spa\}",method="GET",status="200"\} (\d+)', text
    )
    assert served and int(served.group(1)) >= 3
    bucket = 'http_request_duration_seconds_bucket{service="storefront",route="/{spa}",method="GET",le="+Inf"}'
    assert bucket in text


def test_the_journey_in_a_real_browser(shop: Platform) -> None:
    artifacts = ARTIFACTS / "journey"
    code, lines, stderr = journey(shop.edge.url, artifacts, admin=ADMIN)  # type: ignore[union-attr]
    steps = {line["step"]: line for line in lines if "step" in line}
    assert code == 0, f"journey failed (screenshots in {artifacts}):\n" + "\n".join(map(str, lines)) + stderr
    assert list(steps) == [
        "a course to buy", "browse the catalogue", "search by keyboard", "open the course", "register", "log in",
        "a declined test card says why", "buy with a good card and enrol", "read the lesson", "my courses",
        "a student cannot reach the instructor's page", "no console errors",
    ]
    assert all(step["ok"] for step in steps.values())
    assert lines[-1]["ok"] is True and lines[-1]["failed"] == []
    # the services saw what the browser did
    pay = httpx.get(shop.url("payment") + "/metrics").text
    assert re.search(r'payments_total\{service="payment",status="declined"\} [1-9]', pay)
    assert re.search(r'payments_total\{service="payment",status="succeeded"\} [1-9]', pay)


def test_a_failed_step_keeps_a_screenshot_and_fails_the_journey(shop: Platform, tmp_path: Path) -> None:
    site: StorefrontServer = shop.site  # type: ignore[attr-defined]
    # straight at the storefront, not through the edge: there is no API there, so the course cannot be made
    code, lines, _ = journey(site.url, tmp_path / "artifacts", admin=ADMIN)
    assert code == 1
    assert lines[-1]["ok"] is False and lines[-1]["failed"] == ["a course to buy"]
    assert (tmp_path / "artifacts" / "a-course-to-buy.png").stat().st_size > 0
