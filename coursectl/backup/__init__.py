"""Backups without I/O: keys, chunked authenticated encryption, the codec, manifests, layout, retention."""

from __future__ import annotations
