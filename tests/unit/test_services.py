"""The platform's catalog: every service hardened, wired and bootstrapped as designed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hearth.secrets import GENERATED
from hearth.services import (
    APP_NATS_PUBLISH,
    BUCKET,
    DATA_SERVICES,
    caddyfile,
    postgres_bootstrap_sql,
    public_url,
    services,
)
from hearth.settings import Settings, parse_settings
from hearth.specs import INTERNAL_NETWORKS, ServiceSpec, check_catalog

LOCAL = parse_settings({})
LAN = parse_settings(
    {"hearth:platform": "linux", "hearth:bindAddress": "192.168.1.20", "hearth:appReplicas": "3"}
)
DOMAIN = parse_settings(
    {
        "hearth:platform": "linux",
        "hearth:bindAddress": "192.168.1.20",
        "hearth:domain": "hearth.example.org",
        "hearth:acmeEmail": "ops@example.org",
        "hearth:httpsPort": "443",
    }
)
ALL = {"local": LOCAL, "lan": LAN, "domain": DOMAIN}


def catalog(settings: Settings = LOCAL) -> dict[str, ServiceSpec]:
    return {s.name: s for s in services(settings)}


@pytest.mark.parametrize("settings", ALL.values(), ids=ALL.keys())
def test_every_long_running_service_is_hardened(settings: Settings) -> None:
    for spec in services(settings):
        assert spec.uid > 0, spec.name
        assert spec.read_only, f"{spec.name} has a writable root"
        assert spec.cap_add == (), f"{spec.name} adds capabilities {spec.cap_add}"
        assert 0 < spec.memory_mb <= 512, spec.name
        assert 0 < spec.processes <= 256, spec.name
        if spec.one_shot:
            assert spec.restart == "no", spec.name
        else:
            assert spec.restart == "unless-stopped", spec.name
            assert spec.healthcheck.test and spec.healthcheck.test[0] != "true", spec.name


def test_the_platform_has_every_service_in_dependency_order() -> None:
    names = list(catalog(LAN))
    assert names == [
        "postgres",
        "redis",
        "nats",
        "minio",
        "bootstrap-postgres",
        "bootstrap-minio",
        "migrate",
        "app-1",
        "app-2",
        "app-3",
        "edge",
    ]
    seen: set[str] = set()
    for spec in services(LAN):
        assert set(spec.depends_on) <= seen, f"{spec.name} depends on a later service"
        seen.add(spec.name)


def test_only_the_edge_publishes_ports_on_the_bind_address() -> None:
    for settings in ALL.values():
        published = {s.name: s.ports for s in services(settings) if s.ports}
        assert list(published) == ["edge"]
        assert {p.host_ip for p in published["edge"]} == {str(settings.bind_address)}
        assert {p.host_port for p in published["edge"]} == {
            settings.http_port,
            settings.https_port,
        }
        assert all(p.container_port > 1024 for p in published["edge"]), "unprivileged inside"


def test_data_services_are_only_on_internal_networks() -> None:
    specs = catalog()
    for name in DATA_SERVICES:
        assert set(specs[name].networks) <= INTERNAL_NETWORKS, name
    assert "backend" not in specs["edge"].networks, "the edge must not reach the databases"
    assert set(specs["app-1"].networks) == {"edge", "backend"}


def test_every_data_store_has_one_writer() -> None:
    writers: dict[str, list[str]] = {}
    for spec in services(LAN):
        for m in spec.mounts:
            writers.setdefault(m.volume, []).append(spec.name)
    assert writers == {
        "postgres-data": ["postgres"],
        "redis-data": ["redis"],
        "nats-data": ["nats"],
        "minio-data": ["minio"],
        "edge-data": ["edge"],
    }


def test_secrets_reach_containers_only_as_files() -> None:
    for spec in services(LOCAL):
        for s in spec.secrets:
            assert s.name in GENERATED, f"{spec.name}: unknown secret {s.name}"
            assert s.target.startswith("/run/secrets/")
        targets = {s.target for s in spec.secrets}
        for key, value in spec.env.items():
            if key.endswith("_FILE"):
                assert value in targets, f"{spec.name}: {key} names an unmounted file"
            assert "PASSWORD" not in key or key.endswith("_FILE"), f"{spec.name}: {key}"
            assert "SECRET" not in key or key.endswith("_FILE"), f"{spec.name}: {key}"


def test_every_generated_secret_is_used_or_reserved() -> None:
    used = {s.name for spec in services(LOCAL) for s in spec.secrets}
    # adminPassword is for the first admin account, which the app does not create yet.
    assert set(GENERATED) - used == {"adminPassword"}


def test_app_replicas_follow_the_setting_and_wait_for_migrations() -> None:
    specs = catalog(LAN)
    replicas = [s for s in specs if s.startswith("app-")]
    assert replicas == ["app-1", "app-2", "app-3"]
    for r in replicas:
        assert specs[r].depends_on == ("migrate",)
        assert specs[r].command == ("serve",)
    assert specs["migrate"].one_shot and specs["migrate"].command == ("migrate",)
    assert set(specs["edge"].depends_on) == {*replicas, "minio"}


def test_app_environment_names_its_own_role_bucket_and_public_url() -> None:
    env = catalog(DOMAIN)["app-1"].env
    assert env["HEARTH_DB_USER"] == env["HEARTH_DB_NAME"] == "app"
    assert env["HEARTH_S3_BUCKET"] == BUCKET
    assert env["HEARTH_S3_PUBLIC_ENDPOINT"] == "https://hearth.example.org"
    assert env["HEARTH_AUTH_ISSUER"] == "https://hearth.example.org"
    assert catalog(LOCAL)["app-1"].env["HEARTH_S3_PUBLIC_ENDPOINT"] == "https://localhost:8443"


def test_public_url_uses_the_lan_address_without_a_domain() -> None:
    assert public_url(LAN) == "https://192.168.1.20:8443"


def test_caddyfile_uses_the_internal_ca_without_a_domain_and_acme_with_one() -> None:
    local = caddyfile(LOCAL)
    assert "\tlocal_certs" in local
    assert "localhost, 127.0.0.1 {" in local
    lan = caddyfile(LAN)
    assert "localhost, 127.0.0.1, 192.168.1.20 {" in lan
    acme = caddyfile(DOMAIN)
    assert "local_certs" not in acme
    assert "\temail ops@example.org" in acme
    assert "\nhearth.example.org {" in acme
    assert "redir https://{host}{uri} 308" in acme, "no :443 in redirects"


def test_caddyfile_balances_every_replica_with_active_health_checks() -> None:
    text = caddyfile(LAN)
    assert text.count("reverse_proxy app-1:8000 app-2:8000 app-3:8000 {") == 1
    assert text.count("health_uri /healthz") == 2
    assert "forward_auth app-1:8000 app-2:8000 app-3:8000 {" in text
    assert "uri /api/v1/auth/forward?permission=dashboards:view" in text
    assert "handle_path /minio/ui/* {" in text
    assert f"@s3 path /{BUCKET} /{BUCKET}/*" in text


def test_postgres_bootstrap_is_idempotent_and_least_privilege() -> None:
    sql = postgres_bootstrap_sql()
    assert "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app')\\gexec" in sql
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" in sql
    assert "REVOKE ALL ON DATABASE app FROM PUBLIC;" in sql
    assert "REVOKE ALL ON SCHEMA public FROM PUBLIC;" in sql
    assert "`cat /run/secrets/app_db_password`" in sql, "password read by psql, not argv"


def test_app_s3_policy_is_limited_to_its_bucket() -> None:
    spec = catalog()["bootstrap-minio"]
    policy = json.loads(next(f.content for f in spec.files if f.target.endswith(".json")))
    resources = {r for st in policy["Statement"] for r in st["Resource"]}
    assert resources == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}
    actions = {a for st in policy["Statement"] for a in st["Action"]}
    assert not any(a.startswith("admin:") or a == "s3:*" for a in actions)


def test_nats_app_user_cannot_publish_everywhere() -> None:
    assert ">" not in APP_NATS_PUBLISH
    conf = next(f.content for f in catalog()["nats"].files if f.target.endswith(".conf"))
    assert "include base.conf" in conf
    assert "$HEARTH_NATS_APP_PASSWORD" in conf


def test_catalog_rules_name_the_offender() -> None:
    specs = services(LOCAL)
    with pytest.raises(ValueError, match="'postgres'"):
        check_catalog([*specs, specs[0]])
    with pytest.raises(ValueError, match="'nope'"):
        check_catalog([*specs[:-1], replace(specs[-1], depends_on=("nope",))])
    with pytest.raises(ValueError, match="postgres-data"):
        check_catalog([*specs, replace(specs[1], name="redis2", mounts=specs[0].mounts)])
    with pytest.raises(ValueError, match=r"\['redis', 'edge'\]|\['edge', 'redis'\]"):
        check_catalog([specs[0], replace(specs[1], ports=specs[-1].ports), *specs[2:]])
