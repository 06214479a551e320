"""Recordings are kept on local disk or in S3-compatible storage, behind one put/get interface.
The S3 store is the real aiobotocore client talking to a fake of the S3 REST API that checks
every request's SigV4 signature; boto3 (AWS's own client) talks to the same fake, so the fake
is held to what real clients send."""

from __future__ import annotations

import asyncio
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from tests.fakes.s3 import FakeS3

from aybiza.store.recording_files import (
    LocalRecordingStore,
    RecordingStoreError,
    S3RecordingStore,
    recording_store,
)

ACCESS, SECRET = "AKIAFAKERECORDINGS01", "fake-secret-key-for-the-recordings-tests"
WAV_BYTES = b"RIFF" + bytes(range(256)) * 40


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the environment only (never the machine's own AWS files)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


async def test_the_local_store_keeps_and_returns_bytes_under_the_data_directory(
    tmp_path: Path,
) -> None:
    store = recording_store(None, tmp_path, region="us-east-1")
    assert isinstance(store, LocalRecordingStore)
    await store.put("tenant1/call1.wav", WAV_BYTES, "audio/wav")
    assert (tmp_path / "recordings" / "tenant1" / "call1.wav").read_bytes() == WAV_BYTES
    assert await store.get("tenant1/call1.wav") == WAV_BYTES
    assert await store.get("tenant1/other.wav") is None


@pytest.mark.parametrize("key", ["../escape.wav", "a//b.wav", "/abs.wav", "a/./b", "a b.wav"])
async def test_a_key_that_could_leave_the_store_is_refused(tmp_path: Path, key: str) -> None:
    store = LocalRecordingStore(tmp_path)
    with pytest.raises(ValueError, match="not a recording key"):
        await store.put(key, b"x", "audio/wav")


def test_the_recordings_url_chooses_the_store(tmp_path: Path) -> None:
    s3 = recording_store("s3://calls-bucket/voice/rec", tmp_path, region="eu-west-1")
    assert isinstance(s3, S3RecordingStore)
    assert (s3.bucket, s3.prefix) == ("calls-bucket", "voice/rec")
    local = recording_store(f"file://{tmp_path}/elsewhere", tmp_path, region="us-east-1")
    assert isinstance(local, LocalRecordingStore) and local.root == tmp_path / "elsewhere"
    with pytest.raises(ValueError, match="AYBIZA_RECORDINGS_URL"):
        recording_store("s3:///no-bucket", tmp_path, region="us-east-1")
    with pytest.raises(ValueError, match="AYBIZA_RECORDINGS_URL"):
        recording_store("ftp://host/dir", tmp_path, region="us-east-1")


@pytest.mark.usefixtures("aws")
async def test_the_s3_store_puts_and_gets_objects_with_signed_requests() -> None:
    async with FakeS3(ACCESS, SECRET, ("calls-bucket",)) as fake:
        store = S3RecordingStore(
            "calls-bucket", "/voice/", region="eu-west-1", endpoint_url=fake.url
        )
        await store.put("t1/c1.wav", WAV_BYTES, "audio/wav")
        assert fake.objects[("calls-bucket", "voice/t1/c1.wav")] == (WAV_BYTES, "audio/wav")
        assert await store.get("t1/c1.wav") == WAV_BYTES
        assert await store.get("t1/missing.wav") is None
        assert [(r.method, r.path, r.region) for r in fake.requests[:2]] == [
            ("PUT", "/calls-bucket/voice/t1/c1.wav", "eu-west-1"),
            ("GET", "/calls-bucket/voice/t1/c1.wav", "eu-west-1"),
        ]
        # boto3, AWS's own client, reads what the store wrote and writes what it reads. Its keys
        # are given: boto3's default session keeps the credentials it first found in this
        # worker, which another test's environment may have set.
        client = boto3.client(
            "s3",
            region_name="eu-west-1",
            endpoint_url=fake.url,
            aws_access_key_id=ACCESS,
            aws_secret_access_key=SECRET,
            config=Config(s3={"addressing_style": "path"}),
        )
        got = await asyncio.to_thread(
            client.get_object, Bucket="calls-bucket", Key="voice/t1/c1.wav"
        )
        assert got["Body"].read() == WAV_BYTES and got["ContentType"] == "audio/wav"
        await asyncio.to_thread(
            client.put_object, Bucket="calls-bucket", Key="voice/t2/c2.wav", Body=b"RIFF-boto3"
        )
        assert await store.get("t2/c2.wav") == b"RIFF-boto3"


async def test_the_s3_store_names_the_object_when_s3_refuses(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-wrong-secret")
    async with FakeS3(ACCESS, SECRET, ("calls-bucket",)) as fake:
        store = S3RecordingStore("calls-bucket", "", region="us-east-1", endpoint_url=fake.url)
        with pytest.raises(RecordingStoreError, match=r"s3://calls-bucket/t1/c1.wav.*Signature"):
            await store.put("t1/c1.wav", WAV_BYTES, "audio/wav")
        assert fake.objects == {}
