"""A faithful fake of the S3 REST API for what recordings use: ``PutObject`` and ``GetObject``
on path-style URLs (``/{bucket}/{key}``), every request signed with AWS Signature Version 4
(the ``Authorization`` header is parsed and the signature checked against the one secret it
knows). Answers as S3 does: ``ETag`` on put and get, S3's XML error body with ``NoSuchKey``,
``NoSuchBucket``, ``SignatureDoesNotMatch``, ``InvalidAccessKeyId``, ``AccessDenied``. Bodies
sent with ``aws-chunked`` content encoding (a trailing checksum) are decoded."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from urllib.parse import quote, unquote

from aiohttp import web

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/s3/"
    r"aws4_request, ?SignedHeaders=(?P<headers>[a-z0-9;\-]+), ?Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass
class SignedRequest:
    method: str
    path: str
    access_key: str
    region: str


@dataclass
class FakeS3:
    """``async with FakeS3(...) as s3``: ``s3.url`` is the endpoint URL; ``s3.objects`` maps
    ``(bucket, key)`` to ``(body, content type)``; ``s3.requests`` every signed request."""

    access_key: str
    secret_key: str
    buckets: tuple[str, ...]
    objects: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    requests: list[SignedRequest] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("PUT", "/{bucket}/{key:.+}", self._put)
        app.router.add_route("GET", "/{bucket}/{key:.+}", self._get)
        app.router.add_route("HEAD", "/{bucket}/{key:.+}", self._head)
        app.router.add_route("DELETE", "/{bucket}/{key:.+}", self._delete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _put(self, request: web.Request) -> web.Response:
        raw = await request.read()
        refused = self._check(request, raw)
        if refused is not None:
            return refused
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        if bucket not in self.buckets:
            return _error(404, "NoSuchBucket", "The specified bucket does not exist", bucket)
        body = (
            _dechunk(raw) if "aws-chunked" in request.headers.get("Content-Encoding", "") else raw
        )
        content_type = request.headers.get("Content-Type", "binary/octet-stream")
        self.objects[(bucket, key)] = (body, content_type)
        return web.Response(status=200, headers={"ETag": _etag(body)})

    async def _get(self, request: web.Request) -> web.Response:
        refused = self._check(request, b"")
        if refused is not None:
            return refused
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        if bucket not in self.buckets:
            return _error(404, "NoSuchBucket", "The specified bucket does not exist", bucket)
        stored = self.objects.get((bucket, key))
        if stored is None:
            return _error(404, "NoSuchKey", "The specified key does not exist.", key)
        body, content_type = stored
        return web.Response(body=body, content_type=content_type, headers={"ETag": _etag(body)})

    async def _head(self, request: web.Request) -> web.Response:
        # HeadObject: the object's headers and no body; a missing key is a bare 404.
        refused = self._check(request, b"")
        if refused is not None:
            return web.Response(status=refused.status)
        stored = self.objects.get((request.match_info["bucket"], request.match_info["key"]))
        if stored is None:
            return web.Response(status=404)
        body, content_type = stored
        headers = {"ETag": _etag(body), "Content-Length": str(len(body))}
        return web.Response(status=200, headers={**headers, "Content-Type": content_type})

    async def _delete(self, request: web.Request) -> web.Response:
        # DeleteObject: 204 whether or not the key existed.
        refused = self._check(request, b"")
        if refused is not None:
            return refused
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        if bucket not in self.buckets:
            return _error(404, "NoSuchBucket", "The specified bucket does not exist", bucket)
        self.objects.pop((bucket, key), None)
        return web.Response(status=204)

    def _check(self, request: web.Request, body: bytes) -> web.Response | None:
        """SigV4: the access key is known and the signature is the one the secret gives."""
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if match is None:
            return _error(403, "AccessDenied", "Access Denied (no SigV4 Authorization)", "")
        if match["key"] != self.access_key:
            return _error(403, "InvalidAccessKeyId", "The AWS Access Key Id does not exist", "")
        payload_hash = request.headers.get("x-amz-content-sha256", "")
        signed_payload = payload_hash != "UNSIGNED-PAYLOAD" and not payload_hash.startswith(
            "STREAMING-"
        )
        if signed_payload and payload_hash != hashlib.sha256(body).hexdigest():
            return _error(400, "XAmzContentSHA256Mismatch", "payload hash mismatch", "")
        signed = match["headers"].split(";")
        canonical_headers = "".join(
            f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed
        )
        query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, v in sorted(request.query.items())
        )
        canonical_request = "\n".join(
            [
                request.method,
                quote(unquote(request.raw_path.split("?")[0]), safe="/-_.~"),
                query,
                canonical_headers,
                match["headers"],
                payload_hash,
            ]
        )
        scope = f"{match['date']}/{match['region']}/s3/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                request.headers.get("x-amz-date", ""),
                scope,
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            ]
        )
        key = f"AWS4{self.secret_key}".encode()
        for part in (match["date"], match["region"], "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["sig"]):
            return _error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match",
                "",
            )
        self.requests.append(
            SignedRequest(request.method, request.path, match["key"], match["region"])
        )
        return None


def _etag(body: bytes) -> str:
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def _dechunk(raw: bytes) -> bytes:
    """``aws-chunked``: ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n`` ... then ``0``
    and the trailing headers."""
    body = bytearray()
    position = 0
    while True:
        end = raw.index(b"\r\n", position)
        size = int(raw[position:end].split(b";")[0], 16)
        if size == 0:
            return bytes(body)
        body += raw[end + 2 : end + 2 + size]
        position = end + 2 + size + 2


def _error(status: int, code: str, message: str, resource: str) -> web.Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>fake-s3</RequestId></Error>"
    )
    return web.Response(status=status, body=xml.encode(), content_type="application/xml")
