"""The Compose rendering of the specs: the TrueNAS artefact, checked as data."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

import pytest
import yaml

from hearth.catalog import DATA_SERVICES, services
from hearth.catalog.spec import INTERNAL_NETWORKS, data_stores
from hearth.render import (
    dump,
    files_digest,
    host_files,
    log_config,
    render,
)
from hearth.settings import parse_settings

SETTINGS = parse_settings({"hearth:appReplicas": "2"})
SPECS = services(SETTINGS)
SECRETS = "/srv/hearth/secrets"


def doc(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"project": "hearth-local", "secrets_dir": SECRETS, **kw}
    return render(SETTINGS, SPECS, **args)


def test_every_service_is_hardened() -> None:
    for name, svc in doc()["services"].items():
        assert svc["user"].split(":")[0] != "0", name
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "cap_add" not in svc, name
        assert svc["security_opt"] == ["no-new-privileges:true"], name
        assert svc["mem_limit"].endswith("m") and int(svc["mem_limit"][:-1]) > 0, name
        assert svc["memswap_limit"] == svc["mem_limit"], name
        assert svc["pids_limit"] > 0, name
        assert svc["logging"] == log_config(SETTINGS), name
        assert svc["logging"]["options"]["syslog-address"] == "udp://127.0.0.1:5514", name
        assert svc["logging"]["options"]["cache-max-size"], f"{name}: docker logs unrotated"
        assert svc["restart"] in ("unless-stopped", "no"), name


def test_long_running_services_have_healthchecks_and_one_shots_none() -> None:
    one_shots = {s.name for s in SPECS if s.one_shot}
    assert one_shots == {"bootstrap-postgres", "bootstrap-s3", "migrate"}
    for name, svc in doc()["services"].items():
        if name in one_shots:
            assert svc["healthcheck"] == {"disable": True}, name
            assert svc["restart"] == "no", name
        else:
            hc = svc["healthcheck"]
            assert hc["test"][0] == "CMD", name
            assert "start_interval" not in hc, "Engine 20.10 refuses start_interval"
            assert svc["restart"] == "unless-stopped", name


def test_depends_on_waits_for_health_or_completion() -> None:
    services_ = doc()["services"]
    assert services_["migrate"]["depends_on"] == {
        "bootstrap-postgres": {"condition": "service_completed_successfully"},
        "bootstrap-s3": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
        "nats": {"condition": "service_healthy"},
    }
    assert services_["app-1"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert services_["edge"]["depends_on"]["app-2"] == {"condition": "service_healthy"}


def test_only_the_edge_publishes_ports() -> None:
    published = {n: s["ports"] for n, s in doc()["services"].items() if "ports" in s}
    assert published.pop("logs") == [
        {"target": 5514, "published": "5514", "host_ip": "127.0.0.1", "protocol": "udp"}
    ]
    assert list(published) == ["edge"]
    assert published["edge"] == [
        {"target": 8080, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp"},
        {"target": 8443, "published": "8443", "host_ip": "127.0.0.1", "protocol": "tcp"},
    ]


def test_data_services_only_on_internal_networks() -> None:
    d = doc()
    for net, cfg in d["networks"].items():
        assert cfg["internal"] is (net in INTERNAL_NETWORKS), net
    for name in DATA_SERVICES:
        for net in d["services"][name]["networks"]:
            assert d["networks"][net]["internal"] is True, f"{name} on {net}"


def test_names_are_unique_per_project() -> None:
    a, b = doc(project="hearth-a"), doc(project="hearth-b")
    for key in ("networks", "volumes"):
        names_a = {v["name"] for v in a[key].values()}
        names_b = {v["name"] for v in b[key].values()}
        assert len(names_a) == len(a[key]) and not names_a & names_b, key
        assert all(n.startswith("hearth-a-") for n in names_a), key
    containers = [s["container_name"] for s in a["services"].values()]
    assert len(set(containers)) == len(containers)
    assert not set(containers) & {s["container_name"] for s in b["services"].values()}


def host_paths(root: str) -> dict[str, str]:
    return {store: f"{root}/{store}" for store in data_stores(SPECS)}


def test_external_named_volumes_by_default_host_paths_when_given() -> None:
    d = doc()
    assert set(d["volumes"]) == set(data_stores(SPECS))
    # The target creates and keeps them: Compose only uses them, and `down -v` cannot drop them.
    assert all(v["external"] is True for v in d["volumes"].values())
    assert d["services"]["postgres"]["volumes"][0]["type"] == "volume"

    d = doc(data_paths=host_paths("/mnt/tank/hearth"))
    assert "volumes" not in d
    vol = d["services"]["postgres"]["volumes"][0]
    assert vol["type"] == "bind"
    assert vol["source"] == "/mnt/tank/hearth/postgres-data"
    assert vol["bind"] == {"create_host_path": False}


def test_data_stores_are_owned_by_the_uids_that_write_them() -> None:
    owners = {name: (s.uid, s.gid) for name, s in data_stores(SPECS).items()}
    assert owners["postgres-data"] == (999, 999)
    assert owners["s3-data"] == (996, 996)
    assert owners["edge-data"] == (10002, 10002)


def test_files_digest_changes_with_a_config_file_and_only_then() -> None:
    nats = next(s for s in SPECS if s.name == "nats")
    assert files_digest(nats) == files_digest(replace(nats, env={"X": "1"}))
    first = nats.files[0]
    changed = replace(nats, files=(replace(first, content=first.content + "#\n"), *nats.files[1:]))
    assert files_digest(changed) != files_digest(nats)


def test_secrets_are_files_one_copy_per_reading_uid() -> None:
    d = doc()
    files = {f.path: f for f in host_files(SPECS, secrets_dir=SECRETS) if f.secret}
    assert d["secrets"] == {
        f"{f.secret}-{f.uid}": {"file": path} for path, f in sorted(files.items())
    }
    for f in files.values():
        assert f.mode == 0o400
        assert f.path == f"{SECRETS}/{f.uid}/{f.secret}"
    # The app's database password: read by the app (10001) and by psql in bootstrap (999).
    readers = {f.uid for f in files.values() if f.secret == "appDbPassword"}
    assert readers == {999, 10001}
    app_secrets = d["services"]["app-1"]["secrets"]
    assert {"source": "appDbPassword-10001", "target": "/run/secrets/app_db_password"} in (
        app_secrets
    )


def test_config_files_are_read_only_bind_configs() -> None:
    d = doc()
    files = {f.path: f for f in host_files(SPECS, secrets_dir=SECRETS) if f.content is not None}
    assert "/srv/hearth/config/edge/Caddyfile" in files
    assert d["configs"]["edge-Caddyfile"] == {"file": "/srv/hearth/config/edge/Caddyfile"}
    assert all(not f.mode & 0o222 for f in files.values())
    assert all("content" not in c for c in d["configs"].values()), "refused on read-only roots"
    other = doc(config_dir="/etc/hearth-config")
    assert other["configs"]["edge-Caddyfile"] == {"file": "/etc/hearth-config/edge/Caddyfile"}


def test_secret_values_never_appear_in_the_document() -> None:
    values = {
        f.secret: secrets.token_urlsafe(32)
        for f in host_files(SPECS, secrets_dir=SECRETS)
        if f.secret
    }
    text = dump(doc())
    for name, value in values.items():
        assert value not in text, name
    # Nor does any environment variable carry a password or key in clear.
    for name, svc in doc()["services"].items():
        for key in svc.get("environment", {}):
            if any(w in key for w in ("PASSWORD", "SECRET")):
                assert key.endswith("_FILE"), f"{name}: {key}"


def test_dollars_are_escaped_from_compose_interpolation() -> None:
    spec = replace(SPECS[0], env={"X": "a$b"})
    d = render(SETTINGS, [spec], project="p", secrets_dir=SECRETS)
    assert d["services"]["postgres"]["environment"]["X"] == "a$$b"


def test_dump_is_yaml_that_reads_back() -> None:
    d = doc()
    assert yaml.safe_load(dump(d)) == d
    assert dump(d).startswith("name: hearth-local\n")


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"project": "Hearth Local"}, "'Hearth Local'"),
        ({"secrets_dir": "relative/secrets"}, "secrets_dir"),
        ({"config_dir": "/a/../b"}, "config_dir"),
        ({"data_paths": {"postgres-data": "/mnt/tank/pg"}}, "'edge-data'"),
        (
            {"data_paths": {**host_paths("/mnt/tank/h"), "nats-data": "data/nats"}},
            "nats-data",
        ),
    ],
)
def test_bad_input_is_named_in_the_error(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("[", r"\[")):
        doc(**kwargs)


def test_an_inconsistent_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="'ghost'"):
        render(
            SETTINGS, [replace(SPECS[0], depends_on=("ghost",))], project="p", secrets_dir=SECRETS
        )
