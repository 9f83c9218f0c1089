"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from fastapi import APIRouter, Depends, FastAPI
from redis.asyncio import Redis

from hearth_app import __version__
from hearth_app.auth.backoff import LoginBackoff
from hearth_app.auth.deps import rate_limit
from hearth_app.auth.keys import KeyRing
from hearth_app.auth.oidc import OidcClient
from hearth_app.auth.passwords import Passwords
from hearth_app.auth.revocation import Revocations
from hearth_app.auth.router import me_router, wellknown
from hearth_app.auth.router import router as auth_router
from hearth_app.core import problems
from hearth_app.core.cache import Cache
from hearth_app.core.db import make_engine, make_sessionmaker
from hearth_app.core.health import router as health_router
from hearth_app.core.middleware import RequestContextMiddleware
from hearth_app.core.ratelimit import RateLimiter
from hearth_app.core.redisline import RedisLine
from hearth_app.core.schemas import ProblemModel
from hearth_app.core.settings import Settings, load_settings
from hearth_app.core.state import Resources
from hearth_app.core.tasks import cancel_and_wait
from hearth_app.events.bus import EventBus
from hearth_app.events.outbox import Relay
from hearth_app.events.worker import FileWorker
from hearth_app.files import gc
from hearth_app.files.router import router as files_router
from hearth_app.files.storage import Storage
from hearth_app.projects.router import router as projects_router
from hearth_app.rbac.router import router as admin_router

log = logging.getLogger("hearth.app")
KEY_REFRESH_SECONDS = 30


def build_resources(settings: Settings) -> Resources:
    engine = make_engine(settings.db)
    r = settings.redis
    redis = Redis(
        host=r.host,
        port=r.port,
        db=r.db,
        password=r.password.get_secret_value() or None,
        socket_timeout=2,
        socket_connect_timeout=2,
        decode_responses=True,
    )
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
    return Resources(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        redis=redis,
        line=RedisLine(r),
        keys=KeyRing.from_secret(settings.auth.key_encryption_secret.get_secret_value() or "dev"),
        passwords=Passwords(settings.auth),
        cache=Cache(redis, r.cache_ttl_seconds),
        limiter=RateLimiter(redis, settings.ratelimit),
        bus=EventBus(settings.nats),
        storage=Storage(settings.s3),
        revocations=Revocations(redis, settings.auth.access_ttl_seconds),
        backoff=LoginBackoff(redis, settings.auth),
        oidc=OidcClient(settings.auth, redis, http),
        http=http,
    )


async def _refresh_keys(res: Resources) -> None:
    """Pick up keys rotated by another replica, and rotate when the current key is old."""
    a = res.settings.auth
    while True:
        await asyncio.sleep(KEY_REFRESH_SECONDS)
        try:
            await res.keys.load(
                res.sessions,
                rotation=timedelta(days=a.key_rotation_days),
                access_ttl=timedelta(seconds=a.access_ttl_seconds),
            )
        except Exception:
            log.exception("key refresh failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        res = build_resources(settings)
        app.state.resources = res
        a = settings.auth
        await res.keys.load(
            res.sessions,
            rotation=timedelta(days=a.key_rotation_days),
            access_ttl=timedelta(seconds=a.access_ttl_seconds),
        )
        await res.limiter.load()
        await res.bus.connect()
        relay = Relay(res.bus, res.sessions, settings.db)
        await relay.start()
        app.state.relay = relay
        worker = None
        if settings.nats.run_worker:
            worker = FileWorker(res.bus, res.sessions, res.storage, settings.s3.max_file_bytes)
            await worker.start()
        app.state.worker = worker
        refresher = asyncio.create_task(_refresh_keys(res))
        cleaner = asyncio.create_task(gc.run_periodically(res))
        try:
            yield
        finally:
            await cancel_and_wait(cleaner)
            await cancel_and_wait(refresher)
            if worker is not None:
                await worker.stop()
            await relay.stop()
            await res.bus.close()
            await res.line.close()
            await res.redis.aclose()
            await res.http.aclose()
            await res.engine.dispose()

    app = FastAPI(
        title="Hearth API",
        version=__version__,
        description="Hearth's API and auth service. Errors are RFC 9457 problem documents.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    problems.install(app)
    app.add_middleware(RequestContextMiddleware, routes_of=app)

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(rate_limit)])
    api.include_router(auth_router)
    api.include_router(me_router)
    api.include_router(admin_router)
    api.include_router(projects_router)
    api.include_router(files_router)
    app.include_router(api)
    app.include_router(wellknown)
    app.include_router(health_router)

    # The Problem schema the error responses refer to.
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        comps["Problem"] = ProblemModel.model_json_schema()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
