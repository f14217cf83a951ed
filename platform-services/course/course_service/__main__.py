"""Run the course service: python3 -m course_service."""

from __future__ import annotations

from course_common.server import serve

from .main import create_app


def main() -> None:
    serve("course", create_app)


if __name__ == "__main__":
    main()
