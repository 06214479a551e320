"""Reception statistics of one RTP source, for its RTCP report block (RFC 3550 Appendix A).

Sequence tracking follows A.1 (probation before a source counts, wraparound, large jumps taken
as a restart once two sequential packets confirm them), loss follows A.3 and interarrival
jitter follows §6.4.1 and A.8: J += (|D(i-1, i)| - J) / 16, in timestamp units.
"""

from __future__ import annotations

from aybiza.telephony.sip.rtcp import ReportBlock, ntp_middle
from aybiza.telephony.sip.rtp import timestamp_delta

_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


class ReceptionStats:
    """What we received from one SSRC."""

    def __init__(self, ssrc: int, first_sequence: int, *, clock_rate_hz: int = 8000) -> None:
        self.ssrc = ssrc
        self.clock_rate_hz = clock_rate_hz
        self.received = 0
        self.jitter = 0.0
        self._init(first_sequence)
        self.max_seq = (first_sequence - 1) % _SEQ_MOD
        self.probation = MIN_SEQUENTIAL
        self._expected_prior = 0
        self._received_prior = 0
        self._last_arrival: float | None = None
        self._last_timestamp = 0
        self._last_sr = 0
        self._last_sr_arrival = 0.0

    def _init(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = _SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self._received_prior = 0
        self._expected_prior = 0

    def update(self, sequence: int, timestamp: int | None, arrival_s: float) -> bool:
        """Count one packet; False while the source is on probation or for a wild jump.
        ``timestamp`` is None for packets whose timestamp is not their sampling instant
        (telephone events carry their event's start): they count, but not for jitter."""
        if not self._update_sequence(sequence):
            return False
        if timestamp is None:
            return True
        if self._last_arrival is not None:
            # D(i-1, i) = (Rj - Ri) - (Sj - Si), both in timestamp units (A.8).
            arrived = (arrival_s - self._last_arrival) * self.clock_rate_hz
            d = abs(arrived - timestamp_delta(timestamp, self._last_timestamp))
            self.jitter += (d - self.jitter) / 16
        self._last_arrival, self._last_timestamp = arrival_s, timestamp
        return True

    def _update_sequence(self, seq: int) -> bool:
        udelta = (seq - self.max_seq) % _SEQ_MOD
        if self.probation:
            if seq == (self.max_seq + 1) % _SEQ_MOD:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init(seq)
                    self.received += 1
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += _SEQ_MOD
            self.max_seq = seq
        elif udelta <= _SEQ_MOD - MAX_MISORDER:
            if seq != self.bad_seq:
                self.bad_seq = (seq + 1) % _SEQ_MOD
                return False
            self._init(seq)  # two sequential packets after a jump: the source restarted
        self.received += 1
        return True

    @property
    def extended_max(self) -> int:
        """Highest sequence number received, with wraparound cycles."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected so far."""
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Packets lost so far (negative when duplicates outnumber losses)."""
        return self.expected - self.received

    def sender_report(self, ntp_timestamp: int, arrival_s: float) -> None:
        """The source sent an SR: remember it for LSR and DLSR."""
        self._last_sr = ntp_middle(ntp_timestamp)
        self._last_sr_arrival = arrival_s

    def report_block(self, now_s: float) -> ReportBlock:
        """This source's report block; starts a new interval for ``fraction_lost`` (A.3)."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior, self._received_prior = expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        delay = 0
        if self._last_sr:
            delay = round((now_s - self._last_sr_arrival) * 65536)
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=self.lost,
            highest_sequence=self.extended_max,
            jitter=int(self.jitter),
            last_sr=self._last_sr,
            delay_since_last_sr=delay,
        )
