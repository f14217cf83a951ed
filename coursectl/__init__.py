"""coursectl: release control plane for the course platform, as a library.

The command-line interface is a thin layer over these names; everything it can do, Python can do.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
