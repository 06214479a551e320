import base64
import json

import pytest

from aybiza.telephony.twilio.wire import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    WireError,
    clear_message,
    mark_message,
    media_message,
    parse_message,
)

STREAM = "MZ0f5d3a8c2b1e4f6a9b8c7d6e5f4a3b2c"
START = {
    "event": "start",
    "sequenceNumber": "1",
    "streamSid": STREAM,
    "start": {
        "accountSid": "AC" + "0" * 32,
        "streamSid": STREAM,
        "callSid": "CA" + "1" * 32,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"call_id": "abc", "from": "+15558675310"},
    },
}


def test_parses_every_inbound_event_as_twilio_sends_it() -> None:
    assert parse_message('{"event":"connected","protocol":"Call","version":"1.0.0"}') == (
        Connected("Call", "1.0.0")
    )
    start = parse_message(json.dumps(START))
    assert isinstance(start, Start)
    assert start.call_sid == "CA" + "1" * 32
    assert start.custom_parameters == {"call_id": "abc", "from": "+15558675310"}
    payload = base64.b64encode(b"\xff" * 160).decode()
    media = parse_message(
        json.dumps(
            {
                "event": "media",
                "sequenceNumber": "2",
                "streamSid": STREAM,
                "media": {"track": "inbound", "chunk": "1", "timestamp": "52", "payload": payload},
            }
        )
    )
    assert media == Media(b"\xff" * 160, "inbound", 1, 52)
    assert parse_message(
        json.dumps(
            {"event": "dtmf", "streamSid": STREAM, "dtmf": {"track": "inbound_track", "digit": "5"}}
        )
    ) == Dtmf("5")
    assert parse_message(json.dumps({"event": "mark", "mark": {"name": "u1s0c1"}})) == Mark(
        "u1s0c1"
    )
    assert parse_message(
        json.dumps({"event": "stop", "stop": {"accountSid": "AC1", "callSid": "CA1"}})
    ) == Stop("CA1")


@pytest.mark.parametrize(
    ("message", "names"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "message"),
        ('{"event": "media", "media": {"payload": "%%%"}}', "media.payload"),
        ('{"event": "media"}', "media"),
        ('{"event": "dtmf", "dtmf": {"digit": "x"}}', "dtmf.digit"),
        ('{"event": "mark", "mark": {}}', "mark.name"),
        ('{"event": "start", "start": {"streamSid": "MZ1"}}', "start.callSid"),
        ('{"event": "banana"}', "event"),
    ],
)
def test_malformed_messages_name_the_bad_field(message: str, names: str) -> None:
    with pytest.raises(WireError, match=names.replace(".", r"\.")):
        parse_message(message)


def test_a_start_with_another_audio_format_is_refused() -> None:
    bad = json.loads(json.dumps(START))
    bad["start"]["mediaFormat"]["sampleRate"] = 16000
    with pytest.raises(WireError, match="mediaFormat"):
        parse_message(json.dumps(bad))


def test_binary_frames_are_not_part_of_the_protocol() -> None:
    with pytest.raises(WireError, match="binary"):
        parse_message(b"\x00\x01")


def test_outbound_messages_are_the_json_twilio_expects() -> None:
    audio = bytes(range(256)) * 4
    media = json.loads(media_message(STREAM, audio))
    assert media == {
        "event": "media",
        "streamSid": STREAM,
        "media": {"payload": base64.b64encode(audio).decode()},
    }
    assert json.loads(mark_message(STREAM, "u1s0c1")) == {
        "event": "mark",
        "streamSid": STREAM,
        "mark": {"name": "u1s0c1"},
    }
    assert json.loads(clear_message(STREAM)) == {"event": "clear", "streamSid": STREAM}


def test_compact_media_messages_take_the_fast_path_with_the_same_payload() -> None:
    audio = bytes(range(160))
    compact = json.dumps(
        {
            "event": "media",
            "sequenceNumber": "3",
            "streamSid": STREAM,
            "media": {"track": "inbound", "chunk": "2", "timestamp": "72", "payload": ""},
        },
        separators=(",", ":"),
    ).replace('"payload":""', f'"payload":"{base64.b64encode(audio).decode()}"')
    media = parse_message(compact)
    assert isinstance(media, Media) and media.payload == audio
    with pytest.raises(WireError, match=r"media\.payload"):
        parse_message(compact.replace(base64.b64encode(audio).decode()[:8], "!!!!!!!!"))
