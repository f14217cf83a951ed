"""The storefront's process: nginx serving the built files, plus the Prometheus metrics nginx cannot give.

    python3 storefront_runtime.py serve        render nginx.conf from the environment, start nginx, serve /metrics
    python3 storefront_runtime.py healthcheck  exit 0 when /health/ready answers 200 (the image's HEALTHCHECK)

Only the standard library (the image has python3 and nginx, nothing else). nginx writes one short line per
request to a unix datagram socket (its syslog output); this process counts them as the services count theirs —
``http_requests_total{service,route,method,status}`` and the ``http_request_duration_seconds`` histogram — so
coursectl's canary analysis judges the storefront with the same queries as every other service. nginx answers
``/metrics`` by proxying to this process over a unix stream socket. SIGTERM/SIGINT stop nginx gracefully.

Environment: ``HOST`` (127.0.0.1), ``PORT`` (8007), ``STOREFRONT_ROOT`` (/srv/storefront: index.html,
assets/, version.json), ``RUNTIME_DIR`` (/tmp/storefront-<port>), ``NGINX`` (nginx), ``FAULT_ERROR_RATE``
(0..1: share of page and asset requests answered 500, for rollout drills), ``LOG_LEVEL``.
"""

from __future__ import annotations

import http.server
import json
import math
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SERVICE = "storefront"
DEFAULT_PORT = 8007
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # the services' buckets
# series created at 0 from the start, so that rate() over them sees a canary's very first errors
INITIAL_ROUTES = ("/{spa}", "/assets/{file}")
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
LINE = re.compile(r"sfm (\S+) ([A-Z]+) (\d{3}) ([0-9.]+)\s*$")


