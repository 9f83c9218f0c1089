"""The rendered Compose document of the platform, run for real on this machine's Engine.

Opt-in: the suite is collected only with HEARTH_COMPOSE_E2E=1 (tools/test-platform.sh
sets it after building Docker Compose and the images), so `pytest tests` stays fast and
offline.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hearth.compose import dump, host_files, render
from hearth.secrets import GENERATED
from hearth.services import services
from hearth.settings import Settings, parse_settings
from hearth.specs import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_VERSION = "v2.40.3"
DEFAULT_COMPOSE = (
    Path.home() / ".cache" / "hearth" / f"compose-{COMPOSE_VERSION}" / "docker-compose"
)
UP_TIMEOUT_S = 300
HTTP_PORT, HTTPS_PORT = 18080, 18443
"""Published on 127.0.0.1 only; not the defaults, so a running `local` stack is left alone."""

if os.environ.get("HEARTH_COMPOSE_E2E") != "1":
    collect_ignore_glob = ["test_*.py"]


def run(args: Sequence[str], *, timeout: float = 60, check: bool = True, **kw: Any) -> str:
    """Run a command; its output on success, its output in the failure otherwise."""
    proc = subprocess.run(  # noqa: S603 - fixed programs, arguments from this suite
        list(args), capture_output=True, text=True, timeout=timeout, check=False, **kw
    )
    out: str = proc.stdout
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
    return out


def inspect(container: str) -> dict[str, Any]:
    out: list[dict[str, Any]] = json.loads(run(["docker", "inspect", container]))
    return out[0]


@dataclass
class Platform:
    """One throwaway project: its settings, specs, host files and Compose document."""

    project: str
    settings: Settings
    specs: tuple[ServiceSpec, ...]
    workdir: Path
    secret_values: dict[str, str]
    compose_bin: str
    generation: int = 1
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def secrets_dir(self) -> Path:
        return self.workdir / "secrets"

    @property
    def compose_file(self) -> Path:
        return self.workdir / "compose.yaml"

    def container(self, service: str) -> str:
        return f"{self.project}-{service}"

    @property
    def long_running(self) -> list[ServiceSpec]:
        return [s for s in self.specs if not s.one_shot]

    def write_document(self, extra_env: Mapping[str, Mapping[str, str]] | None = None) -> str:
        specs = self.specs
        if extra_env:
            from dataclasses import replace

            specs = tuple(
                replace(s, env={**s.env, **extra_env[s.name]}) if s.name in extra_env else s
                for s in specs
            )
        text = dump(
            render(self.settings, specs, project=self.project, secrets_dir=str(self.secrets_dir))
        )
        self.compose_file.write_text(text)
        return text

    def compose(self, *args: str, timeout: float = UP_TIMEOUT_S) -> str:
        return run(
            [self.compose_bin, "-f", str(self.compose_file), "-p", self.project, *args],
            timeout=timeout,
        )

    def up(self) -> None:
        self.compose(
            "up", "-d", "--pull", "never", "--wait", "--wait-timeout", str(UP_TIMEOUT_S - 20)
        )

    def wait_healthy(self, service: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = inspect(self.container(service))["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                return
            time.sleep(1)
        raise AssertionError(f"{service} not healthy after {timeout} s: {state}")


def write_host_files(
    specs: Sequence[ServiceSpec], secrets_dir: Path, values: dict[str, str]
) -> None:
    """Secrets 0400 owned by the uid reading them; configuration files root-owned."""
    for f in host_files(specs, secrets_dir=str(secrets_dir)):
        path = Path(f.path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = values[f.secret] if f.secret is not None else (f.content or "")
        path.write_text(text)
        os.chown(path, f.uid, f.gid)
        path.chmod(f.mode)


def require_images(specs: Sequence[ServiceSpec]) -> None:
    """The images the specs name (tools/build-images.sh builds them), present before `up`:
    Compose would otherwise try to pull them."""
    missing = []
    for image in sorted({s.image for s in specs}):
        # `docker image inspect` of a missing image prints [] (and exits 1).
        if not json.loads(run(["docker", "image", "inspect", image], check=False) or "[]"):
            missing.append(image)
    if missing:
        pytest.fail(f"images {missing} are missing: run tools/test-platform.sh (it builds them)")


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    compose_bin = os.environ.get("HEARTH_COMPOSE", str(DEFAULT_COMPOSE))
    if not Path(compose_bin).is_file():
        pytest.fail(f"Docker Compose not found at {compose_bin}: run tools/test-platform.sh")
    settings = parse_settings(
        {"hearth:httpPort": str(HTTP_PORT), "hearth:httpsPort": str(HTTPS_PORT)}, stack="e2e"
    )
    specs = services(settings)
    require_images(specs)
    workdir = Path(tempfile.mkdtemp(prefix="hearth-compose-e2e-"))
    values = {name: secrets.token_urlsafe(32) for name in GENERATED}
    p = Platform(
        project=f"hearth-e2e-{secrets.token_hex(3)}",
        settings=settings,
        specs=specs,
        workdir=workdir,
        secret_values=values,
        compose_bin=compose_bin,
    )
    write_host_files(specs, p.secrets_dir, values)
    p.write_document()
    started = time.monotonic()
    try:
        try:
            p.up()
        except AssertionError:
            # What the failing containers said, in the failure's output.
            sys.stderr.write(p.compose("logs", "--no-color", "--tail", "30", timeout=60))
            raise
        p.figures["up_to_healthy_s"] = round(time.monotonic() - started, 1)
        yield p
    finally:
        p.compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=120)
        leftovers = run(
            ["docker", "volume", "ls", "-q", "--filter", f"label=hearth.project={p.project}"]
        )
        shutil.rmtree(workdir, ignore_errors=True)
        report = ROOT / ".state" / "compose-e2e-figures.json"
        report.parent.mkdir(exist_ok=True)
        report.write_text(json.dumps(p.figures, indent=2) + "\n")
        assert not leftovers.strip(), f"volumes left after down -v: {leftovers}"


# ---- HTTPS through the edge ---------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Edge:
    """HTTPS to the edge on 127.0.0.1, verified against the edge's own internal CA."""

    def __init__(self, base: str, ca_pem: str) -> None:
        self.base = base
        self.tls = ssl.create_default_context(cadata=ca_pem)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15,
    ) -> Response:
        full = url if url.startswith("https://") else self.base + url
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(full, data=data, method=method, headers=hdrs)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.tls) as r:  # noqa: S310
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())


@pytest.fixture(scope="session")
def edge(platform: Platform) -> Edge:
    ca = run(
        [
            "docker",
            "exec",
            platform.container("edge"),
            "cat",
            "/data/caddy/pki/authorities/local/root.crt",
        ]
    )
    return Edge(f"https://localhost:{HTTPS_PORT}", ca)
