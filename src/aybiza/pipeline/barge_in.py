"""``BargeIn``: pause, then decide, when the caller makes a sound while the agent speaks.

Waiting for words before stopping the agent leaves it talking over the caller for the time the
recogniser takes (400-700 ms); stopping at every sound cuts answers for a cough or an "uh-huh".
So the agent stops at once, on the local VAD's speech onset (a few 20 ms frames), keeping what
the caller has not heard (``Playout.pause``), and the decision follows within ``window_ms``:

- recognised words that are not a backchannel (``InterruptionPolicy``): a real interruption, the
  answer is cut (the context keeps the heard text);
- a final transcript that is empty or only backchannel: the answer resumes where it stopped;
- the window ends with the caller quiet (no voiced frame for ``QUIET_MS``): a cough or a click
  of line noise; the answer resumes;
- the window ends with the caller still talking: with no words yet after ``min_voice_ms`` of
  voice, an interruption; with backchannel words so far, the decision waits (frame by frame)
  for the final or for quiet, at most ``MAX_PAUSE_WINDOWS`` windows, then cuts.

One decision per stretch of caller speech: once resumed, the same stretch does not pause the
agent again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aybiza.audio.codec import FRAME_MS
from aybiza.pipeline.interruption import InterruptionPolicy
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.vad import VadState

DECISION_WINDOW_MS = 600
QUIET_MS = 100
MAX_PAUSE_WINDOWS = 3


class BargeIn:
    """One call's pause-then-decide. ``cut`` stops the current answer for good (the call loop's
    barge-in: clear, cancel the answer, settle what was heard). The window is counted in caller
    audio frames, like the VAD, so the decision does not depend on the event loop's timing."""

    def __init__(
        self,
        playout: Playout,
        policy: InterruptionPolicy,
        cut: Callable[[], Awaitable[None]],
        *,
        window_ms: int = DECISION_WINDOW_MS,
    ) -> None:
        self._playout = playout
        self._policy = policy
        self._cut = cut
        self._window_ms = window_ms
        self._paused_ms: int | None = None  # caller audio heard since the pause
        self._decided = False  # this stretch of caller speech was already decided on
        self._backchannel = False  # words heard during the pause, all backchannel
        self.pauses = 0
        self.resumes = 0

    async def on_frame(self, state: VadState) -> None:
        """After each caller frame: pause the agent on voiced speech while it talks; decide
        once the window has passed."""
        if state.started:
            self._decided = False
        if self._paused_ms is not None:
            if not self._playout.paused:
                self._paused_ms = None  # cut or resumed elsewhere
            else:
                self._paused_ms += FRAME_MS
                if self._paused_ms >= self._window_ms:
                    await self._decide(state, self._paused_ms)
            return
        voiced_now = state.speaking and state.silence_ms == 0
        if voiced_now and not self._decided and await self._playout.pause():
            self.pauses += 1
            self._decided = True
            self._backchannel = False
            self._paused_ms = 0

    async def on_words(self, text: str, *, final: bool) -> None:
        """Recognised caller words (an interim, or a final) while the agent speaks or is paused."""
        if not self._playout.speaking:
            return
        if self._policy.final_interrupts(text):
            await self.cut()
        elif final and self._playout.paused:
            await self._resume()
        elif text.strip():
            self._backchannel = True

    async def cut(self) -> None:
        """A real interruption: the answer stops for good."""
        self._paused_ms = None
        self._decided = True
        await self._cut()
        if self._playout.paused:  # paused audio that no answer owns any more
            await self._playout.clear()

    async def _decide(self, state: VadState, paused_ms: int) -> None:
        """Called on every frame once the window has passed, until cut or resumed."""
        talking = state.speaking and state.silence_ms < QUIET_MS
        voiced_ms = state.speech_ms - state.silence_ms
        if not talking:
            await self._resume()
        elif paused_ms >= MAX_PAUSE_WINDOWS * self._window_ms or (
            not self._backchannel and voiced_ms >= self._policy.min_voice_ms
        ):
            await self.cut()

    async def _resume(self) -> None:
        self._paused_ms = None
        self.resumes += 1
        await self._playout.resume()
