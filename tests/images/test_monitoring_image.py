"""The monitoring image accepts the configuration files the catalog renders: each file is
checked by the program that reads it, run hardened from hearth/monitoring:local, for the
default stack and for one with a domain, a webhook and mail."""

from __future__ import annotations

import posixpath
import shutil
import subprocess
from pathlib import Path

import pytest

from hearth.catalog import services
from hearth.catalog.monitoring import ETC
from hearth.catalog.spec import ServiceSpec
from hearth.settings import Settings, parse_settings

from .conftest import ImageBuilder

STACKS = {
    "default": parse_settings({}),
    "domain-webhook-mail": parse_settings(
        {
            "hearth:platform": "linux",
            "hearth:bindAddress": "192.168.1.20",
            "hearth:domain": "hearth.example.org",
            "hearth:alertWebhookUrl": "https://hooks.example.org/hearth",
            "hearth:alertEmailTo": "ops@example.org",
            "hearth:alertSmtpHost": "relay.lan:25",
        }
    ),
}

CHECKS = {
    "alertmanager": ["amtool", "check-config", "/c/alertmanager.yml"],
    "blackbox-exporter": [
        "prometheus-blackbox-exporter",
        "--config.check",
        "--config.file=/c/blackbox.yml",
    ],
    "vmalert": ["vmalert", "-dryRun", "-rule=/c/*.yml"],
    "metrics": [
        "victoria-metrics",
        "-promscrape.config=/c/scrape.yml",
        "-promscrape.config.strictParse",
        "-promscrape.config.dryRun",
    ],
}
"""Service → the command that checks its rendered files, mounted at /c."""


DOCKER = shutil.which("docker") or "/usr/bin/docker"
HARDENED = ("--rm", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")


def docker_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - docker with arguments from these tests
        [DOCKER, "run", *HARDENED, "--network", "none", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_files(spec: ServiceSpec, into: Path) -> None:
    for f in spec.files:
        if f.target.startswith(f"{ETC}/dashboards/"):
            continue
        (into / posixpath.basename(f.target)).write_text(f.content)


@pytest.fixture(scope="module")
def image(image_builder: ImageBuilder) -> str:
    return image_builder("monitoring")


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("service", CHECKS)
def test_the_programs_accept_the_rendered_configuration(
    image: str, tmp_path: Path, stack: str, service: str
) -> None:
    settings: Settings = STACKS[stack]
    (spec,) = [s for s in services(settings) if s.name == service]
    write_files(spec, tmp_path)
    tmp_path.chmod(0o755)
    proc = docker_run("--user", spec.user, "-v", f"{tmp_path}:/c:ro", image, *CHECKS[service])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_nats_exporter_and_every_program_start_without_capabilities(image: str) -> None:
    """Debian's blackbox exporter carries a file capability (ping): exec would fail under
    no-new-privileges with every capability dropped, so the image strips it."""
    for program in (
        "prometheus-blackbox-exporter",
        "prometheus-node-exporter",
        "prometheus-postgres-exporter",
        "prometheus-redis-exporter",
        "prometheus-alertmanager",
        "victoria-metrics",
        "victoria-logs",
        "vmalert",
        "hearth-nats-exporter",
    ):
        proc = docker_run(image, program, "--help")
        assert "operation not permitted" not in (proc.stdout + proc.stderr).lower(), program
        assert "usage" in (proc.stdout + proc.stderr).lower(), (program, proc.stderr[-500:])
