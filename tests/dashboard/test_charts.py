"""The server's SVG charts and the waveform of a two-channel recording."""

from __future__ import annotations

import io
import wave
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from aybiza.dashboard.charts import bars, waterfall, waveform
from aybiza.dashboard.config_errors import field_line
from aybiza.dashboard.waveform import peaks

SVG = "{http://www.w3.org/2000/svg}"


def _stereo_wav(left: np.ndarray, right: np.ndarray, rate: int = 8000) -> bytes:
    frames = np.stack([left, right], axis=1).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return out.getvalue()


def test_the_waveform_follows_each_channel() -> None:
    # One second: the caller speaks (a 440 Hz tone at half scale) in the first half, the agent
    # (at full scale) in the second.
    t = np.arange(8000) / 8000
    tone = np.sin(2 * np.pi * 440 * t)
    caller = np.where(t < 0.5, tone * 16384, 0)
    agent = np.where(t >= 0.5, tone * 32767, 0)
    columns = peaks(_stereo_wav(caller, agent), columns=10)
    assert len(columns) == 10
    assert all(left == pytest.approx(0.5, abs=0.01) and right == 0 for left, right in columns[:5])
    assert all(left == 0 and right == pytest.approx(1.0, abs=0.01) for left, right in columns[5:])
    drawn = ET.fromstring(str(waveform(columns, title="Recording")))
    assert drawn.get("role") == "img" and drawn.get("aria-label") == "Recording"
    assert len(drawn.findall(f"{SVG}path")) == 2


def test_a_file_that_is_not_a_wav_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PCM WAV"):
        peaks(b"RIFF....not a wave file")


def test_bars_are_scaled_to_the_largest_and_titled() -> None:
    drawn = ET.fromstring(
        str(bars([("2026-01-05T10:00:00Z", 2.0), ("2026-01-05T11:00:00Z", 4.0)], title="Calls"))
    )
    heights = [float(rect.get("height", "0")) for rect in drawn.iter(f"{SVG}rect")]
    assert heights[1] == pytest.approx(2 * heights[0])
    labels = [text.text for text in drawn.iter(f"{SVG}text")]
    assert "10:00" in labels and "11:00" in labels


def test_a_waterfall_draws_each_recorded_stage() -> None:
    timings = {"stt_final": 100.0, "llm_request": 101.0, "llm_first_token": 300.0}
    drawn = ET.fromstring(str(waterfall({**timings, "platform_added": 3.0})))
    titles = [t.text for t in drawn.iter(f"{SVG}title")]
    assert titles[0] == "Turn waterfall (platform added 3 ms)"
    assert "STT final: 0–100 ms" in titles and "model first token: 101–300 ms" in titles
    assert "No timings" in str(waterfall({}))


def test_a_field_is_found_on_its_line() -> None:
    text = '{\n  "name": "x",\n  "flow": {\n    "nodes": {\n      "name": 1\n    }\n  }\n}'
    assert field_line(text, "name") == 2
    assert field_line(text, "flow.nodes.name") == 5
    assert field_line(text, "voice.speed") is None
