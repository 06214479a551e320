"""Where call recordings are kept: one small interface (``RecordingStore``: put and get bytes by
key), on local disk by default or in S3-compatible storage (``AYBIZA_RECORDINGS_URL=
s3://bucket/prefix``). Encryption at rest wraps a store without changing its callers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

_KEY_PARTS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class RecordingStoreError(Exception):
    """The store failed a request (the message says which and why)."""


class RecordingStore(Protocol):
    """Bytes by key (``<tenant>/<call>.wav``)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Keep ``data`` under ``key`` (replacing what was there)."""
        ...

    async def get(self, key: str) -> bytes | None:
        """What ``key`` holds, or None when it holds nothing."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove what ``key`` holds; False when it held nothing."""
        ...


def check_key(key: str) -> str:
    """A key is segments of letters, digits, ``-_.`` joined by ``/`` (never ``..``)."""
    parts = key.split("/")
    if not all(part and part not in (".", "..") and set(part) <= _KEY_PARTS for part in parts):
        raise ValueError(f"not a recording key: {key!r}")
    return key


class LocalRecordingStore:
    """Files under ``root`` (the data directory's ``recordings/`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return await asyncio.to_thread(path.read_bytes) if path.is_file() else None

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        if not path.is_file():
            return False
        await asyncio.to_thread(path.unlink, missing_ok=True)
        return True

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)


class S3RecordingStore:
    """Objects in ``bucket`` under ``prefix`` through the S3 REST API (PutObject, GetObject,
    HeadObject, DeleteObject),
    signed with the AWS credentials chain; ``endpoint_url`` points at S3-compatible storage."""

    def __init__(
        self, bucket: str, prefix: str, *, region: str, endpoint_url: str | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._region = region
        self._endpoint_url = endpoint_url

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _client(self) -> Any:
        # Path-style addressing: S3-compatible servers (MinIO, Ceph) rarely have bucket DNS.
        config = AioConfig(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "total_max_attempts": 3},
            connect_timeout=5,
            read_timeout=30,
        )
        return get_session().create_client(
            "s3", region_name=self._region, endpoint_url=self._endpoint_url, config=config
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            async with self._client() as s3:
                await s3.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
                )
        except ClientError as exc:
            where = f"s3://{self.bucket}/{self._key(key)}"
            raise RecordingStoreError(f"S3 PutObject {where}: {exc}") from exc

    async def get(self, key: str) -> bytes | None:
        try:
            async with self._client() as s3:
                response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
                async with response["Body"] as body:
                    data: bytes = await body.read()
                    return data
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            where = f"s3://{self.bucket}/{self._key(key)}"
            raise RecordingStoreError(f"S3 GetObject {where}: {exc}") from exc

    async def delete(self, key: str) -> bool:
        # DeleteObject answers 204 whether or not the key existed: ask first, for the count.
        try:
            async with self._client() as s3:
                try:
                    await s3.head_object(Bucket=self.bucket, Key=self._key(key))
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                        return False
                    raise
                await s3.delete_object(Bucket=self.bucket, Key=self._key(key))
                return True
        except ClientError as exc:
            where = f"s3://{self.bucket}/{self._key(key)}"
            raise RecordingStoreError(f"S3 DeleteObject {where}: {exc}") from exc


def recording_store(
    url: str | None, data_dir: Path, *, region: str, endpoint_url: str | None = None
) -> RecordingStore:
    """The store ``AYBIZA_RECORDINGS_URL`` names: ``s3://bucket/prefix``, a directory
    (``file:///path`` or a plain path), or the data directory's ``recordings/`` when unset."""
    if not url:
        return LocalRecordingStore(data_dir / "recordings")
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"AYBIZA_RECORDINGS_URL: s3://bucket/prefix expected, got {url!r}")
        return S3RecordingStore(parts.netloc, parts.path, region=region, endpoint_url=endpoint_url)
    if parts.scheme in ("file", ""):
        return LocalRecordingStore(Path(parts.path if parts.scheme else url))
    raise ValueError(
        f"AYBIZA_RECORDINGS_URL: s3://bucket/prefix or a directory expected, got {url!r}"
    )
