"""Run the enrollment service: python3 -m enrollment_service."""

from __future__ import annotations

from course_common.server import serve

from .main import create_app


def main() -> None:
    serve("enrollment", create_app)


if __name__ == "__main__":
    main()
