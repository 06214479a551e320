"""Embedded text-to-speech: espeak-ng, bound with ctypes from the ``espeakng-loader`` wheel.

espeak-ng keeps global state and is not thread-safe, so the process loads it once and every
synthesis runs on one worker thread; the event loop only receives finished μ-law chunks. espeak
speaks 16-bit PCM at 22.05 kHz: each chunk is resampled to 8 kHz and μ-law encoded once, on the
worker thread, as soon as espeak hands it over, so the first audio leaves before the sentence is
fully synthesized.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import espeakng_loader
import numpy as np
import numpy.typing as npt

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import SAMPLE_RATE_HZ, pcm16_to_ulaw
from aybiza.audio.resample import StreamResampler

# Values from espeak-ng's speak_lib.h (API revision 12).
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: espeak_Synth returns when synthesis is done
_INITIALIZE_DONT_EXIT = 0x8000  # raise an error instead of exit() when the data is missing
_POS_CHARACTER = 1  # espeak_POSITION_TYPE
_CHARS_UTF8 = 1  # espeak_Synth flags
_PARAM_RATE = 1  # espeak_PARAMETER espeakRATE, words per minute
_EE_OK = 0  # espeak_ERROR
_RATE_NORMAL_WPM = 175
_RATE_MIN_WPM = 80
_RATE_MAX_WPM = 450

_CALLBACK_BUFFER_MS = 60  # audio per callback: small enough that first audio comes at once
_KEEP_LEADING_SILENCE_MS = 50
_SILENCE_AMPLITUDE = 100  # |sample| at or below this counts as silence (about -50 dBFS)
_FALLBACK_VOICE = "en-us"


class _EspeakEvent(ctypes.Structure):
    """``espeak_EVENT``; declared so the callback's pointer type is exact (events are unused)."""

    class _Id(ctypes.Union):
        _fields_ = (
            ("number", ctypes.c_int),
            ("name", ctypes.c_char_p),
            ("string", ctypes.c_char * 8),
        )

    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)
_INT, _UINT = ctypes.c_int, ctypes.c_uint
_SIGNATURES: dict[str, tuple[tuple[type[Any], ...], type[Any] | None]] = {
    "espeak_Initialize": ((_INT, _INT, ctypes.c_char_p, _INT), _INT),
    "espeak_SetSynthCallback": ((_SynthCallback,), None),
    "espeak_SetVoiceByName": ((ctypes.c_char_p,), _INT),
    "espeak_SetParameter": ((_INT, _INT, _INT), _INT),
    # text, size, position, position_type, end_position, flags, unique_identifier, user_data
    "espeak_Synth": (
        (
            ctypes.c_char_p,
            ctypes.c_size_t,
            _UINT,
            _INT,
            _UINT,
            _UINT,
            ctypes.POINTER(_UINT),
            ctypes.c_void_p,
        ),
        _INT,
    ),
}


@dataclass(slots=True)
class _Synthesis:
    """One request as the worker thread sees it: ``deliver`` gets each μ-law chunk in order."""

    text: str
    voice: VoiceOptions
    deliver: Callable[[bytes], None]
    cancelled: threading.Event = field(default_factory=threading.Event)


class _ActiveSynthesis:
    """Conversion state of the synthesis espeak is running now (worker thread only). Silence
    before the first sound is cut to its last ``_KEEP_LEADING_SILENCE_MS``, so audio starts at once.
    """

    def __init__(self, job: _Synthesis, espeak_rate_hz: int) -> None:
        self.job = job
        self.error: BaseException | None = None
        self._resampler = StreamResampler(espeak_rate_hz, SAMPLE_RATE_HZ)
        self._keep = espeak_rate_hz * _KEEP_LEADING_SILENCE_MS // 1000
        self._leading: npt.NDArray[np.int16] | None = np.zeros(0, np.int16)  # None after sound

    def convert(self, samples: npt.NDArray[np.int16]) -> None:
        if self._leading is not None:
            samples = np.concatenate((self._leading, samples))
            loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _SILENCE_AMPLITUDE)
            if loud.size == 0:
                self._leading = samples[-self._keep :]
                return
            samples = samples[max(0, int(loud[0]) - self._keep) :]
            self._leading = None
        self._deliver(self._resampler.process(samples))

    def finish(self) -> None:
        self._deliver(self._resampler.flush())

    def _deliver(self, pcm: npt.NDArray[np.int16]) -> None:
        if pcm.size and not self.job.cancelled.is_set():
            self.job.deliver(pcm16_to_ulaw(pcm))


