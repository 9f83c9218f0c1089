"""The workspace keeps committed settings authoritative and machine secrets local."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from hearth import workspace


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / ".state" / "workspace").mkdir(parents=True)
    monkeypatch.setattr(workspace, "ROOT", tmp_path)
    monkeypatch.setattr(workspace, "WORKSPACE_DIR", tmp_path / ".state" / "workspace")
    monkeypatch.setattr(workspace, "PASSPHRASE_FILE", tmp_path / ".pulumi-passphrase")
    # ensure_passphrase exports this; setting it here makes monkeypatch restore it.
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "unset-by-teardown")
    return tmp_path


def write(path: Path, doc: dict[str, object]) -> None:
    path.write_text(yaml.safe_dump(doc))


def test_sync_takes_plain_settings_from_the_committed_file_and_keeps_local_secrets(
    repo: Path,
) -> None:
    write(repo / "stacks" / "Pulumi.s.yaml", {"config": {"hearth:httpPort": 9000}})
    local = repo / ".state" / "workspace" / "Pulumi.s.yaml"
    write(
        local,
        {
            "encryptionsalt": "v1:salt",
            "config": {
                "hearth:httpPort": 8080,
                "hearth:removed": "x",
                "hearth:adminPassword": {"secure": "v1:cipher"},
            },
        },
    )
    workspace.sync_config("s", "s")
    doc = yaml.safe_load(local.read_text())
    assert doc["encryptionsalt"] == "v1:salt"
    assert doc["config"] == {
        "hearth:httpPort": 9000,
        "hearth:adminPassword": {"secure": "v1:cipher"},
    }


def test_unknown_stack_names_the_stacks_that_exist(repo: Path) -> None:
    write(repo / "stacks" / "Pulumi.local.yaml", {"config": {}})
    with pytest.raises(SystemExit, match=r"unknown stack 'prod'.*\['local'\]"):
        workspace.committed_config("prod")


def test_passphrase_is_generated_once_with_mode_0600(repo: Path) -> None:
    workspace.ensure_passphrase()
    first = workspace.PASSPHRASE_FILE.read_text()
    workspace.ensure_passphrase()
    assert workspace.PASSPHRASE_FILE.read_text() == first
    assert len(first) >= 32
    assert stat.S_IMODE(workspace.PASSPHRASE_FILE.stat().st_mode) == 0o600


def test_invalid_committed_config_is_refused_before_pulumi_starts(repo: Path) -> None:
    write(repo / "stacks" / "Pulumi.s.yaml", {"config": {"hearth:httpPort": 99999}})
    with pytest.raises(workspace.SettingsError, match="hearth:httpPort"):
        workspace.check_settings("s")
