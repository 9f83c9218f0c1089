"""The middleware's query filters (`[[field, op, value], ...]`) and options (`{"get": true}`)."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from typing import Any

from .errors import CallError, ValidationErrors

_MISSING = object()


def _field(item: dict[str, Any], name: str) -> Any:
    value: Any = item
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _match(item: dict[str, Any], flt: list[Any]) -> bool:
    if len(flt) == 2 and flt[0] == "OR":
        return any(_matches_all(item, [sub]) for sub in flt[1])
    if len(flt) != 3:
        raise ValidationErrors([("query-filters", f"Invalid filter {flt!r}", errno.EINVAL)])
    name, op, expected = flt
    value = _field(item, name)
    if value is _MISSING:
        return op in ("!=", "nin")
    ops: dict[str, Callable[[], Any]] = {
        "=": lambda: value == expected,
        "!=": lambda: value != expected,
        "in": lambda: value in expected,
        "nin": lambda: value not in expected,
        ">": lambda: value > expected,
        "<": lambda: value < expected,
        ">=": lambda: value >= expected,
        "<=": lambda: value <= expected,
        "^": lambda: isinstance(value, str) and value.startswith(expected),
        "$": lambda: isinstance(value, str) and value.endswith(expected),
        "~": lambda: isinstance(value, str) and re.search(expected, value) is not None,
        "rin": lambda: expected in value,
        "rnin": lambda: expected not in value,
    }
    if op not in ops:
        raise ValidationErrors([("query-filters", f"Invalid operation: {op}", errno.EINVAL)])
    try:
        return bool(ops[op]())
    except TypeError:
        return False


def _matches_all(item: dict[str, Any], filters: list[Any]) -> bool:
    return all(_match(item, f) for f in filters)


def filter_list(
    items: list[dict[str, Any]],
    filters: list[Any] | None = None,
    options: dict[str, Any] | None = None,
) -> Any:
    filters = filters or []
    options = options or {}
    result = [i for i in items if _matches_all(i, filters)]
    for key in reversed(options.get("order_by", [])):
        reverse = key.startswith("-")
        name = key.lstrip("-")

        def sort_key(item: dict[str, Any], name: str = name) -> tuple[bool, str]:
            return _field(item, name) is _MISSING, str(_field(item, name))

        result.sort(key=sort_key, reverse=reverse)
    if options.get("offset"):
        result = result[options["offset"] :]
    if options.get("limit"):
        result = result[: options["limit"]]
    if options.get("select"):
        result = [{k: i[k] for k in options["select"] if k in i} for i in result]
    if options.get("count"):
        return len(result)
    if options.get("get"):
        if not result:
            raise CallError("MatchNotFound()", errno.ENOENT)
        return result[0]
    return result
