"""Fixtures for the image tests: build the images once, run containers hardened.

Every container runs as the platform runs it: read-only root filesystem, all
capabilities dropped, no-new-privileges, the image's own non-root uid, secrets
as mounted files, ports published on 127.0.0.1 only. Containers and volumes
get unique names and are removed after each test.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container

ROOT = Path(__file__).resolve().parents[2]
TEST_LABEL = "hearth.test"
HEALTHY_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    try:
        client.ping()
    except docker.errors.DockerException as exc:  # pragma: no cover - environment
        pytest.fail(f"the Docker Engine does not answer ({exc}); run: bash tools/docker-engine.sh")
    yield client
    client.close()


@dataclass
class ImageBuilder:
    """Builds each image at most once per session, through tools/build-images.sh
    (which skips an image whose build context is unchanged), so the tests always
    run what the repository's Dockerfiles make."""

    done: set[str] = field(default_factory=set)

    def __call__(self, service: str) -> str:
        if service not in self.done:
            bash = shutil.which("bash") or "/bin/bash"
            result = subprocess.run(  # noqa: S603 - our own script, arguments from the tests
                [bash, str(ROOT / "tools" / "build-images.sh"), service],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                pytest.fail(f"tools/build-images.sh {service} failed:\n{result.stderr[-4000:]}")
            self.done.add(service)
        return f"hearth/{service}:local"


@pytest.fixture(scope="session")
def image_builder(docker_client: docker.DockerClient) -> ImageBuilder:
    return ImageBuilder()


def _health(container: Container) -> str:
    container.reload()
    state = container.attrs["State"]
    if state["Status"] in {"exited", "dead"}:
        return "exited"
    return str(state.get("Health", {}).get("Status", "none"))


def wait_healthy(container: Container, timeout: float = HEALTHY_TIMEOUT_S) -> None:
    """Wait until Docker reports the image's own HEALTHCHECK as healthy."""
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        status = _health(container)
        if status == "healthy":
            return
        if status == "exited":
            break
        time.sleep(0.5)
    logs = container.logs(tail=40).decode(errors="replace")
    pytest.fail(f"{container.name} is {status}, not healthy, after {timeout:.0f} s; logs:\n{logs}")


def host_port(container: Container, port: str) -> int:
    """The 127.0.0.1 port Docker published for the container's `port` (e.g. '5432/tcp')."""
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"][port]
    return int(bindings[0]["HostPort"])


@dataclass
class Harness:
    """Starts hardened containers and named volumes, and removes them afterwards."""

    client: docker.DockerClient
    secrets_dir: Path
    build: ImageBuilder
    containers: list[Container] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def name(self, service: str) -> str:
        return f"hearth-test-{service}-{uuid.uuid4().hex[:10]}"

    def secret(self, name: str, value: str) -> Path:
        """A secret file as Docker/Compose mount them: world-readable, no other copy."""
        path = self.secrets_dir / name
        path.write_text(value + "\n")
        path.chmod(0o444)
        return path

    def volume(self, service: str) -> str:
        vol = self.client.volumes.create(name=self.name(service), labels={TEST_LABEL: "images"})
        self.volumes.append(str(vol.name))
        return str(vol.name)

    def run(
        self,
        service: str,
        *,
        user: str,
        ports: list[str],
        environment: dict[str, str] | None = None,
        secrets: dict[str, Path] | None = None,
        volumes: dict[str, str] | None = None,
        tmpfs: dict[str, str] | None = None,
        name: str | None = None,
    ) -> Container:
        """Run hearth/<service>:local hardened; `secrets` maps a container path to a host file."""
        image = self.build(service)
        mounts: dict[str, dict[str, str]] = {}
        for target, source in (secrets or {}).items():
            mounts[str(source)] = {"bind": target, "mode": "ro"}
        for vol, target in (volumes or {}).items():
            mounts[vol] = {"bind": target, "mode": "rw"}
        kwargs: dict[str, Any] = {
            "name": name or self.name(service),
            "detach": True,
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "user": user,
            "environment": environment or {},
            "volumes": mounts,
            "tmpfs": tmpfs or {},
            "ports": {port: ("127.0.0.1", None) for port in ports},
            "labels": {TEST_LABEL: "images"},
            "mem_limit": "1g",
            "pids_limit": 512,
        }
        container = self.client.containers.run(image, **kwargs)
        self.containers.append(container)
        return container

    def cleanup(self) -> None:
        for container in self.containers:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        for vol in self.volumes:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.volumes.get(vol).remove(force=True)


@pytest.fixture
def harness(
    docker_client: docker.DockerClient, image_builder: ImageBuilder, tmp_path: Path
) -> Iterator[Harness]:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    h = Harness(client=docker_client, secrets_dir=secrets_dir, build=image_builder)
    yield h
    h.cleanup()
