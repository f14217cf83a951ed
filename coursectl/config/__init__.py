"""Configuration: models, loading with per-environment overlays, secret references and redaction."""

from __future__ import annotations

from coursectl.config.loader import LoadedConfig, deep_merge, find_config, load_config

__all__ = ["LoadedConfig", "deep_merge", "find_config", "load_config"]
