"""The backup image runs hardened as each data owner's uid, carries the pinned tools, and its
NATS CLI backs a JetStream stream up from our NATS image and restores it."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from docker.models.networks import Network

from .conftest import TEST_LABEL, Harness, ImageBuilder, wait_healthy

DOCKER = shutil.which("docker") or "/usr/bin/docker"
HARDENED = (
    "--rm",
    "--read-only",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--tmpfs",
    "/tmp",  # noqa: S108 - a tmpfs inside the container, as the catalog mounts it
    "--network",
    "none",
)
BACKUP_DIR = "/tmp/orders"  # noqa: S108 - on the backup container's tmpfs
USERS = {"postgres": "999:999", "s3": "996:996", "nats": "997:997"}
"""The data owners the catalog runs backup services as (images/postgres, s3, nats)."""


@pytest.fixture(scope="module")
def image(image_builder: ImageBuilder) -> str:
    return image_builder("backup")


def run_in(image: str, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a shell command line in the image, hardened, with a tmpfs /tmp only."""
    as_user = ("--user", user) if user else ()
    return subprocess.run(  # noqa: S603 - docker with arguments from these tests
        [DOCKER, "run", *HARDENED, *as_user, "--entrypoint", "sh", image, "-c", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_default_user_is_postgres_and_the_root_is_read_only(image: str) -> None:
    proc = run_in(image, "id -u; id -g; touch /hearth-write-test")
    assert proc.stdout.split() == ["999", "999"]
    assert "Read-only file system" in proc.stderr


@pytest.mark.parametrize("owner", USERS)
def test_the_pinned_tools_run_as_each_data_owner(image: str, owner: str) -> None:
    proc = run_in(
        image,
        "id -u; pgbackrest version; restic version; nats --version; psql --version; "
        "grep -E '^Cap(Eff|Prm)|^NoNewPrivs' /proc/self/status",
        user=USERS[owner],
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == USERS[owner].split(":")[0]
    assert lines[1].startswith("pgBackRest 2.55."), lines[1]
    assert lines[2].startswith("restic 0.18."), lines[2]
    assert lines[3] == "v0.5.0"
    assert lines[4].startswith("psql (PostgreSQL) 17."), lines[4]
    status = dict(line.split(":\t") for line in lines[5:])
    assert status == {"CapPrm": "0" * 16, "CapEff": "0" * 16, "NoNewPrivs": "1"}


# --- NATS: a stream backed up and restored over the network ------------------------


@pytest.fixture
def network(docker_client: docker.DockerClient, harness: Harness) -> Iterator[Network]:
    """A user-defined network, as Compose makes, removed with whatever is still on it."""
    net = docker_client.networks.create(
        harness.name("backup-net"), driver="bridge", labels={TEST_LABEL: "images"}
    )
    yield net
    net.reload()
    for container in net.containers:
        with contextlib.suppress(docker.errors.NotFound):
            net.disconnect(container, force=True)
    net.remove()


def nats_cli(box: Container, password: str, *args: str) -> str:
    """Run the NATS CLI in the backup container; the credentials go in its environment."""
    result = box.exec_run(
        ["nats", *args],
        environment={"NATS_USER": "hearth", "NATS_PASSWORD": password},
    )
    out: str = result.output.decode(errors="replace")
    assert result.exit_code == 0, f"nats {' '.join(args)}:\n{out}"
    return out


def stream_state(box: Container, password: str, stream: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(nats_cli(box, password, "stream", "info", stream, "--json"))
    return dict(info["state"])


def test_the_nats_cli_backs_up_and_restores_a_stream_of_our_nats_image(
    harness: Harness, image: str, network: Network
) -> None:
    password = secrets.token_urlsafe(18)
    server = harness.run(
        "nats",
        user="997:997",
        ports=[],
        environment={"NATS_USER": "hearth", "NATS_PASSWORD_FILE": "/run/secrets/nats-password"},
        secrets={"/run/secrets/nats-password": harness.secret("nats", password)},
        volumes={harness.volume("nats"): "/data"},
    )
    network.connect(server, aliases=["nats"])
    wait_healthy(server)

    # The backup side as the catalog runs it: NATS' uid, read-only root, /tmp a tmpfs.
    box = harness.client.containers.run(
        image,
        entrypoint=["sleep", "infinity"],
        name=harness.name("backup"),
        detach=True,
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user=USERS["nats"],
        tmpfs={"/tmp": "size=64m"},  # noqa: S108 - inside the container
        network=network.name,
        environment={"NATS_URL": "nats://nats:4222"},
        labels={TEST_LABEL: "images"},
        mem_limit="512m",
    )
    harness.containers.append(box)

    nats_cli(
        box,
        password,
        *("stream", "add", "ORDERS", "--subjects", "orders.>", "--storage", "file", "--defaults"),
    )
    for n in range(1, 6):
        nats_cli(box, password, "pub", "--jetstream", f"orders.{n}", f"order {n}")
    before = stream_state(box, password, "ORDERS")
    assert before["messages"] == 5

    nats_cli(box, password, "backup", "stream", "ORDERS", BACKUP_DIR, "--no-progress")
    nats_cli(box, password, "stream", "rm", "ORDERS", "--force")
    assert "ORDERS" not in nats_cli(box, password, "stream", "ls", "--names")

    nats_cli(box, password, "backup", "restore", "stream", BACKUP_DIR, "--no-progress")
    after = stream_state(box, password, "ORDERS")
    assert after["messages"] == 5
    assert (after["first_seq"], after["last_seq"]) == (before["first_seq"], before["last_seq"])
    last = json.loads(nats_cli(box, password, "stream", "get", "ORDERS", "5", "--json"))
    assert (last["subject"], base64.b64decode(last["data"])) == ("orders.5", b"order 5")


def test_the_entrypoint_and_healthcheck_reach_the_agent(
    image: str, docker_client: docker.DockerClient
) -> None:
    """`hearth-backup` (ENTRYPOINT, HEALTHCHECK) runs the agent in /opt/hearth-backup, which
    must compile under the image's own Python."""
    config = docker_client.images.get(image).attrs["Config"]
    assert (config["Entrypoint"], config["Cmd"]) == (["hearth-backup"], ["schedule"])
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/healthcheck.sh"]
    proc = run_in(
        image,
        "test -x /usr/local/bin/hearth-backup && "
        "python3 -c 'import sys; p = sys.argv[1]; compile(open(p).read(), p, \"exec\")' "
        "/opt/hearth-backup/hearth_backup.py",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
