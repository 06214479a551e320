"""Call recordings: a recorded call's audio is kept while it runs (``CallAudio``), stored as a
stereo WAV once it ends, noted on the call (``recording``) and announced (``recording.ready``);
``audio_of`` reads it back for ``GET /v1/calls/{id}/recording``."""

from __future__ import annotations

import asyncio

import structlog

from aybiza.analytics.call_audio import CHANNELS, CallAudio
from aybiza.analytics.events import CallEvents
from aybiza.audio.codec import SAMPLE_RATE_HZ
from aybiza.pipeline.session import CallSession
from aybiza.store.database import Database
from aybiza.store.models import Call
from aybiza.store.recording_files import RecordingStore, RecordingStoreError
from aybiza.store.writer import StoreWriter

log = structlog.get_logger(__name__)
WAV = "audio/wav"
SEALED = "application/octet-stream"  # an envelope (store/sealing.py) around the WAV
PURPOSE = "recordings"  # authenticated with each recording's envelope


def recording_key(tenant_id: str, call_id: str) -> str:
    """Where a call's recording is kept in the store."""
    return f"{tenant_id}/{call_id}.wav"


class Recordings:
    """Stores recordings in ``store`` once their calls end."""

    def __init__(
        self, database: Database, store: RecordingStore, events: CallEvents, writer: StoreWriter
    ) -> None:
        self._database = database
        self.store = store
        self._events = events
        self._writer = writer
        self._saving: set[asyncio.Task[None]] = set()

    def keep_when_finished(self, call_loop: CallSession, audio: CallAudio) -> None:
        """Store ``audio`` once ``call_loop`` is over (in the background)."""
        plan = call_loop.plan

        async def save() -> None:
            await call_loop.finished.wait()
            call = await self._call(plan.call_id)
            if call is not None and call.tenant_id is not None:
                await self.save(call.id, call.tenant_id, audio)

        task = asyncio.create_task(save(), name=f"recording-{plan.call_id}")
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def save(self, call_id: str, tenant_id: str, audio: CallAudio) -> None:
        """Store the recording, note it on the call and queue ``recording.ready``."""
        data = await asyncio.to_thread(audio.wav)
        key = recording_key(tenant_id, call_id)
        stored = data
        keys = self._database.field_keys
        if keys is not None:  # encryption at rest: the store keeps only the envelope
            async with self._database.writing() as session:
                stored = await keys.encrypt_bytes(session, tenant_id, PURPOSE, data)
        try:
            await self.store.put(key, stored, SEALED if keys is not None else WAV)
        except (RecordingStoreError, OSError) as exc:
            log.error("recording.store_failed", call_id=call_id, error=str(exc))
            return
        # The call's end goes through the writer: let it land first, then add the recording.
        await self._writer.flush()
        async with self._database.writing() as session:
            call = await session.get(Call, call_id)
            if call is None:
                # Erased (its caller's data) while the audio was being stored.
                await self.store.delete(key)
                return
            call.recording = {
                "key": key,
                "duration_s": audio.duration_s,
                "channels": CHANNELS,
                "sample_rate_hz": SAMPLE_RATE_HZ,
                "bytes": len(data),
                "sealed": keys is not None,
            }
            await session.flush()
            await self._events.recording_ready(session, call)
        self._events.wake_if_queued()
        log.info("recording.stored", call_id=call_id, bytes=len(data))

    async def audio_of(self, call: Call) -> bytes | None:
        """The stored WAV of ``call`` (None when it has no recording)."""
        if not call.recording:
            return None
        stored = await self.store.get(str(call.recording["key"]))
        if stored is None or not call.recording.get("sealed"):
            return stored
        keys = self._database.field_keys
        if keys is None:
            raise RecordingStoreError(
                "the recording is encrypted at rest: start the server with its master key "
                "(AYBIZA_MASTER_KEY_FILE or AYBIZA_KMS_KEY_ID) to read it"
            )
        return keys.decrypt_bytes(stored, PURPOSE)

    async def wait_saved(self) -> None:
        """Wait for the recordings being stored now (server shutdown)."""
        if self._saving:
            await asyncio.gather(*self._saving, return_exceptions=True)

    async def _call(self, call_id: str) -> Call | None:
        async with self._database.session() as session:
            return await session.get(Call, call_id)
