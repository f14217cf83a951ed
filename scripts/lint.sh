#!/usr/bin/env bash
# Lint and type checks over coursectl/: ruff (rules in pyproject.toml), ruff's formatter, mypy --strict.
# Run inside the project's virtualenv (scripts/setup.sh makes it); scripts/test.sh runs this before pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "lint: ruff check" >&2
python -m ruff check coursectl
echo "lint: ruff format --check" >&2
python -m ruff format --check coursectl
echo "lint: mypy --strict" >&2
python -m mypy --strict coursectl
