"""The GitHub workflows we ship are checked by actionlint, and actionlint really checks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("HEARTH_CACHE", Path.home() / ".cache" / "hearth"))
ACTIONLINT = CACHE / "actionlint-v1.7.12" / "actionlint"


@pytest.fixture(scope="module")
def actionlint() -> Path:
    assert ACTIONLINT.is_file(), f"{ACTIONLINT} missing: run `make setup`"
    return ACTIONLINT


def test_shipped_workflows_pass_actionlint(actionlint: Path) -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"ci.yml", "preview.yml"}
    result = subprocess.run(  # noqa: S603 (our own binary on our own files)
        [actionlint, *workflows], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ matrix.nope }}\n"
    )
    result = subprocess.run(  # noqa: S603
        [actionlint, bad], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "matrix" in result.stdout


def test_preview_workflow_comments_the_diff_for_every_stack() -> None:
    import yaml

    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())
    job = doc["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["local", "linux", "wsl2", "truenas"]
    (action,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions")]
    assert action["with"]["command"] == "preview"
    assert action["with"]["diff"] is True
    assert action["with"]["comment-on-pr"] is True
