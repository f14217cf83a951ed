"""The HTML DORA report opened in headless Chromium (Debian `chromium`) over the DevTools protocol: charts
rendered, a screenshot taken, no console errors and no network requests besides the file itself."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixture_history import CONFIG, make_repo, records, write_jsonl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed (apt-get install chromium)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--window-size=1400,1800"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevTools:
    """A minimal Chrome DevTools Protocol client over websocket-client."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=20, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for e in self.events:
            if e.get("method") == method:
                return e
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        raise TimeoutError(method)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    port = _free_port()
    assert CHROMIUM is not None
    log = open(tmp_path / "chromium.log", "wb")
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--remote-debugging-port={port}",
         "--remote-debugging-address=127.0.0.1", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        pages: list[dict[str, Any]] = []
        while not pages:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as resp:  # noqa: S310
                    pages = [p for p in json.loads(resp.read()) if p.get("type") == "page"]
            except OSError:
                pass
            if not pages:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((tmp_path / "chromium.log").read_text(errors="replace")[-2000:])
                time.sleep(0.2)
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_html_report_renders_charts_offline(browser: DevTools, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shas = make_repo(tmp_path / "repo")
    cfg = tmp_path / "coursectl.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    assert cli("ledger", "import", str(write_jsonl(tmp_path / "h.jsonl", records(shas))))[0] == 0
    report = tmp_path / "dora.html"
    code, _, err = cli("-c", str(cfg), "metrics", "dora", "--from", "2026-10-01", "--to", "2026-11-01",
                       "--by", "service", "-f", "html", "--out", str(report))
    assert code == 0, err

    for domain in ("Network", "Runtime", "Log", "Page"):
        browser.call(f"{domain}.enable")
    url = report.as_uri()
    browser.call("Page.navigate", url=url)
    browser.wait_for("Page.loadEventFired")
    result = browser.call("Runtime.evaluate", returnByValue=True, expression="""(() => {
        const charts = [...document.querySelectorAll('svg.chart')];
        return {charts: charts.length,
                sized: charts.filter(c => c.getBoundingClientRect().width > 300).length,
                bars: document.querySelectorAll('svg.chart rect.bar').length,
                summaryRows: document.querySelectorAll('#summary tr').length,
                title: document.title};
    })()""")["result"]["value"]
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    target = Path(os.environ.get("COURSECTL_SCREENSHOT", tmp_path / "dora-report.png"))
    target.write_bytes(png)

    assert result["charts"] == 4 and result["sized"] == 4
    assert result["bars"] >= 15
    assert result["summaryRows"] == 6
    assert result["title"] == "DORA metrics — prod"
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000

    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests == [url], requests  # the file itself, nothing else
    console_errors = [e for e in browser.events
                      if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
                      or e.get("method") == "Runtime.exceptionThrown"
                      or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert console_errors == []


def test_success_report_page_with_trends_and_marks_offline(browser: DevTools, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shas = make_repo(tmp_path / "repo")
    cfg = tmp_path / "coursectl.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    assert cli("ledger", "import", str(write_jsonl(tmp_path / "h.jsonl", records(shas))))[0] == 0
    report = tmp_path / "success.html"
    code, _, err = cli("-c", str(cfg), "metrics", "report", "--from", "2026-10-20", "--to", "2026-10-27",
                       "-f", "html", "--windows", "6", "--out", str(report))
    assert code == 0, err

    for domain in ("Network", "Runtime", "Log", "Page"):
        browser.call(f"{domain}.enable")
    url = report.as_uri()
    browser.call("Page.navigate", url=url)
    browser.wait_for("Page.loadEventFired")
    result = browser.call("Runtime.evaluate", returnByValue=True, expression="""(() => {
        const rows = [...document.querySelectorAll('tr.metric')];
        const sparks = [...document.querySelectorAll('svg.spark')];
        const colour = s => { const m = document.querySelector('.mark.' + s);
                              return m ? getComputedStyle(m).backgroundColor : null; };
        return {rows: rows.length, statuses: rows.map(r => r.dataset.status),
                sparks: sparks.length, sized: sparks.filter(s => s.getBoundingClientRect().width >= 200).length,
                points: document.querySelectorAll('svg.spark circle.point').length,
                targets: document.querySelectorAll('svg.spark line.target').length,
                met: colour('met'), missed: colour('missed'), title: document.title};
    })()""")["result"]["value"]
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    target = Path(os.environ.get("COURSECTL_SCREENSHOT_SUCCESS", tmp_path / "success-report.png"))
    target.write_bytes(png)

    assert result["rows"] == 8 and result["sparks"] == 8 and result["sized"] == 8
    assert result["points"] >= 6  # frequency and change failure rate have a value in several windows
    assert result["targets"] >= 7
    assert "missed" in result["statuses"]
    assert result["missed"] == "rgb(248, 215, 214)"  # red
    assert result["met"] in (None, "rgb(216, 240, 210)")  # green when something is met
    assert result["title"] == "Key success metrics — prod"
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests == [url], requests
    errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
