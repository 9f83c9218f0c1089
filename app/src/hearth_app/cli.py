"""`hearth-app`: serve, migrate, worker, rotate-keys, grant-role, gc-storage, openapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from datetime import timedelta
from importlib.resources import files
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from hearth_app.core.logging import configure
from hearth_app.core.settings import (
    AuthSettings,
    CoreSettings,
    DatabaseSettings,
    NatsSettings,
    RateLimitSettings,
    RedisSettings,
    S3Settings,
    Settings,
    load_settings,
)

if TYPE_CHECKING:
    from hearth_app.auth.bootstrap import AdminRequest
    from hearth_app.core.state import Resources

log = logging.getLogger("hearth.cli")


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("hearth_app") / "migrations"))
    cfg.attributes["db_settings"] = settings.db
    return cfg


async def sync_catalogue(settings: Settings) -> None:
    """Upsert the permission catalogue and built-in roles from code (idempotent, and safe for
    several migrations at once), then drop the cached permissions the change may have made stale."""
    from hearth_app.main import build_resources
    from hearth_app.rbac import service
    from hearth_app.rbac.models import Permission, Role
    from hearth_app.rbac.permissions import BUILTIN_ROLES, PERMISSIONS

    res = build_resources(settings)
    try:
        async with res.sessions() as s, s.begin():
            for name, desc in PERMISSIONS.items():
                await s.execute(
                    insert(Permission)
                    .values(name=name, description=desc)
                    .on_conflict_do_update(index_elements=["name"], set_={"description": desc})
                )
            for name, (desc, perms) in BUILTIN_ROLES.items():
                await s.execute(
                    insert(Role)
                    .values(name=name, description=desc, builtin=True)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
                role = await service.role_by_name(s, name, lock=True)
                assert role is not None
                role.builtin = True
                role.description = desc
                await service.set_role_permissions(s, role.id, perms)
        await _flush_grants(res)
    finally:
        await _close(res)


async def _flush_grants(res: Resources) -> None:
    await res.cache.invalidate_all("perms")
    await res.cache.invalidate_all("user")


async def _close(res: Resources) -> None:
    await res.redis.aclose()
    await res.http.aclose()
    await res.engine.dispose()


async def _bootstrap(settings: Settings, admin: AdminRequest | None = None) -> None:
    from hearth_app.auth.bootstrap import ensure_admin
    from hearth_app.main import build_resources

    res = build_resources(settings)
    try:
        a = settings.auth
        await res.keys.load(
            res.sessions,
            rotation=timedelta(days=a.key_rotation_days),
            access_ttl=timedelta(seconds=a.access_ttl_seconds),
        )
        if admin is not None:
            await ensure_admin(res, admin)
        await res.storage.ensure_bucket()
        await res.bus.connect()
        await res.bus.ensure_streams()
    finally:
        await res.bus.close()
        await res.redis.aclose()
        await res.http.aclose()
        await res.engine.dispose()


def migrate(settings: Settings) -> None:
    """Schema, catalogue, first administrator, first signing key, bucket, streams. Safe to run again."""
    from hearth_app.auth.bootstrap import admin_request

    # Checked first: a bad setting stops the migration before it changes anything.
    admin = admin_request(settings)
    command.upgrade(alembic_config(settings), "head")
    asyncio.run(sync_catalogue(settings))
    asyncio.run(_bootstrap(settings, admin))
    log.info("migrated")


async def _rotate(settings: Settings) -> str:
    from hearth_app.main import build_resources

    res = build_resources(settings)
    try:
        return await res.keys.rotate(res.sessions, timedelta(seconds=settings.auth.access_ttl_seconds))
    finally:
        await _close(res)


async def _grant(settings: Settings, email: str, role_name: str) -> None:
    """Give a user a role; a running replica sees the new permissions at once."""
    from hearth_app.auth.models import User
    from hearth_app.main import build_resources
    from hearth_app.rbac import service
    from hearth_app.rbac.audit import audit

    res = build_resources(settings)
    try:
        async with res.sessions() as s, s.begin():
            user = await s.scalar(select(User).where(User.email == email.lower()))
            role = await service.role_by_name(s, role_name)
            if user is None or role is None:
                raise SystemExit(f"no user {email!r} or no role {role_name!r}")
            granted = await service.grant_role(s, user.id, role)
        await res.cache.invalidate("perms", str(user.id))
        await res.cache.invalidate("user", str(user.id))
        if granted:
            await audit(
                res.sessions,
                action="user.roles",
                outcome="ok",
                resource=f"user:{user.id}",
                detail={"added": [role_name], "via": "hearth-app grant-role"},
            )
    finally:
        await _close(res)


async def _worker(settings: Settings) -> None:
    from hearth_app.events.worker import FileWorker
    from hearth_app.main import build_resources

    res = build_resources(settings)
    await res.bus.connect()
    worker = FileWorker(res.bus, res.sessions, res.storage, settings.s3.max_file_bytes)
    await worker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started")
    await stop.wait()
    await worker.stop()
    await res.bus.close()
    await res.redis.aclose()
    await res.http.aclose()
    await res.engine.dispose()


async def _gc(settings: Settings) -> str:
    from hearth_app.files.gc import collect
    from hearth_app.main import build_resources

    res = build_resources(settings)
    try:
        r = await collect(res)
    finally:
        await _close(res)
    return (
        f"{r.aborted_uploads} multipart uploads aborted, {r.deleted_orphans} orphaned objects "
        f"deleted, {r.expired_pending} abandoned uploads removed"
    )


def openapi_document() -> str:
    """The OpenAPI document as the API serves it at /openapi.json, as stable text (sorted keys).

    The document does not depend on configuration, so defaults are used, unvalidated and
    without reading the environment: it works on a build machine with nothing configured.
    """
    from hearth_app.main import create_app

    settings = Settings.model_construct(
        core=CoreSettings.model_construct(),
        db=DatabaseSettings.model_construct(),
        redis=RedisSettings.model_construct(),
        nats=NatsSettings.model_construct(),
        s3=S3Settings.model_construct(),
        auth=AuthSettings.model_construct(),
        ratelimit=RateLimitSettings.model_construct(),
    )
    return json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "hearth_app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the app reads X-Forwarded-For itself, from trusted proxies only
        server_header=False,
        log_config=None,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hearth-app")
    sub = p.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve", help="run the API")
    sv.add_argument("--host", default=os.environ.get("HEARTH_HOST", "0.0.0.0"))  # noqa: S104 - container
    sv.add_argument("--port", type=int, default=int(os.environ.get("HEARTH_PORT", "8000")))
    sv.add_argument("--workers", type=int, default=int(os.environ.get("HEARTH_WORKERS", "1")))
    sub.add_parser("migrate", help="apply migrations and bootstrap (idempotent)")
    sub.add_parser("worker", help="run the file worker alone")
    sub.add_parser("rotate-keys", help="start signing with a new key")
    g = sub.add_parser("grant-role", help="give a user a role")
    g.add_argument("email")
    g.add_argument("role")
    sub.add_parser("gc-storage", help="clean S3 up once: expired multipart uploads, orphaned objects")
    sub.add_parser("openapi", help="print the OpenAPI document (JSON); needs no configuration")
    args = p.parse_args(argv)
    if args.cmd == "openapi":
        sys.stdout.write(openapi_document())
        return 0

    try:
        settings = load_settings()
    except ValueError as exc:
        # A bad or unreadable setting: say which, without a stack trace.
        sys.stderr.write(f"hearth-app: configuration error: {exc}\n")
        return 2
    configure(settings.core.log_level)
    if args.cmd == "serve":
        serve(settings, args.host, args.port, args.workers)
    elif args.cmd == "migrate":
        from hearth_app.auth.bootstrap import BootstrapError

        try:
            migrate(settings)
        except BootstrapError as exc:
            sys.stderr.write(f"hearth-app: configuration error: {exc}\n")
            return 2
    elif args.cmd == "worker":
        asyncio.run(_worker(settings))
    elif args.cmd == "rotate-keys":
        sys.stdout.write(asyncio.run(_rotate(settings)) + "\n")
    elif args.cmd == "grant-role":
        asyncio.run(_grant(settings, args.email, args.role))
    elif args.cmd == "gc-storage":
        sys.stdout.write(asyncio.run(_gc(settings)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
