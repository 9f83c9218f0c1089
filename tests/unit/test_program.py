"""The local stack's resource graph, checked under Pulumi mocks."""

from __future__ import annotations

import pytest

from hearth.images import image_ref
from hearth.settings import SettingsError
from tests.unit.mock_deploy import deploy

LOCAL = {"hearth:platform": "local", "hearth:bindAddress": "127.0.0.1", "hearth:httpPort": "8080"}


def test_local_stack_declares_networks_volume_and_a_hardened_container() -> None:
    rec = deploy(LOCAL)
    networks = {r.inputs["name"]: r.inputs for r in rec.of_type("docker:index/network:Network")}
    assert set(networks) == {"hearth-local-edge", "hearth-local-backend", "hearth-local-monitoring"}
    assert networks["hearth-local-backend"]["internal"] is True
    assert networks["hearth-local-monitoring"]["internal"] is True
    assert not networks["hearth-local-edge"].get("internal")

    volumes = [r.inputs["name"] for r in rec.of_type("docker:index/volume:Volume")]
    assert volumes == ["hearth-local-hello-data"]

    (container,) = rec.of_type("docker:index/container:Container")
    c = container.inputs
    assert c["name"] == "hearth-local-hello", container.urn_hint
    assert c["image"] == image_ref("hello")
    assert c["user"] == "10001:10001"
    assert c["readOnly"] is True
    assert c["capabilities"]["drops"] == ["ALL"]
    assert c["securityOpts"] == ["no-new-privileges:true"]
    assert c["healthcheck"]["tests"][0] == "CMD"
    assert c["wait"] is True
    assert c["restart"] == "unless-stopped"
    assert c["logOpts"] == {"max-size": "10m", "max-file": "3"}
    assert c["memory"] == 32
    assert c["ports"] == [
        {"internal": 8080, "external": 8080, "ip": "127.0.0.1", "protocol": "tcp"}
    ]
    assert [n["name"] for n in c["networksAdvanced"]] == ["hearth-local-edge"]
    assert c["mounts"][0]["source"] == "hearth-local-hello-data"


def test_every_resource_name_carries_the_stack_so_stacks_never_clash() -> None:
    a = deploy(LOCAL, stack="local")
    b = deploy(LOCAL, stack="other")
    named = (
        "docker:index/network:Network",
        "docker:index/volume:Volume",
        "docker:index/container:Container",
    )
    names_a = {r.inputs["name"] for t in named for r in a.of_type(t)}
    names_b = {r.inputs["name"] for t in named for r in b.of_type(t)}
    assert names_a
    assert not names_a & names_b


def test_http_port_setting_reaches_the_published_port() -> None:
    rec = deploy({**LOCAL, "hearth:httpPort": "9090"})
    (container,) = rec.of_type("docker:index/container:Container")
    assert container.inputs["ports"][0]["external"] == 9090


def test_invalid_config_fails_before_any_resource_is_declared() -> None:
    with pytest.raises(SettingsError, match="hearth:httpPort"):
        deploy({**LOCAL, "hearth:httpPort": "70000"})
