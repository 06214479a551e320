"""A faithful fake of Twilio's Messages endpoint (``POST /2010-04-01/Accounts/{AC}/Messages.json``)
for the ``twilio`` library: HTTP Basic auth, form fields ``To``/``From``/``Body``, 201 JSON with
``sid`` (SM...) and ``status`` "queued"; Twilio's error JSON otherwise."""

from __future__ import annotations

import base64
import secrets
import socket
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FakeTwilio:
    """Accepts ``accounts`` (sid -> auth token); records created messages."""

    accounts: dict[str, str] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeTwilio:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _create(self, request: web.Request) -> web.Response:
        account = request.match_info["account"]
        if not self._authorized(request, account):
            return _error(401, 20003, "Authenticate")
        form = await request.post()
        to, from_, body = (str(form.get(name, "")) for name in ("To", "From", "Body"))
        if not to.startswith("+"):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        message = {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": account,
            "to": to,
            "from": from_,
            "body": body,
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "num_segments": "1",
            "uri": f"/2010-04-01/Accounts/{account}/Messages/SM.json",
        }
        self.messages.append(message)
        return web.json_response(message, status=201)

    def _authorized(self, request: web.Request, account: str) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == account and self.accounts.get(account) == password


def _error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)
