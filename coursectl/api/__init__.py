"""The use cases: everything the CLI can do, as functions over a loaded configuration (never print or exit)."""

from __future__ import annotations
