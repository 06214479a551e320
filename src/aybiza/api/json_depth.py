"""How deeply a JSON text nests arrays and objects, measured on its bytes as they arrive.

Python's JSON decoder, pydantic and every recursive walker after them fail on deep nesting
(``RecursionError`` near 1,000 levels, pydantic's serializer earlier), and each in its own way.
Measuring the depth before anything parses the body lets the API refuse it with one clear 422.

Strings are removed whole by a regular expression and the brackets left over are counted with
numpy, so a chunk costs a few passes in C, not a Python step per byte or per string.
"""

from __future__ import annotations

import re

import numpy as np

# Everything up to the opening quote of a string the chunk does not finish: text outside
# strings and whole strings. Possessive throughout, so it is one pass whatever the input.
_UP_TO_UNFINISHED = re.compile(rb'(?:[^"]++|"(?:[^"\\]++|\\.)*+")*+')
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
# The inside of a string, up to its closing quote (or a backslash ending the chunk).
_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_QUOTE = ord('"')
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
# Objects and arrays count alike: '{' as '[' and '}' as ']'.
_SAME_KIND = bytes.maketrans(b"{}", b"[]")
_OPEN = ord("[")


class JsonDepth:
    """Feed a JSON text in chunks; ``too_deep`` once arrays and objects nest deeper than
    ``max_depth`` (a top-level object is depth 1). Malformed JSON is left to the parser."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.deepest = 0
        # Where the last chunk ended: inside a string, and right after its backslash.
        self._in_string = False
        self._escaped = False

    @property
    def too_deep(self) -> bool:
        """True once the text has nested deeper than ``max_depth``."""
        return self.deepest > self.max_depth

    def feed(self, chunk: bytes) -> bool:
        """Scan the next chunk; False once the text is too deep (further chunks need not be
        fed)."""
        if self.too_deep:
            return False
        if not chunk:
            return True
        position = self._through_string(chunk, 0) if self._in_string else 0
        finished = _UP_TO_UNFINISHED.match(chunk, position)
        end = finished.end() if finished is not None else position
        outside = _STRING.sub(b"", chunk[position:end])
        if end < len(chunk):
            self._in_string = True
            trailing_backslashes = len(chunk) - len(chunk.rstrip(b"\\"))
            self._escaped = trailing_backslashes % 2 == 1
        brackets = outside.translate(_SAME_KIND, _NOT_BRACKETS)
        if brackets:
            self._count(brackets)
        return not self.too_deep

    def _through_string(self, chunk: bytes, position: int) -> int:
        """Skip the rest of the string the chunk starts in; where it ends (or the chunk's
        length, when it goes on into the next chunk)."""
        if self._escaped:
            self._escaped = False
            position += 1
        if position >= len(chunk):
            return len(chunk)
        end = _STRING_BODY.match(chunk, position)
        stop = end.end() if end is not None else position
        if stop >= len(chunk):
            return len(chunk)
        if chunk[stop] == _QUOTE:
            self._in_string = False
            return stop + 1
        # A backslash as the chunk's last byte: the character it escapes comes next.
        self._escaped = True
        return len(chunk)

    def _count(self, brackets: bytes) -> None:
        steps = np.where(np.frombuffer(brackets, dtype=np.uint8) == _OPEN, 1, -1)
        levels = np.cumsum(steps, dtype=np.int64) + self.depth
        self.deepest = max(self.deepest, int(levels.max()))
        self.depth = int(levels[-1])
