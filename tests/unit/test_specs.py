"""Service specs refuse insecure or inconsistent shapes at construction."""

from __future__ import annotations

import pytest

from hearth.catalog import services
from hearth.catalog.images import image_ref
from hearth.catalog.spec import HealthCheck, ServiceSpec
from hearth.settings import parse_settings

HC = HealthCheck(test=("true",))


def spec(**kw: object) -> ServiceSpec:
    base: dict[str, object] = {
        "name": "svc",
        "image": "x",
        "user": "1000:1000",
        "healthcheck": HC,
        "networks": ("backend",),
    }
    return ServiceSpec(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("user", ["", "0", "root", "0:0", "root:root"])
def test_root_user_is_refused(user: str) -> None:
    with pytest.raises(ValueError, match="root"):
        spec(user=user)


def test_unknown_network_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'public'"):
        spec(networks=("public",))


def test_bad_service_name_is_refused() -> None:
    with pytest.raises(ValueError, match="Svc_1"):
        spec(name="Svc_1")


def test_secure_defaults() -> None:
    s = spec()
    assert s.read_only is True
    assert s.cap_add == ()
    assert s.ports == ()


def test_spec_mappings_cannot_be_changed_after_creation() -> None:
    s = spec(env={"A": "1"})
    with pytest.raises(TypeError):
        s.env["A"] = "2"  # type: ignore[index]


def test_only_the_edge_service_publishes_tcp_ports() -> None:
    published = [
        s.name for s in services(parse_settings({})) if any(p.protocol == "tcp" for p in s.ports)
    ]
    assert published == ["edge"]


def test_missing_image_context_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="'nope'"):
        image_ref("nope")
