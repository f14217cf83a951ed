"""The storefront's weight and speed: bundle sizes (raw and gzip, the first route against its 150 kB budget)
and the time to first render in headless Chromium against the local edge — median of cold loads, beside the
peer measured in the same run: the same page with JavaScript disabled (the HTML shell and CSS only).

    .venv/bin/python benchmarks/storefront.py [--url http://127.0.0.1:8080] [--runs 15] [--no-build]

The edge is the sandbox's (`coursectl sandbox up && coursectl release --env local`). When nothing there serves
the storefront, this script starts one: the built files served by the storefront's runtime (nginx) behind an
HAProxy edge rendered by coursectl (both on free loopback ports), and the output says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STOREFRONT = REPO / "platform-services" / "storefront"


def npm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npm", *args], cwd=STOREFRONT, capture_output=True, text=True, timeout=600, check=False)


def serves_storefront(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/version", timeout=3) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read()).get("service") == "storefront"
    except (OSError, ValueError):
        return False


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def own_edge(tmp: Path, port: int) -> tuple[str, object]:
    """coursectl's HAProxy edge with the storefront as its default route, in front of ``port``."""
    sys.path.insert(0, str(REPO))
    from coursectl.adapters.haproxy import HAProxyEdge
    from coursectl.render.haproxy import EdgeServer

    edge = HAProxyEdge(tmp / "edge", services={"storefront": "/health/ready"}, routes={"storefront": "/"},
                       bind=f"127.0.0.1:{free_port()}", stats_bind=f"127.0.0.1:{free_port()}",
                       rate_limit_requests=100000)  # fmt: skip
    edge.write_config({"storefront": [EdgeServer("blue", "127.0.0.1", port, 256)]})
    edge.ensure_running()
    deadline = time.monotonic() + 20
    while not serves_storefront(edge.url):
        if time.monotonic() > deadline:
            edge.stop()
            sys.exit("storefront: the local edge did not route to the storefront")
        time.sleep(0.2)
    return edge.url, edge


def own_server(tmp: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    root = tmp / "site"
    shutil.copytree(STOREFRONT / "dist", root)
    (root / "version.json").write_text(json.dumps({"service": "storefront", "version": "bench"}))
    env = {**os.environ, "PORT": str(port), "STOREFRONT_ROOT": str(root), "RUNTIME_DIR": str(tmp / "run")}
    proc = subprocess.Popen([sys.executable, str(STOREFRONT / "runtime" / "storefront_runtime.py"), "serve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not serves_storefront(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.terminate()
            sys.exit("storefront: the local storefront runtime did not start (is nginx installed?)")
        time.sleep(0.2)
    return url, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the edge (default: the local sandbox's)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-build", action="store_true", help="measure the dist/ already built")
    args = parser.parse_args()
    if shutil.which("npm") is None or not (STOREFRONT / "node_modules").is_dir():
        sys.exit("storefront: run scripts/setup.sh first (Node.js and the storefront's npm packages)")
    if not args.no_build:
        done = npm("run", "build")
        if done.returncode != 0:
            sys.exit(f"storefront: npm run build failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    sizes = json.loads(npm("run", "--silent", "budget", "--", "--json").stdout)
    print(f"{'chunk':<42} {'raw kB':>9} {'gzip kB':>9}")
    for chunk in sizes["chunks"]:
        print(f"{chunk['file']:<42} {chunk['bytes'] / 1000:>9.2f} {chunk['gzip'] / 1000:>9.2f}")
    first = sizes["first_route"]
    print(f"first route JS: {first['gzip'] / 1000:.2f} kB gzip ({first['bytes'] / 1000:.2f} kB raw) of "
          f"{sizes['budget_kb']} kB allowed, {len(first['chunks'])} chunks; "
          f"all JS {sizes['total_js_gzip'] / 1000:.2f} kB gzip")

    url, proc, edge, where = args.url.rstrip("/"), None, None, f"through the edge at {args.url}"
    with tempfile.TemporaryDirectory(prefix="storefront-bench-") as tmp:
        if not serves_storefront(url):
            direct, proc = own_server(Path(tmp))
            url, edge = own_edge(Path(tmp), int(direct.rsplit(":", 1)[1]))
            where = (f"no storefront behind {args.url}: its nginx runtime behind a local HAProxy edge rendered by "
                     f"coursectl at {url}")
        try:
            done = subprocess.run(["node", str(STOREFRONT / "e2e" / "first-render.mjs")], cwd=STOREFRONT,
                                  env={**os.environ, "BASE_URL": url, "RUNS": str(args.runs)},
                                  capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
        finally:
            if edge is not None:
                edge.stop()  # type: ignore[attr-defined]
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)
    if done.returncode != 0:
        sys.exit(f"storefront: the render measurement failed:\n{done.stderr[-2000:]}")
    doc = json.loads(done.stdout)
    app = [r["ms"] for r in doc["app"]]
    peer = [r["ms"] for r in doc["peer"]]
    fcp = [r["fcp_ms"] for r in doc["app"] if r["fcp_ms"] is not None]
    print(f"time to first render ({where}; {args.runs} cold loads each, headless Chromium):")
    print(f"  storefront, catalogue heading on screen: median {statistics.median(app):.1f} ms "
          f"(min {min(app):.1f}, max {max(app):.1f}); "
          f"first contentful paint median {statistics.median(fcp):.1f} ms")
    print(f"  peer, the same page without JavaScript:  median {statistics.median(peer):.1f} ms "
          f"(min {min(peer):.1f}, max {max(peer):.1f})")
    print(f"  the app's JavaScript costs {statistics.median(app) - statistics.median(peer):.1f} ms over the peer")


if __name__ == "__main__":
    main()
