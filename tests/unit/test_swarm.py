"""The swarm platform without a swarm: its settings, the stack document the catalog renders
to, the resource graph under Pulumi mocks, and every committed swarm stack checked offline
by `docker stack config` (the CLI's own schema and interpolation).

The real deployment, on a 3-node lab, is tests/swarm/."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hearth import swarm
from hearth.catalog import services
from hearth.catalog.common import DATA_NODE, EDGE_NODE
from hearth.catalog.nats import CLUSTER_SIZE
from hearth.secrets import GENERATED
from hearth.settings import Settings, SettingsError, parse_settings
from hearth.targets.swarm import purge, secret_digest
from policies.baseline import RULES, SWARM_STACK, violations
from tests.unit.mock_deploy import deploy, fake_secret

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {"hearth:platform": "swarm", "hearth:swarmManager": "ssh://admin@10.0.0.11"}
SETTINGS = parse_settings(CONFIG)
SPECS = services(SETTINGS)
IMAGES = {s.image: s.image.replace(":local", ":0123456789ab") for s in SPECS}


def digests(**changed: str) -> dict[str, str]:
    return {k: changed.get(k, secret_digest("key", k, fake_secret(k))) for k in GENERATED}


def render(specs: Any = SPECS, **changed: str) -> dict[str, Any]:
    return swarm.render(
        specs, namespace="hearth-t", images=IMAGES, secret_digests=digests(**changed)
    )


DOC = render()


def constraints(service: str) -> list[str]:
    placement: dict[str, Any] = DOC["services"][service]["deploy"]["placement"]
    return list(placement.get("constraints", []))


def test_swarm_needs_a_manager_and_nothing_else_takes_one() -> None:
    with pytest.raises(SettingsError, match="hearth:swarmManager: required on the swarm platform"):
        parse_settings({"hearth:platform": "swarm"})
    with pytest.raises(SettingsError, match="swarmManager: only used on the swarm platform"):
        parse_settings({"hearth:swarmManager": "ssh://a@b"})
    with pytest.raises(SettingsError, match="hearth:swarmManager: String should match"):
        parse_settings({**CONFIG, "hearth:swarmManager": "10.0.0.11"})
    with pytest.raises(SettingsError, match="hearth:dataRoot: not used on swarm"):
        parse_settings({**CONFIG, "hearth:dataRoot": "/srv/hearth"})


def test_every_service_keeps_the_security_baseline() -> None:
    for rule in RULES:
        assert violations(SWARM_STACK, {"document": DOC}, rule) == [], rule.name
    for name, svc in DOC["services"].items():
        assert svc["cap_drop"] == ["ALL"] and svc["read_only"] is True, name
        assert svc["init"] is True and not svc["user"].startswith("0"), name
        limits = svc["deploy"]["resources"]["limits"]
        assert limits["memory"].endswith("M") and limits["pids"] > 0, name


def test_the_baseline_refuses_a_weakened_swarm_service() -> None:
    weak = json.loads(json.dumps(DOC))
    weak["services"]["app"]["deploy"]["resources"]["limits"].pop("pids")
    weak["services"]["app"]["deploy"]["restart_policy"]["condition"] = "none"
    found = [m for r in RULES for m in violations(SWARM_STACK, {"document": weak}, r)]
    assert any("'app' has no process limit" in m for m in found), found
    assert any("'app' is not restarted when it stops" in m for m in found), found


def test_data_lives_on_the_data_node_and_nats_on_a_node_each() -> None:
    for name in ("postgres", "redis", "s3", "backup-postgres", "bootstrap-postgres", "migrate"):
        assert constraints(name) == [f"node.labels.{DATA_NODE.replace('=', ' == ')}"], name
    servers = [f"nats-{i}" for i in range(1, CLUSTER_SIZE + 1)]
    for i, name in enumerate(servers, start=1):
        assert constraints(name) == [f"node.labels.hearth.nats == {i}"]
        assert DOC["services"][name]["networks"]["backend"] == {"aliases": ["nats"]}
        conf = next(s for s in SPECS if s.name == name).files[0].content
        assert f"server_name: {name}" in conf
        assert all(f"nats-route://{peer}:6222" in conf for peer in servers)
    # The stores update stop-first: two servers never open one store.
    assert DOC["services"]["postgres"]["deploy"]["update_config"]["order"] == "stop-first"


def test_app_replicas_spread_and_roll_start_first_with_rollback() -> None:
    app = DOC["services"]["app"]
    assert app["deploy"]["replicas"] == SETTINGS.app_replicas
    assert app["deploy"]["placement"] == {"preferences": [{"spread": "node.id"}]}
    update = app["deploy"]["update_config"]
    assert update["order"] == "start-first" and update["failure_action"] == "rollback"
    assert app["deploy"]["endpoint_mode"] == "dnsrr"
    assert app["environment"]["HEARTH_NATS_STREAM_REPLICAS"] == str(CLUSTER_SIZE)
    caddyfile = next(s for s in SPECS if s.name == "edge").files[0].content
    assert "dynamic a {\n\t\t\t\tname app\n\t\t\t\tport 8000" in caddyfile


def test_only_the_edge_publishes_on_its_own_nodes() -> None:
    publishers = [n for n, s in DOC["services"].items() if s.get("ports")]
    assert publishers == ["edge"]
    edge = DOC["services"]["edge"]
    assert edge["deploy"]["mode"] == "global"
    assert constraints("edge") == [f"node.labels.{EDGE_NODE.replace('=', ' == ')}"]
    assert {p["mode"] for p in edge["ports"]} == {"host"}
    assert {p["published"] for p in edge["ports"]} == {SETTINGS.http_port, SETTINGS.https_port}


def test_one_shots_are_jobs_and_what_waits_for_them_comes_after() -> None:
    jobs = sorted(
        n for n, s in DOC["services"].items() if s["deploy"].get("mode") == "replicated-job"
    )
    assert jobs == ["bootstrap-postgres", "bootstrap-s3", "migrate"]
    assert DOC["x-hearth"]["after-jobs"] == ["app", "edge"]


def test_secrets_are_named_by_their_value_and_never_written_into_the_document() -> None:
    text = json.dumps(DOC)
    assert not [k for k in GENERATED if fake_secret(k) in text]
    rotated = render(redisPassword="f" * 64)
    changed = {n for n in DOC["services"] if DOC["services"][n] != rotated["services"][n]}
    readers = {s.name for s in SPECS if "redisPassword" in {x.name for x in s.secrets}}
    assert changed == readers and readers
    secret = DOC["services"]["redis"]["secrets"][0]
    assert (secret["uid"], secret["mode"]) == ("998", 0o400)
    assert all(len(v["name"]) <= swarm.NAME_LIMIT for v in DOC["secrets"].values())


def test_a_changed_config_file_rolls_only_its_service() -> None:
    other = services(parse_settings({**CONFIG, "hearth:registrationOpen": "false"}))
    changed = {n for n, s in render(other)["services"].items() if s != DOC["services"][n]}
    assert changed == {"migrate", "app"}


def test_the_resource_graph_is_one_stack_whose_secrets_stay_secret() -> None:
    rec = deploy(CONFIG, stack="swarm")
    (stack,) = rec.of_type("pulumi-python:dynamic/hearth:SwarmStack")
    assert rec.resources == [stack]
    inputs = stack.inputs
    assert inputs["host"] == "ssh://admin@10.0.0.11" and inputs["namespace"] == "hearth-swarm"
    assert sorted(inputs["secret_files"].values()) == sorted(
        {s.name for spec in SPECS for s in spec.secrets}
    )
    plain = json.dumps({k: v for k, v in inputs.items() if k != "secrets"})
    assert not [k for k in GENERATED if fake_secret(k) in plain]
    assert inputs["document"]["services"]["app"]["image"].startswith("hearth/app:")


def stack_files() -> list[Path]:
    found = []
    for path in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        config = yaml.safe_load(path.read_text())["config"]
        if config.get("hearth:platform") == "swarm":
            found.append(path)
    return found


@pytest.mark.parametrize("path", stack_files(), ids=lambda p: p.name)
def test_every_swarm_stack_passes_docker_stack_config(path: Path, tmp_path: Path) -> None:
    """Offline: the CLI's own schema, as `docker stack deploy` reads the document."""
    settings = Settings.model_validate(
        {
            k.removeprefix("hearth:"): v
            for k, v in yaml.safe_load(path.read_text())["config"].items()
        }
    )
    specs = services(settings)
    doc = render(specs)
    for f in swarm.stack_files(specs):
        (tmp_path / f.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.path).write_text(f.content if f.content is not None else "x")
    (tmp_path / "stack.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run(  # noqa: S603 - fixed program, a path of ours
        ["docker", "stack", "config", "-c", str(tmp_path / "stack.yml")],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Ignoring" not in proc.stderr, proc.stderr
    seen = yaml.safe_load(proc.stdout)
    assert set(seen["services"]) == {s.name for s in specs}
    assert seen["services"]["edge"]["ports"][0]["mode"] == "host"
    assert seen["services"]["migrate"]["deploy"]["mode"] == "replicated-job"


def test_purge_says_what_to_run_on_each_node() -> None:
    class Stack:
        name = "swarm"

    with pytest.raises(SettingsError, match=r"label=hearth.project=hearth-swarm\) \(docs/swarm.md"):
        purge(Stack(), SETTINGS)  # type: ignore[arg-type]
