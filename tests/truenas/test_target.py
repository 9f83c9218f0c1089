"""The truenas target's resource graph under Pulumi mocks (no API, no engine)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pulumi
import pytest
import yaml

from hearth import render
from hearth.catalog import services
from hearth.catalog.spec import DataStore, HealthCheck, ServiceSpec, VolumeMount, data_stores
from hearth.secrets import GENERATED
from hearth.settings import PROJECT, parse_settings
from hearth.targets import Deployment, Target, target_for
from hearth.targets import truenas as target
from hearth.targets.truenas import TUNING, stores, tuning
from tests.unit.mock_deploy import Recorder, fake_secret

API_KEY = "1-fake-api-key-never-in-a-resource"
TRUENAS = {
    "hearth:platform": "truenas",
    "hearth:truenasUrl": "wss://nas.example/api/current",
    "hearth:truenasPool": "tank",
    "hearth:bindAddress": "192.168.1.10",
    "hearth:truenasApiKey": API_KEY,
}
DYN = "pulumi-python:dynamic/truenas:"


def deploy(
    config: dict[str, str], stack: str = "prod", recorder: Recorder | None = None
) -> tuple[Recorder, dict[str, Any]]:
    """Run the target's `deploy` under mocks, as the program does; returns what it declared
    and the outputs it returned (resolved)."""
    recorder = recorder or Recorder()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(config, secret_keys=["hearth:truenasApiKey"])
    settings = parse_settings(config, stack=stack)
    returned: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> pulumi.Output[None]:
        pulumi.runtime.register_stack_transformation(recorder.note_options)
        secrets = {key: pulumi.Output.secret(fake_secret(key)) for key in GENERATED}
        outputs = target.deploy(Deployment(stack, settings, services(settings), secrets))
        return pulumi.Output.from_input(dict(outputs)).apply(returned.update)

    run()
    return recorder, returned


def of(rec: Recorder, kind: str) -> list[dict[str, Any]]:
    return [r.inputs for r in rec.of_type(DYN + kind)]


def test_the_module_is_the_registered_truenas_target() -> None:
    checked: Target = target  # mypy checks the module against the protocol
    module: ModuleType = target
    assert target_for("truenas") is module
    assert callable(checked.deploy)
    assert callable(checked.purge)


def test_the_stack_declares_its_tree_tasks_files_and_one_app() -> None:
    rec, outputs = deploy(TRUENAS)
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
    assert tasks == {n for n in names if n.endswith(("-data", "-backup"))}
    (app,) = of(rec, "CustomApp")
    assert app["app_name"] == "hearth-prod"
    wrappers = {r.type for r in rec.resources if r.type.startswith("hearth:truenas:")}
    assert wrappers == {
        "hearth:truenas:Dataset", "hearth:truenas:SnapshotTask", "hearth:truenas:SecretFile",
        "hearth:truenas:ConfigFile", "hearth:truenas:CustomApp",
    }  # fmt: skip
    assert outputs["app"] == "hearth-prod"
    assert outputs["dataRoot"] == "/mnt/tank/prod"
    assert set(outputs["datasets"]) == {n.rsplit("/", 1)[1] for n in tasks}


def test_the_app_runs_the_document_of_the_shared_renderer() -> None:
    rec, _ = deploy(TRUENAS)
    settings = parse_settings(TRUENAS, stack="prod")
    specs = services(settings)
    (app,) = of(rec, "CustomApp")
    expected = render.render(
        settings,
        specs,
        project="hearth-prod",
        secrets_dir="/mnt/tank/prod/secrets",
        config_dir="/mnt/tank/prod/config",
        data_paths={store: f"/mnt/tank/prod/{store}" for store in data_stores(specs)},
    )
    assert yaml.safe_load(str(app["compose"])) == expected


def test_every_host_file_the_document_names_is_written_once() -> None:
    rec, _ = deploy(TRUENAS)
    specs = services(parse_settings(TRUENAS, stack="prod"))
    listed = render.host_files(
        specs, secrets_dir="/mnt/tank/prod/secrets", config_dir="/mnt/tank/prod/config"
    )
    secret_paths = [str(f["path"]) for f in of(rec, "SecretFile")]
    config_paths = [str(f["path"]) for f in of(rec, "ConfigFile")]
    assert sorted(secret_paths) == sorted(f.path for f in listed if f.secret is not None)
    assert sorted(config_paths) == sorted(f.path for f in listed if f.secret is None)
    for f in of(rec, "SecretFile"):
        assert f["mode"] == "0400", f["path"]


def test_datasets_are_kept_on_destroy_and_nothing_else_is() -> None:
    rec, _ = deploy(TRUENAS)
    retained = {r.type for r in rec.resources if r.retain_on_delete and r.type.startswith(DYN)}
    assert retained == {DYN + "Dataset"}
    assert all(r.retain_on_delete for r in rec.of_type(DYN + "Dataset"))


def test_no_secret_and_no_api_key_in_any_plain_input() -> None:
    rec, _ = deploy(TRUENAS)
    for r in rec.resources:
        text = str({k: v for k, v in r.inputs.items() if k not in ("content", "__provider")})
        assert API_KEY not in text, r.urn_hint
        for key in GENERATED:
            assert fake_secret(key) not in text, (key, r.urn_hint)


def test_names_carry_the_stack_so_stacks_never_clash() -> None:
    (a, _), (b, _) = deploy(TRUENAS, stack="a"), deploy(TRUENAS, stack="b")
    names_a = {r.name for r in a.resources if r.type != "pulumi:pulumi:Stack"}
    names_b = {r.name for r in b.resources if r.type != "pulumi:pulumi:Stack"}
    assert names_a
    assert not names_a & names_b
    ds_a = {str(d["name"]) for d in of(a, "Dataset")}
    ds_b = {str(d["name"]) for d in of(b, "Dataset")}
    assert not ds_a & ds_b


def test_the_api_key_is_required_before_anything_is_declared() -> None:
    config = {k: v for k, v in TRUENAS.items() if k != "hearth:truenasApiKey"}
    recorder = Recorder()
    with pytest.raises(pulumi.ConfigMissingError, match="hearth:truenasApiKey"):
        deploy(config, recorder=recorder)
    assert not [r for r in recorder.resources if r.type.startswith("hearth:truenas:")]


def spec(name: str, user: str, *mounts: VolumeMount) -> ServiceSpec:
    return ServiceSpec(
        name=name, image="x", user=user, networks=("backend",), mounts=mounts,
        healthcheck=HealthCheck(test=("true",)),
    )  # fmt: skip


def test_a_store_belongs_to_its_writer_and_is_tuned_for_it() -> None:
    found = stores([
        spec("backup", "5:5", VolumeMount("postgres-data", "/in", read_only=True)),
        spec("postgres", "999:999", VolumeMount("postgres-data", "/var/lib/postgresql/data")),
        spec("s3", "996:996", VolumeMount("s3-data", "/data")),
        spec("viewer", "7:7", VolumeMount("reports", "/r", read_only=True)),
    ])  # fmt: skip
    assert found["postgres-data"] == DataStore("postgres-data", "postgres", 999, 999)
    assert tuning(found["postgres-data"]) == TUNING["postgres"]
    assert tuning(found["s3-data"]).recordsize == "1M"
    assert found["reports"].service == "viewer"
    assert tuning(found["reports"]).recordsize == "128K"


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
