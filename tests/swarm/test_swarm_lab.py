"""The platform on a 3-node swarm, for real: in file order, each test builds on the last."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter

from pulumi import automation as auto

from hearth.catalog.nats import CLUSTER_SIZE
from tests.e2e.conftest import Edge, login, upload_file, wait_for
from tests.swarm.conftest import NODES, Swarm, lab, node_docker, node_status

STREAMS = "/data/jetstream/$G/streams"


def journey(edge: Edge) -> None:
    """Register, sign in, create a project, upload through a presigned URL, and see the
    worker (a JetStream consumer in the app's tasks) check the file."""
    email, password = f"swarm-{secrets.token_hex(4)}@example.org", secrets.token_urlsafe(18)
    r = edge.request("POST", "/api/v1/auth/register", body={"email": email, "password": password})
    assert r.status == 201, r.body
    token = login(edge, email, password)
    r = edge.request("POST", "/api/v1/projects", body={"name": "swarm"}, token=token)
    assert r.status == 201, r.body
    project = r.json()["id"]
    file_id = upload_file(edge, token, project, b"hello from the swarm\n")

    def processed() -> bool:
        f = edge.request("GET", f"/api/v1/projects/{project}/files/{file_id}", token=token)
        return bool(f.json()["status"] == "ready")

    wait_for("the upload event processed", processed, timeout=60)


def test_the_journey_works_through_the_edge(swarm: Swarm, edge: Edge) -> None:
    journey(edge)
    assert edge.request("GET", "/api/v1/auth/options").json()["registration_enabled"] is True


def test_services_are_placed_by_label_and_app_tasks_spread(swarm: Swarm) -> None:
    assert {t["Node"] for t in swarm.tasks("postgres")} == {"hearth-lab-1"}
    for i in range(1, CLUSTER_SIZE + 1):
        assert {t["Node"] for t in swarm.tasks(f"nats-{i}")} == {f"hearth-lab-{i}"}
    app = swarm.tasks("app")
    assert len(app) == swarm.settings.app_replicas
    assert len({t["Node"] for t in app}) == len(app), app


def test_every_stream_has_a_copy_on_each_nats_server(swarm: Swarm) -> None:
    for i in range(1, CLUSTER_SIZE + 1):
        container = swarm.container(i, f"nats-{i}")
        streams = node_docker(i, "exec", container, "ls", STREAMS).split()
        assert {"HEARTH", "HEARTH_DLQ"} <= set(streams), (i, streams)


def test_tasks_run_without_privileges_on_a_read_only_root(swarm: Swarm) -> None:
    container = swarm.container(1, "postgres")
    status = node_docker(1, "exec", container, "cat", "/proc/1/status")
    assert "NoNewPrivs:\t1" in status and "CapEff:\t0000000000000000" in status
    (info,) = json.loads(node_docker(1, "inspect", container))
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["Config"]["User"] == "999:999"
    assert not [e for e in info["Config"]["Env"] if "PASSWORD=" in e]


def test_a_second_up_changes_nothing(swarm: Swarm) -> None:
    result = swarm.up("second_up")
    changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    assert changes == {}, changes


def test_drift_shows_on_refresh_and_the_next_up_repairs_it(swarm: Swarm) -> None:
    node_docker(1, "service", "scale", "--detach", f"{swarm.namespace}_app=1")
    swarm.stack.refresh(on_output=lambda _: None, color="never")
    preview = swarm.stack.preview(color="never", diff=True)
    assert preview.change_summary.get(auto.OpType.UPDATE) == 1, preview.change_summary
    swarm.up("repair_up")
    assert len(swarm.tasks("app")) == swarm.settings.app_replicas


def test_losing_a_node_reschedules_its_app_tasks(swarm: Swarm, edge: Edge) -> None:
    lost = next(int(t["Node"][-1]) for t in swarm.tasks("app") if t["Node"] != "hearth-lab-1")
    started = time.monotonic()
    lab("stop-node", str(lost))
    wait_for("the node marked down", lambda: node_status(lost) == "down", timeout=60)

    def rescheduled() -> bool:
        nodes = [t["Node"] for t in swarm.tasks("app") if t["CurrentState"].startswith("Running")]
        return len(nodes) == swarm.settings.app_replicas and f"hearth-lab-{lost}" not in nodes

    wait_for("the app tasks placed again", rescheduled, timeout=90)
    swarm.figures["node_lost_to_rescheduled_s"] = round(time.monotonic() - started, 1)
    journey(edge)


def test_a_rolling_update_with_a_manager_down_loses_no_request(swarm: Swarm, edge: Edge) -> None:
    """Two of three managers keep the raft quorum: the cluster takes the update, and the
    edge keeps every request on a task that is up while the app's tasks are replaced."""
    assert sum(node_status(n) == "ready" for n in range(1, NODES + 1)) == NODES - 1
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                r = edge.request("GET", "/api/v1/auth/options", timeout=10)
                outcomes[str(r.status)] += 1
            except OSError as exc:
                outcomes[type(exc).__name__] += 1
            time.sleep(0.15)  # within one address's rate limit (600 a minute)

    before = {t["ID"] for t in swarm.tasks("app")}
    thread = threading.Thread(target=load)
    thread.start()
    try:
        swarm.set("registrationOpen", "false")
        swarm.up("rolling_update")
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    assert set(outcomes) == {"200"} and outcomes["200"] > 50, outcomes
    swarm.figures["rolling_update_requests"] = outcomes["200"]
    assert not before & {t["ID"] for t in swarm.tasks("app")}, "every app task was replaced"
    assert edge.request("GET", "/api/v1/auth/options").json()["registration_enabled"] is False


def test_destroy_keeps_the_data_on_its_node(swarm: Swarm) -> None:
    swarm.stack.destroy(on_output=lambda _: None, color="never")
    assert node_docker(1, "service", "ls", "-q").split() == []
    volumes = node_docker(1, "volume", "ls", "--format", "{{.Name}}").split()
    assert f"{swarm.namespace}_postgres-data" in volumes, volumes
