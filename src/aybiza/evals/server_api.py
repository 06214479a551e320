"""What an eval run asks of the server's REST API: the agent to call and a number that reaches
the version under test, the call records, the stored suite, and recording a run.

A version that is not published is reached the way the platform reaches any one version: a
phone number pinned to it (``agent_version``). The run registers such a number for itself in
the 555-019x range (fictional numbers) and deletes it at the end.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.evals.local_server import ServerAccess

_EVAL_NUMBER_PREFIX = "+1555019"


class ServerApiError(Exception):
    """The server refused or failed a request; the message has its status and error."""


@dataclass(frozen=True, slots=True)
class CallTarget:
    """The number to ring, and the agent and version it reaches when known beforehand."""

    number: str
    agent_id: str | None
    version: str | None
    description: str


@dataclass
class ServerApi:
    """``async with ServerApi(access) as api``: numbers it registered are deleted on exit."""

    access: ServerAccess
    _client: httpx.AsyncClient | None = None
    _numbers: list[str] = field(default_factory=list)

    async def __aenter__(self) -> Self:
        headers = {"Authorization": f"Bearer {self.access.api_key}"}
        self._client = httpx.AsyncClient(
            base_url=self.access.base_url, headers=headers, timeout=30.0
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client = self._client
        if client is None:
            return
        for number_id in self._numbers:
            # Best effort: a number left behind only routes fictional 555 calls.
            try:
                await client.delete(f"/v1/phone-numbers/{number_id}")
            except httpx.HTTPError:
                continue
        await client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        assert self._client is not None, "use ServerApi in 'async with'"
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerApiError(f"{method} {path} failed: {exc or type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise ServerApiError(
                f"{method} {path} answered {response.status_code}: {_error(response)}"
            )
        body: dict[str, Any] = response.json() if response.content else {}
        return body

    def demo(self) -> CallTarget:
        """The seeded demo agent on its number (whatever version is published)."""
        return CallTarget(DEMO_PHONE_NUMBER, None, None, f"the demo agent on {DEMO_PHONE_NUMBER}")

    async def create_agent(self, config: dict[str, Any]) -> CallTarget:
        """Store ``config`` as a new agent and reach its first version."""
        agent = await self._request("POST", "/v1/agents", json=config)
        return await self.pinned(agent["id"], agent["version"], agent["name"])

    async def existing(self, agent_id: str, version: str | None) -> CallTarget:
        """Reach ``version`` (default: the latest) of a stored agent."""
        agent = await self._request("GET", f"/v1/agents/{agent_id}")
        wanted = version or str(agent["version"])
        if version is not None:
            await self._request("GET", f"/v1/agents/{agent_id}/versions/{version}")
        return await self.pinned(agent_id, wanted, agent["name"])

    async def pinned(self, agent_id: str, version: str, name: str) -> CallTarget:
        """Register a number pinned to ``version`` of the agent."""
        for _ in range(5):
            number = _EVAL_NUMBER_PREFIX + "".join(secrets.choice("0123456789") for _ in range(4))
            body = {"number": number, "type": "twilio", "agent_id": agent_id}
            try:
                created = await self._request(
                    "POST", "/v1/phone-numbers", json={**body, "agent_version": version}
                )
            except ServerApiError as exc:
                if " 409:" in str(exc):  # the number is taken: draw another
                    continue
                raise
            self._numbers.append(created["id"])
            return CallTarget(number, agent_id, version, f"{name} ({agent_id}) {version}")
        raise ServerApiError("no free eval number in +1555019xxxx after 5 tries")

    async def stored_suite(self, agent_id: str) -> dict[str, Any]:
        """The agent's stored eval suite document."""
        body = await self._request("GET", f"/v1/agents/{agent_id}/eval-suite")
        suite: dict[str, Any] = body["suite"]
        return suite

    async def record_run(self, agent_id: str, version: str, run: dict[str, Any]) -> dict[str, Any]:
        """Record a finished run against ``version``; the server's stored run."""
        path = f"/v1/agents/{agent_id}/versions/{version}/eval-runs"
        return await self._request("POST", path, json=run)


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return response.text[:300]
    problems = body.get("errors") or []
    listed = "; ".join(f"{p.get('field')}: {p.get('message')}" for p in problems[:10])
    return f"{error.get('message')}" + (f" ({listed})" if listed and len(problems) > 1 else "")
