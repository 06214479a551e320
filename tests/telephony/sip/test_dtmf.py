"""RFC 4733 telephone events: payloads, one digit per event received, the sent packet series."""

from __future__ import annotations

import pytest
from tests.telephony.sip.sipp_pcap import udp_payloads

from aybiza.telephony.sip.dtmf import (
    DtmfError,
    DtmfReceiver,
    DtmfSender,
    EventPacket,
    TelephoneEvent,
    event_code,
)
from aybiza.telephony.sip.rtp import RtpPacket


def test_payload_fields_parse_and_serialize() -> None:
    # Event 1, E=1, R=0, volume 10 (-10 dBm0), duration 2240: as in sipp's dtmf_2833_1.pcap.
    wire = bytes([0x01, 0x8A, 0x08, 0xC0])
    event = TelephoneEvent.parse(wire)
    assert event == TelephoneEvent(event=1, end=True, volume=10, duration=2240)
    assert event.digit == "1"
    assert event.serialize() == wire
    assert TelephoneEvent(11, False, 63, 160).serialize() == bytes([11, 63, 0, 160])
    assert TelephoneEvent(16).digit is None  # flash


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (TelephoneEvent(256), "event"),
        (TelephoneEvent(1, volume=64), "volume"),
        (TelephoneEvent(1, duration=70000), "duration"),
    ],
)
def test_invalid_events_are_refused_naming_the_field(event: TelephoneEvent, field: str) -> None:
    with pytest.raises(DtmfError) as refused:
        event.serialize()
    assert refused.value.field == field


def test_digits_map_to_event_codes() -> None:
    assert [event_code(d) for d in "09*#AbcD"] == [0, 9, 10, 11, 12, 13, 14, 15]
    with pytest.raises(DtmfError) as refused:
        event_code("E")
    assert refused.value.field == "digit"


def sipp_series(event: int, timestamp: int) -> list[tuple[int, bool, bytes]]:
    """(timestamp, marker, payload) of one event as sipp plays it: durations 0 to 2240 in steps
    of 320, then the end packet three times."""
    packets = [
        (timestamp, d == 0, TelephoneEvent(event, False, 10, d).serialize())
        for d in range(0, 2241, 320)
    ]
    end = TelephoneEvent(event, True, 10, 2240).serialize()
    return packets + [(timestamp, False, end)] * 3


def test_an_event_with_its_three_end_packets_is_exactly_one_digit() -> None:
    receiver = DtmfReceiver()
    digits = [receiver.receive(0xABC, ts, m, p) for ts, m, p in sipp_series(1, 48000)]
    assert [d for d in digits if d] == ["1"]
    assert digits[0] == "1"


def test_a_digit_whose_first_packets_were_lost_is_still_reported_once() -> None:
    receiver = DtmfReceiver()
    series = sipp_series(11, 1000)[4:]  # start and three updates lost
    assert [d for ts, m, p in series if (d := receiver.receive(5, ts, m, p))] == ["#"]


def test_the_same_digit_pressed_twice_is_two_digits() -> None:
    receiver = DtmfReceiver()
    presses = sipp_series(7, 8000) + sipp_series(7, 8000 + 4000)
    assert [d for ts, m, p in presses if (d := receiver.receive(5, ts, m, p))] == ["7", "7"]


def test_reordered_packets_of_one_event_are_one_digit() -> None:
    receiver = DtmfReceiver()
    series = sipp_series(3, 160)
    series.reverse()
    assert [d for ts, m, p in series if (d := receiver.receive(5, ts, m, p))] == ["3"]


def test_the_segments_of_a_long_event_are_one_digit() -> None:
    receiver = DtmfReceiver()
    first = TelephoneEvent(5, False, 10, 0xFFFF).serialize()
    assert receiver.receive(9, 1000, True, TelephoneEvent(5, False, 10, 160).serialize()) == "5"
    assert receiver.receive(9, 1000, False, first) is None
    # The next segment starts where the first ended, without the marker bit (RFC 4733 §2.5.1.3).
    second = TelephoneEvent(5, True, 10, 800).serialize()
    assert receiver.receive(9, 1000 + 0xFFFF, False, second) is None


def test_non_digit_events_and_malformed_payloads_give_no_digit() -> None:
    receiver = DtmfReceiver()
    assert receiver.receive(9, 0, True, TelephoneEvent(16, True, 10, 800).serialize()) is None
    assert receiver.receive(9, 800, True, b"\x01\x0a") is None
    assert receiver.malformed == 1


def drain(sender: DtmfSender, first_timestamp: int) -> list[EventPacket | None]:
    slots: list[EventPacket | None] = []
    timestamp = first_timestamp
    while sender.busy:
        slots.append(sender.next_packet(timestamp))
        timestamp += 160
    return slots


def test_sender_produces_start_updates_and_three_end_packets_at_20_ms() -> None:
    sender = DtmfSender(tone_ms=100, gap_ms=60)
    sender.press("5")
    slots = drain(sender, 32000)
    packets = [p for p in slots if p is not None]
    events = [TelephoneEvent.parse(p.payload) for p in packets]
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert {p.timestamp for p in packets} == {32000}
    assert {e.event for e in events} == {5}
    assert slots[7:] == [None, None, None]  # 60 ms without an event before the next digit


def test_sent_digits_are_received_as_the_same_digits() -> None:
    sender = DtmfSender()
    sender.press("12#")
    receiver = DtmfReceiver()
    timestamp = 7_000_000
    heard = []
    while sender.busy:
        packet = sender.next_packet(timestamp)
        if packet is not None:
            digit = receiver.receive(0x55, packet.timestamp, packet.marker, packet.payload)
            if digit:
                heard.append(digit)
        timestamp += 160
    assert heard == ["1", "2", "#"]


def test_clearing_keeps_the_digit_in_flight_and_drops_the_rest() -> None:
    sender = DtmfSender()
    sender.press("123")
    sender.next_packet(0)
    sender.clear()
    packets = [p for p in drain(sender, 160) if p is not None]
    assert {TelephoneEvent.parse(p.payload).event for p in packets} == {1}
    assert TelephoneEvent.parse(packets[-1].payload).end


def test_a_press_with_a_bad_character_queues_none_of_its_digits() -> None:
    sender = DtmfSender()
    with pytest.raises(DtmfError, match="'x'"):
        sender.press("12x")
    assert not sender.busy


@pytest.mark.parametrize(
    ("name", "digit"),
    [
        *((f"dtmf_2833_{d}.pcap", str(d)) for d in range(10)),
        ("dtmf_2833_pound.pcap", "#"),
        ("dtmf_2833_star.pcap", "*"),
    ],
)
def test_sipps_recorded_dtmf_packets_give_exactly_their_digit(name: str, digit: str) -> None:
    receiver = DtmfReceiver()
    heard = []
    for captured in udp_payloads(name):
        packet = RtpPacket.parse(captured.payload)
        assert packet.payload_type == 101
        got = receiver.receive(packet.ssrc, packet.timestamp, packet.marker, packet.payload)
        if got:
            heard.append(got)
    assert heard == [digit]
