"""A local HTTP server answering like a Jenkins controller with the real jenkins-rest samples from
../shared/fixtures/jenkins (job list, folder, job configs, plugin list), for the remote Jenkins backup source."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES

SAMPLES = FIXTURES / "jenkins" / "jenkins-rest"
CONFIG_BY_CLASS = {
    "com.cloudbees.hudson.plugins.folder.Folder": "folder-config.xml",
    "org.jenkinsci.plugins.workflow.job.WorkflowJob": "pipeline.xml",
}


@dataclass
class JenkinsReplay:
    url: str
    seen: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def sample(self, name: str) -> bytes:
        return (SAMPLES / name).read_bytes()

    def jobs(self) -> dict[str, str]:
        """fullname → the sample its config.xml is answered with."""
        root = json.loads(self.sample("jobsInRootFolder.json"))
        inner = json.loads(self.sample("jobsInJenkinsFolder.json"))
        out = {j["name"]: CONFIG_BY_CLASS.get(j["_class"], "freestyle-project.xml") for j in root["jobs"]}
        for j in inner["jobs"]:
            out[f"Test Folder/{j['name']}"] = CONFIG_BY_CLASS.get(j["_class"], "freestyle-project.xml")
        return out


def _answer(replay: JenkinsReplay, path: str) -> tuple[int, str, bytes]:
    parsed = urllib.parse.urlsplit(path)
    parts = [urllib.parse.unquote(p) for p in parsed.path.strip("/").split("/") if p]
    if parts[:1] == ["crumbIssuer"]:
        return 404, "application/json", b"{}"
    if parts == ["pluginManager", "api", "json"]:
        return 200, "application/json", replay.sample("plugins.json")
    if parts == ["api", "json"]:
        root = json.loads(replay.sample("jobsInRootFolder.json"))
        for job in root["jobs"]:  # edited copy: the folder says it has children, as a real one does
            if job["_class"].endswith(".Folder"):
                job["jobs"] = [{"_class": "hudson.model.FreeStyleProject"}]
        return 200, "application/json", json.dumps(root).encode()
    if parts[-2:] == ["api", "json"] and parts[:-2] == ["job", "Test Folder"]:
        return 200, "application/json", replay.sample("jobsInJenkinsFolder.json")
    if parts and parts[-1] == "config.xml" and parts[0] == "job":
        fullname = "/".join(parts[1:-1:2])
        sample = replay.jobs().get(fullname)
        if sample:
            return 200, "application/xml", replay.sample(sample)
    return 404, "text/plain", b"not found"


def start() -> tuple[JenkinsReplay, ThreadingHTTPServer]:
    holder: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            replay: JenkinsReplay = holder["replay"]
            replay.seen.append(self.path)
            replay.headers.append(dict(self.headers))
            status, kind, body = _answer(replay, self.path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["replay"] = JenkinsReplay(f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return holder["replay"], server


def jenkins_replay_server() -> Iterator[JenkinsReplay]:
    replay, server = start()
    try:
        yield replay
    finally:
        server.shutdown()
        server.server_close()


def samples_present() -> bool:
    return Path(SAMPLES).is_dir()
