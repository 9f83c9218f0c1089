"""`python -m hearth.cli up|preview|down|outputs`: what `make up/preview/down` run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from pulumi import automation as auto

from hearth.settings import SettingsError
from hearth.workspace import check_settings, select_stack

REQUIRED_PLUGINS = (("docker", version("pulumi-docker")),)
"""Plugins at the versions the installed Python packages ask for."""


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_endpoints(outputs: Mapping[str, auto.OutputValue]) -> None:
    endpoint = outputs.get("endpoint")
    if endpoint is not None:
        _out(f"\nHearth is up. Endpoint: {endpoint.value}")


def missing_plugins() -> list[str]:
    """Resource plugins the program needs that this machine's Pulumi lacks."""
    installed = {
        (p.name, p.version) for p in auto.LocalWorkspace().list_plugins() if p.kind == "resource"
    }
    return [f"{name} {ver}" for name, ver in REQUIRED_PLUGINS if (name, ver) not in installed]


def run(command: str, stack_name: str, purge: bool) -> int:
    # The truenas target needs no plugin: its resources are dynamic providers.
    platform = check_settings(stack_name).platform
    if command != "outputs" and platform != "truenas" and (missing := missing_plugins()):
        sys.stderr.write(
            f"error: Pulumi resource plugin(s) missing: {', '.join(missing)}.\n"
            "  `make setup` builds them from Go modules; when that is not possible it says why.\n"
            "  With ordinary internet access: pulumi plugin install resource <name> <version>\n"
            "  See docs/development.md#when-a-pulumi-part-cannot-be-built\n"
        )
        return 3
    stack = select_stack(stack_name)
    show: Any = _out
    if command == "up":
        result = stack.up(on_output=show, color="auto")
        print_endpoints(result.outputs)
    elif command == "preview":
        stack.preview(on_output=show, diff=True, color="auto")
    elif command == "down":
        stack.destroy(on_output=show, color="auto")
        if purge and platform == "truenas":
            from components.truenas.purge import purge_stack

            purge_stack(stack)
        elif purge:
            from hearth.purge import purge_volumes

            purge_volumes(stack_name)
    elif command == "outputs":
        for key, value in stack.outputs().items():
            _out(f"{key}: {'[secret]' if value.secret else value.value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hearth", description=__doc__)
    parser.add_argument("command", choices=["up", "preview", "down", "outputs"])
    parser.add_argument("--stack", default="local", help="stack name (default: local)")
    parser.add_argument("--purge", action="store_true", help="with down: also delete data volumes")
    args = parser.parse_args(argv)
    try:
        return run(args.command, args.stack, args.purge)
    except SettingsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except auto.CommandError as exc:
        sys.stderr.write(f"error: pulumi {args.command} failed:\n{exc}\n")
        return 1
    except Exception as exc:
        from components.truenas.connection import TrueNASOperationError

        if isinstance(exc, TrueNASOperationError):
            sys.stderr.write(f"error: {exc}\n")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
