"""Deployment benchmark: how long `make up` takes, against Pulumi's own floor measured in the
same run.

    .venv/bin/python -m bench.deploy.run [--rounds N] [--write docs/benchmarks.md]

Deploys a throwaway stack with the `local` settings on ports 28080/28443 (a running
`local` stack is left alone), then destroys and purges it. Measures:

- cold `up` with the images cached, to every service healthy;
- a no-change `up` as `make up` runs it (no refresh: the Compose project's diff looks at
  the engine itself), and one with `--refresh`, each divided by an `up` of an empty stack
  in the same backend: Pulumi's fixed cost, the reference;
- an environment change of one service (`redis`) to that service recreated and healthy.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from pulumi import automation as auto

import hearth.program
from hearth.catalog import services
from hearth.settings import PROJECT, Settings
from hearth.targets import docker as docker_target
from hearth.workspace import STATE_DIR, check_settings, ensure_passphrase, select_stack

PORTS = {"httpPort": 28080, "httpsPort": 28443}
START, END = "<!-- bench/deploy:start -->", "<!-- bench/deploy:end -->"


def timed(action: Callable[[], Any]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def quiet(_line: str) -> None:
    """Pulumi's progress is not part of the figure."""


def empty_stack() -> auto.Stack:
    """A stack of this project's backend whose program declares nothing."""
    ensure_passphrase()
    return auto.create_or_select_stack(
        stack_name=f"bench-empty-{secrets.token_hex(3)}",
        project_name=PROJECT,
        program=lambda: None,
        opts=auto.LocalWorkspaceOptions(
            project_settings=auto.ProjectSettings(
                name=PROJECT,
                runtime="python",
                backend=auto.ProjectBackend(url=STATE_DIR.as_uri()),
            ),
            secrets_provider="passphrase",
            env_vars={"PULUMI_SKIP_UPDATE_CHECK": "true"},
        ),
    )


def measure(rounds: int) -> dict[str, Any]:
    name = f"bench-{secrets.token_hex(3)}"
    stack = select_stack(name, config_from="local")
    for key, port in PORTS.items():
        stack.set_config(f"{PROJECT}:{key}", auto.ConfigValue(str(port)))
    settings: Settings = check_settings("local").model_copy(
        update={"http_port": PORTS["httpPort"], "https_port": PORTS["httpsPort"]}
    )
    empty = empty_stack()
    figures: dict[str, Any] = {}
    try:
        figures["cold_up_s"] = timed(lambda: stack.up(on_output=quiet))
        empty.up(on_output=quiet)  # its first run creates the stack's checkpoint
        ref, plain, refreshed = [], [], []
        for _ in range(rounds):
            ref.append(timed(lambda: empty.up(on_output=quiet)))
            plain.append(timed(lambda: stack.up(on_output=quiet, expect_no_changes=True)))
            refreshed.append(
                timed(lambda: stack.up(on_output=quiet, refresh=True, expect_no_changes=True))
            )
        figures["empty_up_s"] = statistics.median(ref)
        figures["no_change_up_s"] = statistics.median(plain)
        figures["no_change_refresh_up_s"] = statistics.median(refreshed)

        def changed(s: Settings) -> Any:
            return tuple(
                replace(x, env={**x.env, "HEARTH_BENCH": "1"}) if x.name == "redis" else x
                for x in services(s)
            )

        with mock.patch.object(hearth.program, "services", changed):
            figures["env_change_up_s"] = timed(lambda: stack.up(on_output=quiet))
        figures["services"] = len(services(settings))
    finally:
        stack.destroy(on_output=quiet)
        docker_target.purge(stack, settings)
        stack.workspace.remove_stack(name)
        empty.destroy(on_output=quiet)
        empty.workspace.remove_stack(empty.name)
    return figures


def table(f: dict[str, Any], rounds: int) -> str:
    ratio = f["no_change_up_s"] / f["empty_up_s"]
    ratio_refresh = f["no_change_refresh_up_s"] / f["empty_up_s"]
    mark = "✅" if ratio <= 1.5 else "❌"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""{START}
## Deploying

Measured {when} by `.venv/bin/python -m bench.deploy.run --rounds {rounds}`: a throwaway stack
with the `local` settings ({f["services"]} services), images cached, on this machine's Docker
Engine. No-change figures are medians of {rounds} rounds, each beside an `up` of an empty stack
in the same backend (Pulumi's fixed cost: engine start, checkpoint, the inline program).

| measure | value | target |
|---|---|---|
| cold `make up` (images cached) to every service healthy | {f["cold_up_s"]:.1f} s |  |
| `up` of an empty stack (reference) | {f["empty_up_s"]:.2f} s |  |
| no-change `up`, as `make up` runs it | {f["no_change_up_s"]:.2f} s |  |
| ratio no-change `make up` ÷ empty `up` | {ratio:.2f} | ≤ 1.5 {mark} |
| no-change `up --refresh` | {f["no_change_refresh_up_s"]:.2f} s |  |
| ratio no-change `up --refresh` ÷ empty `up` | {ratio_refresh:.2f} |  |
| one service's environment changed → recreated and healthy | {f["env_change_up_s"]:.1f} s |  |
{END}"""


def write(path: Path, text: str) -> None:
    doc = path.read_text()
    if START in doc:
        doc = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: text, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + text + "\n"
    path.write_text(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", type=Path, help="update this Markdown file's deploy section")
    args = parser.parse_args()
    text = table(measure(args.rounds), args.rounds)
    sys.stdout.write(text + "\n")
    if args.write:
        write(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
