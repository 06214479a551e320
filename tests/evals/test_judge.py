"""The LLM judge (``judge: llm``) asks the eval model, through the providers layer, whether a
line means what a scenario expects (a faithful fake of Anthropic's Messages API answers)."""

from __future__ import annotations

from tests.fakes.anthropic import DEFAULT_API_KEY, FakeAnthropic
from tests.fakes.llm_server import Reply

from aybiza.config import Settings
from aybiza.evals.judge import LlmJudge
from aybiza.evals.model import EvalModel

LINES = ["Hello, ACME here.", "We are open on weekdays from nine to five."]


async def judged(reply: str) -> tuple[bool, str, FakeAnthropic]:
    async with FakeAnthropic(default=Reply(text=reply)) as fake:
        settings = Settings(anthropic_api_key=DEFAULT_API_KEY, anthropic_base_url=fake.url)
        model = EvalModel(settings, "claude-3-5-haiku")
        try:
            assert model.available and model.engine_name == "anthropic"
            passed, detail = await LlmJudge(model).said("open Monday to Friday", LINES, 0.6)
        finally:
            await model.aclose()
    return passed, detail, fake


async def test_the_judge_passes_a_paraphrase_and_names_the_line_it_chose() -> None:
    passed, detail, fake = await judged('{"pass": true, "line": 2, "reason": "weekdays"}')
    assert passed
    assert detail == (
        "judge (anthropic): weekdays; line 'We are open on weekdays from nine to five.'"
    )
    [request] = fake.requests
    prompt = str(request.body["messages"])
    assert "open Monday to Friday" in prompt and "2. We are open on weekdays" in prompt


async def test_an_answer_without_a_verdict_fails_the_check() -> None:
    passed, detail, _ = await judged("I think so, probably.")
    assert not passed and detail == "the judge (anthropic) gave no verdict"
