"""Container HEALTHCHECK: exit 0 when GET /health/ready on this service's HOST:PORT answers 200 (no curl needed)."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    host = os.environ.get("HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    port = os.environ.get("PORT") or "8000"
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health/ready", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
