"""A simulated card provider: decides a charge's outcome from the card number (documented test cards).

| card number        | outcome                          |
| ------------------ | -------------------------------- |
| 4242424242424242   | succeeded                        |
| 5555555555554444   | succeeded                        |
| 4000000000000002   | declined: card_declined          |
| 4000000000009995   | declined: insufficient_funds     |
| 4000000000000069   | declined: expired_card           |
| 4000000000000127   | declined: incorrect_cvc          |
| any other number that passes the Luhn check | succeeded |
| a number failing the Luhn check | refused before charging (422 invalid_card_number) |
| an expiry month in the past | declined: expired_card |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

DECLINES = {
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
}


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    charge_id: str | None = None
    decline_code: str | None = None


class SimulatedProvider:
    """Stands in for a card processor; `today` is injectable so expiry checks are testable."""

    def __init__(self, today: date | None = None) -> None:
        self._today = today

    def charge(self, number: str, exp_month: int, exp_year: int, amount_cents: int, currency: str) -> ChargeResult:
        today = self._today or date.today()
        if (exp_year, exp_month) < (today.year, today.month):
            return ChargeResult(False, decline_code="expired_card")
        code = DECLINES.get(number)
        if code:
            return ChargeResult(False, decline_code=code)
        return ChargeResult(True, charge_id="ch_" + uuid.uuid4().hex[:24])
