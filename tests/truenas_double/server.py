"""The JSON-RPC 2.0 WebSocket endpoint of the double (`/api/current`).

Protocol behaviour follows the middleware's RPC handler: request validation, error codes
(-32601 "Method does not exist", -32602 "Invalid params" for validation errors, -32001
"Method call error" for failed calls), job methods answering with a job id while progress goes
out as `collection_update` notifications on `core.get_jobs`, `core.bulk`, `core.job_wait`,
authentication with API keys, and the rate limit on unauthenticated calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http
import inspect
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from . import errors as E
from .model import Job, TrueNASState

API_PATH = "/api/current"
STATE_PATH = "/_double/state"
# The key the double accepts unless told otherwise: TrueNAS keys are "<id>-<64 characters>".
DEFAULT_API_KEY = "1-" + "hearthtestdouble" * 4
DEFAULT_USERNAME = "root"
FINAL_JOB_STATES = ("SUCCESS", "FAILED", "ABORTED")


@dataclass
class DoubleConfig:
    """Knobs of the double. The defaults are the documented TrueNAS values."""

    api_keys: dict[str, str] = field(default_factory=lambda: {DEFAULT_API_KEY: DEFAULT_USERNAME})
    passwords: dict[str, str] = field(default_factory=dict)
    pools: list[str] = field(default_factory=lambda: ["tank"])
    # Servers before 25.04 have no auth.login_ex: API keys go through auth.login_with_api_key.
    legacy_auth: bool = False
    version: str = "TrueNAS-25.10.1"
    # Unauthenticated calls to methods that need no authentication, per method and client IP.
    rate_limit_calls: int = 20
    rate_limit_period: float = 60.0
    # How long a client that went over the limit stays refused; 0 means until the window ends.
    rate_limit_lockout: float = 600.0
    # The middleware sleeps a random 1-10 s before answering a rate-limited call.
    rate_limit_sleep: tuple[float, float] = (1.0, 10.0)
    # How long a job stays RUNNING before it finishes.
    job_delay: float = 0.01
    state_file: str | None = None


class RateLimiter:
    """Counts calls per (method, client IP) in a fixed window, then refuses for a lockout."""

    def __init__(self, config: DoubleConfig) -> None:
        self.config = config
        self.entries: dict[tuple[str, str], dict[str, float]] = {}

    def exceeded(self, method: str, ip: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        entry = self.entries.setdefault(
            (method, ip), {"count": 0, "window_start": now, "locked_until": 0.0}
        )
        if entry["locked_until"] > now:
            return True
        if entry["locked_until"] or now - entry["window_start"] >= self.config.rate_limit_period:
            # A lockout that has run out, or a window that has, starts a fresh window.
            entry.update(count=0, window_start=now, locked_until=0.0)
        entry["count"] += 1
        if entry["count"] > self.config.rate_limit_calls:
            lockout = self.config.rate_limit_lockout
            window_end = entry["window_start"] + self.config.rate_limit_period
            entry["locked_until"] = now + lockout if lockout > 0 else window_end
            return True
        return False

    def reset(self) -> None:
        self.entries.clear()

    def describe(self) -> list[dict[str, Any]]:
        """The counters, with ages in seconds (for tests that must know the window)."""
        now = time.monotonic()
        return [
            {
                "method": method,
                "ip": ip,
                "count": int(e["count"]),
                "window_age": now - e["window_start"],
                "locked_for": max(0.0, e["locked_until"] - now),
            }
            for (method, ip), e in sorted(self.entries.items())
        ]


@dataclass(eq=False)
class Session:
    ws: ServerConnection
    ip: str
    authenticated: bool = False
    username: str | None = None
    number: int = 0
    subscriptions: dict[str, str] = field(default_factory=dict)

    def wants(self, collection: str) -> bool:
        return any(name in (collection, "*") for name in self.subscriptions.values())


@dataclass
class Method:
    func: Callable[..., Any]
    job: bool = False
    no_auth: bool = False
    # Argument checks made before a job is created (errors come back at once, not as a job).
    pre: Callable[..., Any] | None = None
    # Informative only: the state file is written after every call anyway.
    mutates: bool = False


class Middleware:
    """Method table, sessions, jobs and events; one instance per running double."""

    def __init__(self, config: DoubleConfig, state: TrueNASState | None = None) -> None:
        self.config = config
        self.state = state or TrueNASState(config.pools)
        self.limiter = RateLimiter(config)
        self.sessions: set[Session] = set()
        self.job_events: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sessions_seen = 0
        self.methods = self._method_table()

    # -- the API ---------------------------------------------------------------------------
    def _method_table(self) -> dict[str, Method]:
        s = self.state
        table = {
            "core.ping": Method(lambda _sess: "pong", no_auth=True),
            "core.get_jobs": Method(self._get_jobs),
            "core.subscribe": Method(self._subscribe),
            "core.unsubscribe": Method(self._unsubscribe),
            "core.bulk": Method(self._bulk, job=True, pre=self._bulk_pre),
            "core.job_wait": Method(self._job_wait, job=True),
            "auth.mechanism_choices": Method(
                lambda _sess: ["API_KEY_PLAIN", "PASSWORD_PLAIN"], no_auth=True
            ),
            "auth.login_with_api_key": Method(self._login_with_api_key, no_auth=True),
            "auth.login": Method(self._login, no_auth=True),
            "auth.me": Method(self._me),
            "auth.logout": Method(self._logout),
            "system.info": Method(
                lambda _sess: {"version": self.config.version, "hostname": "truenas-double"}
            ),
            "pool.query": Method(self._pool_query),
            "pool.dataset.query": Method(lambda _s, f=None, o=None: s.dataset_query(f, o)),
            "pool.dataset.get_instance": Method(
                lambda _s, id_: self._get_instance(s.dataset_query, id_, "Dataset")
            ),
            "pool.dataset.create": Method(lambda _s, data: s.dataset_create(data), mutates=True),
            "pool.dataset.update": Method(
                lambda _s, id_, data: s.dataset_update(id_, data), mutates=True
            ),
            "pool.dataset.delete": Method(
                lambda _s, id_, opts=None: s.dataset_delete(id_, opts), mutates=True
            ),
            "pool.snapshottask.query": Method(
                lambda _s, f=None, o=None: s.snapshottask_query(f, o)
            ),
            "pool.snapshottask.get_instance": Method(
                lambda _s, id_: self._get_instance(
                    s.snapshottask_query, id_, "PeriodicSnapshotTask"
                )
            ),
            "pool.snapshottask.create": Method(
                lambda _s, data: s.snapshottask_create(data), mutates=True
            ),
            "pool.snapshottask.update": Method(
                lambda _s, id_, data: s.snapshottask_update(id_, data), mutates=True
            ),
            "pool.snapshottask.delete": Method(
                lambda _s, id_: s.snapshottask_delete(id_), mutates=True
            ),
            "app.query": Method(lambda _s, f=None, o=None: s.app_query(f, o)),
            "app.get_instance": Method(
                lambda _s, id_, o=None: self._get_instance(
                    lambda f, opts: s.app_query(f, {**(o or {}), **opts}), id_, "App"
                )
            ),
            "app.config": Method(lambda _s, name: s.app_config(name)),
            "app.create": Method(
                lambda _s, data: s.app_create(data),
                job=True,
                pre=lambda _s, data: s.app_create_validate(data),
                mutates=True,
            ),
            "app.update": Method(
                lambda _s, name, data: s.app_update(name, data),
                job=True,
                pre=lambda _s, name, data: s.app_update_validate(name, data),
                mutates=True,
            ),
            "app.delete": Method(
                lambda _s, name, opts=None: s.app_delete(name, opts), job=True, mutates=True
            ),
            "filesystem.stat": Method(lambda _s, path: s.filesystem_stat(path)),
            "filesystem.setperm": Method(
                lambda _s, data: s.filesystem_setperm(data), job=True, mutates=True
            ),
        }
        if not self.config.legacy_auth:
            table["auth.login_ex"] = Method(self._login_ex, no_auth=True)
        return table

    @staticmethod
    def _get_instance(query: Callable[[Any, Any], Any], id_: Any, kind: str) -> Any:
        try:
            return query([["id", "=", id_]], {"get": True})
        except E.CallError:
            raise E.CallError(f"{kind} {id_} does not exist", errno.ENOENT) from None

    def _pool_query(self, _sess: Session, filters: Any = None, options: Any = None) -> Any:
        from .filters import filter_list

        pools = [
            {"id": i + 1, "name": p, "path": f"/mnt/{p}", "status": "ONLINE", "healthy": True}
            for i, p in enumerate(self.state.pools)
        ]
        return filter_list(pools, filters, options)

    def _user_info(self, username: str) -> dict[str, Any]:
        return {
            "pw_name": username,
            "pw_uid": 0 if username == "root" else 950,
            "pw_gid": 0 if username == "root" else 950,
            "privilege": {"roles": ["FULL_ADMIN"]},
            "account_attributes": ["LOCAL", "API_KEY"],
        }

    def _login_ex(self, sess: Session, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or "mechanism" not in data:
            raise E.ValidationErrors([("auth_login_ex.mechanism", "Field required", errno.EINVAL)])
        mech = data["mechanism"]
        if mech == "API_KEY_PLAIN":
            allowed = {"mechanism", "username", "api_key", "login_options"}
            ok = self.config.api_keys.get(data.get("api_key", "")) == data.get("username")
        elif mech == "PASSWORD_PLAIN":
            allowed = {"mechanism", "username", "password", "login_options"}
            ok = data.get("username") in self.config.passwords and self.config.passwords[
                data["username"]
            ] == data.get("password")
        else:
            raise E.ValidationErrors(
                [
                    (
                        "auth_login_ex.mechanism",
                        f"{mech}: mechanism is not modelled by this test double "
                        "(API_KEY_PLAIN and PASSWORD_PLAIN are)",
                        errno.EINVAL,
                    )
                ]
            )
        extra = set(data) - allowed
        if extra:
            raise E.ValidationErrors(
                [
                    (f"auth_login_ex.{k}", "Extra inputs are not permitted", errno.EINVAL)
                    for k in sorted(extra)
                ]
            )
        if not ok:
            return {"response_type": "AUTH_ERR"}
        sess.authenticated, sess.username = True, data["username"]
        return {
            "response_type": "SUCCESS",
            "user_info": self._user_info(data["username"]),
            "authenticator": "LEVEL_1",
        }

    def _login_with_api_key(self, sess: Session, key: Any) -> bool:
        username = self.config.api_keys.get(key) if isinstance(key, str) else None
        if username is None:
            return False
        sess.authenticated, sess.username = True, username
        return True

    def _login(self, sess: Session, username: Any, password: Any, otp: Any = None) -> bool:
        if self.config.passwords.get(username) != password or password is None:
            return False
        sess.authenticated, sess.username = True, username
        return True

    def _me(self, sess: Session) -> dict[str, Any]:
        assert sess.username is not None
        return self._user_info(sess.username)

    def _logout(self, sess: Session) -> bool:
        sess.authenticated, sess.username = False, None
        return True

    def _subscribe(self, sess: Session, name: Any) -> str:
        if not isinstance(name, str):
            raise E.ValidationErrors(
                [("core_subscribe.event", "Input should be a valid string", errno.EINVAL)]
            )
        ident = str(uuid.uuid4())
        sess.subscriptions[ident] = name
        return ident

    def _unsubscribe(self, sess: Session, ident: Any) -> None:
        sess.subscriptions.pop(ident, None)

    def _get_jobs(self, _sess: Session, filters: Any = None, options: Any = None) -> Any:
        from .filters import filter_list

        with self.state.lock:
            entries = [j.entry() for _, j in sorted(self.state.jobs.items())]
        return filter_list(entries, filters, options)

    def _bulk_pre(self, _sess: Session, method: Any, params: Any, description: Any = None) -> None:
        verrors = E.ValidationErrors()
        if not isinstance(method, str):
            verrors.add("core_bulk.method", "Input should be a valid string")
        if not isinstance(params, list) or not all(isinstance(p, list) for p in params):
            verrors.add("core_bulk.params", "Input should be a list of parameter lists")
        verrors.check()

    async def _bulk(
        self, sess: Session, method: str, params: list[list[Any]], description: Any = None
    ) -> list[dict[str, Any]]:
        statuses = []
        for p in params:
            job_id, result, error = None, None, None
            try:
                result = await self.invoke(sess, method, p, message_id=None, internal=True)
                if self.methods[method].job:
                    job_id = result
                    job = await self.wait_job(job_id)
                    result = job.result
                    error = job.error
            except (E.CallError, E.ValidationErrors, E.MethodNotFound) as exc:
                error = (
                    str(exc)
                    if not isinstance(exc, E.MethodNotFound)
                    else (f"Method {method!r} does not exist")
                )
            statuses.append({"job_id": job_id, "result": result, "error": error})
        return statuses

    async def _job_wait(self, _sess: Session, job_id: Any) -> Any:
        if job_id not in self.state.jobs:
            raise E.CallError(f"Job {job_id} does not exist", errno.ENOENT)
        job = await self.wait_job(job_id)
        if job.state != "SUCCESS":
            raise E.CallError(
                job.error or "Job failed", errno.EFAULT, (job.exc_info or {}).get("extra")
            )
        return job.result

    # -- calls and jobs -----------------------------------------------------------------------
    async def invoke(
        self, sess: Session, name: str, params: list[Any], message_id: Any, internal: bool = False
    ) -> Any:
        """Run one method as the given session; a job method returns its job id.

        `internal` marks calls that core.bulk makes on the client's behalf.
        """
        with self.state.lock:
            self.state.calls.append(
                {
                    "method": name,
                    "params": "<redacted>" if name.startswith("auth.") else params,
                    "authenticated": sess.authenticated,
                    "ip": sess.ip,
                    "session": sess.number,
                    "internal": internal,
                    "time": time.time(),
                }
            )
        method = self.methods.get(name)
        if method is None:
            raise E.MethodNotFound(name)
        if method.no_auth:
            if not sess.authenticated and self.limiter.exceeded(name, sess.ip):
                low, high = self.config.rate_limit_sleep
                if high > 0:
                    await asyncio.sleep(random.uniform(low, high))  # noqa: S311
                raise E.CallError("Rate Limit Exceeded", errno.EBUSY)
        elif not sess.authenticated:
            raise E.CallError("Not authenticated", E.ENOTAUTHENTICATED)
        self._check_arity(name, method.pre or method.func, params)
        if not method.job:
            result = method.func(sess, *params)
            if inspect.isawaitable(result):
                result = await result
            self.dump_state()
            return result
        if method.pre is not None:
            method.pre(sess, *params)
        job = self.state.new_job(name, params, message_id)
        self.job_events[job.id] = asyncio.Event()
        await self.broadcast_job(job, "ADDED")
        self._spawn(self._run_job(sess, job, method, params))
        self.dump_state()
        return job.id

    @staticmethod
    def _check_arity(name: str, func: Callable[..., Any], params: list[Any]) -> None:
        try:
            inspect.signature(func).bind(None, *params)
        except TypeError as exc:
            schema = name.replace(".", "_")
            raise E.ValidationErrors(
                [(schema, f"Invalid parameters: {exc}", errno.EINVAL)]
            ) from None

    async def _run_job(self, sess: Session, job: Job, method: Method, params: list[Any]) -> None:
        job.state, job.time_started = "RUNNING", time.time()
        await self.broadcast_job(job, "CHANGED")
        await asyncio.sleep(self.config.job_delay)
        try:
            result = method.func(sess, *params)
            if inspect.isawaitable(result):
                result = await result
        except E.ValidationErrors as exc:
            job.state, job.error = "FAILED", str(exc)
            job.exception = f"ValidationErrors: {exc}"
            job.exc_info = {
                "repr": repr(exc),
                "type": "VALIDATION",
                "errno": errno.EINVAL,
                "extra": [list(e) for e in exc.errors],
            }
        except E.CallError as exc:
            job.state, job.error = "FAILED", str(exc)
            job.exception = f"CallError: {exc}"
            job.exc_info = {
                "repr": repr(exc),
                "type": "CallError",
                "errno": exc.errno,
                "extra": exc.extra,
            }
        else:
            job.state, job.result = "SUCCESS", result
            job.progress = {"percent": 100, "description": "Done", "extra": None}
        job.time_finished = time.time()
        self.dump_state()
        await self.broadcast_job(job, "CHANGED")
        self.job_events[job.id].set()

    async def wait_job(self, job_id: int) -> Job:
        await self.job_events[job_id].wait()
        return self.state.jobs[job_id]

    async def broadcast_job(self, job: Job, event: str) -> None:
        message = {
            "jsonrpc": "2.0",
            "method": "collection_update",
            "params": {
                "msg": event.lower(),
                "collection": "core.get_jobs",
                "id": job.id,
                "fields": job.entry(),
            },
        }
        for sess in list(self.sessions):
            if sess.authenticated and sess.wants("core.get_jobs"):
                with contextlib.suppress(ConnectionClosed):
                    await sess.ws.send(json.dumps(message))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def snapshot(self) -> dict[str, Any]:
        """The model's state plus the rate limiter's counters, as written to the state file."""
        snap = self.state.snapshot()
        snap["rate_limit"] = self.limiter.describe()
        snap["dumped_at"] = time.time()
        return snap

    def dump_state(self) -> None:
        if not self.config.state_file:
            return
        tmp = f"{self.config.state_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.snapshot(), fh, indent=1, sort_keys=True, default=str)
        os.replace(tmp, self.config.state_file)

    # -- the wire -------------------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        remote = ws.remote_address
        self._sessions_seen += 1
        sess = Session(
            ws=ws, ip=str(remote[0]) if remote else "unknown", number=self._sessions_seen
        )
        self.sessions.add(sess)
        try:
            async for raw in ws:
                if not isinstance(raw, str):
                    await ws.close(1003, "Invalid websocket message type: binary")
                    break
                try:
                    message = json.loads(raw)
                except ValueError as exc:
                    await self._send_error(sess, None, E.INVALID_JSON, str(exc))
                    continue
                problem = _request_problem(message)
                if problem:
                    await self._send_error(sess, None, E.INVALID_REQUEST, problem)
                    continue
                self._spawn(self._process(sess, message))
        except ConnectionClosed:
            pass
        finally:
            self.sessions.discard(sess)

    async def _process(self, sess: Session, message: dict[str, Any]) -> None:
        id_ = message.get("id")
        try:
            result = await self.invoke(sess, message["method"], message.get("params", []), id_)
        except E.MethodNotFound:
            await self._send_error(sess, id_, E.METHOD_NOT_FOUND, "Method does not exist")
        except E.ValidationErrors as exc:
            await self._send_error(sess, id_, E.INVALID_PARAMS, "Invalid params", E.error_data(exc))
        except E.CallError as exc:
            await self._send_error(sess, id_, E.CALL_ERROR, "Method call error", E.error_data(exc))
        except Exception as exc:  # an unexpected bug in the double still answers the call
            await self._send_error(sess, id_, E.CALL_ERROR, "Method call error", E.error_data(exc))
        else:
            with contextlib.suppress(ConnectionClosed):
                await sess.ws.send(json.dumps({"jsonrpc": "2.0", "result": result, "id": id_}))

    @staticmethod
    async def _send_error(
        sess: Session, id_: Any, code: int, message: str, data: Any = None
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        with contextlib.suppress(ConnectionClosed):
            await sess.ws.send(json.dumps({"jsonrpc": "2.0", "error": error, "id": id_}))

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == API_PATH:
            return None
        if path == STATE_PATH:
            body = json.dumps(self.snapshot(), sort_keys=True, default=str).encode()
            headers = Headers(
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ]
            )
            return Response(http.HTTPStatus.OK.value, "OK", headers, body)
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")


def _request_problem(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "Request must be a JSON object"
    extra = set(message) - {"jsonrpc", "method", "params", "id"}
    if extra:
        return f"Additional properties are not allowed ({', '.join(sorted(extra))})"
    if message.get("jsonrpc") != "2.0":
        return "'jsonrpc' must be '2.0'"
    if not isinstance(message.get("method"), str):
        return "'method' is a required string"
    if not isinstance(message.get("params", []), list):
        return "'params' must be an array"
    if not isinstance(message.get("id"), (type(None), int, float, str)):
        return "'id' must be null, a number or a string"
    return None


class TrueNASDouble:
    """A running double on a background thread (for pytest) or in the foreground (CLI)."""

    def __init__(
        self, config: DoubleConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or DoubleConfig()
        self.host, self.port = host, port
        self.middleware = Middleware(self.config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def state(self) -> TrueNASState:
        return self.middleware.state

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{API_PATH}"

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        self._stopped = asyncio.Event()
        async with serve(
            self.middleware.handle,
            self.host,
            self.port,
            process_request=self.middleware.process_request,
            max_size=2**24,
            close_timeout=1,
            # The middleware sends no keepalive pings; an idle client is not dropped.
            ping_interval=None,
        ) as server:
            self._server = server
            self.port = next(iter(server.sockets)).getsockname()[1]
            self.middleware.dump_state()
            if ready:
                ready()
            await self._stopped.wait()

    def start(self) -> TrueNASDouble:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve(started.set))
            self._loop.close()

        self._thread = threading.Thread(target=run, name="truenas-double", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the TrueNAS double did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._stopped and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> TrueNASDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
