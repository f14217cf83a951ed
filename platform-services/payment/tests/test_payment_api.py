"""Unit tests of the payment service API: idempotency (also under concurrent retries), declines, refusals."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from course_common import ServiceClient
from course_common.testing import bearer, make_settings
from payment_service.main import create_app
from payment_service.provider import luhn_ok
from payment_service.schema import charges

STUDENT = bearer(20, "student")
OTHER = bearer(21, "student")
GOOD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def course_transport(request: httpx.Request) -> httpx.Response:
    course_id = int(request.url.path.rsplit("/", 1)[1])
    if course_id == 404:
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no course"}})
    return httpx.Response(200, json={"id": course_id, "price_cents": 4900, "currency": "EUR", "lessons": []})


@pytest.fixture()
def client(tmp_path):
    course = ServiceClient("course", httpx.Client(transport=httpx.MockTransport(course_transport),
                                                  base_url="http://course.test"))
    with TestClient(create_app(make_settings("payment", tmp_path), course_client=course)) as c:
        yield c


def pay(client, key="key-00000001", course_id=7, card=GOOD, headers=STUDENT):
    h = dict(headers)
    if key is not None:
        h["Idempotency-Key"] = key
    return client.post("/api/payment/payments", json={"course_id": course_id, "card": card}, headers=h)


def charge_count(client) -> int:
    with client.app.state.db.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(charges)).scalar_one()


def test_a_payment_succeeds_at_the_course_price(client):
    r = pay(client)
    assert r.status_code == 201
    body = r.json()
    assert (body["status"], body["amount_cents"], body["currency"], body["card_last4"]) == \
        ("succeeded", 4900, "EUR", "4242")
    assert "4242424242424242" not in r.text
    assert client.get(f"/api/payment/payments/{body['id']}", headers=STUDENT).json()["status"] == "succeeded"
    assert charge_count(client) == 1


def test_a_retry_with_the_same_key_does_not_charge_twice(client):
    first = pay(client)
    again = pay(client)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert charge_count(client) == 1


def test_concurrent_retries_charge_exactly_once(client):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: pay(client, key="concurrent-key-1"), range(16)))
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    assert sum(1 for r in results if r.headers.get("Idempotent-Replayed") != "true") == 1
    assert charge_count(client) == 1
    assert 'payments_total{service="payment",status="succeeded"} 1.0' in client.get("/metrics").text


def test_the_same_key_for_a_different_request_is_refused(client):
    pay(client, course_id=7)
    r = pay(client, course_id=8)
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"


def test_paying_twice_for_a_course_with_new_keys_is_refused(client):
    assert pay(client, key="first-key-1").status_code == 201
    r = pay(client, key="second-key-2")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_paid"
    assert charge_count(client) == 1


@pytest.mark.parametrize("number,code", [("4000000000000002", "card_declined"),
                                         ("4000000000009995", "insufficient_funds"),
                                         ("4000000000000069", "expired_card")])
def test_test_cards_are_declined_without_a_charge_and_replay_the_decline(client, number, code):
    r = pay(client, card={**GOOD, "number": number})
    assert r.status_code == 402 and r.json()["status"] == "declined" and r.json()["decline_code"] == code
    again = pay(client, card={**GOOD, "number": number})
    assert again.status_code == 402 and again.json()["id"] == r.json()["id"]
    assert charge_count(client) == 0
    ok = pay(client, key="after-decline-1")  # a declined payment does not block a new attempt
    assert ok.status_code == 201


def test_an_expired_card_is_declined(client):
    r = pay(client, card={**GOOD, "exp_year": 2001})
    assert r.status_code == 402 and r.json()["decline_code"] == "expired_card"


@pytest.mark.parametrize("key,code", [(None, "idempotency_key_required"), ("short", "invalid_idempotency_key"),
                                      ("has spaces in it", "invalid_idempotency_key")])
def test_a_missing_or_bad_idempotency_key_is_a_400(client, key, code):
    r = pay(client, key=key)
    assert r.status_code == 400 and r.json()["error"]["code"] == code


@pytest.mark.parametrize("card", [{**GOOD, "number": "4242424242424241"}, {**GOOD, "number": "42"},
                                  {**GOOD, "exp_month": 13}, {**GOOD, "cvc": "12a"}, {"number": GOOD["number"]}])
def test_bad_cards_are_a_422(client, card):
    assert pay(client, card=card).status_code == 422
    assert charge_count(client) == 0


def test_unknown_course_is_a_404_and_no_token_is_a_401(client):
    assert pay(client, course_id=404).json()["error"]["code"] == "course_not_found"
    assert pay(client, headers={}).status_code == 401


def test_a_payment_is_visible_only_to_its_owner(client):
    pid = pay(client).json()["id"]
    assert client.get(f"/api/payment/payments/{pid}", headers=OTHER).status_code == 404
    assert client.get(f"/api/payment/payments/{pid}", headers=bearer(1, "admin")).status_code == 200
    assert client.get("/api/payment/payments?course_id=7", headers=OTHER).json() == {"items": []}
    assert len(client.get("/api/payment/payments?course_id=7", headers=STUDENT).json()["items"]) == 1


def test_course_service_down_is_a_503_not_a_500(tmp_path):
    def down(request):
        raise httpx.ConnectError("refused")

    course = ServiceClient("course", httpx.Client(transport=httpx.MockTransport(down), base_url="http://c.test"))
    with TestClient(create_app(make_settings("payment", tmp_path), course_client=course)) as c:
        r = pay(c)
    assert r.status_code == 503 and r.json()["error"]["code"] == "dependency_unavailable"


@pytest.mark.parametrize("number,ok", [("4242424242424242", True), ("4000000000000002", True),
                                       ("4242424242424241", False), ("abcd", False)])
def test_luhn(number, ok):
    assert luhn_ok(number) is ok
