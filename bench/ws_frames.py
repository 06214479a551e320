"""WebSocket client frames (RFC 6455 5.2) built for a crowd's ticker: masked, final, written
straight to the transport."""

from __future__ import annotations

import os

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    from websockets.utils import apply_mask


class ClientFrames:
    """Masked text frames as a WebSocket client must send them (RFC 6455 5.2), written straight
    to the transport. websockets' own path (``protocol.send_text`` then ``send_data``) builds a
    Frame object, a BytesIO and asks the OS for each 4-byte masking key; here the keys come from
    ``os.urandom`` 4 KiB at a time. The bytes on the wire have the same layout."""

    __slots__ = ("_at", "_keys")

    def __init__(self) -> None:
        self._keys = b""
        self._at = 0

    def text(self, data: bytes) -> bytes:
        """One final text frame carrying ``data`` (UTF-8), masked with a fresh random key."""
        at = self._at
        if at + 4 > len(self._keys):
            self._keys, at = os.urandom(_MASK_KEYS_BYTES), 0
        key = self._keys[at : at + 4]
        self._at = at + 4
        length = len(data)
        if length < 126:
            head = bytes((0x81, 0x80 | length))
        elif length < 65536:
            head = b"\x81\xfe" + length.to_bytes(2, "big")
        else:
            head = b"\x81\xff" + length.to_bytes(8, "big")
        return head + key + apply_mask(data, key)


_MASK_KEYS_BYTES = 4096
CLIENT_FRAMES = ClientFrames()
