"""A backup store in an S3 bucket through boto3 (imported lazily): multipart uploads for large objects, every
SDK error translated at this boundary (unreachable → exit 5, missing bucket → exit 4, refused → exit 4)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from coursectl.domain import StoredObject
from coursectl.errors import AuthError, CoursectlError, ExternalError, PreconditionError

READ_SIZE = 1024 * 1024
_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "403",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
}


class S3Store:
    """Backups under ``s3://bucket/prefix/``."""

    def __init__(
        self,
        name: str,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str = "auto",
        part_size: int = 16 * 1024 * 1024,
        timeout: float = 60.0,
    ):
        self.name = name
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.part_size = part_size
        self._settings = dict(
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            addressing_style=addressing_style,
            timeout=timeout,
        )
        self._client: Any = None

    def __repr__(self) -> str:
        return f"S3Store({self.name!r}, {self.location()!r})"

    def location(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            s = self._settings
            timeout = float(s["timeout"])  # type: ignore[arg-type]
            session = boto3.session.Session(
                aws_access_key_id=s["access_key_id"],
                aws_secret_access_key=s["secret_access_key"],
                region_name=str(s["region"]),
            )
            self._client = session.client(
                "s3",
                endpoint_url=self.endpoint_url,
                config=Config(
                    connect_timeout=min(timeout, 10.0),
                    read_timeout=timeout,
                    retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": s["addressing_style"]},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        return self._client

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def _error(self, exc: Exception, doing: str) -> CoursectlError:
        """The coursectl error for an SDK exception raised while ``doing`` something."""
        from botocore import exceptions as bx

        where = f"S3 store {self.name} ({self.location()})"
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
            return AuthError(f"{where}: no credentials", hint="set access_key_id and secret_access_key references")
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchBucket",) or (doing == "check" and (code == "404" or status == 404)):
                return PreconditionError(
                    f"{where}: bucket {self.bucket} does not exist",
                    hint="create the bucket, or fix backups.stores.<name>.bucket",
                )
            if code in ("NoSuchKey", "404") or status == 404:
                return PreconditionError(f"{where}: {doing}: no such object")
            if code in _AUTH_CODES or status == 403:
                return AuthError(
                    f"{where}: access refused while trying to {doing} ({code})",
                    hint="check the access key references and the bucket policy",
                )
            return ExternalError(
                f"{where}: {doing} failed: {code or status}: {error.get('Message', '')}".rstrip(": ")
            )
        if isinstance(
            exc,
            bx.EndpointConnectionError
            | bx.ConnectTimeoutError
            | bx.ConnectionClosedError
            | bx.ReadTimeoutError
            | bx.HTTPClientError,
        ):
            return ExternalError(f"{where} is unreachable: {exc}", hint="check endpoint_url and the network")
        if isinstance(exc, bx.BotoCoreError):
            return ExternalError(f"{where}: {doing} failed: {exc}")
        return ExternalError(f"{where}: {doing} failed: {type(exc).__name__}: {exc}")

    def _call(self, doing: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, doing) from exc

    def check(self) -> None:
        self._call("check", "head_bucket", Bucket=self.bucket)

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        full = self._full(key)
        buf = bytearray()
        it = iter(chunks)
        exhausted = False
        while len(buf) < self.part_size and not exhausted:
            try:
                buf += next(it)
            except StopIteration:
                exhausted = True
        if exhausted and len(buf) < self.part_size:
            self._call(f"upload {key}", "put_object", Bucket=self.bucket, Key=full, Body=bytes(buf))
            return len(buf)
        upload = self._call(f"start the upload of {key}", "create_multipart_upload", Bucket=self.bucket, Key=full)
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        total = 0
        try:
            while True:
                while len(buf) < self.part_size and not exhausted:
                    try:
                        buf += next(it)
                    except StopIteration:
                        exhausted = True
                if not buf and parts:
                    break
                body = bytes(buf[: self.part_size])
                del buf[: self.part_size]
                number = len(parts) + 1
                answer = self._call(
                    f"upload part {number} of {key}",
                    "upload_part",
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                total += len(body)
                if exhausted and not buf:
                    break
            self._call(
                f"complete the upload of {key}",
                "complete_multipart_upload",
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - best effort: prune removes it after the grace period
                pass
            raise
        return total

    def open(self, key: str) -> Iterator[bytes]:
        answer = self._call(f"read {key}", "get_object", Bucket=self.bucket, Key=self._full(key))
        return self._stream(answer["Body"], key)

    def _stream(self, body: Any, key: str) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield from body.iter_chunks(READ_SIZE)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, f"read {key}") from exc
        finally:
            body.close()

    def _paginate(self, doing: str, method: str, field: str, **kwargs: Any) -> list[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            items: list[dict[str, Any]] = []
            for page in self.client.get_paginator(method).paginate(**kwargs):
                items.extend(page.get(field) or [])
            return items
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, doing) from exc

    def list(self, prefix: str = "") -> builtins.list[StoredObject]:
        items = self._paginate(
            "list",
            "list_objects_v2",
            "Contents",
            Bucket=self.bucket,
            Prefix=self._full(prefix) if prefix or self.prefix else "",
        )
        found = [
            StoredObject(key=self._relative(o["Key"]), size=int(o["Size"]), modified=o["LastModified"])
            for o in items
            if not self.prefix or o["Key"].startswith(self.prefix + "/")
        ]
        return sorted(found, key=lambda o: o.key)

    def delete(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = [{"Key": self._full(k)} for k in keys[i : i + 1000]]
            answer = self._call(
                "delete", "delete_objects", Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise ExternalError(
                    f"S3 store {self.name}: cannot delete {self._relative(first.get('Key', ''))}:"
                    f" {first.get('Code')} {first.get('Message', '')}".rstrip()
                )

    def pending(self, prefix: str = "") -> builtins.list[StoredObject]:
        items = self._paginate(
            "list uploads",
            "list_multipart_uploads",
            "Uploads",
            Bucket=self.bucket,
            Prefix=self._full(prefix) if prefix or self.prefix else "",
        )
        return sorted(
            (
                StoredObject(
                    key=self._relative(u["Key"]), size=0, modified=u["Initiated"], upload_id=u["UploadId"]
                )
                for u in items
            ),
            key=lambda o: o.key,
        )

    def discard(self, upload: StoredObject) -> None:
        self._call(
            "abort an upload",
            "abort_multipart_upload",
            Bucket=self.bucket,
            Key=self._full(upload.key),
            UploadId=upload.upload_id,
        )
