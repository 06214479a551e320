"""A fake AWS KMS speaking KMS's JSON protocol, for the AWS SDKs (aiobotocore, boto3) as clients.

``POST /`` with ``X-Amz-Target: TrentService.<Operation>`` and a ``application/x-amz-json-1.1``
body; binary fields (``Plaintext``, ``CiphertextBlob``) travel as base64 strings, errors as
HTTP 400 with ``{"__type": ..., "message": ...}`` (botocore raises them as their named
exceptions). Requests must carry a SigV4 ``Authorization`` header for the ``kms`` service
(``MissingAuthenticationTokenException`` otherwise). Implemented: ``CreateKey``,
``GenerateDataKey``, ``Encrypt``, ``Decrypt``, ``ReEncrypt``. Keys are named by id, ARN or
``alias/...`` (``create_key(alias=...)``). A ciphertext blob names its key and is bound to its
encryption context: decrypting it with another context is ``InvalidCiphertextException``,
naming another ``KeyId`` than the one that encrypted it ``IncorrectKeyException``.

Run alone: ``python tests/fakes/kms.py --port 9020``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import secrets
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ACCOUNT = "111122223333"
JSON_TYPE = "application/x-amz-json-1.1"
_ID_BYTES = 36
_NONCE_BYTES = 12


class KmsError(Exception):
    """An error answer: its ``__type`` and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class FakeKms:
    """The fake service; ``requests`` records each operation called, in order."""

    region: str = "us-east-1"
    port: int = 0
    keys: dict[str, bytes] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The endpoint URL to give the SDK (``endpoint_url``)."""
        return f"http://127.0.0.1:{self.port}"

    def arn(self, key_id: str) -> str:
        """The ARN of a key id."""
        return f"arn:aws:kms:{self.region}:{ACCOUNT}:key/{key_id}"

    def create_key(self, alias: str | None = None) -> str:
        """A new symmetric key; returns its ARN."""
        key_id = str(uuid.uuid4())
        self.keys[key_id] = secrets.token_bytes(32)
        if alias is not None:
            self.aliases[alias] = key_id
        return self.arn(key_id)

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port unless one was given); returns the URL."""
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            operation = _operation(request)
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise KmsError("SerializationException", "the body must be a JSON object")
            self.requests.append(operation)
            answer = self._answer(operation, body)
        except KmsError as exc:
            error = {"__type": exc.kind, "message": str(exc)}
            return web.Response(status=400, text=json.dumps(error), content_type=JSON_TYPE)
        return web.Response(text=json.dumps(answer), content_type=JSON_TYPE)

    def _answer(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        if operation == "CreateKey":
            arn = self.create_key()
            return {"KeyMetadata": {"KeyId": arn.rsplit("/", 1)[1], "Arn": arn, "Enabled": True}}
        if operation == "GenerateDataKey":
            size = _data_key_size(body)
            key_id = self._key_id(_required(body, "KeyId"))
            plaintext = secrets.token_bytes(size)
            blob = self._encrypt(key_id, plaintext, _context(body, "EncryptionContext"))
            return {
                "CiphertextBlob": _b64(blob),
                "Plaintext": _b64(plaintext),
                "KeyId": self.arn(key_id),
            }
        if operation == "Encrypt":
            key_id = self._key_id(_required(body, "KeyId"))
            plaintext = _unb64(_required(body, "Plaintext"), "Plaintext")
            blob = self._encrypt(key_id, plaintext, _context(body, "EncryptionContext"))
            return {
                "CiphertextBlob": _b64(blob),
                "KeyId": self.arn(key_id),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }
        if operation == "Decrypt":
            blob = _unb64(_required(body, "CiphertextBlob"), "CiphertextBlob")
            key_id, plaintext = self._decrypt(
                blob, _context(body, "EncryptionContext"), body.get("KeyId")
            )
            return {
                "Plaintext": _b64(plaintext),
                "KeyId": self.arn(key_id),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }
        if operation == "ReEncrypt":
            blob = _unb64(_required(body, "CiphertextBlob"), "CiphertextBlob")
            source, plaintext = self._decrypt(
                blob, _context(body, "SourceEncryptionContext"), body.get("SourceKeyId")
            )
            destination = self._key_id(_required(body, "DestinationKeyId"))
            again = self._encrypt(
                destination, plaintext, _context(body, "DestinationEncryptionContext")
            )
            return {
                "CiphertextBlob": _b64(again),
                "SourceKeyId": self.arn(source),
                "KeyId": self.arn(destination),
                "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }
        raise KmsError("UnknownOperationException", f"unknown operation {operation}")

    def _key_id(self, name: str) -> str:
        key_id = name
        if name.startswith("alias/"):
            key_id = self.aliases.get(name, "")
        elif name.startswith("arn:aws:kms:"):
            key_id = name.rsplit("/", 1)[-1]
        if key_id not in self.keys:
            raise KmsError("NotFoundException", f"Key '{self.arn(key_id or name)}' does not exist")
        return key_id

    def _encrypt(self, key_id: str, plaintext: bytes, context: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self.keys[key_id]).encrypt(nonce, plaintext, context)
        return key_id.encode("ascii") + nonce + sealed

    def _decrypt(self, blob: bytes, context: bytes, named: Any) -> tuple[str, bytes]:
        key_id = blob[:_ID_BYTES].decode("ascii", errors="replace")
        if key_id not in self.keys or len(blob) < _ID_BYTES + _NONCE_BYTES + 16:
            raise KmsError("InvalidCiphertextException", "")
        if isinstance(named, str) and self._key_id(named) != key_id:
            raise KmsError(
                "IncorrectKeyException",
                "The key ID in the request does not identify a CMK that can perform this "
                "operation.",
            )
        nonce = blob[_ID_BYTES : _ID_BYTES + _NONCE_BYTES]
        try:
            return key_id, AESGCM(self.keys[key_id]).decrypt(
                nonce, blob[_ID_BYTES + _NONCE_BYTES :], context
            )
        except InvalidTag as exc:
            raise KmsError("InvalidCiphertextException", "") from exc


def _operation(request: web.Request) -> str:
    authorization = request.headers.get("Authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 Credential=") or (
        "/kms/aws4_request" not in authorization or "X-Amz-Date" not in request.headers
    ):
        raise KmsError(
            "MissingAuthenticationTokenException", "Request is missing Authentication Token"
        )
    if request.headers.get("Content-Type", "").split(";")[0] != JSON_TYPE:
        raise KmsError("SerializationException", f"Content-Type must be {JSON_TYPE}")
    target = request.headers.get("X-Amz-Target", "")
    if not target.startswith("TrentService."):
        raise KmsError("UnknownOperationException", f"unknown target {target!r}")
    return target.removeprefix("TrentService.")


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise KmsError("ValidationException", f"1 validation error detected: {name} is required")
    return value


def _data_key_size(body: dict[str, Any]) -> int:
    spec, size = body.get("KeySpec"), body.get("NumberOfBytes")
    if spec is not None and size is not None:
        raise KmsError("ValidationException", "Please specify either KeySpec or NumberOfBytes")
    if spec in ("AES_256", "AES_128"):
        return 32 if spec == "AES_256" else 16
    if isinstance(size, int) and 1 <= size <= 1024:
        return size
    raise KmsError("ValidationException", "Please specify either KeySpec or NumberOfBytes")


def _context(body: dict[str, Any], name: str) -> bytes:
    context = body.get(name) or {}
    if not isinstance(context, dict):
        raise KmsError("ValidationException", f"{name} must be a map of strings")
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KmsError("SerializationException", f"{name} is not base64") from exc


async def _serve(port: int) -> None:
    fake = FakeKms(port=port)
    print(f"fake KMS on {await fake.start()}, key {fake.create_key(alias='alias/aybiza')}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9020)
    asyncio.run(_serve(parser.parse_args().port))
