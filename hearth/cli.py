"""`python -m hearth.cli up|preview|down|outputs|backup|backups|restore|swarm-images`: what
the make targets of the same names run."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

from hearth import backups
from hearth.resources.docker_cli import DockerError
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
        f"Admin console: {str(outputs['endpoint'].value).rstrip('/')}/console/\n"
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
    (and data directories owned by theirs): only root can give files away. TrueNAS and
    swarm deploy through an API."""
    if platform not in ("truenas", "swarm") and os.geteuid() != 0:
        raise SettingsError(
            "deploying needs root: secret files and data directories are given to each "
            "service's uid. Run it as root, e.g. `sudo make up`"
        )


def run_backups(command: str, stack_name: str, args: argparse.Namespace) -> int:
    """The backup commands, through the agents of the deployed stack."""
    check_settings(stack_name)
    outputs = select_stack(stack_name).outputs()
    if "containers" not in outputs:
        raise backups.BackupError(f"stack {stack_name} is not deployed; run: make up")
    containers = outputs["containers"].value
    if command == "backup":
        backups.backup_now(containers, _out, full=args.full)
    elif command == "backups":
        backups.list_backups(containers, _out)
    else:
        backups.restore(
            containers,
            _out,
            target=backups.restore_time(args.time) if args.time else None,
            stores=args.stores.split(",") if args.stores else backups.STORES,
            yes=args.yes,
            from_offbox=args.from_offbox,
        )
    return 0


def swarm_images(stack_name: str, nodes: str | None) -> int:
    """Load the stack's images onto every node of its swarm (docs/swarm.md)."""
    from hearth.catalog import services
    from hearth.node_images import distribute
    from hearth.targets.swarm import images

    settings = check_settings(stack_name)
    if settings.platform != "swarm" or not nodes:
        raise SettingsError(
            f"swarm-images loads a swarm stack's images onto its nodes: give a swarm stack "
            f"(got {stack_name!r}, platform {settings.platform}) and NODES, the nodes' Docker "
            "APIs, e.g. NODES=ssh://admin@10.0.0.11,ssh://admin@10.0.0.12"
        )
    distribute(images(services(settings)), nodes.split(","), _out)
    return 0


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
    parser.add_argument(
        "command",
        choices=[
            "up",
            "preview",
            "down",
            "outputs",
            "backup",
            "backups",
            "restore",
            "swarm-images",
        ],
    )
    parser.add_argument("--stack", default="local", help="stack name (default: local)")
    parser.add_argument("--purge", action="store_true", help="with down: also delete the data")
    parser.add_argument("--show-secrets", action="store_true", help="with outputs: unmask")
    parser.add_argument("--full", action="store_true", help="with backup: PostgreSQL in full")
    parser.add_argument("--time", help="with restore: the moment to go back to (ISO 8601)")
    parser.add_argument("--stores", help="with restore: some of postgres,s3,nats (default all)")
    parser.add_argument("--yes", action="store_true", help="with restore: replace live data")
    parser.add_argument(
        "--from-offbox", action="store_true", help="with restore: the off-box copies first"
    )
    parser.add_argument(
        "--nodes", help="with swarm-images: the nodes' Docker APIs, comma-separated"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "swarm-images":
            return swarm_images(args.stack, args.nodes)
        if args.command in ("backup", "backups", "restore"):
            return run_backups(args.command, args.stack, args)
        return run(args.command, args.stack, purge=args.purge, show_secrets=args.show_secrets)
    except backups.RestoreRefused as exc:
        sys.stderr.write(f"refused: {exc}\n")
        return 2
    except (SettingsError, backups.BackupError, DockerError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except auto.CommandError as exc:
        sys.stderr.write(f"error: pulumi {args.command} failed:\n{exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
