"""Container HEALTHCHECK, kept for images built before ``course_healthcheck``: the check itself lives in the
top-level module ``course_healthcheck`` (run ``python3 -m course_healthcheck``), which imports the standard
library only — running this module imports the whole ``course_common`` package (FastAPI) first."""

from __future__ import annotations

import sys

from course_healthcheck import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
