"""The truenas stack's resource graph under Pulumi mocks (no API, no engine)."""

from __future__ import annotations

import pytest
import yaml

from components.truenas.platform import TUNING, Store, stores
from hearth.settings import parse_settings
from hearth.specs import HealthCheck, ServiceSpec, VolumeMount
from tests.unit.mock_deploy import Recorder, deploy, fake_secret

API_KEY = "1-fake-api-key-never-in-a-resource"
TRUENAS = {
    "hearth:platform": "truenas",
    "hearth:truenasUrl": "wss://nas.example/api/current",
    "hearth:truenasPool": "tank",
    "hearth:bindAddress": "192.168.1.10",
    "hearth:truenasApiKey": API_KEY,
}
DYN = "pulumi-python:dynamic/truenas:"


def of(rec: Recorder, kind: str) -> list[dict[str, object]]:
    return [r.inputs for r in rec.of_type(DYN + kind)]


def test_the_stack_declares_its_tree_tasks_files_and_one_app() -> None:
    rec = deploy(TRUENAS, stack="prod")
    names = {str(d["name"]) for d in of(rec, "Dataset")}
    assert {"tank/prod", "tank/prod/secrets", "tank/prod/config"} <= names
    assert "tank/prod/postgres-data" in names
    pg = next(d for d in of(rec, "Dataset") if d["name"] == "tank/prod/postgres-data")
    assert (pg["recordsize"], pg["compression"], pg["uid"], pg["mode"]) == (
        "16K",
        "LZ4",
        999,
        "0700",
    )
    tasks = {str(t["dataset"]) for t in of(rec, "SnapshotTask")}
    assert tasks == {n for n in names if n.endswith("-data")}
    (app,) = of(rec, "CustomApp")
    assert app["app_name"] == "hearth-prod"
    doc = yaml.safe_load(str(app["compose"]))
    assert doc["services"]["postgres"]["volumes"][0]["source"] == "/mnt/tank/prod/postgres-data"
    assert of(rec, "SecretFile")
    assert of(rec, "ConfigFile")
    wrappers = {r.type for r in rec.resources if r.type.startswith("hearth:truenas:")}
    assert wrappers == {
        "hearth:truenas:Dataset", "hearth:truenas:SnapshotTask", "hearth:truenas:SecretFile",
        "hearth:truenas:ConfigFile", "hearth:truenas:CustomApp",
    }  # fmt: skip


def test_datasets_are_kept_on_destroy_and_nothing_else_is() -> None:
    rec = deploy(TRUENAS, stack="prod")
    retained = {r.type for r in rec.resources if r.retain_on_delete and r.type.startswith(DYN)}
    assert retained == {DYN + "Dataset"}
    assert all(r.retain_on_delete for r in rec.of_type(DYN + "Dataset"))


def test_no_secret_and_no_api_key_in_any_plain_input() -> None:
    rec = deploy(TRUENAS, stack="prod")
    from hearth.secrets import GENERATED

    for r in rec.resources:
        text = str({k: v for k, v in r.inputs.items() if k not in ("content", "__provider")})
        assert API_KEY not in text, r.urn_hint
        for key in GENERATED:
            assert fake_secret(key) not in text, (key, r.urn_hint)


def test_names_carry_the_stack_so_stacks_never_clash() -> None:
    a, b = deploy(TRUENAS, stack="a"), deploy(TRUENAS, stack="b")
    names_a = {r.name for r in a.resources} - {"a"}
    names_b = {r.name for r in b.resources}
    assert not names_a & names_b
    ds_a = {str(d["name"]) for d in of(a, "Dataset")}
    ds_b = {str(d["name"]) for d in of(b, "Dataset")}
    assert not ds_a & ds_b


def test_the_api_key_is_required_before_anything_is_declared() -> None:
    config = {k: v for k, v in TRUENAS.items() if k != "hearth:truenasApiKey"}
    with pytest.raises(Exception, match="truenasApiKey"):
        deploy(config, stack="prod")


def spec(name: str, user: str, *mounts: VolumeMount) -> ServiceSpec:
    return ServiceSpec(
        name=name, image="x", user=user, networks=("backend",), mounts=mounts,
        healthcheck=HealthCheck(test=("true",)),
    )  # fmt: skip


def test_a_store_belongs_to_its_writer_and_is_tuned_for_it() -> None:
    found = stores([
        spec("backup", "5:5", VolumeMount("postgres-data", "/in", read_only=True)),
        spec("postgres", "999:999", VolumeMount("postgres-data", "/var/lib/postgresql/data")),
        spec("minio", "996:996", VolumeMount("minio-data", "/data")),
        spec("viewer", "7:7", VolumeMount("reports", "/r", read_only=True)),
    ])  # fmt: skip
    assert found["postgres-data"] == Store("postgres-data", "postgres", 999, 999)
    assert found["postgres-data"].tuning == TUNING["postgres"]
    assert found["minio-data"].tuning.recordsize == "1M"
    assert found["reports"].service == "viewer"
    assert found["reports"].tuning.recordsize == "128K"


def test_reserved_and_shared_stores_are_refused() -> None:
    with pytest.raises(ValueError, match="secrets"):
        stores([spec("a", "1:1", VolumeMount("secrets", "/s"))])
    with pytest.raises(ValueError, match="one owner only"):
        stores([
            spec("a", "1:1", VolumeMount("shared", "/s")),
            spec("b", "2:2", VolumeMount("shared", "/s")),
        ])  # fmt: skip


def test_the_example_stack_is_valid() -> None:
    from hearth.workspace import check_settings

    settings = check_settings("truenas")
    assert settings.platform == "truenas"
    assert settings.truenas_pool
    assert settings.truenas_url
    assert parse_settings(TRUENAS).truenas_pool == "tank"
