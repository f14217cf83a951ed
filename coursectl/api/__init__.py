"""The use cases of coursectl as a library: functions over a loaded configuration that return objects."""

from __future__ import annotations
