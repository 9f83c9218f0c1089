"""HostFile through the real Pulumi engine: files, modes, state encryption, updates."""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest
from pulumi import automation as auto

from hearth.resources.host_file import HostFile


def stack_for(tmp_path: Path, program: Callable[[], None]) -> auto.Stack:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(tmp_path),
        project_settings=auto.ProjectSettings(
            name="secretfile", runtime="python", backend=auto.ProjectBackend(url=state.as_uri())
        ),
        secrets_provider="passphrase",
        env_vars={
            "PULUMI_PYTHON_CMD": sys.executable,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_CONFIG_PASSPHRASE": "test-only",
        },
    )
    return auto.create_or_select_stack("t", project_name="secretfile", program=program, opts=opts)


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    return tmp_path / "secrets"


def test_secret_file_lifecycle(tmp_path: Path, secret_dir: Path) -> None:
    target = secret_dir / "db" / "password"
    conf = secret_dir / "db" / "run.sh"
    value = {"v": "s3cr3t-value-one"}

    def program() -> None:
        HostFile("pw", path=str(target), content=value["v"], secret=True)
        HostFile("conf", path=str(conf), content="plain = 1\n", secret=False, mode=0o555)
        pulumi.export("path", str(target))

    stack = stack_for(tmp_path, program)
    stack.up()
    assert target.read_text() == "s3cr3t-value-one"
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(conf.stat().st_mode) == 0o555
    state_text = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    assert "s3cr3t-value-one" not in state_text, "the secret must be encrypted in state"

    stack.preview(expect_no_changes=True)

    value["v"] = "s3cr3t-value-two"
    result = stack.up()
    assert result.summary.resource_changes == {"update": 1, "same": 2}
    assert target.read_text() == "s3cr3t-value-two"

    stack.destroy()
    assert not target.exists()
    assert not conf.exists()


def test_host_directory_is_owned_by_the_service_uid_and_outlives_destroy(tmp_path: Path) -> None:
    from hearth.resources.data_store import HostDirectory

    data = tmp_path / "data" / "stack" / "postgres-data"

    def program() -> None:
        HostDirectory("pg", path=str(data), uid=999, gid=999)

    stack = stack_for(tmp_path, program)
    stack.up()
    st = data.stat()
    assert (st.st_uid, st.st_gid) == (999, 999)
    assert stat.S_IMODE(st.st_mode) == 0o700
    stack.preview(expect_no_changes=True)
    (data / "PG_VERSION").write_text("17")
    stack.destroy()
    assert (data / "PG_VERSION").read_text() == "17", "destroy must leave the data"
