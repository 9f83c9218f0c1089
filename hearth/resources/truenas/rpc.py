"""A small client for the TrueNAS middleware JSON-RPC 2.0 API over WebSocket.

Standard library only: the Ansible role ships this very file to wherever it runs a module
(the controller, or the NAS itself, whose root filesystem is read-only and has no pip), as
`ansible/roles/truenas/module_utils/truenas_rpc.py`, a symlink to this file; the Pulumi
dynamic resources import it as `hearth.resources.truenas.rpc`. One file, two users: keep it
free of imports from `hearth` and of third-party packages.

    with TrueNASClient("wss://nas.example/api/current") as c:
        c.login_api_key(key)                        # auth.login_ex, or login_with_api_key
        c.call("pool.dataset.query", [["id", "=", "tank/app"]])
        c.call("app.update", "hearth", {...}, job=True)   # waits for the job, returns its result
        c.bulk("pool.dataset.create", [[{...}], [{...}]])

One connection carries every call: TrueNAS allows 20 unauthenticated (login) calls per minute
and locks the client out after that, so never open a connection per item.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import ssl
import struct
import time
from typing import Any
from urllib.parse import urlsplit

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FINAL_JOB_STATES = ("SUCCESS", "FAILED", "ABORTED")

# JSON-RPC codes the middleware answers with.
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
CALL_ERROR = -32001


class TrueNASError(Exception):
    """An error answer from the middleware (or a failed job)."""

    def __init__(
        self,
        message: str,
        code: int | None = None,
        errname: str | None = None,
        reason: str | None = None,
        extra: Any = None,
        method: str | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.errname = errname
        self.reason = reason or message
        self.extra = extra
        self.method = method

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        return f"{where}{self.reason}"


class TrueNASValidationError(TrueNASError):
    """Invalid arguments; `errors` is a list of (attribute, message, errno)."""

    @property
    def errors(self) -> list[tuple[str, str, int]]:
        return [(str(attr), str(msg), int(errno)) for attr, msg, errno in (self.extra or [])]


class TrueNASMethodNotFound(TrueNASError):
    pass


class TrueNASAuthError(TrueNASError):
    pass


class TrueNASRateLimited(TrueNASError):
    """The server refused an unauthenticated call: too many in its window (20 per 60 s)."""


class TrueNASConnectionError(TrueNASError):
    pass


def _error_from(message: dict[str, Any], method: str | None) -> TrueNASError:
    err = message.get("error") or {}
    data = err.get("data") or {}
    code = err.get("code")
    errname = data.get("errname")
    reason = data.get("reason") or err.get("message") or "unknown error"
    extra = data.get("extra")
    kind: type[TrueNASError] = TrueNASError
    text = reason
    if code == METHOD_NOT_FOUND:
        kind, text = TrueNASMethodNotFound, "Method does not exist"
    elif code == INVALID_PARAMS:
        kind = TrueNASValidationError
    elif errname == "EBUSY" and "Rate Limit" in reason:
        kind = TrueNASRateLimited
        reason = (
            "Rate Limit Exceeded: TrueNAS allows 20 unauthenticated calls (logins) per 60 s "
            "and then refuses this address for a while; wait, then retry with one connection"
        )
    elif errname == "ENOTAUTHENTICATED":
        kind = TrueNASAuthError
    return kind(text, code=code, errname=errname, reason=reason, extra=extra, method=method)


class WebSocket:
    """Just enough of RFC 6455 for a client: text frames, fragments, ping/pong, close."""

    def __init__(
        self, url: str, timeout: float = 30.0, verify_ssl: bool = True, ca_file: str | None = None
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise TrueNASConnectionError(f"{url}: the URL must start with ws:// or wss://")
        self.url = url
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise TrueNASConnectionError(f"cannot connect to {url}: {exc}") from exc
        if parts.scheme == "wss":
            try:
                ctx = ssl.create_default_context(cafile=ca_file)
                if not verify_ssl:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                sock = ctx.wrap_socket(sock, server_hostname=host)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                raise TrueNASConnectionError(f"TLS with {url} failed: {exc}") from exc
        self.sock = sock
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self._buf = bytearray()
        try:
            self._handshake(host if parts.port is None else f"{host}:{port}", path)
        except Exception:
            self.sock.close()
            raise

    def _handshake(self, host: str, path: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nUser-Agent: hearth-truenas-rpc\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise TrueNASConnectionError(f"{self.url}: connection closed during handshake")
            self._buf += chunk
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("iso-8859-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise TrueNASConnectionError(f"{self.url}: handshake refused: {lines[0]}")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()  # noqa: S324
        if headers.get("sec-websocket-accept") != accept:
            raise TrueNASConnectionError(f"{self.url}: bad Sec-WebSocket-Accept in handshake")

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise TrueNASConnectionError(f"{self.url}: connection closed by the server")
            self._buf += chunk
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    @staticmethod
    def _mask(data: bytes, key: bytes) -> bytes:
        if not data:
            return data
        n = len(data)
        stream = (key * (n // 4 + 1))[:n]
        return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + self._mask(payload, mask))

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode("utf-8"))

    def _frame(self) -> tuple[bool, int, bytes]:
        b1, b2 = self._read(2)
        length = b2 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4) if b2 & 0x80 else None
        payload = self._read(length)
        if mask:
            payload = self._mask(payload, mask)
        return bool(b1 & 0x80), b1 & 0x0F, payload

    def recv(self, timeout: float | None = None) -> str:
        """The next text message; raises socket.timeout when none starts in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        message = b""
        while True:
            if not self._buf and not message:
                # Waiting for a message to start: a timeout here just means "nothing yet".
                self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise TrueNASConnectionError(f"{self.url}: connection closed by the server")
                self._buf += chunk
            # Inside a message: a stall would leave the stream half read, so it is fatal.
            self.sock.settimeout(self.timeout)
            try:
                fin, opcode, payload = self._frame()
            except TimeoutError:
                raise TrueNASConnectionError(
                    f"{self.url}: the server stalled in the middle of a message"
                ) from None
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:  # pong
                continue
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                raise TrueNASConnectionError(
                    f"{self.url}: server closed the connection ({code} "
                    f"{payload[2:].decode('utf-8', 'replace')})"
                )
            if opcode == 0x2:
                raise TrueNASConnectionError(f"{self.url}: unexpected binary message")
            message += payload
            if fin:
                return message.decode("utf-8")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send_frame(0x8, struct.pack("!H", 1000))
        with contextlib.suppress(OSError):
            self.sock.close()


