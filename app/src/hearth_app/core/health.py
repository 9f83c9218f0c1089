"""/healthz (the process), /readyz (its dependencies), /metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from hearth_app.core import metrics
from hearth_app.core.deps import Res

log = logging.getLogger("hearth.health")
router = APIRouter(tags=["ops"])


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ok", "fail"]
    checks: dict[str, Literal["ok", "fail"]]


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process answers. Says nothing about dependencies, so restarts don't cascade."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"description": "A dependency is down", "model": ReadyOut}},
)
async def readyz(res: Res) -> JSONResponse:
    """PostgreSQL, Redis, NATS and S3 answer, each within two seconds."""

    async def pg() -> None:
        async with res.engine.connect() as c:
            await c.execute(text("SELECT 1"))

    async def redis() -> None:
        await res.redis.ping()

    async def nats() -> None:
        if not res.bus.connected or res.bus.nc is None:
            raise RuntimeError("not connected")
        await res.bus.nc.flush(timeout=2)

    async def s3() -> None:
        await res.storage.ping()

    checks: dict[str, Callable[[], Awaitable[None]]] = {
        "postgres": pg,
        "redis": redis,
        "nats": nats,
        "s3": s3,
    }

    async def run(name: str, fn: Callable[[], Awaitable[None]]) -> tuple[str, Literal["ok", "fail"]]:
        try:
            await asyncio.wait_for(fn(), timeout=2)
            return name, "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("readiness check failed", extra={"check": name, "error": repr(exc)})
            return name, "fail"

    results = dict(await asyncio.gather(*(run(n, f) for n, f in checks.items())))
    ok = all(v == "ok" for v in results.values())
    body = ReadyOut(status="ok" if ok else "fail", checks=results)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        try:
            depth = await asyncio.wait_for(worker.queue_depth(), timeout=1)
            metrics.QUEUE_DEPTH.labels("file-workers").set(depth)
        except Exception:
            log.debug("queue depth unavailable", exc_info=True)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
