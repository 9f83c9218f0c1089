"""The catalog's config files (rendered from hearth/catalog/templates/) pinned as snapshots.

A change to a template, or to what a service gives it, shows here as a diff to review. When
the change is intended, refresh the snapshots and commit them with it:

    HEARTH_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_catalog_snapshots.py

Snapshots live in tests/unit/snapshots/catalog/<case>/<service>/<file name>.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import jinja2
import pytest

from hearth.catalog import services
from hearth.catalog.common import render
from hearth.catalog.spec import ConfigFile
from hearth.settings import parse_settings

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "catalog"
UPDATE = os.environ.get("HEARTH_UPDATE_SNAPSHOTS") == "1"
REFRESH = "HEARTH_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_catalog_snapshots.py"

CASES = {
    "default": {},
    # A LAN server with a public name: ACME, three replicas, published off loopback.
    "linux-domain": {
        "hearth:platform": "linux",
        "hearth:bindAddress": "192.168.1.20",
        "hearth:domain": "hearth.example.org",
        "hearth:acmeEmail": "ops@example.org",
        "hearth:appReplicas": "3",
    },
}


def rendered() -> dict[str, ConfigFile]:
    """Every config file of every case, by its snapshot path (relative to SNAPSHOTS)."""
    files: dict[str, ConfigFile] = {}
    for case, config in CASES.items():
        for spec in services(parse_settings(config)):
            for f in spec.files:
                files[f"{case}/{spec.name}/{posixpath.basename(f.target)}"] = f
    return files


RENDERED = rendered()


@pytest.mark.parametrize("key", sorted(RENDERED))
def test_rendered_file_matches_its_snapshot(key: str) -> None:
    path = SNAPSHOTS / key
    content = RENDERED[key].content
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    assert path.is_file(), f"no snapshot {path}; create it with: {REFRESH}"
    assert content == path.read_text(), f"{key} differs from its snapshot; if intended: {REFRESH}"


def test_every_snapshot_belongs_to_a_rendered_file() -> None:
    stale = sorted(
        str(p.relative_to(SNAPSHOTS))
        for p in SNAPSHOTS.rglob("*")
        if p.is_file() and str(p.relative_to(SNAPSHOTS)) not in RENDERED
    )
    if UPDATE:
        for key in stale:
            (SNAPSHOTS / key).unlink()
        stale = []
    assert not stale, f"snapshots of files the catalog no longer renders: {stale}; {REFRESH}"


def test_templates_refuse_a_missing_value() -> None:
    # StrictUndefined: a value the code forgets to pass fails the render, never yields "".
    with pytest.raises(jinja2.UndefinedError, match="endpoint"):
        render("s3/bootstrap.sh.j2")


def test_scripts_are_executable_and_config_files_are_not() -> None:
    for key, f in RENDERED.items():
        expected = 0o555 if f.content.startswith("#!") else 0o444
        assert f.mode == expected, f"{key}: mode {f.mode:o}"
