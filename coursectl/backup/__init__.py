"""Backups without I/O: keys, authenticated chunked encryption, the codec pipeline, manifests, layout, retention."""

from __future__ import annotations
