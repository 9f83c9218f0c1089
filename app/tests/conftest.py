from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hearth_app.core.settings import (
    AuthSettings,
    CoreSettings,
    DatabaseSettings,
    NatsSettings,
    RateLimitSettings,
    RedisSettings,
    S3Settings,
    Settings,
)
from tests.containers import Services

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    svc = Services(prefix=f"hearth-apptest-{os.getpid()}")
    try:
        svc.start()
        yield svc
    finally:
        svc.stop()


def make_settings(svc: Services, **over: Any) -> Settings:
    parts: dict[str, Any] = {
        "core": CoreSettings(env="test", log_level="WARNING"),
        "db": DatabaseSettings(
            host="127.0.0.1",
            port=svc.ports["postgres"],
            password=SecretStr(svc.pg_password),
            pool_size=5,
        ),
        "redis": RedisSettings(
            host="127.0.0.1", port=svc.ports["redis"], password=SecretStr(svc.redis_password)
        ),
        "nats": NatsSettings(
            url=f"nats://127.0.0.1:{svc.ports['nats']}",
            user="hearth",
            password=SecretStr(svc.nats_password),
            max_deliver=3,
            ack_wait_seconds=5,
            retry_base_seconds=0.2,
        ),
        "s3": S3Settings(
            endpoint=f"http://127.0.0.1:{svc.ports['s3']}",
            access_key=SecretStr(svc.s3_user),
            secret_key=SecretStr(svc.s3_password),
            max_file_bytes=1024 * 1024,
        ),
        "auth": AuthSettings(
            key_encryption_secret=SecretStr("test-key-encryption-secret-0123456789abcdef"),
            cookie_secure=False,
            # Cheap hashing keeps the suite fast; production parameters are tested in unit tests.
            argon2_memory_kib=1024,
            argon2_time_cost=1,
        ),
        "ratelimit": RateLimitSettings(),
    }
    parts.update(over)
    return Settings(**parts)


@pytest.fixture(scope="session")
def migrated(services: Services) -> Settings:
    from hearth_app.cli import migrate

    settings = make_settings(services)
    migrate(settings)
    return settings


@dataclass
class Harness:
    app: Any
    client: httpx.AsyncClient
    settings: Settings

    @property
    def res(self) -> Any:
        return self.app.state.resources

    async def register(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.client.post("/api/v1/auth/register", json={"email": email, "password": password})
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    async def login(self, email: str, password: str = PASSWORD, ip: str | None = None) -> dict[str, Any]:
        headers = {"X-Forwarded-For": ip} if ip else {}
        r = await self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
        )
        assert r.status_code == 200, r.text
        # Tests send bearer tokens; the login cookie is tested on its own.
        self.client.cookies.clear()
        out: dict[str, Any] = r.json()
        return out

    async def user(self, email: str, role: str | None = None) -> tuple[str, dict[str, str]]:
        """Register, optionally grant a role, log in; returns (user id, auth headers)."""
        u = await self.register(email)
        if role:
            await self.grant(email, role)
        t = await self.login(email)
        return u["id"], {"Authorization": f"Bearer {t['access_token']}"}

    async def grant(self, email: str, role: str) -> None:
        from sqlalchemy import select

        from hearth_app.auth.models import User
        from hearth_app.rbac import service

        async with self.res.sessions() as s, s.begin():
            user = await s.scalar(select(User).where(User.email == email))
            r = await service.role_by_name(s, role)
            assert user is not None
            assert r is not None
            await service.grant_role(s, user.id, r)
        await self.res.cache.invalidate("perms", str(user.id))
        await self.res.cache.invalidate("user", str(user.id))


def set_cookies(r: httpx.Response) -> dict[str, dict[str, str]]:
    """The response's Set-Cookie headers: name -> {"value", and each attribute, lower-cased}."""
    out: dict[str, dict[str, str]] = {}
    for line in r.headers.get_list("set-cookie"):
        first, *attrs = (part.strip() for part in line.split(";"))
        name, _, value = first.partition("=")
        parsed = {"value": value}
        for attr in attrs:
            key, _, val = attr.partition("=")
            parsed[key.lower()] = val.lower()
        out[name] = parsed
    return out


async def admin_nats(services: Services) -> Any:
    """A NATS connection as the tests' unrestricted user (the app's own user may do only what
    the app needs)."""
    import nats

    return await nats.connect(
        f"nats://127.0.0.1:{services.ports['nats']}",
        user=services.nats_admin_user,
        password=services.nats_admin_password,
    )


def s3_client(
    services: Services,
    *,
    root: bool = False,
    access_key: str | None = None,
    secret_key: str | None = None,
    anonymous: bool = False,
    admin: bool = False,
) -> Any:
    """boto3 on the test S3 server, signing SigV4, path-style: as the app's own key (the
    default), as root, as any given key, or unsigned. `admin` targets the admin API port."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    if root:
        access_key, secret_key = services.s3_root_user, services.s3_root_password
    access_key = access_key or services.s3_user
    secret_key = secret_key or services.s3_password
    port = services.ports["s3-admin" if admin else "s3"]
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(
            signature_version=UNSIGNED if anonymous else "s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
        ),
    )


async def _clean(settings: Settings, services: Services) -> None:
    """Per-test cleanup: empty tables (catalogue and keys stay), Redis, streams, the bucket."""
    import redis.asyncio as aioredis
    from sqlalchemy import text

    from hearth_app.core.db import make_engine

    engine = make_engine(settings.db)
    async with engine.begin() as c:
        await c.execute(
            text(
                "TRUNCATE users, external_identities, refresh_tokens, audit_log, projects, outbox,"
                " project_members, files, user_roles RESTART IDENTITY CASCADE"
            )
        )
        await c.execute(text("DELETE FROM roles WHERE NOT builtin"))
    await engine.dispose()
    r = aioredis.Redis(
        host=settings.redis.host,
        port=settings.redis.port,
        password=settings.redis.password.get_secret_value(),
    )
    await r.flushdb()
    await r.aclose()
    nc = await admin_nats(services)
    js = nc.jetstream()
    for stream in (settings.nats.stream, settings.nats.dlq_stream):
        await js.purge_stream(stream)
    await nc.close()
    s3 = s3_client(services, root=True)
    bucket = settings.s3.bucket
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])


@contextlib.asynccontextmanager
async def start_harness(settings: Settings) -> AsyncIterator[Harness]:
    from hearth_app.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hearth.test") as client:
            yield Harness(app=app, client=client, settings=settings)


@pytest.fixture
async def h(migrated: Settings, services: Services) -> AsyncIterator[Harness]:
    await _clean(migrated, services)
    async with start_harness(migrated) as harness:
        yield harness
