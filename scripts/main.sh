#!/usr/bin/env bash
# The main job on the embedded default (the local sandbox and the docker target): set up everything, bring the
# sandbox up, validate the configuration, release the whole platform to `local` (build changed images, scan,
# push, blue-green rollout of each service, user-journey smoke test through the edge) and print the status.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$REPO/scripts/setup.sh"
cd "$REPO"

coursectl sandbox up
coursectl config validate --env local
coursectl release --env local --yes
