"""ECR login through boto3, with recorded get_authorization_token answers (botocore Stubber, no network)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from coursectl.adapters import ecr
from coursectl.errors import AuthError, ExternalError

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
# the shape of a real answer (values replaced): one authorizationData entry, token = base64("AWS:<password>")
RECORDED = {
    "authorizationData": [
        {
            "authorizationToken": base64.b64encode(b"AWS:eyJwYXlsb2FkIjoi-recorded-password").decode(),
            "expiresAt": datetime(2026, 1, 2, 15, 0, tzinfo=UTC),
            "proxyEndpoint": f"https://{REGISTRY}",
        }
    ],
    "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "3f9a5e0c-0000-0000-0000-000000000000"},
}


@pytest.fixture()
def stubbed() -> Iterator[tuple[Any, Any]]:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "ecr", region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_login_decodes_the_token(stubbed: tuple[Any, Any]) -> None:
    client, stub = stubbed
    stub.add_response("get_authorization_token", RECORDED, {"registryIds": ["123456789012"]})
    login = ecr.login("eu-west-1", REGISTRY, client=client)
    assert login.username == "AWS"
    assert login.password == "eyJwYXlsb2FkIjoi-recorded-password"
    assert login.registry == REGISTRY
    assert login.expires_at == datetime(2026, 1, 2, 15, 0, tzinfo=UTC)
    assert "recorded-password" not in repr(login)


def test_login_without_an_account_in_the_url(stubbed: tuple[Any, Any]) -> None:
    client, stub = stubbed
    stub.add_response("get_authorization_token", RECORDED, {})
    assert ecr.login("eu-west-1", "my-ecr-alias.example", client=client).username == "AWS"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("AccessDeniedException", AuthError),
        ("UnrecognizedClientException", AuthError),
        ("ExpiredTokenException", AuthError),
        ("ServerException", ExternalError),
        ("ThrottlingException", ExternalError),
    ],
)
def test_errors_are_translated(stubbed: tuple[Any, Any], code: str, error: type[Exception]) -> None:
    client, stub = stubbed
    stub.add_client_error("get_authorization_token", service_error_code=code, service_message="recorded message",
                          http_status_code=400)
    with pytest.raises(error, match=code):
        ecr.login("eu-west-1", REGISTRY, client=client)


def test_no_credentials_is_an_auth_error() -> None:
    from botocore.exceptions import NoCredentialsError

    class NoCreds:
        def get_authorization_token(self, **_: Any) -> Any:
            raise NoCredentialsError()

    with pytest.raises(AuthError, match="no AWS credentials"):
        ecr.login("eu-west-1", REGISTRY, client=NoCreds())


def test_registry_id_of() -> None:
    assert ecr.registry_id_of(REGISTRY) == "123456789012"
    assert ecr.registry_id_of("https://" + REGISTRY) == "123456789012"
    assert ecr.registry_id_of("127.0.0.1:5000") is None
