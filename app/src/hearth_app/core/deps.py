"""Dependencies shared by every domain, as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hearth_app.core.net import client_ip
from hearth_app.core.state import Resources


def resources_of(request: Request) -> Resources:
    res: Resources = request.app.state.resources
    return res


async def get_resources(request: Request) -> Resources:
    return resources_of(request)


Res = Annotated[Resources, Depends(get_resources)]
_CLIENT_IP = "hearth.client_ip"


async def get_db(res: Res) -> AsyncIterator[AsyncSession]:
    async with res.sessions() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db)]


async def get_client_ip(request: Request) -> str:
    """The client's address, worked out once per request (the auth dependency needs it too)."""
    ip: str | None = request.scope.get(_CLIENT_IP)
    if ip is None:
        ip = await client_ip(request, resources_of(request).settings.core.trusted_proxies)
        request.scope[_CLIENT_IP] = ip
    return ip


ClientIp = Annotated[str, Depends(get_client_ip)]


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Page = Annotated[PageParams, Depends(page_params)]
