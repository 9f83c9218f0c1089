"""One real `pulumi up` of a throwaway swarm stack on a 3-node lab (tools/swarm-lab.sh:
three managers, each its own dockerd in its own network namespace), shared by the swarm
tests, which run in file order: the journey, a second up, a node lost, a rolling update
under load with that node still down, drift, and destroy keeping the data.

Opt-in: collected only with HEARTH_SWARM=1 (tools/test-swarm.sh sets it).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from hearth.catalog import services
from hearth.catalog.common import DATA_NODE, EDGE_NODE
from hearth.node_images import distribute
from hearth.settings import PROJECT, Settings
from hearth.targets.swarm import images
from hearth.workspace import check_settings, select_stack
from tests.e2e.conftest import Edge, Log, run

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tools" / "swarm-lab.sh"
NODES = 3
EDGE_ADDRESS = "10.250.0.11"
"""Node 1's address on the lab's bridge, which the root network namespace reaches."""
LABELS = {
    1: (DATA_NODE, EDGE_NODE, "hearth.nats=1"),
    2: ("hearth.nats=2",),
    3: ("hearth.nats=3",),
}
"""As the Ansible inventory of docs/swarm.md labels three boxes."""
STACK_CONFIG = {
    "bindAddress": EDGE_ADDRESS,
    "httpPort": 8080,
    "httpsPort": 8443,
    "appReplicas": 2,
}
FIGURES = ROOT / ".state" / "swarm-figures.json"

if os.environ.get("HEARTH_SWARM") != "1":
    collect_ignore_glob = ["test_*.py"]


def lab(*args: str, timeout: float = 300) -> str:
    return run(["bash", str(LAB), *args], timeout=timeout).strip()


def node_host(n: int) -> str:
    return "unix://" + lab("socket", str(n))


def node_docker(n: int, *args: str, timeout: float = 60, check: bool = True) -> str:
    return run(["docker", "-H", node_host(n), *args], timeout=timeout, check=check)


@dataclass
class Swarm:
    """The deployed throwaway stack on the lab."""

    stack: auto.Stack
    settings: Settings
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return f"{PROJECT}-{self.stack.name}"

    def up(self, what: str, **kw: Any) -> auto.UpResult:
        started = time.monotonic()
        result = self.stack.up(on_output=Log(), color="never", **kw)
        self.figures[f"{what}_s"] = round(time.monotonic() - started, 1)
        return result

    def set(self, key: str, value: str) -> None:
        self.stack.set_config(f"{PROJECT}:{key}", auto.ConfigValue(value))

    def tasks(self, service: str) -> list[dict[str, str]]:
        """The service's running tasks: node and container id, from the manager."""
        out = node_docker(
            1, "service", "ps", "--filter", "desired-state=running",
            "--format", "{{json .}}", f"{self.namespace}_{service}",
        )  # fmt: skip
        return [json.loads(line) for line in out.splitlines()]

    def container(self, node: int, service: str) -> str:
        """A running container of `service` on lab node `node`."""
        label = f"label=com.docker.swarm.service.name={self.namespace}_{service}"
        ids = node_docker(node, "ps", "-q", "--filter", label).split()
        assert ids, f"no running {service} container on node {node}"
        return ids[0]


@pytest.fixture(scope="session")
def swarm() -> Iterator[Swarm]:
    started = time.monotonic()
    lab("down", timeout=600)  # whatever an interrupted run left: a lab starts whole
    lab("up")
    for node, labels in LABELS.items():
        args = [a for label in labels for a in ("--label-add", label)]
        node_docker(1, "node", "update", *args, f"hearth-lab-{node}")
    figures: dict[str, Any] = {"lab_up_s": round(time.monotonic() - started, 1)}
    name = f"swarmlab-{secrets.token_hex(3)}"
    stack = select_stack(name, config_from="swarm")
    s = Swarm(stack, check_settings("swarm"), figures)
    s.set("swarmManager", node_host(1))
    for key, value in STACK_CONFIG.items():
        s.set(key, str(value))
    s.settings = Settings.model_validate(
        {**s.settings.model_dump(by_alias=True), "swarmManager": node_host(1), **STACK_CONFIG}
    )
    try:
        started = time.monotonic()
        hosts = [node_host(n) for n in range(1, NODES + 1)]
        distribute(images(services(s.settings)), hosts, Log())
        figures["images_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        s.up("first_up")
        figures["first_up_to_converged_s"] = round(time.monotonic() - started, 1)
        yield s
    finally:
        try:
            stack.destroy(on_output=Log(), color="never")
        finally:
            stack.workspace.remove_stack(name)
            FIGURES.parent.mkdir(exist_ok=True)
            FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
            if os.environ.get("HEARTH_SWARM_KEEP_LAB") != "1":
                lab("down", timeout=600)


@pytest.fixture(scope="session")
def edge(swarm: Swarm) -> Edge:
    ca = node_docker(
        1, "exec", swarm.container(1, "edge"), "cat", "/data/caddy/pki/authorities/local/root.crt"
    )
    return Edge(f"https://{EDGE_ADDRESS}:{swarm.settings.https_port}", ca)


def node_status(n: int) -> str:
    """`Ready` or `Down`, as the managers still answering see node n."""
    for manager in range(1, NODES + 1):
        out = subprocess.run(  # noqa: S603
            ["docker", "-H", node_host(manager), "node", "inspect", "--format",  # noqa: S607
             "{{.Status.State}}", f"hearth-lab-{n}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if out.returncode == 0:
            return out.stdout.strip()
    raise AssertionError("no manager answers")
