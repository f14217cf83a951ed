"""Run the content service: python3 -m content_service."""

from __future__ import annotations

from course_common.server import serve

from .main import create_app


def main() -> None:
    serve("content", create_app)


if __name__ == "__main__":
    main()
