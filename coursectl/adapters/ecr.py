"""Amazon ECR login: a registry user name and password from boto3's ``get_authorization_token``."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coursectl.errors import AuthError, ExternalError, PreconditionError

AUTH_ERROR_CODES = frozenset(
    {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"}
)


@dataclass(frozen=True)
class EcrLogin:
    """Credentials for one ECR registry (valid for 12 hours) and its endpoint."""

    username: str
    password: str
    endpoint: str
    expires_at: datetime | None

    @property
    def registry(self) -> str:
        """The endpoint without its scheme: the host part of image references."""
        return self.endpoint.split("://", 1)[-1].rstrip("/")

    def __repr__(self) -> str:
        return f"EcrLogin(username={self.username!r}, password='***', endpoint={self.endpoint!r})"


def ecr_client(region: str | None) -> Any:
    """A boto3 ECR client for ``region`` (imported lazily)."""
    import boto3

    return boto3.client("ecr", region_name=region)


def registry_id_of(url: str) -> str | None:
    """The account id from ``<account>.dkr.ecr.<region>.amazonaws.com``, if the URL has that shape."""
    import re

    match = re.match(r"^(\d{12})\.dkr\.ecr\.", url.split("://", 1)[-1])
    return match.group(1) if match else None


def login(region: str | None, registry_url: str | None = None, *, client: Any = None) -> EcrLogin:
    """Ask ECR for a token and decode it to ``AWS:<password>``.

    Refused or missing AWS credentials → AuthError (exit 4); ECR unreachable or failing → ExternalError (5).
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    try:
        ecr = client or ecr_client(region)
        kwargs: dict[str, Any] = {}
        account = registry_id_of(registry_url) if registry_url else None
        if account:
            kwargs["registryIds"] = [account]
        answer = ecr.get_authorization_token(**kwargs)
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise AuthError(
            f"no AWS credentials for ECR: {exc}",
            hint="configure AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role)",
        ) from exc
    except NoRegionError as exc:
        raise PreconditionError("ECR needs a region", hint="set registry.region in coursectl.yaml") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code in AUTH_ERROR_CODES:
            raise AuthError(f"ECR refused the AWS credentials: {code}: {message}") from exc
        raise ExternalError(f"ECR get_authorization_token failed: {code}: {message}") from exc
    except EndpointConnectionError as exc:
        raise ExternalError(f"ECR is unreachable: {exc}") from exc
    except BotoCoreError as exc:
        raise ExternalError(f"ECR: {exc}") from exc
    data = (answer.get("authorizationData") or [None])[0]
    if not data:
        raise ExternalError("ECR returned no authorization data")
    decoded = base64.b64decode(data["authorizationToken"]).decode()
    username, _, password = decoded.partition(":")
    return EcrLogin(username, password, data.get("proxyEndpoint", ""), data.get("expiresAt"))
