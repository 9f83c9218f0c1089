"""One Redis connection, pipelined, for the round trip every API request makes (auth/deps.py:
the session check, the cached profile and the rate limiter, sent together).

redis-py spends about 120 µs of CPU on such a round trip (a pooled connection checked out and
back, a timer for each reply, its encoder and parser layers); this spends about 45, a quarter
of a cached read's cost. Every request writes its commands to the one connection and waits
for as many replies; Redis answers a connection's commands in the order they were sent, so
replies are handed out in that order, to whoever is waiting first. A request that gives up
(time-out, cancelled) still has its replies read and dropped, so the order holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hearth_app.core.settings import RedisSettings

log = logging.getLogger("hearth.redisline")

Command = Sequence[str | int | bytes]


def pack(commands: Sequence[Command]) -> bytes:
    """RESP arrays of bulk strings."""
    out: list[bytes] = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            raw = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _error(reply: hiredis.ReplyError) -> ResponseError:
    text = str(reply)
    return NoScriptError(text) if text.startswith("NOSCRIPT") else ResponseError(text)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8")
        # (future, replies wanted, replies so far), in the order the commands were written.
        self.waiting: deque[tuple[asyncio.Future[list[Any]], int, list[Any]]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while self.waiting:
                reply = self.reader.gets()
                if reply is False:
                    return
                future, wanted, replies = self.waiting[0]
                replies.append(reply)
                if len(replies) == wanted:
                    self.waiting.popleft()
                    if not future.done():
                        future.set_result(replies)
        except hiredis.ProtocolError:
            log.exception("unreadable reply from Redis; dropping the connection")
            assert self.transport is not None
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.closed.done():
            self.closed.set_result(None)
        while self.waiting:
            future, _, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisConnectionError(f"connection to Redis lost: {exc}"))


class RedisLine:
    """The pipelined connection; made on first use, made again after it is lost."""

    def __init__(self, settings: RedisSettings, timeout_seconds: float = 2.0) -> None:
        self.settings = settings
        self.timeout_seconds = timeout_seconds
        self._protocol: _Protocol | None = None
        self._connecting = asyncio.Lock()

    async def _connect(self) -> _Protocol:
        async with self._connecting:
            if self._protocol is not None and not self._protocol.lost:
                return self._protocol
            s = self.settings
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    _, protocol = await loop.create_connection(_Protocol, s.host, s.port)
                    hello: list[Command] = []
                    if s.password.get_secret_value():
                        hello.append(("AUTH", s.password.get_secret_value()))
                    if s.db:
                        hello.append(("SELECT", s.db))
                    if hello:
                        await self._send(protocol, hello)
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis at {s.host}:{s.port}: {exc}") from exc
            self._protocol = protocol
            return protocol

    @staticmethod
    async def _send(protocol: _Protocol, commands: Sequence[Command]) -> list[Any]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        protocol.waiting.append((future, len(commands), []))
        assert protocol.transport is not None
        protocol.transport.write(pack(commands))
        replies = await future
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise _error(reply)
        return replies

    async def send(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` together and return their replies; an error reply raises (the
        first, as redis-py's exceptions). A connection found lost is made again and the
        commands sent once more, as redis-py's pipeline does."""
        for attempt in range(2):
            protocol = self._protocol
            if protocol is None or protocol.lost:
                protocol = await self._connect()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    return await self._send(protocol, commands)
            except RedisConnectionError:
                if attempt:
                    raise
            except TimeoutError as exc:
                raise RedisTimeoutError(f"no reply from Redis within {self.timeout_seconds} s") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
            await protocol.closed
