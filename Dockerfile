# syntax=docker/dockerfile:1
# AYBIZA server and workflow worker. Two stages: the first installs the package from
# pyproject.toml into a virtualenv (with a compiler at hand for any dependency without a wheel
# for the platform), the second copies only that virtualenv onto a slim Python and runs it as
# an unprivileged user. `docker build -t aybiza:0.1.0 .`; see docs/deployment.md.
FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/aybiza
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/aybiza/bin/pip install . \
 && /opt/aybiza/bin/python -m compileall -q /opt/aybiza/lib
# The end-of-turn model's weights, out of the pinned pipecat-ai wheel (checksum verified).
RUN /opt/aybiza/bin/python -m aybiza.providers.turn.weights \
      --dest /opt/aybiza/share/aybiza/smart-turn-v3.2-cpu.onnx

FROM python:3.11.7-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="AYBIZA" \
      org.opencontainers.image.description="Open-source platform for AI phone agents" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 aybiza \
 && useradd --system --uid 10001 --gid aybiza --home-dir /var/lib/aybiza --create-home \
      --shell /usr/sbin/nologin aybiza
COPY --from=build /opt/aybiza /opt/aybiza
# The data directory holds SQLite (when no AYBIZA_DATABASE_URL is given), secret.key and
# demo.key; a volume in compose.yaml, a task volume on ECS.
ENV PATH=/opt/aybiza/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AYBIZA_DATA_DIR=/var/lib/aybiza \
    AYBIZA_TURN_MODEL=/opt/aybiza/share/aybiza/smart-turn-v3.2-cpu.onnx
WORKDIR /var/lib/aybiza
USER aybiza
# HTTP and WebSocket (API, carrier webhooks, media streams, /metrics).
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=40s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
# SIGTERM starts the graceful drain (AYBIZA_DRAIN_S); give the container at least that long.
STOPSIGNAL SIGTERM
CMD ["aybiza", "serve", "--host", "0.0.0.0", "--port", "8080"]
