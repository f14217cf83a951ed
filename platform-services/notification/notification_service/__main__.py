"""Run the notification service: python3 -m notification_service."""

from __future__ import annotations

from course_common.server import serve

from .main import create_app


def main() -> None:
    serve("notification", create_app)


if __name__ == "__main__":
    main()
