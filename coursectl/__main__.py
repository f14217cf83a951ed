"""Entry point for ``python -m coursectl``."""

from __future__ import annotations

import sys

from coursectl.cli import main

sys.exit(main())
