"""The RTCP side of one call: the reports we send and what the far end's reports tell us.

Our compound packet is an SR when we sent RTP since the last report (an RR otherwise), with a
report block on the far end's stream once it has one, and our SDES CNAME (RFC 3550 §6.1). From
the far end's packets we keep its last SR (for our LSR/DLSR), the round-trip time its blocks
about our stream give, and whether it said BYE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aybiza.telephony.sip import rtcp
from aybiza.telephony.sip.reception import ReceptionStats
from aybiza.telephony.sip.rtp import Clock, RtpSender


@dataclass(slots=True)
class FarEndReports:
    """What the far end's RTCP said."""

    round_trip_s: float | None = None
    bye: bool = False
    reports: int = 0


class RtcpReporter:
    """Builds our compound reports and reads the far end's, for one call."""

    def __init__(
        self, sender: RtpSender, cname: str, clock: Clock, wall_clock: Callable[[], float]
    ) -> None:
        self.sender = sender
        self.cname = cname
        self.reception: ReceptionStats | None = None
        self.far_end = FarEndReports()
        self._clock = clock
        self._wall_clock = wall_clock
        self._reported_packets = 0

    def receiving(self, ssrc: int, sequence: int) -> ReceptionStats:
        """The statistics of the far end's stream; new ones when its SSRC changed."""
        if self.reception is None or self.reception.ssrc != ssrc:
            self.reception = ReceptionStats(ssrc, sequence)
        return self.reception

    def compound(self, *extra: rtcp.RtcpPacket) -> bytes:
        """Our next report (SR or RR, then SDES), followed by ``extra`` (a BYE)."""
        now = self._clock.now()
        sender = self.sender
        blocks = () if self.reception is None else (self.reception.report_block(now),)
        report: rtcp.RtcpPacket = rtcp.ReceiverReport(sender.ssrc, blocks)
        if sender.packets_sent > self._reported_packets:
            report = rtcp.SenderReport(
                sender.ssrc,
                rtcp.ntp_timestamp(self._wall_clock()),
                sender.timestamp_at(now),
                sender.packets_sent,
                sender.octets_sent,
                blocks,
            )
        self._reported_packets = sender.packets_sent
        return rtcp.serialize_compound([report, rtcp.cname_chunk(sender.ssrc, self.cname), *extra])

    def read(self, packets: list[rtcp.RtcpPacket], media_ssrc: int | None) -> bool:
        """Take the far end's packets; True when they report on the media source's stream
        (so they come from where its RTCP really comes from)."""
        arrival_ntp = rtcp.ntp_timestamp(self._wall_clock())
        from_media_source = False
        for packet in packets:
            if isinstance(packet, rtcp.SenderReport | rtcp.ReceiverReport):
                if packet.ssrc != media_ssrc:
                    continue
                from_media_source = True
                self.far_end.reports += 1
                if isinstance(packet, rtcp.SenderReport) and self.reception is not None:
                    self.reception.sender_report(packet.ntp_timestamp, self._clock.now())
                for block in packet.reports:
                    rtt = rtcp.round_trip_s(block, arrival_ntp)
                    if block.ssrc == self.sender.ssrc and rtt is not None:
                        self.far_end.round_trip_s = rtt
            elif isinstance(packet, rtcp.Bye) and media_ssrc in packet.sources:
                self.far_end.bye = True
        return from_media_source
