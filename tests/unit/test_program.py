"""Every stack's resource graph under Pulumi mocks: the security baseline holds for
every container, whatever services the catalog has."""

from __future__ import annotations

import json

import pytest

from hearth.secrets import GENERATED
from hearth.services import services
from hearth.settings import SettingsError, parse_settings
from hearth.specs import INTERNAL_NETWORKS
from tests.unit.mock_deploy import Declared, deploy, fake_secret

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
DATA_SERVICES = {"postgres", "redis", "nats", "minio"}

STACKS = {
    "local": {"hearth:platform": "local"},
    "linux": {"hearth:platform": "linux", "hearth:bindAddress": "192.168.1.20"},
    "wsl2": {"hearth:platform": "wsl2", "hearth:dataRoot": "/srv/hearth"},
}


def containers(stack: str) -> list[Declared]:
    return deploy(STACKS[stack], stack=stack).of_type(CONTAINER)


def spec_name(container: Declared, stack: str) -> str:
    return str(container.inputs["name"]).removeprefix(f"hearth-{stack}-")


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_container_is_hardened(stack: str) -> None:
    specs = {s.name: s for s in services(parse_settings(STACKS[stack]))}
    found = containers(stack)
    assert {spec_name(c, stack) for c in found} == set(specs)
    for c in found:
        spec, i, where = specs[spec_name(c, stack)], c.inputs, c.urn_hint
        uid = int(str(i["user"]).split(":")[0])
        assert uid > 0, f"{where} runs as root"
        assert i["capabilities"]["drops"] == ["ALL"], where
        assert set(i["capabilities"].get("adds", [])) == set(spec.cap_add), where
        assert i["securityOpts"] == ["no-new-privileges:true"], where
        assert i["readOnly"] is spec.read_only, where
        assert i["memory"] > 0, where
        assert i["ulimits"][0]["name"] == "nproc", where
        assert i["logDriver"] == "local", where
        assert i["logOpts"] == {"max-size": "10m", "max-file": "3"}, where
        if spec.one_shot:
            assert i["restart"] == "no", where
            assert i["attach"] is True, where
            assert i.get("healthcheck") is None, where
        else:
            assert i["restart"] == "unless-stopped", where
            assert i["healthcheck"]["tests"][0] == "CMD", where
            assert i["wait"] is True, where


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_only_the_edge_publishes_ports_on_the_configured_address(stack: str) -> None:
    settings = parse_settings(STACKS[stack])
    publishing = [c for c in containers(stack) if c.inputs.get("ports")]
    assert len(publishing) == 1, [c.urn_hint for c in publishing]
    assert {p["ip"] for p in publishing[0].inputs["ports"]} == {str(settings.bind_address)}
    assert settings.http_port in {p["external"] for p in publishing[0].inputs["ports"]}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_data_services_sit_only_on_internal_networks(stack: str) -> None:
    rec = deploy(STACKS[stack], stack=stack)
    internal = {n.inputs["name"] for n in rec.of_type(NETWORK) if n.inputs.get("internal") is True}
    assert internal == {f"hearth-{stack}-{n}" for n in INTERNAL_NETWORKS}
    for c in rec.of_type(CONTAINER):
        if spec_name(c, stack) in DATA_SERVICES:
            nets = {n["name"] for n in c.inputs["networksAdvanced"]}
            assert nets <= internal, c.urn_hint


def test_every_resource_name_carries_the_stack_so_stacks_never_clash() -> None:
    a = deploy(STACKS["local"], stack="local")
    b = deploy(STACKS["local"], stack="other")
    names_a = {r.inputs["name"] for t in (NETWORK, VOLUME, CONTAINER) for r in a.of_type(t)}
    names_b = {r.inputs["name"] for t in (NETWORK, VOLUME, CONTAINER) for r in b.of_type(t)}
    assert names_a
    assert not names_a & names_b
    assert all(str(n).startswith("hearth-local-") for n in names_a)


def test_data_volumes_outlive_destroy() -> None:
    rec = deploy(STACKS["local"])
    assert rec.of_type(VOLUME)
    for v in rec.of_type(VOLUME):
        assert v.retain_on_delete, v.urn_hint


def test_no_secret_value_reaches_a_container_definition() -> None:
    rec = deploy(STACKS["local"])
    dump = json.dumps([c.inputs for c in rec.of_type(CONTAINER)], default=str)
    for key in GENERATED:
        assert fake_secret(key) not in dump, f"{key} leaked into a container's inputs"


def test_http_port_setting_reaches_the_published_port() -> None:
    publishing = [
        c for c in deploy({"hearth:httpPort": "9090"}).of_type(CONTAINER) if c.inputs.get("ports")
    ]
    assert 9090 in {p["external"] for p in publishing[0].inputs["ports"]}


def test_invalid_config_fails_before_any_resource_is_declared() -> None:
    with pytest.raises(SettingsError, match="hearth:httpPort"):
        deploy({"hearth:httpPort": "70000"})


HOST_DIR = "pulumi-python:dynamic:Resource"


@pytest.mark.parametrize(("stack", "root"), [("linux", "/srv/hearth"), ("wsl2", "/srv/hearth")])
def test_host_path_platforms_keep_data_in_owned_directories_under_the_data_root(
    stack: str, root: str
) -> None:
    rec = deploy(STACKS[stack], stack=stack)
    assert not rec.of_type(VOLUME), "host-path platforms use no Docker volumes"
    dirs = {r.inputs["path"]: r for r in rec.of_type(HOST_DIR) if "uid" in r.inputs}
    assert dirs
    for path, d in dirs.items():
        assert path.startswith(f"{root}/{stack}/"), path
        assert d.retain_on_delete, path
    for c in rec.of_type(CONTAINER):
        for m in c.inputs.get("mounts", []):
            if m["target"].startswith("/run/secrets") or m["source"] not in dirs:
                continue
            assert m["type"] == "bind"
            owner = dirs[m["source"]].inputs
            # Pulumi carries numbers as floats.
            assert f"{int(owner['uid'])}:{int(owner['gid'])}" == c.inputs["user"], c.urn_hint


def test_local_keeps_data_in_volumes_mounted_by_name() -> None:
    rec = deploy(STACKS["local"])
    volumes = {v.inputs["name"] for v in rec.of_type(VOLUME)}
    mounted = {
        m["source"]
        for c in rec.of_type(CONTAINER)
        for m in c.inputs.get("mounts", [])
        if m["type"] == "volume"
    }
    assert mounted == volumes


def test_a_data_store_shared_by_two_uids_is_refused() -> None:
    from components.docker.platform import store_owners
    from hearth.specs import HealthCheck, ServiceSpec, VolumeMount

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
        store_owners([svc("a", "1000:1000"), svc("b", "1001:1001")])
