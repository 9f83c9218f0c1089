"""Client address behind the edge proxy.

A forwarding header is believed only from a trusted peer. Trusted peers are given as
addresses, networks (CIDR) or host names: on the platform the edge is trusted by its name,
which Docker's DNS answers with whatever address the edge has now (its network's addresses
are assigned when the network is made, so no fixed range can be written down ahead). A name
is resolved again when an unknown peer calls, at most every few seconds, so a recreated edge
is trusted at once and nobody else can make the app resolve in a loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Sequence

from starlette.requests import Request

log = logging.getLogger("hearth.net")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RESOLVE_EVERY_S = 5.0


class TrustedProxies:
    def __init__(self, entries: Sequence[str]) -> None:
        self.networks: list[Network] = []
        self.names: list[str] = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self.names.append(entry.strip())
        self.resolved: frozenset[Address] = frozenset()
        self._resolved_at = float("-inf")
        self._lock = asyncio.Lock()

    def trusts(self, addr: Address) -> bool:
        return addr in self.resolved or any(addr in net for net in self.networks)

    async def trusts_peer(self, addr: Address) -> bool:
        if self.trusts(addr):
            return True
        if self.names and time.monotonic() - self._resolved_at >= RESOLVE_EVERY_S:
            await self.resolve()
            return self.trusts(addr)
        return False

    async def resolve(self) -> None:
        async with self._lock:
            if time.monotonic() - self._resolved_at < RESOLVE_EVERY_S:
                return
            loop = asyncio.get_running_loop()
            found: set[Address] = set()
            for name in self.names:
                try:
                    infos = await asyncio.wait_for(
                        loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), timeout=2
                    )
                except (OSError, TimeoutError):
                    log.warning("trusted proxy name does not resolve", extra={"proxy": name})
                    continue
                found.update(ipaddress.ip_address(info[4][0]) for info in infos)
            self.resolved = frozenset(found)
            self._resolved_at = time.monotonic()


_proxies: dict[tuple[str, ...], TrustedProxies] = {}


def trusted_proxies(entries: Sequence[str]) -> TrustedProxies:
    """One resolver per setting, shared by every request."""
    key = tuple(entries)
    if key not in _proxies:
        _proxies[key] = TrustedProxies(entries)
    return _proxies[key]


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


async def client_ip(request: Request, trusted: Sequence[str]) -> str:
    peer_text = request.client.host if request.client else "unknown"
    peer = _address(peer_text)
    proxies = trusted_proxies(trusted)
    if peer is None or not await proxies.trusts_peer(peer):
        return peer_text
    # Right-most address that is not one of our proxies: the one our edge actually saw.
    for part in reversed(request.headers.get("x-forwarded-for", "").split(",")):
        addr = _address(part)
        if addr is None:
            break
        if not proxies.trusts(addr):
            return str(addr)
    return peer_text
