"""The image and the compose file: ``compose.yaml`` is valid against the Compose
Specification's own JSON schema (as vendored by the check-jsonschema package, from the
compose-spec repository) and runs PostgreSQL, Redis, the server and the workflow worker as
``aybiza`` runs them; the Dockerfile builds in two stages and runs unprivileged with a health
check; checkov finds nothing to fail in the Dockerfile or the Terraform."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import typer
from check_jsonschema.builtin_schemas import (  # type: ignore[import-untyped]
    get_builtin_schema,
)
from tests.deploy.tools import CHECKOV, DEPLOY, ROOT, load_yaml, require

from aybiza.cli import app as cli

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
CHECKOV_INSTALL = (
    "make .venv/tools/checkov/bin/checkov (python3 -m venv .venv/tools/checkov && "
    ".venv/tools/checkov/bin/pip install checkov==3.3.30)"
)


def _compose_errors(document: Any) -> list[str]:
    schema = get_builtin_schema("vendor.compose-spec")
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_compose_file_is_valid_against_the_compose_specification_schema() -> None:
    document = load_yaml(COMPOSE)
    assert _compose_errors(document) == []
    # The schema does reject what the specification does not allow.
    broken = copy.deepcopy(document)
    broken["services"]["server"]["restart_policy"] = "always"
    broken["services"]["worker"]["depends_on"]["server"]["condition"] = "service_ready"
    errors = _compose_errors(broken)
    assert any("restart_policy" in error for error in errors), errors
    assert any("service_ready" in error for error in errors), errors


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_compose_runs_the_database_redis_the_server_and_the_worker() -> None:
    services = load_yaml(COMPOSE)["services"]
    assert set(services) == {"postgres", "redis", "server", "worker"}
    assert services["postgres"]["image"].startswith("timescale/timescaledb:")
    assert services["redis"]["image"].startswith("redis:")
    commands = set(typer.main.get_group(cli).commands)
    server, worker = services["server"], services["worker"]
    assert _command(server)[:2] == ["aybiza", "serve"] and "serve" in commands
    # The worker takes workflow jobs from Redis (arq), as `aybiza worker --runner arq` does.
    assert _command(worker) == ["aybiza", "worker", "--runner", "arq"] and "worker" in commands
    for service in (server, worker):
        environment = service["environment"]
        assert environment["AYBIZA_WORKFLOW_RUNNER"] == "arq"
        assert environment["AYBIZA_REDIS_URL"] == "redis://redis:6379/0"
        assert environment["AYBIZA_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/aybiza" in environment["AYBIZA_DATABASE_URL"]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert service["volumes"] == ["aybiza-data:/var/lib/aybiza"]
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert server["depends_on"]["redis"]["condition"] == "service_healthy"
    # The server migrates the database first; the worker has no HTTP port to check.
    assert worker["depends_on"]["server"]["condition"] == "service_healthy"
    assert worker["healthcheck"] == {"disable": True}
    assert "/readyz" in " ".join(server["healthcheck"]["test"])


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def test_the_image_builds_in_two_stages_and_runs_unprivileged_with_a_health_check() -> None:
    instructions = _instructions()
    stages = [argument for kind, argument in instructions if kind == "FROM"]
    assert len(stages) == 2 and stages[0].endswith(" AS build") and "slim" in stages[1]
    runtime = instructions[[kind for kind, _ in instructions].index("FROM", 1) :]
    kinds = [kind for kind, _ in runtime]
    # Only the built virtualenv crosses into the runtime stage.
    assert ("COPY", "--from=build /opt/aybiza /opt/aybiza") in runtime
    build = instructions[: -len(runtime)]
    copied = " ".join(arg for kind, arg in build if kind == "COPY")
    assert "pyproject.toml" in copied and "src ./src" in copied
    build_runs = " ".join(arg for kind, arg in build if kind == "RUN")
    assert "/opt/aybiza/bin/pip install ." in build_runs
    users = [argument for kind, argument in runtime if kind == "USER"]
    assert users == ["aybiza"]
    assert "useradd --system --uid 10001" in dict(runtime)["RUN"]
    assert kinds.index("USER") < kinds.index("CMD")
    healthcheck = dict(runtime)["HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert json.loads(dict(runtime)["CMD"]) == [
        "aybiza",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignored[0] == "*" and {"!pyproject.toml", "!README.md", "!src/"} <= set(ignored)


def _checkov(*arguments: str) -> list[dict[str, Any]]:
    checkov = require(CHECKOV, CHECKOV_INSTALL)
    done = subprocess.run(
        [checkov, "--quiet", "--compact", "--skip-download", "--output", "json", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    # checkov exits 1 when a check failed: the report says which.
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report = json.loads(done.stdout)
    reports: list[dict[str, Any]] = report if isinstance(report, list) else [report]
    return reports


def _high_or_unrated_failures(reports: list[dict[str, Any]]) -> list[str]:
    """Failed checks of HIGH or CRITICAL severity. Without a Prisma Cloud key checkov knows no
    severities: a failure of unknown severity counts, so in practice nothing may fail."""
    failures = []
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        for check in report["results"]["failed_checks"]:
            if check.get("severity") in (None, "HIGH", "CRITICAL"):
                failures.append(f"{check['check_id']} {check['resource']} ({check['file_path']})")
    return failures


@pytest.mark.parametrize(
    ("target", "framework"),
    [
        (["--directory", str(DEPLOY / "terraform")], "terraform"),
        (["--file", str(DOCKERFILE)], "dockerfile"),
    ],
    ids=["terraform", "dockerfile"],
)
def test_checkov_finds_no_high_severity_failure(target: list[str], framework: str) -> None:
    reports = _checkov(*target, "--framework", framework)
    assert [report["check_type"] for report in reports] == [framework]
    assert reports[0]["summary"]["passed"] > 50
    assert _high_or_unrated_failures(reports) == []


def test_checkov_skips_name_their_reasons() -> None:
    """Every check skipped in the Terraform says why, in the line that skips it."""
    for path in sorted(Path(DEPLOY / "terraform").rglob("*.tf")):
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                check, _, reason = line.split("checkov:skip=", 1)[1].partition(":")
                assert check.startswith("CKV") and len(reason.split()) >= 5, (path, line)
