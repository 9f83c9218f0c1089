"""S3 through boto3. boto3 blocks, so every call runs in a worker thread.

Any S3 server with Signature Version 4 works (the platform runs the Versity S3 Gateway):
requests are signed with SigV4 and address the bucket path-style, so presigned URLs pass
through the edge unchanged. The key needs object reads, writes and deletes, listing, and
listing and aborting multipart uploads in its bucket; nothing else.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from hearth_app.core.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class StoredObject:
    key: str
    last_modified: datetime


@dataclass(frozen=True)
class MultipartUpload:
    key: str
    upload_id: str
    initiated: datetime


class Storage:
    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        cfg = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=3,
            read_timeout=10,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        common: dict[str, Any] = {
            "region_name": settings.region,
            "aws_access_key_id": settings.access_key.get_secret_value(),
            "aws_secret_access_key": settings.secret_key.get_secret_value(),
            "config": cfg,
        }
        self._client: S3Client = boto3.client("s3", endpoint_url=settings.endpoint, **common)
        # Presigned URLs must name the host clients reach; signing is offline, no calls made.
        self._public: S3Client = boto3.client(
            "s3", endpoint_url=settings.public_endpoint or settings.endpoint, **common
        )
        self.bucket = settings.bucket

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    async def ensure_bucket(self) -> None:
        """The bucket exists: made here when missing and the key may create buckets (a
        development setup with the root key). On the platform `bootstrap-s3` makes it, and
        the app's key may not create buckets: a missing bucket is reported as such."""
        try:
            await self._run(self._client.head_bucket, Bucket=self.bucket)
            return
        except ClientError as exc:
            missing = exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket")
            if not missing:
                raise RuntimeError(f"S3 bucket {self.bucket!r} is not usable with this key: {exc}") from exc
        try:
            await self._run(self._client.create_bucket, Bucket=self.bucket)
        except ClientError as exc:
            raise RuntimeError(
                f"S3 bucket {self.bucket!r} does not exist and this key may not create it "
                f"(on the platform, bootstrap-s3 creates it): {exc}"
            ) from exc

    async def ping(self) -> None:
        await self._run(self._client.head_bucket, Bucket=self.bucket)

    async def presign_put(self, key: str, content_type: str, size: int, sha256_hex: str) -> str:
        checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        url: str = await self._run(
            self._public.generate_presigned_url,
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": size,
                "ChecksumSHA256": checksum,
            },
            ExpiresIn=self.settings.presign_seconds,
        )
        return url

    async def presign_get(self, key: str, filename: str) -> str:
        url: str = await self._run(
            self._public.generate_presigned_url,
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=self.settings.presign_seconds,
        )
        return url

    async def head(self, key: str) -> dict[str, Any] | None:
        try:
            out: dict[str, Any] = await self._run(self._client.head_object, Bucket=self.bucket, Key=key)
            return out
        except ClientError:
            return None

    async def read(self, key: str, limit: int) -> bytes:
        obj = await self._run(self._client.get_object, Bucket=self.bucket, Key=key)
        body = obj["Body"]
        try:
            data: bytes = await self._run(body.read, limit + 1)
        finally:
            body.close()
        return data

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._run(
            self._client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
        )

    async def delete(self, key: str) -> None:
        await self._run(self._client.delete_object, Bucket=self.bucket, Key=key)

    def _objects(self, prefix: str) -> Iterator[list[StoredObject]]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000}
        )
        for page in pages:
            yield [StoredObject(o["Key"], o["LastModified"]) for o in page.get("Contents", [])]

    async def list_objects(self, prefix: str) -> list[list[StoredObject]]:
        """Every object under `prefix`, in pages of up to 1000."""
        return await self._run(lambda: list(self._objects(prefix)))  # type: ignore[no-any-return]

    def _uploads(self) -> list[MultipartUpload]:
        out = []
        pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
        for page in pages:
            for u in page.get("Uploads", []):
                out.append(MultipartUpload(u["Key"], u["UploadId"], u["Initiated"]))
        return out

    async def list_multipart_uploads(self) -> list[MultipartUpload]:
        """Incomplete multipart uploads of the bucket (started, neither completed nor aborted)."""
        return await self._run(self._uploads)  # type: ignore[no-any-return]

    async def abort_multipart_upload(self, upload: MultipartUpload) -> None:
        try:
            await self._run(
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
            )
        except ClientError as exc:
            # Completed or aborted meanwhile (another replica, the client): nothing left.
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
