"""Run the payment service: python3 -m payment_service."""

from __future__ import annotations

from course_common.server import serve

from .main import create_app


def main() -> None:
    serve("payment", create_app)


if __name__ == "__main__":
    main()
