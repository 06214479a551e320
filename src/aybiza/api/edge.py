"""The guards every request passes before the application sees it, outermost first: security
headers (so every answer carries them, the framework's 500s included), rate limits, body
caps. They wrap the whole middleware stack, outside the framework's error handling."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from aybiza.api.body_limits import BodyCaps, BodyLimit
from aybiza.api.headers import SecurityHeaders
from aybiza.api.rate_buckets import LocalBuckets, RateBuckets, RedisBuckets
from aybiza.api.rate_limit import RateLimit
from aybiza.config import Settings


def rate_buckets(settings: Settings) -> RateBuckets:
    """Counters in Redis when ``AYBIZA_REDIS_URL`` is set (shared by every worker), else in
    this process."""
    if settings.redis_url:
        return RedisBuckets(settings.redis_url, settings.rate_limit_prefix)
    return LocalBuckets()


def install_edge_guards(app: FastAPI, settings: Settings, buckets: RateBuckets) -> None:
    """Wrap ``app``'s middleware stack in the guards configured by ``settings``."""
    build_stack = app.build_middleware_stack
    caps = BodyCaps(
        api_bytes=settings.max_body_bytes,
        webhook_bytes=settings.max_webhook_body_bytes,
        json_depth=settings.max_json_depth,
    )
    public_https = (settings.public_url or "").lower().startswith("https://")

    def guarded_stack() -> ASGIApp:
        limited = RateLimit(
            BodyLimit(build_stack(), caps),
            buckets,
            key_per_min=settings.rate_limit_key_per_min,
            address_per_min=settings.rate_limit_address_per_min,
        )
        return SecurityHeaders(limited, public_https=public_https)

    app.build_middleware_stack = guarded_stack  # type: ignore[method-assign]
