"""API conventions: problems, request ids, health, readiness, metrics, OpenAPI, limits, cache."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator

from hearth_app.core.settings import RateLimitSettings
from tests.conftest import Harness, make_settings, start_harness
from tests.containers import Services


async def test_unknown_route_is_a_problem_document_with_request_id(h: Harness) -> None:
    r = await h.client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404
    assert body["request_id"] == r.headers["x-request-id"]


async def test_incoming_request_id_is_kept_when_sane_and_replaced_when_not(h: Harness) -> None:
    r = await h.client.get("/healthz", headers={"X-Request-ID": "edge-1234567890"})
    assert r.headers["x-request-id"] == "edge-1234567890"
    r = await h.client.get("/healthz", headers={"X-Request-ID": "bad id\r\nwith newline"})
    assert r.headers["x-request-id"] != "bad id"
    assert len(r.headers["x-request-id"]) == 32


async def test_malformed_json_is_a_validation_problem_not_a_stack_trace(h: Harness) -> None:
    r = await h.client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert "Traceback" not in r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_unhandled_error_is_a_500_problem_without_internals(h: Harness) -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    h.app.include_router(router)
    import httpx

    transport = httpx.ASGITransport(app=h.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "secret internal detail" not in r.text
    assert "Traceback" not in r.text
    assert r.json()["request_id"] == r.headers["x-request-id"]


async def test_values_the_database_refuses_are_a_422_not_a_500(h: Harness) -> None:
    _, auth = await h.user("nul@example.com")
    pid = (await h.client.post("/api/v1/projects", json={"name": "n"}, headers=auth)).json()["id"]
    r = await h.client.patch(f"/api/v1/projects/{pid}", json={"description": "a\u0000b"}, headers=auth)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


async def test_oversized_body_is_refused_before_parsing(h: Harness) -> None:
    r = await h.client.post(
        "/api/v1/auth/login",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["request_id"] == r.headers["x-request-id"]


async def test_healthz_and_readyz_check_every_dependency(h: Harness) -> None:
    assert (await h.client.get("/healthz")).json() == {"status": "ok"}
    r = await h.client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"postgres": "ok", "redis": "ok", "nats": "ok", "s3": "ok"}


async def test_readyz_reports_a_dead_dependency_with_503(services: Services, migrated: object) -> None:
    from hearth_app.core.settings import S3Settings

    base = make_settings(services)
    dead_s3 = S3Settings(
        endpoint="http://127.0.0.1:1", access_key=base.s3.access_key, secret_key=base.s3.secret_key
    )
    async with start_harness(make_settings(services, s3=dead_s3)) as hh:
        r = await hh.client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["s3"] == "fail"
        assert r.json()["checks"]["postgres"] == "ok"


async def test_metrics_expose_requests_latency_errors_auth_cache_and_queue(h: Harness) -> None:
    _, auth = await h.user("metrics@example.com")
    await h.client.get("/api/v1/me", headers=auth)
    await h.client.get("/api/v1/me", headers=auth)
    text = (await h.client.get("/metrics")).text
    for name in (
        "hearth_http_requests_total",
        "hearth_http_request_duration_seconds_bucket",
        "hearth_auth_events_total",
        'hearth_cache_requests_total{cache="user",result="hit"}',
        'hearth_cache_requests_total{cache="user",result="miss"}',
        'hearth_queue_depth{consumer="file-workers"}',
    ):
        assert name in text, name
    assert 'route="/api/v1/me"' in text


async def test_openapi_is_published_under_api_v1_with_problem_schema(h: Harness) -> None:
    doc = (await h.client.get("/openapi.json")).json()
    paths = [p for p in doc["paths"] if p not in ("/healthz", "/readyz", "/.well-known/jwks.json")]
    assert paths
    assert all(p.startswith("/api/v1/") for p in paths)
    assert "Problem" in doc["components"]["schemas"]


async def test_rate_limit_per_ip_sends_headers_then_429_with_retry_after(
    services: Services, migrated: object
) -> None:
    # One request back every 10 s: the burst is spent well within that, however busy the machine.
    settings = make_settings(services, ratelimit=RateLimitSettings(ip_per_minute=6, ip_burst=3))
    async with start_harness(settings) as hh:
        ip = {"X-Forwarded-For": "203.0.113.50"}
        seen = []
        for _ in range(3):
            r = await hh.client.get("/api/v1/auth/forward", headers=ip)
            seen.append(r.status_code)
            assert r.status_code == 401
        r = await hh.client.get("/api/v1/auth/forward", headers=ip)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 10
        assert r.headers["ratelimit-policy"] == '"ip";q=3;w=30'
        assert r.headers["ratelimit"].startswith('"ip";r=0;')
        # Another client is not affected.
        r = await hh.client.get("/api/v1/auth/forward", headers={"X-Forwarded-For": "203.0.113.51"})
        assert r.status_code == 401
        assert r.headers["ratelimit"].startswith('"ip";r=2;')


async def test_rate_limit_per_user_applies_across_addresses(services: Services, migrated: object) -> None:
    settings = make_settings(
        services,
        ratelimit=RateLimitSettings(ip_per_minute=6000, ip_burst=100, user_per_minute=6, user_burst=2),
    )
    async with start_harness(settings) as hh:
        _, auth = await hh.user("busy@example.com")
        codes = [
            (
                await hh.client.get("/api/v1/me", headers={**auth, "X-Forwarded-For": f"198.51.100.{i}"})
            ).status_code
            for i in range(3)
        ]
        assert codes == [200, 200, 429]


async def test_gcra_is_one_script_one_round_trip(h: Harness) -> None:
    from hearth_app.core.ratelimit import GCRA_LUA

    assert "redis.call('TIME')" in GCRA_LUA
    calls = []
    original = h.res.redis.execute_command

    async def counting(*args: object, **kw: object) -> object:
        calls.append(args[0])
        return await original(*args, **kw)

    h.res.redis.execute_command = counting
    try:
        await h.res.limiter.check(h.res.limiter.scopes("192.0.2.1", "user-1"))
    finally:
        h.res.redis.execute_command = original
    assert calls == ["EVALSHA"]


async def test_cache_aside_serves_hits_and_write_invalidates(h: Harness) -> None:
    _, auth = await h.user("cache@example.com")
    p = (await h.client.post("/api/v1/projects", json={"name": "one"}, headers=auth)).json()
    url = f"/api/v1/projects/{p['id']}"
    assert (await h.client.get(url, headers=auth)).json()["name"] == "one"
    assert await h.res.redis.exists(f"cache:project:{p['id']}") == 1
    assert (await h.client.get(url, headers=auth)).json()["name"] == "one"
    r = await h.client.patch(url, json={"name": "two"}, headers=auth)
    assert r.status_code == 200
    assert await h.res.redis.exists(f"cache:project:{p['id']}") == 0
    assert (await h.client.get(url, headers=auth)).json()["name"] == "two"


def test_migrate_command_is_safe_to_run_again(services: Services, migrated: object) -> None:
    import os
    import sys

    env = services.app_env()
    exe = os.path.join(os.path.dirname(sys.executable), "hearth-app")
    for _ in range(2):
        out = subprocess.run([exe, "migrate"], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
    assert '"msg": "migrated"' in out.stdout


async def test_a_chunked_body_past_the_limit_is_refused_before_it_is_all_read(h: Harness) -> None:
    """`Transfer-Encoding: chunked` declares no length: the limit counts what arrives."""
    from hearth_app.core.middleware import MAX_BODY_BYTES

    chunk, sent = b"x" * 65536, 0
    total_chunks = 8 * MAX_BODY_BYTES // len(chunk)

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(total_chunks):
            sent += 1
            yield chunk

    r = await h.client.post(
        "/api/v1/auth/login", content=body(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert sent * len(chunk) <= MAX_BODY_BYTES + len(chunk), f"read {sent} chunks of {total_chunks}"
