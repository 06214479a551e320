"""``TenantRoutes``: the routes every tenant-owned resource has, written once.

A resource module (agents, numbers, webhooks, tools, workflows) registers its list, get and
delete routes here and writes out by hand only the routes that are its own (create, update...).
Each handler calls the resource's service for the caller's tenant, so another tenant's object
answers 404 exactly like a missing one (the services keep their rows in a ``TenantRepository``).
The name and text given for a route become its OpenAPI operation id, summary and description,
as a hand-written handler's name and docstring would.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations when
# they are registered, and their defaults name the dependencies of the resource being built.

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel

from aybiza.api.auth import require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.security.permissions import Permission
from aybiza.services.tenants import Principal
from aybiza.store.paging import Page

# How a route shows a row (or what the service returned for it) in its response.
Show = Callable[[Request, Any], BaseModel]
# A page of an object's children: (request, tenant id, the object's id, cursor, limit).
Children = Callable[[Request, str, str, str | None, int], Awaitable[ListOf[Any]]]


def by_row(show: Callable[[Any], BaseModel]) -> Show:
    """``show`` for objects shown without looking at the request."""
    return lambda _request, row: show(row)


class TenantResources(Protocol):
    """The service methods these routes call, each scoped to one tenant."""

    def list(self, tenant_id: str, /, *, cursor: str | None, limit: int) -> Awaitable[Page[Any]]:
        """The tenant's rows, newest first."""

    def get(self, tenant_id: str, ref: str, /) -> Awaitable[Any]:
        """One of the tenant's rows; NotFound otherwise."""

    def delete(self, tenant_id: str, ref: str, /) -> Awaitable[None]:
        """Remove one of the tenant's rows; NotFound otherwise."""


class TenantRoutes:
    """Registers a resource's common routes on its ``router``: the collection at ``""``, one
    object at ``/{path_id}``. Reading needs ``read``, deleting ``write``."""

    def __init__(
        self,
        router: APIRouter,
        path_id: str,
        service: Callable[[Request], TenantResources],
        *,
        read: Permission,
        write: Permission,
    ) -> None:
        self._router = router
        self._path_id = path_id
        self._service = service
        self._reader = Depends(require(read))
        self._writer = Depends(require(write))

    def list(self, name: str, model: type[BaseModel], show: Show, doc: str) -> None:
        """``GET ""``: the tenant's objects, newest first, a page at a time."""
        service, reader = self._service, self._reader

        async def handler(
            request: Request,
            principal: Principal = reader,
            cursor: Cursor = None,
            limit: Limit = DEFAULT_PAGE,
        ) -> Any:
            page = await service(request).list(principal.tenant_id, cursor=cursor, limit=limit)
            return listed(page, partial(show, request))

        self._router.add_api_route(
            "",
            handler,
            methods=["GET"],
            response_model=ListOf[model],  # type: ignore[valid-type]
            responses=error_responses(400, 401, 403),
            name=name,
            description=doc,
        )

    def get(self, name: str, model: type[BaseModel], show: Show, doc: str) -> None:
        """``GET /{id}``: one of the tenant's objects."""
        service, reader = self._service, self._reader

        async def handler(
            request: Request, ref: str = self._ref(), principal: Principal = reader
        ) -> Any:
            return show(request, await service(request).get(principal.tenant_id, ref))

        self._router.add_api_route(
            self._item,
            handler,
            methods=["GET"],
            response_model=model,
            responses=error_responses(401, 403, 404),
            name=name,
            description=doc,
        )

    def delete(self, name: str, doc: str, *, errors: tuple[int, ...] = ()) -> None:
        """``DELETE /{id}``: remove one of the tenant's objects, 204 with no body; ``errors``
        are the statuses it may answer besides 401, 403 and 404."""
        service, writer = self._service, self._writer

        async def handler(
            request: Request, ref: str = self._ref(), principal: Principal = writer
        ) -> Response:
            await service(request).delete(principal.tenant_id, ref)
            return Response(status_code=204)

        self._router.add_api_route(
            self._item,
            handler,
            methods=["DELETE"],
            status_code=204,
            response_class=Response,
            responses=error_responses(401, 403, 404, *errors),
            name=name,
            description=doc,
        )

    def children(
        self, name: str, path: str, model: type[BaseModel], pages: Children, doc: str
    ) -> None:
        """``GET /{id}<path>``: a page of what belongs to one of the tenant's objects (its
        versions, runs, deliveries), newest first, from ``pages``."""
        reader = self._reader

        async def handler(
            request: Request,
            ref: str = self._ref(),
            principal: Principal = reader,
            cursor: Cursor = None,
            limit: Limit = DEFAULT_PAGE,
        ) -> Any:
            return await pages(request, principal.tenant_id, ref, cursor, limit)

        self._router.add_api_route(
            self._item + path,
            handler,
            methods=["GET"],
            response_model=ListOf[model],  # type: ignore[valid-type]
            responses=error_responses(400, 401, 403, 404),
            name=name,
            description=doc,
        )

    @property
    def _item(self) -> str:
        return "/{" + self._path_id + "}"

    def _ref(self) -> Any:
        return Path(alias=self._path_id)
