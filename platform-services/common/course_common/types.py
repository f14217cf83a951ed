"""Shared request-parameter types: database ids are 1..2^31-1, so no input can overflow an INTEGER column."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

ID_MAX = 2_147_483_647

PathId = Annotated[int, Path(ge=1, le=ID_MAX)]
