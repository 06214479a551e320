"""pocketsphinx decoders shared by every call: a few, created lazily, lent out per utterance.

A decoder holds a loaded acoustic model, dictionary and language model (tens of MB, ~0.3 s to
load), so calls never get their own: a stream borrows one from detected speech start to final and
gives it back. Decoding runs on the pool's threads, as many as there are decoders.

Note: pocketsphinx 5.1.1's binding never releases the GIL (it loads and decodes holding it), so
those threads keep decoding off the event loop's call stack but the loop cannot run meanwhile.
Audio is therefore decoded in slices of at most ``SLICE_MS``, which bounds each pause of the loop
(measured: under ~50 ms with the language model, ~5 ms with a phrase grammar). Loading a decoder
pauses the loop for its whole load, once per decoder.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import structlog

from aybiza.providers.stt.grammar import PhraseGrammar, PhraseGrammars

log = structlog.get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DECODER_RATE_HZ = 16000  # the bundled en-us acoustic model's rate
SLICE_MS = 50
_SLICE_BYTES = DECODER_RATE_HZ * SLICE_MS // 1000 * 2


class PooledDecoder:
    """One pocketsphinx ``Decoder`` and the grammar searches already added to it.

    Its methods run on the pool's threads. A lock serializes them: when a call hangs up mid-job,
    the decoder's reset waits for the abandoned job instead of racing it.
    """

    def __init__(self, decoder: Any, grammars: PhraseGrammars) -> None:
        self._decoder = decoder
        self._grammars = grammars
        self._lock = threading.Lock()
        self._default_search = str(decoder.current_search())
        self._searches = {self._default_search}
        self._initial_cmn = str(decoder.get_cmn())  # the configured ``cmninit``
        self._in_utterance = False
        self._grammar: PhraseGrammar | None = None

    def start_utterance(self, phrases: tuple[str, ...], cmn: str | None) -> None:
        """Begin an utterance recognised against ``phrases`` (normalized; empty means the
        language model), starting from the call's cepstral mean ``cmn`` (None: a new call)."""
        with self._lock:
            grammar = self._grammars.get(phrases, self._is_known_word) if phrases else None
            self._grammar = grammar
            search = self._default_search if grammar is None else grammar.search_name
            if grammar is not None and search not in self._searches:
                self._decoder.add_jsgf_string(search, grammar.jsgf)
                self._searches.add(search)
            if self._decoder.current_search() != search:
                self._decoder.activate_search(search)
            # The mean adapts to the channel; each call keeps its own rather than the last caller's.
            self._decoder.set_cmn(cmn or self._initial_cmn)
            self._decoder.start_utt()
            self._in_utterance = True

    def process(self, pcm16: bytes, want_text: bool) -> str | None:
        """Decode more 16 kHz PCM of the utterance; the hypothesis so far if ``want_text``."""
        with self._lock:
            for start in range(0, len(pcm16), _SLICE_BYTES):
                self._decoder.process_raw(pcm16[start : start + _SLICE_BYTES], False, False)
            return self._text() if want_text else None

    def finish_utterance(self) -> tuple[str, str]:
        """End the utterance: its final text ('' if no words) and the call's updated mean.

        With a grammar, the text is one of its phrases or ''. When the search never reaches the
        grammar's end, pocketsphinx returns the best partial path ("what are"), a phrase nobody
        wrote, which would mislead whoever matches on it.
        """
        with self._lock:
            self._decoder.end_utt()
            self._in_utterance = False
            text = self._text()
            if self._grammar is not None and text not in self._grammar.phrases:
                text = ""
            return text, str(self._decoder.get_cmn())

    def reset(self) -> None:
        """Close an abandoned utterance so the next borrower starts clean."""
        with self._lock:
            if self._in_utterance:
                self._decoder.end_utt()
                self._in_utterance = False

    def _text(self) -> str:
        hypothesis = self._decoder.hyp()
        return "" if hypothesis is None else " ".join(str(hypothesis.hypstr).split())

    def _is_known_word(self, word: str) -> bool:
        return self._decoder.lookup_word(word) is not None


class DecoderPool:
    """Up to ``size`` decoders made by ``create_decoder`` on first need, lent in request order.

    ``acquire`` waits while all are lent; ``release`` hands a decoder straight to the next waiter.
    """

    def __init__(self, size: int, create_decoder: Callable[[], Any]) -> None:
        if size < 1:
            raise ValueError(f"max_decoders must be at least 1, got {size}")
        self._size = size
        self._create_decoder = create_decoder
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="pocketsphinx")
        self._grammars = PhraseGrammars()
        self._idle: list[PooledDecoder] = []
        self._created = 0
        self._waiters: deque[asyncio.Future[PooledDecoder | None]] = deque()
        self._closed = False

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on one of the pool's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def prime(self) -> None:
        """Load one decoder now if none exists yet, so the first call's speech does not
        wait for (nor pause the loop during) a load. Run at start-up, before calls arrive."""
        if self._closed or self._created:
            return
        self._created += 1
        try:
            decoder = await self.run(self._create_decoder)
        except BaseException:
            self._created -= 1
            raise
        self._hand_over(PooledDecoder(decoder, self._grammars))

    async def acquire(self) -> PooledDecoder:
        """A decoder for one utterance; give it back with ``release``."""
        while True:
            if self._closed:
                raise RuntimeError("the pocketsphinx decoder pool is closed")
            if self._idle:
                return self._idle.pop()
            if self._created < self._size:
                self._created += 1
                try:
                    decoder = await self.run(self._create_decoder)
                except BaseException:
                    self._created -= 1
                    raise
                return PooledDecoder(decoder, self._grammars)
            # Resolved with a decoder, or with None when a slot freed up for a new one.
            waiter: asyncio.Future[PooledDecoder | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiters.append(waiter)
            try:
                lent = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._hand_over(waiter.result())  # lent just as the borrower gave up
                else:
                    self._waiters.remove(waiter)
                raise
            if lent is not None:
                return lent

    def release(self, decoder: PooledDecoder) -> None:
        """Give a decoder back. Not a coroutine, so a cancelled borrower cannot lose it: the
        reset runs on the pool's threads and the decoder is handed over when it is done."""
        if self._closed:
            return
        future = asyncio.wrap_future(self._executor.submit(decoder.reset))
        future.add_done_callback(lambda done: self._after_reset(decoder, done))

    def _after_reset(self, decoder: PooledDecoder, done: asyncio.Future[None]) -> None:
        if self._closed:
            return
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            # A decoder that cannot reset is dropped; the pool makes a new one when needed.
            log.warning("stt.decoder_dropped", error=repr(error))
            self._created -= 1
            self._hand_over(None)
            return
        self._hand_over(decoder)

    def _hand_over(self, decoder: PooledDecoder | None) -> None:
        """Lend ``decoder`` to the longest waiter, else keep it idle (None: a free slot)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(decoder)
                return
        if decoder is not None:
            self._idle.append(decoder)

    async def aclose(self) -> None:
        """Stop the threads; waiting borrowers fail. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(RuntimeError("the pocketsphinx decoder pool is closed"))
        self._waiters.clear()
        self._idle.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
