"""Every docker-target stack's resource graph under Pulumi mocks: one Compose project whose
every service keeps the security baseline (the policy pack's rules) and its spec, data stores
kept on destroy, host files for secrets, digests that follow images, files and secrets —
whatever services the catalog has.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hearth.catalog import services
from hearth.catalog.spec import (
    HealthCheck,
    ServiceSpec,
    VolumeMount,
    data_stores,
)
from hearth.render import log_config
from hearth.secrets import GENERATED
from hearth.settings import SettingsError, parse_settings
from policies.baseline import RULES, violations
from tests.unit.mock_deploy import Declared, Recorder, deploy, fake_secret

COMPOSE = "pulumi-python:dynamic/hearth:ComposeProject"
VOLUME = "pulumi-python:dynamic/hearth:DockerVolume"
HOST_DIR = "pulumi-python:dynamic/hearth:HostDirectory"
HOST_FILE = "pulumi-python:dynamic/hearth:HostFile"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""Pulumi's signature key marking a serialized secret value."""

STACKS = {
    "local": {"hearth:platform": "local"},
    "linux": {"hearth:platform": "linux", "hearth:bindAddress": "192.168.1.20"},
    "wsl2": {"hearth:platform": "wsl2", "hearth:dataRoot": "/srv/hearth"},
}


def project(rec: Recorder) -> dict[str, Any]:
    (found,) = rec.of_type(COMPOSE)
    return found.inputs


def compose_services(stack: str) -> dict[str, Any]:
    return dict(project(deploy(STACKS[stack], stack=stack))["services"])


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_stack_keeps_the_security_baseline(stack: str) -> None:
    """The policy pack's rules (policies/) over the Compose project each stack declares:
    `make preview` and `make up` would refuse it otherwise."""
    inputs = project(deploy(STACKS[stack], stack=stack))
    for rule in RULES:
        assert violations(COMPOSE, inputs, rule) == [], f"{stack}: {rule.name}"


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_service_runs_as_its_spec_says(stack: str) -> None:
    specs = {s.name: s for s in services(parse_settings(STACKS[stack]))}
    found = compose_services(stack)
    assert set(found) == set(specs)
    for name, svc in found.items():
        spec, where = specs[name], f"{COMPOSE}::{stack}/{name}"
        assert svc["user"] == spec.user, where
        assert set(svc.get("cap_add", [])) == set(spec.cap_add), where
        assert svc["read_only"] is spec.read_only, where
        assert svc["mem_limit"] == svc["memswap_limit"] == f"{spec.memory_mb}m", where
        assert svc["pids_limit"] == spec.processes, where
        assert svc["logging"] == log_config(parse_settings(STACKS[stack])), where
        # The shape the pack recognises a one-shot by (exempt from a healthcheck).
        if spec.one_shot:
            assert svc["restart"] == "no", where
            assert svc["healthcheck"] == {"disable": True}, where
        else:
            assert svc["restart"] == spec.restart, where
            assert svc["healthcheck"]["test"][0] == "CMD", where


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_only_the_edge_publishes_ports_on_the_configured_address(stack: str) -> None:
    settings = parse_settings(STACKS[stack])
    publishing = {n: s for n, s in compose_services(stack).items() if s.get("ports")}
    # Besides the edge, the logs service's syslog intake: loopback UDP only.
    assert [p["host_ip"] + "/" + p["protocol"] for p in publishing.pop("logs")["ports"]] == [
        "127.0.0.1/udp"
    ]
    assert list(publishing) == ["edge"]
    ports = publishing["edge"]["ports"]
    assert {p["host_ip"] for p in ports} == {str(settings.bind_address)}
    assert str(settings.http_port) in {p["published"] for p in ports}


def names(rec: Recorder) -> set[str]:
    inputs = project(rec)
    return (
        {s["container_name"] for s in inputs["services"].values()}
        | {n["name"] for n in inputs["networks"].values()}
        | {v.inputs["name"] for v in rec.of_type(VOLUME)}
        | {inputs["project"]}
    )


def test_every_name_carries_the_stack_so_stacks_never_clash() -> None:
    a, b = names(deploy(STACKS["local"], stack="local")), names(deploy(STACKS["local"], "other"))
    assert a
    assert not a & b
    assert all(n.startswith("hearth-local") for n in a)


def test_data_volumes_are_external_to_compose_and_outlive_destroy() -> None:
    rec = deploy(STACKS["local"])
    volumes = {v.inputs["name"]: v for v in rec.of_type(VOLUME)}
    assert len(volumes) == len(data_stores(services(parse_settings({}))))
    for v in volumes.values():
        assert v.retain_on_delete, v.urn_hint
    declared = project(rec)["volumes"]
    assert {v["name"] for v in declared.values()} == set(volumes)
    assert all(v["external"] is True for v in declared.values())


def test_no_secret_value_reaches_the_compose_project() -> None:
    rec = deploy(STACKS["local"])
    dump = json.dumps(project(rec), default=str)
    for key in GENERATED:
        assert fake_secret(key) not in dump, f"{key} leaked into the Compose project's inputs"


