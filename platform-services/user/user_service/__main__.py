"""Run the user service: python3 -m user_service."""

from __future__ import annotations

from course_common.server import serve

from .main import create_app


def main() -> None:
    serve("user", create_app)


if __name__ == "__main__":
    main()
