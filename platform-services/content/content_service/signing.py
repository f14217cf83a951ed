"""Signed, expiring links: HMAC-SHA256 over (course, lesson, user, expiry); pure, with an injectable clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Callable


class LinkRefused(Exception):
    """The link is not valid: `reason` is "invalid_signature" or "link_expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkSigner:
    key: bytes
    ttl_seconds: int = 300
    clock: Callable[[], float] = time.time

    def _sig(self, course_id: int, lesson_id: int, user_id: int, expires: int) -> str:
        msg = f"v1:{course_id}:{lesson_id}:{user_id}:{expires}".encode()
        digest = hmac.new(self.key, msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, course_id: int, lesson_id: int, user_id: int) -> tuple[int, str]:
        expires = int(self.clock()) + self.ttl_seconds
        return expires, self._sig(course_id, lesson_id, user_id, expires)

    def verify(self, course_id: int, lesson_id: int, user_id: int, expires: int, signature: str) -> None:
        expected = self._sig(course_id, lesson_id, user_id, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise LinkRefused("invalid_signature")
        if self.clock() >= expires:
            raise LinkRefused("link_expired")