def test_secrets_are_host_files_owned_by_their_reader_and_read_only() -> None:
    rec = deploy(STACKS["local"])
    specs = services(parse_settings({}))
    files = {f.inputs["path"]: f.inputs for f in rec.of_type(HOST_FILE)}
    for spec in specs:
        for s in spec.secrets:
            (path,) = [p for p in files if p.endswith(f"/secrets/{spec.uid}/{s.name}")]
            f = files[path]
            # Pulumi's secret wrapper: the value stays encrypted in state.
            assert SECRET_SIG in f["content"], f"{path} is not a Pulumi secret"
            assert f["content"]["value"] == fake_secret(s.name)
            assert (int(f["uid"]), int(f["gid"]), int(f["mode"])) == (spec.uid, spec.gid, 0o400)


def test_digests_follow_each_services_image_files_and_secrets() -> None:
    digests = project(deploy(STACKS["local"]))["digests"]
    specs = {s.name: s for s in services(parse_settings({}))}
    assert set(digests) == set(specs)
    for name, d in digests.items():
        assert set(d) == {"image", "files", "secrets"}, name
        assert d["image"].startswith("sha256:"), name
    # Replicas read the same secrets and files; the edge and the app do not.
    assert digests["app-1"] == digests["app-2"]
    assert digests["edge"]["secrets"] != digests["app-1"]["secrets"]
    assert digests["edge"]["files"] != digests["postgres"]["files"]


def test_changing_one_secret_changes_the_digest_of_exactly_its_readers() -> None:
    before = project(deploy(STACKS["local"]))["digests"]
    after = project(deploy({**STACKS["local"], "hearth:redisPassword": "another"}))["digests"]
    readers = {
        s.name
        for s in services(parse_settings({}))
        if "redisPassword" in {x.name for x in s.secrets}
    }
    assert {n for n in before if before[n]["secrets"] != after[n]["secrets"]} == readers


def test_http_port_setting_reaches_the_published_port() -> None:
    edge = project(deploy({"hearth:httpPort": "9090"}))["services"]["edge"]
    assert "9090" in {p["published"] for p in edge["ports"]}


def test_invalid_config_fails_before_any_resource_is_declared() -> None:
    with pytest.raises(SettingsError, match="hearth:httpPort"):
        deploy({"hearth:httpPort": "70000"})


@pytest.mark.parametrize(("stack", "root"), [("linux", "/srv/hearth"), ("wsl2", "/srv/hearth")])
def test_host_path_platforms_keep_data_in_owned_directories_under_the_data_root(
    stack: str, root: str
) -> None:
    rec = deploy(STACKS[stack], stack=stack)
    assert not rec.of_type(VOLUME), "host-path platforms use no Docker volumes"
    dirs: dict[str, Declared] = {r.inputs["path"]: r for r in rec.of_type(HOST_DIR)}
    assert dirs
    for path, d in dirs.items():
        assert path.startswith(f"{root}/{stack}/"), path
        assert d.retain_on_delete, path
    for svc in project(rec)["services"].values():
        for m in svc.get("volumes", []):
            assert m["type"] == "bind" and m["source"] in dirs, m
            owner = dirs[m["source"]].inputs
            assert f"{int(owner['uid'])}:{int(owner['gid'])}" == svc["user"]


def test_a_data_store_written_by_two_uids_is_refused() -> None:
    def svc(name: str, user: str) -> ServiceSpec:
        return ServiceSpec(
            name=name,
            image="x",
            user=user,
            healthcheck=HealthCheck(test=("true",)),
            networks=("backend",),
            mounts=(VolumeMount(volume="shared", target="/d"),),
        )

    with pytest.raises(ValueError, match="shared"):
        data_stores([svc("a", "1000:1000"), svc("b", "1001:1001")])


OFFBOX = {"hearth:backupS3Url": "https://s3.example.org", "hearth:backupS3Bucket": "copies"}


def test_an_off_box_bucket_needs_its_key_before_anything_is_declared() -> None:
    with pytest.raises(Exception, match="backupS3AccessKey"):
        deploy(OFFBOX)


def test_the_off_box_key_reaches_only_the_copiers_as_secret_files() -> None:
    keys = {
        "hearth:backupS3AccessKey": "offbox-key-id-0123",
        "hearth:backupS3SecretKey": "offbox-s3cr3t-4567",
    }
    rec = deploy({**OFFBOX, **keys})
    dump = json.dumps(project(rec), default=str)
    assert "offbox-s3cr3t-4567" not in dump and "offbox-key-id-0123" not in dump
    holders = {
        f.inputs["path"].rsplit("/", 2)[-2]
        for f in rec.of_type(HOST_FILE)
        if f.inputs["path"].endswith(("/backupS3AccessKey", "/backupS3SecretKey"))
    }
    specs = services(parse_settings(OFFBOX))
    copiers = {str(s.uid) for s in specs if s.name.startswith("offbox-")}
    assert holders == copiers
