"""Detection accuracy over the scripted callees of ``tests/data/answering_machines.json``
(``bench/machine_detection.py`` prints the same run as a table)."""

from __future__ import annotations

from tests.pipeline.callee_audio import cases
from tests.pipeline.detection_set import run_case


def test_the_scripted_set_is_classified_with_at_most_one_miss() -> None:
    outcomes = [run_case(case) for case in cases()]
    wrong = [(o.case.id, o.detection) for o in outcomes if not o.right]
    assert len(wrong) <= 1, wrong
    # A machine taken for a person would hear the agent talk to a recording: none may be.
    machines = [o for o in outcomes if o.case.label == "machine"]
    assert all(o.right for o in machines), [o.case.id for o in machines if not o.right]
    # Every machine in the set beeps but one: the message starts after the beep there.
    beeping = [o for o in machines if any("tone_hz" in step for step in o.case.script)]
    assert beeping and all(o.message_end == "beep" for o in beeping)
    silent = [o for o in machines if o not in beeping]
    assert [o.message_end for o in silent] == ["silence"]
