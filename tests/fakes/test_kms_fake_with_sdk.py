"""The fake KMS, driven by boto3 itself: what the SDK sends (signed JSON with
``X-Amz-Target: TrentService.*``) it understands, and what it answers boto3 parses, errors
included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from tests.fakes.kms import FakeKms


@pytest.fixture
async def fake() -> AsyncIterator[FakeKms]:
    fake = FakeKms()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def _client(fake: FakeKms) -> Any:
    return boto3.client(
        "kms",
        region_name=fake.region,
        endpoint_url=fake.url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    )


def _error(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


async def test_data_keys_are_generated_decrypted_and_re_encrypted_through_boto3(
    fake: FakeKms,
) -> None:
    kms = _client(fake)
    first = (await asyncio.to_thread(kms.create_key))["KeyMetadata"]["Arn"]
    second = fake.create_key(alias="alias/next")
    context = {"aybiza:tenant": "acme"}

    made = await asyncio.to_thread(
        kms.generate_data_key, KeyId=first, KeySpec="AES_256", EncryptionContext=context
    )
    assert len(made["Plaintext"]) == 32 and made["KeyId"] == first
    opened = await asyncio.to_thread(
        kms.decrypt, CiphertextBlob=made["CiphertextBlob"], EncryptionContext=context
    )
    assert opened["Plaintext"] == made["Plaintext"] and opened["KeyId"] == first

    moved = await asyncio.to_thread(
        kms.re_encrypt,
        CiphertextBlob=made["CiphertextBlob"],
        SourceEncryptionContext=context,
        DestinationKeyId="alias/next",
        DestinationEncryptionContext=context,
    )
    assert (moved["SourceKeyId"], moved["KeyId"]) == (first, second)
    again = await asyncio.to_thread(
        kms.decrypt, CiphertextBlob=moved["CiphertextBlob"], EncryptionContext=context
    )
    assert again["Plaintext"] == made["Plaintext"]

    sealed = await asyncio.to_thread(kms.encrypt, KeyId=second, Plaintext=b"short secret")
    plain = await asyncio.to_thread(kms.decrypt, CiphertextBlob=sealed["CiphertextBlob"])
    assert plain["Plaintext"] == b"short secret"
    assert fake.requests == [
        "CreateKey",
        "GenerateDataKey",
        "Decrypt",
        "ReEncrypt",
        "Decrypt",
        "Encrypt",
        "Decrypt",
    ]


async def test_kms_refusals_reach_boto3_as_its_named_errors(fake: FakeKms) -> None:
    kms = _client(fake)
    key = fake.create_key()
    made = await asyncio.to_thread(
        kms.generate_data_key, KeyId=key, KeySpec="AES_256", EncryptionContext={"t": "acme"}
    )
    with pytest.raises(ClientError) as wrong_context:
        await asyncio.to_thread(
            kms.decrypt, CiphertextBlob=made["CiphertextBlob"], EncryptionContext={"t": "evil"}
        )
    assert _error(wrong_context.value) == "InvalidCiphertextException"
    other = fake.create_key()
    with pytest.raises(ClientError) as wrong_key:
        await asyncio.to_thread(
            kms.decrypt,
            CiphertextBlob=made["CiphertextBlob"],
            EncryptionContext={"t": "acme"},
            KeyId=other,
        )
    assert _error(wrong_key.value) == "IncorrectKeyException"
    with pytest.raises(ClientError) as missing:
        await asyncio.to_thread(kms.generate_data_key, KeyId="alias/none", KeySpec="AES_256")
    assert _error(missing.value) == "NotFoundException"


async def test_an_unsigned_request_is_refused(fake: FakeKms) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            fake.url,
            headers={
                "X-Amz-Target": "TrentService.GenerateDataKey",
                "Content-Type": "application/x-amz-json-1.1",
            },
            content=b'{"KeyId": "alias/none", "KeySpec": "AES_256"}',
        )
    assert answer.status_code == 400
    assert answer.json()["__type"] == "MissingAuthenticationTokenException"
    assert fake.requests == []
