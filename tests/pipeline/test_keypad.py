import asyncio

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
