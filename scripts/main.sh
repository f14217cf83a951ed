#!/usr/bin/env bash
# The main job on the embedded default (the local sandbox and the docker target): set up, bring the
# sandbox up, validate the configuration and show the sandbox's status.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$REPO/scripts/setup.sh"
cd "$REPO"

coursectl sandbox up
coursectl config validate --env local
coursectl sandbox status
