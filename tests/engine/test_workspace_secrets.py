"""Generated secrets through the real Pulumi CLI: made once, encrypted, machine-local."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from hearth import workspace
from hearth.secrets import GENERATED
from hearth.settings import parse_settings


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.t.yaml").write_text(
        yaml.safe_dump({"config": {"hearth:platform": "local"}})
    )
    monkeypatch.setattr(workspace, "ROOT", tmp_path)
    monkeypatch.setattr(workspace, "STATE_DIR", tmp_path / ".state")
    monkeypatch.setattr(workspace, "WORKSPACE_DIR", tmp_path / ".state" / "workspace")
    monkeypatch.setattr(workspace, "PASSPHRASE_FILE", tmp_path / ".pulumi-passphrase")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "restored-by-monkeypatch")
    return tmp_path


def test_secrets_are_generated_once_encrypted_and_kept_out_of_the_committed_file(
    repo: Path,
) -> None:
    stack = workspace.select_stack("t")
    config = stack.get_all_config()
    values = {key: config[f"hearth:{key}"] for key in GENERATED}
    assert all(v.secret and len(v.value) >= 32 for v in values.values())
    assert len({v.value for v in values.values()}) == len(GENERATED), "each secret is distinct"

    local = (repo / ".state" / "workspace" / "Pulumi.t.yaml").read_text()
    for v in values.values():
        assert v.value not in local, "secrets are stored encrypted"
    assert "hearth:" not in (repo / "stacks" / "Pulumi.t.yaml").read_text().replace(
        "hearth:platform", ""
    ), "the committed stack file gains nothing"

    again = workspace.select_stack("t")
    assert workspace.ensure_secrets(again) == []
    assert {k: again.get_all_config()[f"hearth:{k}"].value for k in GENERATED} == {
        k: v.value for k, v in values.items()
    }


def test_a_secret_the_project_no_longer_declares_is_removed(repo: Path) -> None:
    """A replaced service's secret left in a stack would be refused as an unknown setting."""
    stack = workspace.select_stack("t")
    stack.set_config("hearth:retiredServiceSecret", auto.ConfigValue("x" * 32, secret=True))
    again = workspace.select_stack("t")
    config = again.get_all_config()
    assert "hearth:retiredServiceSecret" not in config
    assert all(f"hearth:{key}" in config for key in GENERATED)
    # What the program parses (every config value, secrets included) is accepted.
    parse_settings({k: v.value for k, v in config.items()}, stack="t")
