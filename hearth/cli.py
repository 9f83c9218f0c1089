"""`python -m hearth.cli up|preview|down|outputs`: what `make up/preview/down/outputs` run."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

from hearth.settings import SettingsError
from hearth.targets import target_for
from hearth.workspace import check_settings, select_stack


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def sign_in_text(stack: str, outputs: Mapping[str, auto.OutputValue], own_ca: bool) -> str:
    """Where the platform answers and how to sign in, without showing the password."""
    make_stack = "" if stack == "local" else f" STACK={stack}"
    text = (
        f"\nHearth is up: {outputs['endpoint'].value}\n"
        f"Sign in as {outputs['adminEmail'].value}; show the password with:\n"
        f"  make outputs SHOW_SECRETS=1{make_stack}"
    )
    if own_ca:
        text += (
            "\nIts certificate comes from the edge's own CA: docs/local.md says how to trust it."
        )
    return text


def require_root(platform: str) -> None:
    """The docker target writes each secret file owned by the uid of the service reading it
    (and data directories owned by theirs): only root can give files away."""
    if platform != "truenas" and os.geteuid() != 0:
        raise SettingsError(
            "deploying needs root: secret files and data directories are given to each "
            "service's uid. Run it as root, e.g. `sudo make up`"
        )


def run(command: str, stack_name: str, *, purge: bool = False, show_secrets: bool = False) -> int:
    settings = check_settings(stack_name)
    if command in ("up", "down"):
        require_root(settings.platform)
    stack = select_stack(stack_name)
    show: Any = _out
    if command == "up":
        # The Compose project compares its containers with the engine's in every diff: a
        # container removed, stopped or changed by hand is put back without a refresh.
        result = stack.preview_then_up(on_output=show, color="auto")
        _out(sign_in_text(stack_name, result.outputs, own_ca=settings.domain is None))
    elif command == "preview":
        stack.preview(on_output=show, diff=True, color="auto")
    elif command == "down":
        stack.destroy(on_output=show, color="auto")
        if purge:
            for gone in target_for(settings.platform).purge(stack, settings):
                _out(f"purged {gone}")
    elif command == "outputs":
        for key, value in stack.outputs().items():
            shown = value.value if show_secrets or not value.secret else "[secret]"
            _out(f"{key}: {shown}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hearth", description=__doc__)
    parser.add_argument("command", choices=["up", "preview", "down", "outputs"])
    parser.add_argument("--stack", default="local", help="stack name (default: local)")
    parser.add_argument("--purge", action="store_true", help="with down: also delete the data")
    parser.add_argument("--show-secrets", action="store_true", help="with outputs: unmask")
    args = parser.parse_args(argv)
    try:
        return run(args.command, args.stack, purge=args.purge, show_secrets=args.show_secrets)
    except SettingsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except auto.CommandError as exc:
        sys.stderr.write(f"error: pulumi {args.command} failed:\n{exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
