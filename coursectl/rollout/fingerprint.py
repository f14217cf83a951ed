"""The fingerprint of a slot's spec: what runs (image digest, else image reference) and with which environment.

Like a Kubernetes pod-template hash: the same version with a different environment (``--set-env``, a changed
``env`` in the configuration) is a different release, rolled out with the environment's strategy, while the
same artifact with the same environment is "already live". Targets record it on the slot (a container label,
the process target's state file) so a later deploy can compare.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

LENGTH = 16


def slot_fingerprint(*, image: str | None, digest: str | None, version: str, env: Mapping[str, str]) -> str:
    """16 hex characters over the artifact (digest, else image reference, else version) and the environment."""
    artifact = digest or image or version
    document = json.dumps({"artifact": artifact, "env": dict(env)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(document.encode("utf-8")).hexdigest()[:LENGTH]
