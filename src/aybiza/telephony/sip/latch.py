"""Symmetric RTP (RFC 4961): send the call's media to where the far end's media really comes from.

Behind NAT, the address in the far end's SDP is often private or wrong; the address its packets
arrive from is the one that reaches it. ``RemoteLatch`` decides which source is the call's media
and remembers it. The rule:

1. Before any media: a packet from the address the SDP named latches at once. A packet from
   elsewhere (a NATed far end) starts a probation: ``probation`` consecutive packets from one
   address, with one SSRC and consecutive sequence numbers, latch that address. Packets before
   the latch are dropped (at most a few tens of milliseconds at the start of the call).
2. Once latched, packets from any other address are dropped (and counted), with two exceptions:
   a. after the far end sends new SDP (a re-INVITE: ``renegotiated``), learning starts over;
      the current source stays accepted until another address latches by rule 1;
   b. when the latched source has been silent for ``relatch_after_s`` and packets with the
      *same SSRC* arrive from a new address, they latch it after probation (the far end's NAT
      binding changed). An attacker off the path cannot see the SSRC to forge this.
"""

from __future__ import annotations

from dataclasses import dataclass

from aybiza.telephony.sip.rtp import sequence_delta

Address = tuple[str, int]


@dataclass(slots=True)
class _Candidate:
    source: Address
    ssrc: int
    sequence: int
    count: int


class RemoteLatch:
    """Where one call's media comes from, and so where to send it."""

    def __init__(
        self,
        signalled: Address | None,
        *,
        probation: int = 3,
        relatch_after_s: float = 1.0,
    ) -> None:
        self.signalled = signalled
        self.latched: Address | None = None
        self.ssrc: int | None = None
        self.dropped = 0
        self._probation = probation
        self._relatch_after_s = relatch_after_s
        self._learning = True
        self._last_seen = 0.0
        self._candidate: _Candidate | None = None

    @property
    def target(self) -> Address | None:
        """Where to send media: the latched source, else what the SDP named."""
        return self.latched if self.latched is not None else self.signalled

    def renegotiated(self, signalled: Address | None) -> None:
        """The far end sent new SDP: learn its media source again (rule 2a)."""
        self.signalled = signalled
        self._learning = True
        self._candidate = None

    def admit(self, source: Address, ssrc: int, sequence: int, now: float) -> bool:
        """Whether a valid packet (right version and payload type) from ``source`` is this
        call's media; latches when the rule says so."""
        if source == self.latched:
            self._last_seen = now
            self.ssrc = ssrc
            return True
        if self._learning and source == self.signalled:
            return self._latch(source, ssrc, now)
        quiet = self.latched is not None and now - self._last_seen >= self._relatch_after_s
        may_learn = self._learning or (quiet and ssrc == self.ssrc)
        if may_learn and self._on_probation(source, ssrc, sequence):
            return self._latch(source, ssrc, now)
        self.dropped += 1
        return False

    def _on_probation(self, source: Address, ssrc: int, sequence: int) -> bool:
        candidate = self._candidate
        if (
            candidate is not None
            and candidate.source == source
            and candidate.ssrc == ssrc
            and sequence_delta(sequence, candidate.sequence) == 1
        ):
            candidate.sequence = sequence
            candidate.count += 1
        else:
            candidate = self._candidate = _Candidate(source, ssrc, sequence, 1)
        return candidate.count >= self._probation

    def _latch(self, source: Address, ssrc: int, now: float) -> bool:
        self.latched, self.ssrc, self._last_seen = source, ssrc, now
        self._learning = False
        self._candidate = None
        return True
