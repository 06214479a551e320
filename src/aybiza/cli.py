"""The ``aybiza`` command: run the server, place a simulated call."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.config import Settings
from aybiza.logging import configure_logging
from aybiza.security.admin_key import KEY_FILE, load_or_create_admin_key
from aybiza.simulator.command import call

app = typer.Typer(help="AYBIZA: AI phone agents.", no_args_is_help=True, add_completion=False)
app.command("call")(call)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Processes sharing the port.")] = 1,
) -> None:
    """Run the platform: Twilio webhook and media streams, REST API, metrics."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    load_or_create_admin_key(settings.api_key, settings.data_dir)
    key_source = "AYBIZA_API_KEY" if settings.api_key else str(settings.data_dir / KEY_FILE)
    Console(stderr=True).print(
        Panel.fit(
            f"[bold]AYBIZA[/] on http://{host}:{port}\n"
            f"database   {settings.database_url}\n"
            f"demo agent {DEMO_PHONE_NUMBER} (ACME support flow)\n"
            f"API key    in {key_source}\n"
            f'try it     .venv/bin/aybiza call --say "I would like to book an appointment" '
            f'--say "tomorrow morning"',
            title="ready",
        )
    )
    uvicorn.run(
        "aybiza.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        ws="websockets",
        loop="uvloop",
        http="httptools",
    )


def main() -> None:
    app()
