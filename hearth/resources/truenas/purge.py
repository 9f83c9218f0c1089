"""Delete a stack's datasets on TrueNAS: the one step that loses data, asked for explicitly.

`pulumi destroy` keeps the datasets (they are `retain_on_delete`); `make down PURGE=1` runs
this after the destroy. It refuses while the stack's app still exists, so data is never
pulled from under running containers.
"""

from __future__ import annotations

from pulumi import automation as auto

from components.truenas.connection import API_KEY_KEY, Endpoint, TrueNASOperationError, session
from components.truenas.custom_app import app_name_for
from hearth.settings import PROJECT, parse_settings


def purge_stack_datasets(endpoint: Endpoint, pool: str, stack: str, prefix: str) -> list[str]:
    """Delete `<pool>/<stack>` and every dataset under it; returns the names deleted."""
    root = f"{pool}/{stack}"
    app = app_name_for(prefix)
    with session(endpoint, f"purge the datasets of stack {stack}") as c:
        if c.call("app.query", [["name", "=", app]]):
            raise TrueNASOperationError(
                f"the app {app!r} still exists; destroy the stack first (make down), then purge"
            )
        found = c.call("pool.dataset.query", [["id", "=", root]], {"select": ["id"]})
        if not found:
            return []
        below = c.call("pool.dataset.query", [["id", "^", f"{root}/"]], {"select": ["id"]})
        names = sorted([root, *(d["id"] for d in below)], reverse=True)
        c.call("pool.dataset.delete", root, {"recursive": True})
    return names


def purge_stack(stack: auto.Stack) -> list[str]:
    """`purge_stack_datasets` for an Automation API stack, from its own config
    (what `make down PURGE=1` calls after `stack.destroy()` on a truenas stack)."""
    config = stack.get_all_config()
    settings = parse_settings({k: v.value for k, v in config.items()}, stack=stack.name)
    key = config.get(API_KEY_KEY)
    if settings.truenas_url is None or settings.truenas_pool is None or key is None:
        raise TrueNASOperationError(
            f"stack {stack.name!r} lacks hearth:truenasUrl, hearth:truenasPool or "
            "hearth:truenasApiKey; nothing to purge"
        )
    endpoint = Endpoint(settings.truenas_url, key.value)
    return purge_stack_datasets(
        endpoint, settings.truenas_pool, stack.name, f"{PROJECT}-{stack.name}"
    )
