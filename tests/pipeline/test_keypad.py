import asyncio

from aybiza.analytics.recording import CallStats
from aybiza.pipeline.keypad import Keypad


class Inputs:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def submit(self, text: str) -> None:
        self.texts.append(text)


async def test_digits_are_submitted_after_a_pause() -> None:
    inputs = Inputs()
    keypad = Keypad(inputs.submit, interdigit_s=0.1)
    for digit in "123":
        await keypad.press(digit)
    assert inputs.texts == []
    await asyncio.sleep(0.3)
    assert inputs.texts == ["DTMF 123"]


async def test_hash_submits_at_once() -> None:
    inputs = Inputs()
    keypad = Keypad(inputs.submit, interdigit_s=10)
    await keypad.press("4")
    await keypad.press("2")
    await keypad.press("#")
    assert inputs.texts == ["DTMF 42"]


async def test_a_collecting_tool_gets_the_digits_until_its_terminator() -> None:
    inputs = Inputs()
    keypad = Keypad(inputs.submit, interdigit_s=0.05)
    collecting = asyncio.create_task(keypad.collect(max_digits=10, terminator="*", timeout_s=5))
    await asyncio.sleep(0)
    assert keypad.collecting
    for digit in "9876*":
        await keypad.press(digit)
    assert await collecting == "9876"
    await asyncio.sleep(0.1)
    assert inputs.texts == [], "collected digits are not caller turns"
    assert not keypad.collecting


async def test_collection_stops_at_the_maximum_or_the_timeout() -> None:
    keypad = Keypad(Inputs().submit, interdigit_s=1)
    collecting = asyncio.create_task(keypad.collect(max_digits=2, terminator="#", timeout_s=5))
    await asyncio.sleep(0)
    await keypad.press("1")
    await keypad.press("2")
    assert await collecting == "12"
    assert await keypad.collect(max_digits=4, terminator="#", timeout_s=0.05) == ""


async def test_a_pci_keypad_hands_the_conversation_only_a_star_per_key() -> None:
    inputs = Inputs()
    keypad = Keypad(inputs.submit, interdigit_s=10, masked=True)
    for digit in "4111111111111111#":
        await keypad.press(digit)
    assert inputs.texts == ["DTMF " + "*" * 16]


async def test_a_pci_keypad_hands_a_collecting_tool_only_a_star_per_key() -> None:
    inputs, stats = Inputs(), CallStats()
    keypad = Keypad(inputs.submit, interdigit_s=0.05, masked=True, stats=stats)
    collecting = asyncio.create_task(keypad.collect(max_digits=4, terminator="#", timeout_s=5))
    await asyncio.sleep(0)
    for digit in "1234":
        await keypad.press(digit)
    assert keypad.recorded(b"\x01\x02") == b"\xff\xff", "the tones are not recorded"
    assert await collecting == "****"
    assert inputs.texts == []
    assert keypad.recorded(b"\x01\x02") == b"\x01\x02", "recording resumes after"
    # Recording was paused while the digits were read, and the call record says when.
    [[paused, resumed]] = stats.recording_paused_s
    assert 0 <= paused <= resumed
    assert stats.as_dict()["recording_paused_s"] == [[paused, resumed]]


async def test_a_keypad_outside_pci_leaves_recording_alone() -> None:
    stats = CallStats()
    keypad = Keypad(Inputs().submit, interdigit_s=0.05, stats=stats)
    collecting = asyncio.create_task(keypad.collect(max_digits=2, terminator="#", timeout_s=5))
    await asyncio.sleep(0)
    await keypad.press("1")
    await keypad.press("2")
    assert keypad.recorded(b"\x01") == b"\x01"
    assert await collecting == "12"
    assert "recording_paused_s" not in stats.as_dict()
