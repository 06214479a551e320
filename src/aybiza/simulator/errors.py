"""Why a simulated call could not go on, as exceptions whose message tells the user what to do."""

from __future__ import annotations

START_SERVER_HINT = "is the server running? start it with `make run`"
SIGNATURE_HINT = "check that --auth-token (or $TWILIO_AUTH_TOKEN) is the server's TWILIO_AUTH_TOKEN"


class SimulatorError(Exception):
    """A simulated call could not go on; ``str(error)`` says what happened and what to do."""


class ServerUnreachableError(SimulatorError):
    """No server answered at the URL (connection refused, unknown host, timeout)."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"cannot reach {url} ({cause}): {START_SERVER_HINT}")
        self.url = url


class WebhookError(SimulatorError):
    """The incoming-call webhook answered with an error status or something that is not TwiML."""

    def __init__(self, message: str, *, status_code: int | None = None, body: str = "") -> None:
        super().__init__(f"{message}; {SIGNATURE_HINT}" if status_code == 403 else message)
        self.status_code = status_code
        self.body = body


class NoStreamError(SimulatorError):
    """The TwiML has no ``<Connect><Stream>``: the server refused the call (unknown number...)."""

    def __init__(self, twiml: str, spoken: list[str]) -> None:
        said = " ".join(spoken) if spoken else "nothing"
        super().__init__(
            f"the server answered without a media stream (it said: {said!r}); "
            "is a published agent assigned to the number passed with --to?"
        )
        self.twiml = twiml
        self.spoken = spoken


class StreamRejectedError(SimulatorError):
    """The WebSocket handshake to the Stream URL failed (HTTP status other than 101, or none)."""

    def __init__(self, url: str, reason: str, *, status_code: int | None = None) -> None:
        hint = f"; {SIGNATURE_HINT}" if status_code == 403 else ""
        super().__init__(f"the media stream {url} was refused: {reason}{hint}")
        self.url = url
        self.status_code = status_code


class CallEndedError(SimulatorError):
    """The call is over (hung up, or the server closed the stream) so the action cannot happen."""
