"""The alerting and recording rules, as the catalog renders them for a default stack,
against the unit tests beside this file (vmalert-tool's format, Prometheus' test format):
each alert fires on the series that should fire it, and not on those that should not."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hearth.catalog import services
from hearth.catalog.monitoring import ETC, RULES, VMALERT
from hearth.settings import parse_settings

HERE = Path(__file__).resolve().parent
TESTS = sorted(HERE.glob("*.test.yml"))
DOCKERFILE = HERE.parents[1] / "images" / "monitoring" / "Dockerfile"
(VERSION,) = re.findall(r"^ARG VICTORIAMETRICS_VERSION=(\S+)$", DOCKERFILE.read_text(), re.M)
"""VictoriaMetrics' release in the monitoring image, whose vmalert-tool `make setup` copies."""
VMALERT_TOOL = Path(
    os.environ.get(
        "HEARTH_VMALERT_TOOL",
        Path.home() / ".cache" / "hearth" / f"vmalert-tool-{VERSION}" / "vmalert-tool",
    )
)


def rule_files() -> dict[str, str]:
    """File name → content of each rule file vmalert gets on the default stack."""
    (vmalert,) = [s for s in services(parse_settings({})) if s.name == VMALERT]
    prefix = f"{ETC}/rules/"
    return {f.target.removeprefix(prefix): f.content for f in vmalert.files}


def alerts_in(content: str) -> set[str]:
    doc = yaml.safe_load(content)
    return {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}


def test_every_rule_group_has_its_unit_tests() -> None:
    assert {t.name.removesuffix(".test.yml") for t in TESTS} == set(RULES)


def test_every_alert_is_seen_firing_by_a_test() -> None:
    fired: set[str] = set()
    for t in TESTS:
        for case in yaml.safe_load(t.read_text())["tests"]:
            fired |= {a["alertname"] for a in case.get("alert_rule_test", []) if a["exp_alerts"]}
    declared = set().union(*(alerts_in(c) for c in rule_files().values()))
    assert declared - fired == set(), "alerts no test sees firing"


@pytest.mark.parametrize("test_file", TESTS, ids=[t.stem for t in TESTS])
def test_rules_pass_their_unit_tests(test_file: Path, tmp_path: Path) -> None:
    assert VMALERT_TOOL.is_file(), (
        f"{VMALERT_TOOL} is missing; build it with `make setup` (tools/setup.sh)"
    )
    for name, content in rule_files().items():
        (tmp_path / name).write_text(content)
    shutil.copy(test_file, tmp_path / test_file.name)
    proc = subprocess.run(  # noqa: S603 - our own tool and files
        [str(VMALERT_TOOL), "unittest", f"--files={test_file.name}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
