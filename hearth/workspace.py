"""Run the Hearth program through Pulumi's Automation API.

The program runs inline (in this process), so the Pulumi CLI needs no separate
Python language host. State lives in the DIY file backend under `.state/`, and
the secrets passphrase is generated once into `.pulumi-passphrase` (mode 0600);
both are git-ignored and belong to this machine.

Every preview and up runs the security baseline, the policy pack in `policies/` (ADR
0008): a stack whose services break it fails, and `make up` fails before anything changes.

The committed `stacks/Pulumi.<stack>.yaml` holds a stack's plain settings. The
workspace's own copy under `.state/` adds what is machine-local: the passphrase
salt and secret values. Plain settings are copied over on every run, so the
committed file stays the single source of truth for them.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode

from hearth.secrets import GENERATED, new_secret
from hearth.settings import PROJECT, SECRET_KEYS, Settings, SettingsError, parse_settings

__all__ = ["PolicedStack", "SettingsError", "check_settings", "select_stack"]

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".state"
WORKSPACE_DIR = STATE_DIR / "workspace"
PASSPHRASE_FILE = ROOT / ".pulumi-passphrase"
POLICY_PACK = ROOT / "policies"


class PolicedStack(auto.Stack):
    """A stack whose every `preview` and `up` runs the policy pack: its violations are
    mandatory, so they fail the run, with the pack's message for each."""

    @classmethod
    def create_or_select(cls, stack_name: str, workspace: auto.Workspace) -> PolicedStack:
        return cls(stack_name, workspace, StackInitMode.CREATE_OR_SELECT)

    def preview(self, *args: Any, **kwargs: Any) -> auto.PreviewResult:
        return super().preview(*args, **with_policy_pack(kwargs))

    def up(self, *args: Any, **kwargs: Any) -> auto.UpResult:
        return super().up(*args, **with_policy_pack(kwargs))

    def preview_then_up(self, **kwargs: Any) -> auto.UpResult:
        """`up`, after a quiet preview that must pass (as an interactive `pulumi up` does).

        `up` checks and applies each resource as the program declares it, and the Compose
        services come after the files and volumes they mount: alone, it would apply those
        before a violation stops it. The preview stops it before anything changes, for
        about the time of a preview (1.5-3 s on `local`)."""
        self.preview(program=kwargs.get("program"))
        return self.up(**kwargs)


def with_policy_pack(kwargs: dict[str, Any]) -> dict[str, Any]:
    packs = [*(kwargs.get("policy_packs") or []), str(POLICY_PACK)]
    return {**kwargs, "policy_packs": packs}


def stack_file(stack: str) -> Path:
    return ROOT / "stacks" / f"Pulumi.{stack}.yaml"


def committed_config(stack: str) -> dict[str, Any]:
    path = stack_file(stack)
    if not path.is_file():
        known = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml")
            for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
        )
        raise SystemExit(f"unknown stack {stack!r}: {path} is missing (stacks here: {known})")
    doc = yaml.safe_load(path.read_text()) or {}
    config: dict[str, Any] = doc.get("config") or {}
    return config


def check_settings(stack: str) -> Settings:
    """Validate the committed config before Pulumi is even started."""
    plain = {k: v for k, v in committed_config(stack).items() if not isinstance(v, dict)}
    return parse_settings({k: str(v) for k, v in plain.items()}, stack=stack)


def ensure_passphrase() -> None:
    if not PASSPHRASE_FILE.exists():
        fd = os.open(PASSPHRASE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    os.environ["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(PASSPHRASE_FILE)
    os.environ.pop("PULUMI_CONFIG_PASSPHRASE", None)


def sync_config(stack: str, config_from: str) -> None:
    """Write the workspace's stack file: committed plain settings + local secrets and salt."""
    local_path = WORKSPACE_DIR / f"Pulumi.{stack}.yaml"
    local: dict[str, Any] = {}
    if local_path.is_file():
        local = yaml.safe_load(local_path.read_text()) or {}
    secure = {k: v for k, v in (local.get("config") or {}).items() if isinstance(v, dict)}
    merged: dict[str, Any] = {k: v for k, v in local.items() if k != "config"}
    merged["config"] = {**committed_config(config_from), **secure}
    local_path.write_text(yaml.safe_dump(merged, sort_keys=True))


def select_stack(stack: str, config_from: str | None = None) -> PolicedStack:
    """Create or select `stack` with the inline program, ready to run.

    `config_from` names the committed stack file to use when it is not `stack`'s
    own (tests deploy a throwaway stack with the `local` settings).
    """
    from hearth.program import main  # the program loads the catalog and targets: only here

    config_from = config_from or stack
    check_settings(config_from)
    ensure_passphrase()
    WORKSPACE_DIR.mkdir(parents=True, exist_ok=True)
    sync_config(stack, config_from)
    project = auto.ProjectSettings(
        name=PROJECT,
        runtime="python",
        # What auto.create_or_select_stack would set for an inline program.
        main=os.getcwd(),
        backend=auto.ProjectBackend(url=STATE_DIR.as_uri()),
    )
    workspace = auto.LocalWorkspace(
        work_dir=str(WORKSPACE_DIR),
        program=main,
        project_settings=project,
        secrets_provider="passphrase",
        env_vars={
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # Dynamic providers run `python -m pulumi.dynamic`: use this venv's python,
            # and let it import their classes (hearth.resources.*) whatever the caller's cwd.
            "PULUMI_PYTHON_CMD": sys.executable,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        },
    )
    selected = PolicedStack.create_or_select(stack, workspace)
    ensure_secrets(selected)
    return selected


def ensure_secrets(stack: auto.Stack) -> list[str]:
    """Generate each secret the stack lacks, once; returns the keys it generated. Secrets
    the project no longer declares are removed.

    They are stored encrypted in the workspace's stack file, so they survive every
    later run and never appear in the committed one.
    """
    present = stack.get_all_config()
    # A secret the project no longer declares (one of a service that was replaced) would
    # be refused as an unknown setting: it protects nothing any more, so it goes.
    for full, value in present.items():
        key = full.removeprefix(f"{PROJECT}:")
        if value.secret and key != full and key not in SECRET_KEYS:
            stack.remove_config(full)
    created = []
    for key in GENERATED:
        full = f"{PROJECT}:{key}"
        if full not in present or not present[full].value:
            stack.set_config(full, auto.ConfigValue(value=new_secret(), secret=True))
            created.append(key)
    return created