class _EspeakLibrary:
    """The process's single espeak-ng instance. ``espeak_Initialize`` runs once per process;
    a lock keeps synthesis serial even if several engines (each with its own worker) exist."""

    _instance: _EspeakLibrary | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def shared(cls) -> _EspeakLibrary:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        for function, (argtypes, restype) in _SIGNATURES.items():
            getattr(lib, function).argtypes = argtypes
            getattr(lib, function).restype = restype
        data_path = espeakng_loader.get_data_path()
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            _CALLBACK_BUFFER_MS,
            data_path.encode(),
            _INITIALIZE_DONT_EXIT,
        )
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialize with data at {data_path!r}")
        self._lib = lib
        self.sample_rate_hz: int = rate
        # ctypes frees a callback's trampoline with the Python object: keep it for the process.
        self._callback = _SynthCallback(self._on_audio)
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()
        self._voices: dict[tuple[str, str], str] = {}
        self._selected_voice: str | None = None
        self._active: _ActiveSynthesis | None = None

    def synthesize(self, job: _Synthesis) -> None:
        """Run one synthesis to the end (or until cancelled), delivering chunks as they come."""
        with self._lock:
            if job.cancelled.is_set():
                return
            self._select_voice(job.voice)
            wpm = min(max(round(_RATE_NORMAL_WPM * job.voice.speed), _RATE_MIN_WPM), _RATE_MAX_WPM)
            self._lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
            text = job.text.replace("\x00", " ").encode()
            active = self._active = _ActiveSynthesis(job, self.sample_rate_hz)
            try:
                status = self._lib.espeak_Synth(
                    text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
            finally:
                self._active = None
            if active.error is not None:
                raise active.error
            if status != _EE_OK:
                raise RuntimeError(f"espeak_Synth failed with espeak_ERROR {status}")
            active.finish()

    def voice_name(self, voice: VoiceOptions) -> str:
        """The espeak-ng voice ``voice`` is spoken with (selected, as a synthesis would)."""
        with self._lock:
            self._select_voice(voice)
            assert self._selected_voice is not None
            return self._selected_voice

    def _select_voice(self, voice: VoiceOptions) -> None:
        key = (voice.model, voice.language)
        name = self._voices.get(key)
        if name is None:
            name = self._resolve_voice(voice)
            self._voices[key] = name
        elif name != self._selected_voice:
            self._set_voice(name)
        self._selected_voice = name

    def _resolve_voice(self, voice: VoiceOptions) -> str:
        # A cloud voice name (``aura-2-thalia-en``) is not an espeak voice: fall back to the
        # language, first as given (``en-us``), then its primary subtag (``es-ES`` -> ``es``).
        language = voice.language.strip().lower().replace("_", "-")
        candidates = [voice.model.strip(), language, language.split("-")[0], _FALLBACK_VOICE]
        for name in dict.fromkeys(c for c in candidates if c):
            if self._set_voice(name):
                return name
        raise RuntimeError(f"espeak-ng has no voice {_FALLBACK_VOICE!r}: its data is incomplete")

    def _set_voice(self, name: str) -> bool:
        return bool(self._lib.espeak_SetVoiceByName(name.encode()) == _EE_OK)

    def _on_audio(
        self,
        wav: ctypes._Pointer[ctypes.c_short],
        num_samples: int,
        events: ctypes._Pointer[_EspeakEvent],
    ) -> int:
        """espeak's SynthCallback: returning 1 aborts the synthesis (barge-in)."""
        active = self._active
        if active is None:
            return 0
        if active.job.cancelled.is_set():
            return 1
        if not wav or num_samples <= 0:
            return 0  # NULL means the end; zero samples does not
        try:
            active.convert(np.array(np.ctypeslib.as_array(wav, shape=(num_samples,)), np.int16))
        except BaseException as exc:  # an exception must not cross the C boundary
            active.error = exc
            return 1
        return 0


class EspeakTts:
    """Text-to-speech with espeak-ng, fully offline; implements ``TtsEngine``.

    ``VoiceOptions.model`` may name an espeak voice (``en-us``, ``en``, ``es``, ``fr``, with
    variants like ``en-us+f3``); any other name, such as a cloud voice, falls back to the voice for
    ``VoiceOptions.language`` (``en-US`` -> ``en-us``, ``es-ES`` -> ``es``), else ``en-us``.
    ``speed`` 1.0 is espeak's normal 175 words per minute. Safe to create without an event loop
    and to use from several loops: all work runs on the engine's single worker thread.
    """

    name = "espeak"

    def __init__(self) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._running: set[threading.Event] = set()
        self._closed = False

    def open_session(self, voice: VoiceOptions) -> EspeakSession:
        """Synthesis for one call in ``voice``."""
        return EspeakSession(self, voice)

    def _submit(self, job: _Synthesis) -> Future[None]:
        if self._closed:
            raise RuntimeError("EspeakTts is closed; create a new engine to synthesize")
        return self._worker.submit(_run_synthesis, job)

    def stream(self, text: str, voice: VoiceOptions) -> AsyncGenerator[bytes, None]:
        """Yield μ-law 8 kHz chunks as espeak produces them; closing or cancelling the consumer
        aborts the synthesis within one callback buffer."""
        return self._stream(text, voice, threading.Event())

    async def _stream(
        self, text: str, voice: VoiceOptions, cancelled: threading.Event
    ) -> AsyncGenerator[bytes, None]:
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

        def deliver(chunk: bytes) -> None:  # on the worker thread
            try:
                loop.call_soon_threadsafe(chunks.put_nowait, chunk)
            except RuntimeError:  # the consumer's loop is gone: nobody will listen
                cancelled.set()

        def ended(future: asyncio.Future[None]) -> None:
            if not future.cancelled():
                future.exception()  # retrieved here so an abandoned stream logs no warning
            chunks.put_nowait(None)

        self._running.add(cancelled)
        try:
            done = asyncio.wrap_future(self._submit(_Synthesis(text, voice, deliver, cancelled)))
            # Runs after every chunk: deliver() and the completion are queued on the loop in order.
            done.add_done_callback(ended)
            while (chunk := await chunks.get()) is not None and not cancelled.is_set():
                yield chunk
            if not cancelled.is_set():
                await done  # the synthesis ran to its end: raise its error, if any
        finally:
            cancelled.set()
            self._running.discard(cancelled)

    async def synthesize(self, text: str, voice: VoiceOptions) -> bytes:
        """The whole phrase as μ-law 8 kHz bytes."""
        return b"".join([chunk async for chunk in self.stream(text, voice)])

    async def voice_name(self, voice: VoiceOptions) -> str:
        """The espeak-ng voice that speaks ``voice`` (``es-ES`` -> ``es``; ``en-us`` stays), as
        the class docstring resolves it: what a call's record or a test can show."""
        if self._closed:
            raise RuntimeError("EspeakTts is closed; create a new engine to synthesize")
        return await asyncio.wrap_future(self._worker.submit(_voice_name, voice))

    async def aclose(self) -> None:
        """Abort running syntheses and stop the worker thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for cancelled in self._running:
            cancelled.set()
        self._worker.shutdown(wait=False, cancel_futures=True)


class EspeakSession:
    """One call's synthesis in one voice; implements ``TtsSession``. espeak keeps no state per
    call, so ``clear`` just aborts this call's sentences still being synthesized."""

    def __init__(self, engine: EspeakTts, voice: VoiceOptions) -> None:
        self._engine = engine
        self._voice = voice
        self._running: set[threading.Event] = set()

    async def stream(self, text: str) -> AsyncGenerator[bytes, None]:
        """One sentence in the session's voice, as ``EspeakTts.stream``."""
        cancelled = threading.Event()
        self._running.add(cancelled)
        try:
            async for chunk in self._engine._stream(text, self._voice, cancelled):
                yield chunk
        finally:
            self._running.discard(cancelled)

    async def clear(self) -> None:
        """Barge-in: abort this call's syntheses; their streams end without more audio."""
        for cancelled in self._running:
            cancelled.set()

    async def aclose(self) -> None:
        """The call is over: aborts what is left, as ``clear``. Idempotent."""
        await self.clear()


def _run_synthesis(job: _Synthesis) -> None:
    _EspeakLibrary.shared().synthesize(job)


def _voice_name(voice: VoiceOptions) -> str:
    return _EspeakLibrary.shared().voice_name(voice)
