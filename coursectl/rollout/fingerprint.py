"""The fingerprint of a slot's spec: what runs (image digest, else image reference) and with which environment.

Like a Kubernetes pod-template hash: the same version with a different environment (``--set-env``, a changed
``env`` in the configuration) is a different release, rolled out with the environment's strategy, while the
same artifact with the same environment is "already live". Targets record it on the slot (a container label,
the process target's state file) so a later deploy can compare.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

LENGTH = 16


def slot_fingerprint(
    *,
    image: str | None,
    digest: str | None,
    version: str,
    env: Mapping[str, str],
    secret_names: Iterable[str] = (),
) -> str:
    """16 hex characters over the artifact (digest, else image reference, else version) and the environment.

    The values of ``secret_names`` are left out (only their names count): a label must not let anyone test
    guesses of a secret, so rotating a secret's value alone is not a new release.
    """
    hidden = set(secret_names)
    plain = {k: v for k, v in env.items() if k not in hidden}
    document = json.dumps(
        {"artifact": digest or image or version, "env": plain, "secrets": sorted(hidden & set(env))},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(document.encode("utf-8")).hexdigest()[:LENGTH]
