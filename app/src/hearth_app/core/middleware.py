"""Request ids, access logs and HTTP metrics as one pure ASGI middleware."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hearth_app.core import metrics
from hearth_app.core.context import request_id_var

log = logging.getLogger("hearth.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
MAX_BODY_BYTES = 1024 * 1024
"""Uploads go straight to S3; nothing the API accepts is anywhere near this big."""


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body grows past the limit, whatever its framing: an
    HTTPException, so FastAPI's body parsing passes it on and it is answered as a problem."""

    def __init__(self) -> None:
        super().__init__(413, f"request body is larger than {MAX_BODY_BYTES} bytes")


def _limited(receive: Receive) -> Receive:
    """Count the body as it arrives: `Transfer-Encoding: chunked` declares no length."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise BodyTooLarge
        return message

    return receive_limited


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, routes_of: Any = None) -> None:
        self.app = app
        # The FastAPI app whose routes give full path templates (routers keep short ones).
        self._routes_of = routes_of
        self._labels: list[tuple[re.Pattern[str], str, str]] | None = None
        self._seen: dict[tuple[str, str], str] = {}

    def _label(self, route: Any, method: str, path: str) -> str:
        if route is None:
            return "unmatched"
        if self._labels is None:
            # Full templates from the OpenAPI document (nested routers keep only their own part).
            doc = self._routes_of.openapi() if self._routes_of is not None else {"paths": {}}
            pats = [
                (
                    re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$"),
                    t,
                    m.upper(),
                )
                for t, ops in doc.get("paths", {}).items()
                for m in ops
            ]
            # Literal paths before templated ones, so /a/b wins over /a/{x}.
            pats.sort(key=lambda x: x[1].count("{"))
            self._labels = pats
        key = (method, path)
        hit = self._seen.get(key)
        if hit is not None:
            return hit
        label = getattr(route, "path", None) or "unmatched"
        for rx, template, m in self._labels:
            if m == method and rx.match(path):
                label = template
                break
        if len(self._seen) > 4096:
            # Paths carry ids, so the memo is bounded: start over rather than grow.
            self._seen.clear()
        self._seen[key] = label
        return label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for k, v in scope.get("headers", []):
            if k == b"x-request-id":
                incoming = v.decode("latin-1")
                break
        # Accept the edge's id when it looks sane; otherwise make our own.
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        status = 500
        started = False
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if _declared_length(scope) > MAX_BODY_BYTES:
                await _problem(
                    scope, send_wrapper, rid, 413, "Content Too Large", "request body is too large"
                )
                return
            await self.app(scope, _limited(receive), send_wrapper)
        except BodyTooLarge:
            # Read outside FastAPI's handlers (nothing catches it there): still a 413.
            if not started:
                await _problem(
                    scope, send_wrapper, rid, 413, "Content Too Large", "request body is too large"
                )
        except Exception:
            # Answer here, inside the request context, so the 500 carries the request id.
            log.exception("unhandled error")
            if not started:
                await _problem(
                    scope,
                    send_wrapper,
                    rid,
                    500,
                    "Internal Server Error",
                    "an internal error occurred; quote the request id",
                )
        finally:
            elapsed = time.perf_counter() - start
            # Label by route template, never by raw path: bounded cardinality.
            path = self._label(scope.get("route"), scope["method"], scope["path"])
            method = scope["method"]
            metrics.REQUESTS.labels(method, path, str(status)).inc()
            metrics.LATENCY.labels(method, path).observe(elapsed)
            if status >= 500:
                metrics.ERRORS.labels(path).inc()
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


def _declared_length(scope: Scope) -> int:
    for k, v in scope.get("headers", []):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return 0
    return 0


async def _problem(scope: Scope, send: Send, rid: str, status: int, title: str, detail: str) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
            "request_id": rid,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