class ConfigError(Exception):
    """A setting that cannot be used: the process exits 3 naming the variable."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    root: Path
    run_dir: Path
    nginx: str
    fault_error_rate: float
    as_root: bool

    @property
    def log_socket(self) -> Path:
        return self.run_dir / "access.sock"

    @property
    def metrics_socket(self) -> Path:
        return self.run_dir / "metrics.sock"

    @property
    def config_path(self) -> Path:
        return self.run_dir / "nginx.conf"


def settings_from(env: dict[str, str] | os._Environ[str], euid: int | None = None) -> Settings:
    """Settings from environment variables; ConfigError names the first bad one."""
    port_text = env.get("PORT", "") or str(DEFAULT_PORT)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"PORT must be a port number 1-65535, got {port_text!r}")
    rate_text = env.get("FAULT_ERROR_RATE", "") or "0"
    try:
        rate = float(rate_text)
    except ValueError:
        raise ConfigError(f"FAULT_ERROR_RATE must be a number from 0 to 1, got {rate_text!r}") from None
    if not 0 <= rate <= 1 or math.isnan(rate):
        raise ConfigError(f"FAULT_ERROR_RATE must be a number from 0 to 1, got {rate_text!r}")
    host = env.get("HOST", "") or "127.0.0.1"
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", host):
        raise ConfigError(f"HOST must be an address such as 127.0.0.1, got {host!r}")
    port = int(port_text)
    return Settings(
        host=host,
        port=port,
        root=Path(env.get("STOREFRONT_ROOT", "") or "/srv/storefront").resolve(),
        run_dir=Path(env.get("RUNTIME_DIR", "") or f"/tmp/storefront-{port}").resolve(),
        nginx=env.get("NGINX", "") or "nginx",
        fault_error_rate=rate,
        as_root=(os.geteuid() if euid is None else euid) == 0,
    )


def render_config(settings: Settings, template: str | None = None) -> str:
    """nginx.conf for these settings (pure: the template with its @PLACEHOLDERS@ filled in)."""
    text = TEMPLATE.read_text(encoding="utf-8") if template is None else template
    percent = round(settings.fault_error_rate * 100, 2)
    if percent > 0:
        faults = f'split_clients "${{request_id}}" $fault {{\n        {percent:g}% 1;\n        * 0;\n    }}'
    else:
        faults = "map $uri $fault {\n        default 0;\n    }"
    listen = f"[{settings.host.strip('[]')}]" if ":" in settings.host.strip("[]") else settings.host
    values = {
        "@USER@": "user root root;" if settings.as_root else "# not root: no user directive",
        "@RUN_DIR@": str(settings.run_dir),
        "@ROOT@": str(settings.root),
        "@LISTEN@": f"{listen}:{settings.port}",
        "@LOG_SOCKET@": str(settings.log_socket),
        "@METRICS_SOCKET@": str(settings.metrics_socket),
        "@FAULTS@": faults,
    }
    for key, value in values.items():
        text = text.replace(key, value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ConfigError(f"the nginx template has unknown placeholders: {', '.join(sorted(set(left)))}")
    return text


# --- metrics ---------------------------------------------------------------------------------------------


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass
class Metrics:
    """Counters and a latency histogram by (route, method[, status]), rendered in Prometheus' text format."""

    requests: dict[tuple[str, str, str], int] = field(default_factory=dict)
    buckets: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    sums: dict[tuple[str, str], float] = field(default_factory=dict)
    faults: int = 0
    malformed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for route in INITIAL_ROUTES:
            for status in ("200", "500"):
                self.requests[(route, "GET", status)] = 0

    def observe(self, route: str, method: str, status: str, seconds: float, fault: bool = False) -> None:
        with self.lock:
            key = (route, method, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            hkey = (route, method)
            counts = self.buckets.setdefault(hkey, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self.sums[hkey] = self.sums.get(hkey, 0.0) + seconds
            if fault:
                self.faults += 1

    def observe_line(self, line: str) -> bool:
        """One nginx log line (``sfm <route> <method> <status> <seconds> [fault]``); False when malformed."""
        fault = line.rstrip().endswith(" fault")
        match = LINE.search(line.rstrip().removesuffix(" fault").removesuffix(" -"))
        if not match:
            with self.lock:
                self.malformed += 1
            return False
        route, method, status, seconds = match.groups()
        self.observe(route, method, status, float(seconds), fault)
        return True

    def render(self) -> str:
        svc = f'service="{SERVICE}"'
        out = [
            "# HELP http_requests_total HTTP requests answered, by route template, method and status.",
            "# TYPE http_requests_total counter",
        ]
        with self.lock:
            for (route, method, status), n in sorted(self.requests.items()):
                out.append(
                    f'http_requests_total{{{svc},route="{_label(route)}",method="{method}",status="{status}"}} {n}'
                )
            out += [
                "# HELP http_request_duration_seconds Time to answer an HTTP request, by route template and"
                " method.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for (route, method), counts in sorted(self.buckets.items()):
                labels = f'{svc},route="{_label(route)}",method="{method}"'
                for bound, n in zip(BUCKETS, counts, strict=True):
                    out.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound:g}"}} {n}')
                total = sum(v for (r, m, _s), v in self.requests.items() if (r, m) == (route, method))
                out.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
                out.append(f"http_request_duration_seconds_sum{{{labels}}} {self.sums[(route, method)]:.6f}")
                out.append(f"http_request_duration_seconds_count{{{labels}}} {total}")
            out += [
                "# HELP faults_injected_total Faults injected on purpose (FAULT_ERROR_RATE).",
                "# TYPE faults_injected_total counter",
                f'faults_injected_total{{{svc},kind="error"}} {self.faults}',
                "# HELP storefront_log_lines_malformed_total Access-log lines the metrics could not read.",
                "# TYPE storefront_log_lines_malformed_total counter",
                f"storefront_log_lines_malformed_total{{{svc}}} {self.malformed}",
            ]
        return "\n".join(out) + "\n"


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _metrics_handler(metrics: Metrics) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self) -> str:
            return "nginx"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server API
            return

    return Handler


def start_metrics(settings: Settings, metrics: Metrics) -> tuple[socket.socket, _UnixHTTPServer]:
    """The datagram socket nginx logs to and the stream socket /metrics is proxied to, each served by a thread."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    for path in (settings.log_socket, settings.metrics_socket):
        path.unlink(missing_ok=True)
    logs = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    logs.bind(str(settings.log_socket))
    server = _UnixHTTPServer(str(settings.metrics_socket), _metrics_handler(metrics))
    for path in (settings.log_socket, settings.metrics_socket):
        os.chmod(path, 0o666)  # nginx's worker may run as another user

    def read_logs() -> None:
        while True:
            try:
                data = logs.recv(65536)
            except OSError:
                return
            metrics.observe_line(data.decode("utf-8", "replace"))

    threading.Thread(target=read_logs, name="access-log", daemon=True).start()
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return logs, server


# --- commands --------------------------------------------------------------------------------------------


def _log(level: str, message: str, **fields: object) -> None:
    doc = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level, "service": SERVICE,
           "message": message, **fields}  # fmt: skip
    print(json.dumps(doc), file=sys.stderr, flush=True)


def serve(settings: Settings) -> int:
    """Run nginx in the foreground until it exits or a stop signal arrives; nginx's exit status."""
    if not (settings.root / "index.html").is_file():
        _log("ERROR", f"no index.html in {settings.root}: build the storefront first (npm run build)")
        return 3
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings.config_path.write_text(render_config(settings), encoding="utf-8")
    metrics = Metrics()
    logs, server = start_metrics(settings, metrics)
    argv = [settings.nginx, "-e", "stderr", "-p", str(settings.run_dir), "-c", str(settings.config_path),
            "-g", "daemon off;"]  # fmt: skip
    try:
        nginx = subprocess.Popen(argv)
    except OSError as exc:
        _log("ERROR", f"cannot start nginx ({settings.nginx}): {exc}")
        return 4
    _log("INFO", "storefront started", address=f"{settings.host}:{settings.port}", root=str(settings.root),
         fault_error_rate=settings.fault_error_rate, nginx_pid=nginx.pid)  # fmt: skip

    def stop(signum: int, _frame: object) -> None:
        _log("INFO", "stopping", signal=signal.Signals(signum).name)
        if nginx.poll() is None:
            nginx.send_signal(signal.SIGQUIT)  # graceful: finish the requests in flight

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = nginx.wait()
    server.shutdown()
    logs.close()
    _log("INFO", "storefront stopped", exit_code=code)
    return code


def healthcheck(settings: Settings, timeout: float = 3.0) -> int:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "[::]") else settings.host
    host = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{host}:{settings.port}/health/ready", timeout=timeout) as resp:
            return 0 if resp.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "serve"
    if command not in ("serve", "healthcheck", "render"):
        print(f"usage: {Path(__file__).name} serve|healthcheck|render", file=sys.stderr)
        return 2
    try:
        settings = settings_from(os.environ)
        if command == "healthcheck":
            return healthcheck(settings)
        if command == "render":
            sys.stdout.write(render_config(settings))
            return 0
        return serve(settings)
    except ConfigError as exc:
        print(f"storefront: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
