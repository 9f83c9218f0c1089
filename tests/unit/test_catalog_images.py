"""Image facts the catalog cannot say once: each image fixes its uid in its Dockerfile,
and each spec runs as that uid (a data store owned by another uid is unwritable)."""

from __future__ import annotations

import re

import pytest

from hearth.catalog import services
from hearth.catalog.images import IMAGES_DIR, TAG
from hearth.catalog.spec import ServiceSpec
from hearth.settings import parse_settings

SPECS = services(parse_settings({"hearth:platform": "linux", "hearth:appReplicas": "1"}))


def image_dir(spec: ServiceSpec) -> str:
    """`postgres` for `hearth/postgres:local`: the images/ directory the spec's image is from."""
    match = re.fullmatch(rf"hearth/([a-z0-9-]+):{TAG}", spec.image)
    assert match, f"{spec.name}: image {spec.image!r} is not built from images/"
    return match[1]


def dockerfile_user(service: str) -> str:
    """The final stage's `USER uid:gid` in images/<service>/Dockerfile."""
    text = (IMAGES_DIR / service / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)\s*$", text, flags=re.MULTILINE)
    assert users, f"images/{service}/Dockerfile sets no USER"
    return str(users[-1])


def created_users(service: str) -> set[str]:
    """`uid:gid` of every account images/<service>/Dockerfile creates."""
    text = (IMAGES_DIR / service / "Dockerfile").read_text()
    return {f"{u}:{g}" for u, g in re.findall(r"useradd[^\n]*--uid (\d+) --gid (\d+)", text)}


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_each_service_runs_as_its_images_user(spec: ServiceSpec) -> None:
    service = image_dir(spec)
    if spec.labels.get("hearth.role") == "backup":
        # One agent image, run as the uid owning the store each agent backs up.
        assert spec.user in created_users(service), (spec.name, created_users(service))
        return
    assert spec.user == dockerfile_user(service), (
        f"{spec.name} runs as {spec.user}, images/{service}/Dockerfile as "
        f"{dockerfile_user(service)}: change both together"
    )


@pytest.mark.parametrize("service", sorted({image_dir(s) for s in SPECS} - {"backup"}))
def test_each_image_creates_the_user_it_runs_as(service: str) -> None:
    text = (IMAGES_DIR / service / "Dockerfile").read_text()
    uid, gid = dockerfile_user(service).split(":")
    for flag, value in (("--uid", uid), ("--gid", gid)):
        declared = set(re.findall(rf"\b(?:useradd|groupadd)\b[^\n]*{flag} (\d+)", text))
        assert declared == {value}, f"images/{service}: {flag} {sorted(declared)}, USER {uid}:{gid}"
