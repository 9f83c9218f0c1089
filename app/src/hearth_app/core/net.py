"""Client address behind the edge proxy."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request


def client_ip(request: Request, trusted: list[str]) -> str:
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted:
        return peer
    fwd = request.headers.get("x-forwarded-for", "")
    # Right-most address that is not one of our proxies: the one our edge actually saw.
    for part in reversed([p.strip() for p in fwd.split(",") if p.strip()]):
        if part in trusted:
            continue
        try:
            return str(ipaddress.ip_address(part))
        except ValueError:
            break
    return peer
