"""Bearer-key authentication and scope checks, as FastAPI dependencies.

``Depends(require(Scope.AGENTS_WRITE))`` gives the handler the caller's ``Principal``: 401 when
the key is missing, unknown or revoked; 403 naming the scope when the key lacks it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aybiza.api.errors import ApiError
from aybiza.security.keys import Scope, grants
from aybiza.services.tenants import Principal, TenantService

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer ayb_...`",
)


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer key (any valid key)."""
    if credentials is None:
        raise ApiError(
            401, "unauthorized", "send the API key as Authorization: Bearer <key>", "Authorization"
        )
    tenants: TenantService = request.app.state.tenants
    principal = await tenants.authenticate(credentials.credentials)
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", "Authorization")
    return principal


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency that needs a valid key holding ``scope``."""

    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not grants(principal.scopes, scope):
            raise ApiError(
                403,
                "missing_scope",
                f"this API key lacks the scope {scope.value!r}",
                "Authorization",
                required_scope=scope.value,
            )
        return principal

    return check
