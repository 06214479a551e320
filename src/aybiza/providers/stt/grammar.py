"""An agent's expected phrases as a JSGF grammar for pocketsphinx.

Recognising against the few phrases an agent expects is far more accurate than the open
language model (the bundled model was trained on wideband read speech, not phone calls). A phrase
with a word missing from the pronunciation dictionary cannot be in the grammar: it is skipped with
a warning rather than rewritten, so a recognised phrase is always one the agent wrote.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def normalize_phrase(phrase: str) -> str:
    """Lowercase words separated by single spaces, punctuation dropped (``"Goodbye!"`` ->
    ``"goodbye"``); apostrophes inside words stay (``"i'm"``), as the dictionary spells them."""
    return " ".join(_WORD.findall(phrase.lower()))


@dataclass(frozen=True, slots=True)
class PhraseGrammar:
    """A compiled phrase set: ``search_name`` is stable for the same phrases in any process."""

    search_name: str
    jsgf: str
    phrases: tuple[str, ...]


def phrase_set(phrases: Iterable[str]) -> tuple[str, ...]:
    """The distinct normalized phrases, in their first order: the key of one grammar."""
    return tuple(dict.fromkeys(p for p in map(normalize_phrase, phrases) if p))


def build_grammar(
    phrases: tuple[str, ...], is_known_word: Callable[[str], bool]
) -> PhraseGrammar | None:
    """A grammar whose sentences are exactly the usable ``phrases`` (already normalized), or None
    when none is usable. Phrases with unknown words are left out, each with a warning."""
    usable: list[str] = []
    for phrase in phrases:
        unknown = [word for word in phrase.split() if not is_known_word(word)]
        if unknown:
            log.warning(
                "stt.expected_phrase_skipped",
                phrase=phrase,
                unknown_words=unknown,
                reason="not in the pocketsphinx dictionary; write numbers and names as words",
            )
        else:
            usable.append(phrase)
    if not usable:
        log.warning(
            "stt.expected_phrases_unusable", phrases=list(phrases), fallback="language model"
        )
        return None
    digest = hashlib.sha256("\n".join(usable).encode()).hexdigest()[:16]
    alternatives = "\n    | ".join(usable)
    jsgf = f"#JSGF V1.0;\ngrammar expected;\npublic <phrase> = {alternatives};\n"
    return PhraseGrammar(search_name=f"phrases-{digest}", jsgf=jsgf, phrases=tuple(usable))


class PhraseGrammars:
    """Grammars compiled once per distinct phrase set and shared by every pooled decoder.
    Thread-safe: decoders compile on the pool's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled: dict[tuple[str, ...], PhraseGrammar | None] = {}

    def get(
        self, phrases: tuple[str, ...], is_known_word: Callable[[str], bool]
    ) -> PhraseGrammar | None:
        """The grammar for these phrases (as ``phrase_set`` gives them), compiling it once."""
        with self._lock:
            if phrases not in self._compiled:
                self._compiled[phrases] = build_grammar(phrases, is_known_word)
            return self._compiled[phrases]
