"""Embedded speech-to-text: pocketsphinx 5 with its bundled US English model, fully offline.

Every call shares a small pool of decoders (see ``decoder_pool``). A stream finds the caller's
utterances itself (see ``speech_detector``) and borrows a decoder only while one is being decoded;
audio that arrives while every decoder is busy waits in the stream's queue, so no call is refused.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncGenerator, Mapping

import numpy as np
import numpy.typing as npt
import pocketsphinx
import structlog

from aybiza.agents.speech import SttOptions
from aybiza.audio.codec import FRAME_BYTES, SAMPLE_RATE_HZ, ulaw_to_array
from aybiza.audio.resample import StreamResampler
from aybiza.providers.base import SttEvent
from aybiza.providers.stt.decoder_pool import DECODER_RATE_HZ, DecoderPool, PooledDecoder
from aybiza.providers.stt.grammar import phrase_set
from aybiza.providers.stt.speech_detector import SpeechDetector

log = structlog.get_logger(__name__)

# Shorter endpointing would cut callers off at the pauses inside a sentence.
MIN_ENDPOINTING_MS = 400
# Audio handed to the decoder per hop to its thread: 5 frames, 100 ms.
_BATCH_FRAMES = 5
# Digital silence (μ-law 0xFF decodes to exactly 0) gives the decoder frames of no energy at all,
# unlike any audio it was trained on, and it then often loses the last word of a phrase. Real
# lines always hiss a little: add such a hiss (about -60 dBFS), below any real line's own noise.
# Measured on synthesized phrases padded with digital silence: 27 of 45 right without, 38 with.
_LINE_NOISE_RMS = 30.0

# ``fwdflat``/``maxhmmpf``: speed over the last bit of accuracy. The decoder holds the GIL (see
# decoder_pool), so every millisecond it decodes is a millisecond every call's event loop waits;
# the second "flat" pass would also run at the end of each utterance, delaying its final.
# ``cmninit``: the starting cepstral mean. The model's default (``40,3,-1,0,...``) describes
# wideband audio; phone audio upsampled from 8 kHz has no energy above 4 kHz, which shifts
# c1..c12 far from it, and pocketsphinx only updates the mean at the end of an utterance, so a
# call's first utterance would be decoded against the wrong channel (measured on synthesized
# speech: 11 of 54 phrases right with the default, 39 of 54 with this). c1..c12 were measured on
# speech through the μ-law 8 kHz path; c0 (loudness) keeps the model's default.
DEFAULT_DECODER_OPTIONS: Mapping[str, object] = {
    "fwdflat": False,
    "maxhmmpf": 3000,
    "cmninit": "40,28.49,-34.46,53.35,-26.20,-0.34,7.64,-36.93,15.77,-15.35,1.38,6.73,-15.39",
}


class _Marker(enum.Enum):
    START = enum.auto()
    END = enum.auto()


_Item = npt.NDArray[np.int16] | _Marker


class PocketsphinxStream:
    """One call's recognition stream; implements ``SttStream``. Made by ``PocketsphinxStt``."""

    def __init__(
        self,
        pool: DecoderPool,
        options: SttOptions,
        *,
        vad_aggressiveness: int,
        interim_interval_ms: int,
    ) -> None:
        self._pool = pool
        self._phrases = phrase_set(options.expected_phrases)
        self._detector = SpeechDetector(
            end_silence_ms=max(options.endpointing_ms, MIN_ENDPOINTING_MS),
            aggressiveness=vad_aggressiveness,
        )
        self._interim_samples = DECODER_RATE_HZ * interim_interval_ms // 1000
        self._partial = bytearray()  # μ-law bytes short of a whole frame
        self._batch: list[npt.NDArray[np.int16]] = []
        self._inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self._events: asyncio.Queue[SttEvent | None] = asyncio.Queue()
        self._cmn: str | None = None  # this call's cepstral mean, kept between utterances
        self._noise = np.random.default_rng(0)  # seeded: the same audio decodes the same way
        self._end_taken = True  # the current utterance's END left the inbox
        self._closed = False
        self._decoding = asyncio.create_task(self._decode_utterances(), name="pocketsphinx-stream")

    async def send_audio(self, mulaw: bytes) -> None:
        """Feed caller audio (μ-law 8 kHz, any length); never waits for decoding."""
        if self._closed:
            return
        self._partial += mulaw
        whole = len(self._partial) - len(self._partial) % FRAME_BYTES
        if not whole:
            return
        pcm = ulaw_to_array(bytes(self._partial[:whole]))
        del self._partial[:whole]
        for start in range(0, len(pcm), FRAME_BYTES):
            self._on_frame(pcm[start : start + FRAME_BYTES])

    async def finalize(self) -> None:
        """End the current utterance now; its final follows. No-op between utterances."""
        if not self._closed and self._detector.in_utterance:
            self._detector.reset()
            self._end_utterance()

    async def events(self) -> AsyncGenerator[SttEvent, None]:
        """``speech_started``, ``interim``s, then ``final`` or ``end_of_speech`` per utterance,
        until ``close``."""
        while (event := await self._events.get()) is not None:
            yield event
        self._events.put_nowait(None)  # any later call of events() ends too

    async def close(self) -> None:
        """Stop recognising and return any borrowed decoder. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._decoding.cancel()
        self._events.put_nowait(None)
        await asyncio.wait([self._decoding])

    # ------------------------------------------------------------------ caller audio

    def _on_frame(self, frame: npt.NDArray[np.int16]) -> None:
        kind = self._detector.push(frame)
        if kind == "silence":
            return
        if kind == "started":
            self._inbox.put_nowait(_Marker.START)
            self._batch = self._detector.take_pre_roll()
        else:
            self._batch.append(frame)
        if kind == "ended":
            self._end_utterance()
        elif len(self._batch) >= _BATCH_FRAMES:
            self._flush_batch()

    def _flush_batch(self) -> None:
        if self._batch:
            self._inbox.put_nowait(np.concatenate(self._batch))
            self._batch = []

    def _end_utterance(self) -> None:
        self._flush_batch()
        self._inbox.put_nowait(_Marker.END)

    # ------------------------------------------------------------------ decoding

    async def _decode_utterances(self) -> None:
        while True:
            if await self._inbox.get() is not _Marker.START:
                continue  # only audio of an utterance that already failed
            self._end_taken = False
            self._events.put_nowait(SttEvent("speech_started"))
            try:
                text = await self._decode_utterance()
            except Exception:
                log.exception("stt.utterance_failed", engine="pocketsphinx")
                text = ""
            if text:
                self._events.put_nowait(SttEvent("final", text, speech_final=True))
            else:
                self._events.put_nowait(SttEvent("end_of_speech"))

    async def _decode_utterance(self) -> str:
        """Decode the audio up to the utterance's END; its text, '' when no words."""
        decoder = await self._pool.acquire()
        try:
            return await self._decode_with(decoder)
        finally:
            self._pool.release(decoder)

    async def _decode_with(self, decoder: PooledDecoder) -> str:
        upsampler = StreamResampler(SAMPLE_RATE_HZ, DECODER_RATE_HZ)
        await self._pool.run(decoder.start_utterance, self._phrases, self._cmn)
        decoded = 0
        next_interim = self._interim_samples
        interim = ""
        while True:
            audio = await self._next_audio()
            pcm = upsampler.process(self._with_line_noise(audio))
            if self._end_taken:
                pcm = np.concatenate((pcm, upsampler.flush()))
            decoded += len(pcm)
            want_text = not self._end_taken and decoded >= next_interim
            text = await self._pool.run(decoder.process, pcm.tobytes(), want_text)
            if want_text:
                next_interim = decoded + self._interim_samples
                if text and text != interim:
                    interim = text
                    self._events.put_nowait(SttEvent("interim", text))
            if self._end_taken:
                final, self._cmn = await self._pool.run(decoder.finish_utterance)
                return final

    def _with_line_noise(self, audio: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        noisy = audio + self._noise.normal(0.0, _LINE_NOISE_RMS, audio.size)
        return np.clip(np.rint(noisy), -32768, 32767).astype(np.int16)

    async def _next_audio(self) -> npt.NDArray[np.int16]:
        """All audio queued so far (waiting for some), up to and including the END marker."""
        pieces: list[npt.NDArray[np.int16]] = []
        item = await self._inbox.get()
        while True:
            if item is _Marker.END:
                self._end_taken = True
                break
            if isinstance(item, np.ndarray):
                pieces.append(item)
            if self._inbox.empty():
                break
            item = self._inbox.get_nowait()
        return np.concatenate(pieces) if pieces else np.zeros(0, np.int16)


class PocketsphinxStt:
    """Offline speech recognition; implements ``SttEngine``. Shared by every call in a process.

    - ``max_decoders``: decoders (and threads) shared by all calls; each serves one utterance
      at a time, created on first need. More than the CPU cores buys nothing.
    - ``vad_aggressiveness``: webrtcvad mode for finding utterances, 0 to 3.
    - ``interim_interval_ms``: audio between interim hypotheses.
    - ``decoder_options``: pocketsphinx ``Config`` settings over ``DEFAULT_DECODER_OPTIONS``.

    Recognition is US English only (the bundled model); streams for other languages are
    recognised as English. With ``SttOptions.expected_phrases`` the stream recognises only those
    phrases (a grammar), which is much more accurate; otherwise the general language model.
    ``SttOptions.keyterms`` are not used. ``endpointing_ms`` below 400 counts as 400.
    """

    name = "pocketsphinx"
    # Finalising ends the utterance: a sentence cut at a short pause is decoded as two
    # fragments, which the phrase grammar cannot match. Only the VAD's end of speech finalises.
    finalizes_early = False

    def __init__(
        self,
        max_decoders: int = 2,
        *,
        vad_aggressiveness: int = 2,
        interim_interval_ms: int = 400,
        decoder_options: Mapping[str, object] | None = None,
    ) -> None:
        if not 0 <= vad_aggressiveness <= 3:
            raise ValueError(f"vad_aggressiveness must be 0 to 3, got {vad_aggressiveness}")
        if interim_interval_ms < 100:
            raise ValueError(f"interim_interval_ms must be at least 100, got {interim_interval_ms}")
        self._options = {**DEFAULT_DECODER_OPTIONS, **(decoder_options or {})}
        self._pool = DecoderPool(max_decoders, self._create_decoder)
        self._vad_aggressiveness = vad_aggressiveness
        self._interim_interval_ms = interim_interval_ms

    def _create_decoder(self) -> object:
        # FATAL: failures surface as Python exceptions anyway, and at ERROR pocketsphinx prints a
        # line for every utterance that does not match the grammar. The audio fed is always
        # 16 kHz, whatever the options say.
        settings = {"loglevel": "FATAL", **self._options, "samprate": DECODER_RATE_HZ}
        return pocketsphinx.Decoder(**settings)

    async def open_stream(self, options: SttOptions) -> PocketsphinxStream:
        """A stream for one call; loads nothing (decoders are made when speech first comes)."""
        return PocketsphinxStream(
            self._pool,
            options,
            vad_aggressiveness=self._vad_aggressiveness,
            interim_interval_ms=self._interim_interval_ms,
        )

    async def prime(self) -> None:
        """Load one decoder before the first call needs it (``DecoderPool.prime``)."""
        await self._pool.prime()

    async def aclose(self) -> None:
        """Release the decoders and their threads. Streams still open stop recognising."""
        await self._pool.aclose()
