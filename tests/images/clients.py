"""Minimal wire-protocol clients for the image tests.

Neither a Redis nor a NATS client library is a dependency of the repository,
and both protocols are plain text over TCP: these few lines speak exactly the
commands the tests need, so the assertions are about the servers' real
behaviour on the wire.
"""

from __future__ import annotations

import json
import socket
import uuid
from typing import Any


class RespClient:
    """A Redis-protocol (RESP2) client: one connection, one command at a time."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def __enter__(self) -> RespClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def command(self, *args: str) -> Any:
        """Send one command; return its reply (an error reply as a RespError)."""
        out = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._sock.sendall(b"".join(out))
        return self._reply()

    def _reply(self) -> Any:
        line = self._file.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            return data[:-2].decode()
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        raise ValueError(f"unexpected RESP line {line!r}")


class RespError(str):
    """An error reply, e.g. 'NOAUTH Authentication required.'."""


class NatsError(Exception):
    """The server answered -ERR."""


class NatsClient:
    """A NATS core-protocol client with request/reply, enough for the JetStream API."""

    def __init__(self, host: str, port: int, user: str, password: str, timeout: float = 5.0):
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        self._sid = 0
        try:
            info = self._file.readline()
            if not info.startswith(b"INFO "):
                raise NatsError(f"expected INFO, got {info!r}")
            connect = {"verbose": False, "pedantic": False, "user": user, "pass": password}
            self._sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
            line = self._control_line()
            if line != b"PONG":
                raise NatsError(line.decode())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def __enter__(self) -> NatsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _control_line(self) -> bytes:
        """Next protocol line, answering server PINGs and skipping +OK."""
        while True:
            line = self._file.readline()
            if not line:
                raise ConnectionError("the server closed the connection")
            line = line.rstrip(b"\r\n")
            if line == b"PING":
                self._sock.sendall(b"PONG\r\n")
            elif line == b"+OK":
                continue
            elif line.startswith(b"-ERR"):
                raise NatsError(line.decode())
            else:
                return line

    def request(self, subject: str, payload: bytes | dict[str, Any] = b"") -> bytes:
        """Publish with a unique reply subject and return the single reply's payload."""
        if isinstance(payload, dict):
            payload = json.dumps(payload).encode()
        self._sid += 1
        inbox = f"_INBOX.{uuid.uuid4().hex}"
        self._sock.sendall(
            f"SUB {inbox} {self._sid}\r\nUNSUB {self._sid} 1\r\n".encode()
            + f"PUB {subject} {inbox} {len(payload)}\r\n".encode()
            + payload
            + b"\r\n"
        )
        line = self._control_line()
        parts = line.split()
        if parts[0] != b"MSG":
            raise NatsError(f"expected MSG, got {line!r}")
        size = int(parts[-1])
        data = self._file.read(size + 2)
        return data[:-2]

    def jetstream(self, api: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call `$JS.API.<api>` and return the decoded JSON reply; raise on an API error."""
        reply: dict[str, Any] = json.loads(self.request(f"$JS.API.{api}", payload or {}))
        if "error" in reply:
            raise NatsError(f"$JS.API.{api}: {reply['error']}")
        return reply
