"""Objects in S3 or any S3-protocol server (MinIO, Ceph), through boto3.

STORAGE_URL=s3://BUCKET/PREFIX?endpoint=https://minio.example:9000&region=eu-west-1
Credentials come from boto3's usual sources (AWS_ACCESS_KEY_ID, instance roles, ...).
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from backend import breakers
from backend.errors import Conflict
from backend.settings import get_settings
from backend.storage.disposition import content_disposition
from backend.storage.local import check_key

PART_SIZE = 8 << 20  # S3 wants parts of 5 MB or more, except the last
T = TypeVar("T")


def _failed(exc: Exception) -> bool:
    """The store failing (no connection, a timeout, a 5xx), not refusing this one call."""
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500
    return False


async def guarded(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """One boto3 call, in a thread, within the store's deadline and through its circuit
    (backend.breakers): a store that is down costs a caller one clear refusal, not a hang."""

    def run() -> T:
        try:
            return fn(**kwargs)
        except Exception as exc:
            if _failed(exc):
                raise breakers.Failure(f"S3: {exc}") from exc
            raise

    return await breakers.OBJECT_STORE.call(lambda: asyncio.to_thread(run))


def parse_url(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"STORAGE_URL must look like s3://bucket/prefix, not {url!r}")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return {
        "bucket": parts.netloc,
        "prefix": parts.path.strip("/"),
        "endpoint": query.get("endpoint", ""),
        "region": query.get("region", ""),
    }


class S3Writer:
    """A multipart upload: never more than one part in memory."""

    def __init__(self, store: "S3ObjectStore", key: str) -> None:
        self._store = store
        self._key = key
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload_id: str | None = None

    async def _flush_part(self) -> None:
        client, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            created = await guarded(client.create_multipart_upload, Bucket=bucket, Key=self._key)
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        body = bytes(self._buffer)
        self._buffer.clear()
        answer = await guarded(
            client.upload_part,
            Bucket=bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    async def write(self, data: bytes) -> None:
        self._buffer.extend(data)
        if len(self._buffer) >= PART_SIZE:
            await self._flush_part()

    async def commit(self) -> None:
        client, bucket = self._store.client, self._store.bucket
        if await self._store.exists_full(self._key):
            await self.abort()
            raise Conflict(f"object {self._key} already exists")
        if self._upload_id is None:
            await guarded(client.put_object, Bucket=bucket, Key=self._key, Body=bytes(self._buffer))
            return
        if self._buffer:
            await self._flush_part()
        await guarded(
            client.complete_multipart_upload,
            Bucket=bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    async def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            await guarded(
                self._store.client.abort_multipart_upload,
                Bucket=self._store.bucket,
                Key=self._key,
                UploadId=upload_id,
            )


class S3ObjectStore:
    def __init__(self, url: str, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        config = parse_url(url)
        self.bucket = config["bucket"]
        self.prefix = config["prefix"]
        settings = get_settings()
        self.client = client or boto3.client(
            "s3",
            endpoint_url=config["endpoint"] or None,
            region_name=config["region"] or None,
            # boto3's defaults (60 s to connect, 60 s per read, 5 attempts with backoff)
            # would hold a request for minutes when the store is away.
            config=Config(
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.storage_timeout_seconds,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def writer(self, key: str) -> S3Writer:
        return S3Writer(self, self._full(key))

    async def read(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        try:
            answer = await guarded(self.client.get_object, Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(key) from exc  # as the local store says it
            raise
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, chunk_size):
                yield chunk
        finally:
            body.close()

    async def exists_full(self, full_key: str) -> bool:
        try:
            await guarded(self.client.head_object, Bucket=self.bucket, Key=full_key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    async def exists(self, key: str) -> bool:
        return await self.exists_full(self._full(key))

    async def size(self, key: str) -> int:
        head = await guarded(self.client.head_object, Bucket=self.bucket, Key=self._full(key))
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        await guarded(self.client.delete_object, Bucket=self.bucket, Key=self._full(key))

    async def sweep_partial(self, older_than_seconds: float) -> int:
        def sweep() -> int:
            gone = 0
            before = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, **({"Prefix": self.prefix + "/"} if self.prefix else {})
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < before:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        gone += 1
            return gone

        return await asyncio.to_thread(sweep)

    async def keys(self, prefix: str = "") -> set[str]:
        def walk() -> set[str]:
            found: set[str] = set()
            start = f"{self.prefix}/" if self.prefix else ""
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start + prefix
            )
            for page in pages:
                found.update(item["Key"][len(start) :] for item in page.get("Contents", []))
            return found

        return await asyncio.to_thread(walk)

    async def usage(self) -> tuple[int, int]:
        def walk() -> tuple[int, int]:
            objects = size = 0
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, **({"Prefix": self.prefix + "/"} if self.prefix else {})
            )
            for page in pages:
                for item in page.get("Contents", []):
                    objects += 1
                    size += int(item.get("Size", 0))
            return objects, size

        return await asyncio.to_thread(walk)

    def download_url(self, key: str, filename: str, expires: int = 300) -> str:
        """A presigned GET that makes the browser save the file under its own name."""
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self._full(key),
                    "ResponseContentDisposition": content_disposition(filename),
                    "ResponseContentType": "application/octet-stream",
                },
                ExpiresIn=expires,
            )
        )