class TrueNASClient:
    """JSON-RPC 2.0 over one WebSocket connection, with job waiting and bulk calls."""

    def __init__(
        self,
        url: str,
        timeout: float = 60.0,
        verify_ssl: bool = True,
        ca_file: str | None = None,
        job_timeout: float = 600.0,
    ):
        self.url = url
        self.timeout = timeout
        self.job_timeout = job_timeout
        self._ws = WebSocket(url, timeout=timeout, verify_ssl=verify_ssl, ca_file=ca_file)
        self._next_id = 0
        self._jobs: dict[int, dict[str, Any]] = {}
        self._jobs_subscribed = False
        self.calls = 0  # how many calls this connection made (for callers' own accounting)

    def __enter__(self) -> TrueNASClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._ws.close()

    # -- messages ------------------------------------------------------------------------------
    def _handle_notification(self, message: dict[str, Any]) -> None:
        params = message.get("params") or {}
        if (
            message.get("method") == "collection_update"
            and params.get("collection") == "core.get_jobs"
        ):
            job_id = params.get("id", (params.get("fields") or {}).get("id"))
            if job_id is not None:
                self._jobs.setdefault(job_id, {}).update(params.get("fields") or {})

    def _receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError()
        message: dict[str, Any] = json.loads(self._ws.recv(timeout=remaining))
        if "id" not in message:
            self._handle_notification(message)
        return message

    def call(
        self, method: str, *params: Any, job: bool = False, timeout: float | None = None
    ) -> Any:
        """Call a method; with job=True wait for the job it starts and return its result."""
        self._next_id += 1
        self.calls += 1
        call_id = self._next_id
        self._ws.send(
            json.dumps({"jsonrpc": "2.0", "id": call_id, "method": method, "params": list(params)})
        )
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                message = self._receive(deadline)
                if message.get("id") != call_id:
                    continue
                if "error" in message:
                    raise _error_from(message, method)
                result: Any = message.get("result")
                break
        except TimeoutError:
            raise TrueNASConnectionError(
                f"{method}: no answer within {timeout or self.timeout} s", method=method
            ) from None
        if job:
            return self.wait_job(result, method=method)
        return result

    def subscribe_jobs(self) -> None:
        """Ask for `core.get_jobs` events so job waits need no polling."""
        if not self._jobs_subscribed:
            self.call("core.subscribe", "core.get_jobs")
            self._jobs_subscribed = True

    def wait_job(self, job_id: int, method: str | None = None, timeout: float | None = None) -> Any:
        """Wait for a job to finish; its result, or TrueNASError with the job's error."""
        deadline = time.monotonic() + (timeout or self.job_timeout)
        poll_every = 1.0
        while True:
            job = self._jobs.get(job_id)
            if job is not None and job.get("state") in FINAL_JOB_STATES:
                break
            if time.monotonic() >= deadline:
                raise TrueNASConnectionError(
                    f"job {job_id} ({method}) did not finish in time", method=method
                )
            try:
                # Events are the fast path (they may even arrive before the call's answer).
                self._receive(min(deadline, time.monotonic() + poll_every))
                continue
            except TimeoutError:
                pass
            # Nothing for a while (or no subscription): ask for the job.
            found = self.call("core.get_jobs", [["id", "=", job_id]])
            if found:
                self._jobs.setdefault(job_id, {}).update(found[0])
        job = self._jobs.pop(job_id)
        if job["state"] == "SUCCESS":
            return job.get("result")
        exc_info = job.get("exc_info") or {}
        reason = job.get("error") or f"job {job_id} {job['state']}"
        if exc_info.get("type") == "VALIDATION":
            raise TrueNASValidationError(
                reason, code=INVALID_PARAMS, extra=exc_info.get("extra"), method=method
            )
        raise TrueNASError(reason, errname=None, extra=exc_info.get("extra"), method=method)

    def bulk(self, method: str, params_list: list[list[Any]]) -> list[Any]:
        """Run many calls of one method as one `core.bulk` job; raise on the first error."""
        if not params_list:
            return []
        statuses = self.call("core.bulk", method, params_list, job=True)
        errors = [s["error"] for s in statuses if s.get("error")]
        if errors:
            raise TrueNASError("; ".join(errors), method=f"core.bulk({method})")
        return [s.get("result") for s in statuses]

    # -- authentication ------------------------------------------------------------------------
    def login_api_key(self, api_key: str, username: str = "root") -> None:
        """API key login: `auth.login_ex` (25.04+), else `auth.login_with_api_key`."""
        try:
            answer = self.call(
                "auth.login_ex",
                {"mechanism": "API_KEY_PLAIN", "username": username, "api_key": api_key},
            )
            ok = isinstance(answer, dict) and answer.get("response_type") == "SUCCESS"
            detail = answer.get("response_type") if isinstance(answer, dict) else answer
        except TrueNASMethodNotFound:
            ok = bool(self.call("auth.login_with_api_key", api_key))
            detail = "auth.login_with_api_key returned false"
        if not ok:
            raise TrueNASAuthError(
                f"API key login as {username!r} refused ({detail}); check the key and that it "
                "belongs to that user",
                method="auth.login_ex",
            )
        self.subscribe_jobs()
