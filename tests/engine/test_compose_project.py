"""The ComposeProject provider against this machine's real Docker Engine and Compose, on a
tiny project of the base image: apply, labels that recreate exactly one service, drift
seen by `read` and repaired, failures that name the service, delete keeping volumes."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from hearth.resources.compose_project import (
    ComposeError,
    ComposeProjectProvider,
    document,
    drift,
    live_state,
)

IMAGE = "hearth/base:trixie"


def docker(*args: str) -> str:
    return subprocess.run(  # noqa: S603
        ["docker", *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


def service(command: list[str], health: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "image": IMAGE,
        "command": command,
        "user": "65534:65534",
        "read_only": True,
        "cap_drop": ["ALL"],
        "restart": "unless-stopped",
        # `sleep` as PID 1 ignores SIGTERM: each stop would wait out Compose's timeout.
        "stop_signal": "SIGKILL",
        "healthcheck": {
            "test": ["CMD", *health],
            "interval": "1s",
            "timeout": "2s",
            "retries": 2,
            "start_period": "0s",
        },
        "labels": {"test": "compose-project"},
        **extra,
    }


@pytest.fixture
def props() -> Iterator[dict[str, Any]]:
    project = f"hearth-test-{secrets.token_hex(3)}"
    volume = f"{project}-data"
    docker("volume", "create", volume)
    p: dict[str, Any] = {
        "project": project,
        "services": {
            # An anonymous volume, as a one-shot whose image declares a VOLUME gets.
            "one": service(
                ["sleep", "infinity"], ["true"], volumes=[{"type": "volume", "target": "/scratch"}]
            ),
            # Floats: Pulumi hands numbers to providers as floats.
            "two": service(
                ["sleep", "infinity"],
                ["true"],
                pids_limit=32.0,
                volumes=[{"type": "volume", "source": "data", "target": "/data"}],
            ),
        },
        "networks": {},
        "volumes": {"data": {"name": volume, "external": True}},
        "secrets": {},
        "configs": {},
        "digests": {"one": {"files": "a"}, "two": {"files": "a"}},
        "timeout_s": 60,
    }
    yield p
    subprocess.run(  # noqa: S603
        ["docker", "compose", "-p", project, "down", "--timeout", "1"],  # noqa: S607
        capture_output=True,
        check=False,
    )
    docker("volume", "rm", "-f", volume)


def ids(project: str) -> dict[str, str]:
    out = docker(
        "ps",
        "-a",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--format",
        '{{.ID}} {{.Label "com.docker.compose.service"}}',
    )
    return {svc: cid for cid, svc in (line.split() for line in out.splitlines())}


def test_apply_runs_the_project_and_records_hashes_that_match_the_engine(
    props: dict[str, Any],
) -> None:
    provider = ComposeProjectProvider()
    outs = provider.create(props).outs or {}
    assert set(outs["live"]) == {"one", "two"}
    assert all(s["state"] == "running" and s["health"] == "healthy" for s in outs["live"].values())
    assert drift(outs) == []
    assert outs["compose_version"].lstrip("v").startswith("2.")
    labels = json.loads(docker("inspect", f"{props['project']}-two-1"))[0]["Config"]["Labels"]
    assert labels["hearth.digest.files"] == "a"
    assert (
        json.loads(docker("inspect", f"{props['project']}-two-1"))[0]["HostConfig"]["PidsLimit"]
        == 32
    )
    # Nothing changed: the diff says so, so a second `pulumi up` does nothing.
    assert not provider.diff(props["project"], outs, props).changes


def test_a_changed_digest_recreates_exactly_that_service(props: dict[str, Any]) -> None:
    provider = ComposeProjectProvider()
    outs = provider.create(props).outs or {}
    before = ids(props["project"])
    news = {**props, "digests": {"one": {"files": "a"}, "two": {"files": "b"}}}
    assert provider.diff(props["project"], outs, news).changes
    provider.update(props["project"], outs, news)
    after = ids(props["project"])
    assert after["one"] == before["one"]
    assert after["two"] != before["two"]


def test_read_sees_containers_removed_or_stopped_by_hand_and_apply_repairs_them(
    props: dict[str, Any],
) -> None:
    provider = ComposeProjectProvider()
    outs = provider.create(props).outs or {}
    docker("rm", "-f", f"{props['project']}-one-1")
    docker("stop", "-t", "1", f"{props['project']}-two-1")
    # The diff looks at the engine itself: a plain `up` (no refresh) sees the drift too.
    assert provider.diff(props["project"], outs, props).changes
    refreshed = provider.read(props["project"], outs).outs or {}
    assert drift(refreshed) == ["one", "two"]
    assert provider.diff(props["project"], refreshed, props).changes
    repaired = provider.update(props["project"], refreshed, props).outs or {}
    assert drift(repaired) == []
    assert {s["state"] for s in live_state(props["project"]).values()} == {"running"}


def test_a_failed_apply_names_the_service_its_state_and_its_last_log_lines(
    props: dict[str, Any],
) -> None:
    props["services"]["two"] = service(
        ["sh", "-c", "echo two-is-broken-marker; sleep infinity"], ["false"]
    )
    props["timeout_s"] = 15
    with pytest.raises(ComposeError) as failed:
        ComposeProjectProvider().create(props)
    message = str(failed.value)
    assert "service 'two'" in message
    assert "health=unhealthy" in message
    assert "two-is-broken-marker" in message
    assert "service 'one'" not in message


def test_delete_removes_containers_networks_and_anonymous_volumes_but_keeps_the_data(
    props: dict[str, Any],
) -> None:
    provider = ComposeProjectProvider()
    outs = provider.create(props).outs or {}
    mounts = json.loads(docker("inspect", f"{props['project']}-one-1"))[0]["Mounts"]
    (anonymous,) = [m["Name"] for m in mounts if m["Destination"] == "/scratch"]
    provider.delete(props["project"], outs)
    assert ids(props["project"]) == {}
    assert docker("volume", "inspect", props["volumes"]["data"]["name"])
    assert anonymous not in docker("volume", "ls", "-q").split()
    assert not docker("network", "ls", "-q", "--filter", f"name={props['project']}").strip()


def test_delete_disconnects_a_container_attached_from_outside_and_leaves_it_running(
    props: dict[str, Any],
) -> None:
    provider = ComposeProjectProvider()
    outs = provider.create(props).outs or {}
    (network,) = docker(
        "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={props['project']}"
    ).split()
    outsider = f"{props['project']}-outsider"
    docker("run", "-d", "--name", outsider, "--network", network, IMAGE, "sleep", "infinity")
    try:
        provider.delete(props["project"], outs)
        assert ids(props["project"]) == {}
        assert not docker("network", "ls", "-q", "--filter", f"name={props['project']}").strip()
        assert json.loads(docker("inspect", outsider))[0]["State"]["Running"]
    finally:
        docker("rm", "-f", outsider)


def test_document_merges_digests_into_labels_and_makes_numbers_whole() -> None:
    doc = document(
        {
            "project": "p",
            "services": {"s": {"image": "i", "pids_limit": 8.0, "labels": {"a": "b"}}},
            "digests": {"s": {"image": "sha256:x"}},
            "networks": {},
        }
    )
    assert doc == {
        "name": "p",
        "services": {
            "s": {
                "image": "i",
                "pids_limit": 8,
                "labels": {"a": "b", "hearth.digest.image": "sha256:x"},
            }
        },
    }
