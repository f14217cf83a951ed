#!/usr/bin/env bash
# The test command: set up (Debian packages, .venv, Python packages), then run every test tier.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not integration" -x).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$REPO/scripts/setup.sh"
cd "$REPO"

# lint and types first: the same checks a reviewer runs (scripts/lint.sh)
bash "$REPO/scripts/lint.sh"

set +e
python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "test.sh: pytest collected no tests — that is a failure, not a pass" >&2
  exit 1
fi
exit "$code"
