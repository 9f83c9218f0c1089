"""The platform's catalog: every service hardened, wired and bootstrapped as designed."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import hearth.catalog
from hearth.catalog import DATA_SERVICES, services
from hearth.catalog.common import public_url
from hearth.catalog.edge import CONSOLE_CSP, caddyfile
from hearth.catalog.nats import APP_NATS_PUBLISH, APP_NATS_SUBSCRIBE
from hearth.catalog.postgres import bootstrap_sql
from hearth.catalog.s3 import APP_S3_ACCESS_KEY, BUCKET, ROOT_ACCESS_KEY
from hearth.catalog.spec import INTERNAL_NETWORKS, ServiceSpec, check_catalog
from hearth.secrets import GENERATED
from hearth.settings import Settings, parse_settings

APP_SRC = Path(__file__).resolve().parents[2] / "app" / "src" / "hearth_app"

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
        "s3",
        "bootstrap-postgres",
        "bootstrap-s3",
        "migrate",
        "app-1",
        "app-2",
        "app-3",
        "edge",
        "backup-postgres",
        "backup-s3",
        "backup-nats",
        "postgres-exporter",
        "redis-exporter",
        "nats-exporter",
        "node-exporter",
        "blackbox-exporter",
        "alertmanager",
        "logs",
        "metrics",
        "vmalert",
    ]
    seen: set[str] = set()
    for spec in services(LAN):
        assert set(spec.depends_on) <= seen, f"{spec.name} depends on a later service"
        seen.add(spec.name)


def test_only_the_edge_publishes_ports_on_the_bind_address() -> None:
    for settings in ALL.values():
        published = {s.name: s.ports for s in services(settings) if s.ports}
        assert list(published) == ["edge", "logs"]
        # The logs service: Docker's syslog driver (on the host) sends to loopback UDP.
        (intake,) = published.pop("logs")
        assert (intake.host_ip, intake.protocol) == ("127.0.0.1", "udp")
        assert intake.host_port == settings.logs_port
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
    assert set(specs["app-1"].networks) == {"edge", "backend", "monitoring"}


def test_every_data_store_has_one_writer() -> None:
    writers: dict[str, list[str]] = {}
    for spec in services(LAN):
        for m in spec.mounts:
            writers.setdefault(m.volume, []).append(spec.name)
    assert writers == {
        # A backup agent writes its store only to restore it, with the server stopped.
        "postgres-data": ["postgres", "backup-postgres"],
        "redis-data": ["redis"],
        "nats-data": ["nats"],
        "s3-data": ["s3", "backup-s3"],
        # PostgreSQL archives its WAL into its repository.
        "postgres-backup": ["postgres", "backup-postgres"],
        "s3-backup": ["backup-s3"],
        "nats-backup": ["backup-nats"],
        "edge-data": ["edge"],
        # node-exporter reads its filesystem's free space, read-only.
        "metrics-data": ["node-exporter", "metrics"],
        "alertmanager-data": ["alertmanager"],
        "logs-data": ["logs"],
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
    # digestKey keys the HMAC of secrets in the docker target's labels: no container reads it.
    assert set(GENERATED) - used == {"digestKey"}


def test_only_migrate_gets_the_first_admin() -> None:
    specs = catalog(DOMAIN)
    env = specs["migrate"].env
    assert env["HEARTH_BOOTSTRAP_ADMIN_EMAIL"] == "admin@hearth.localhost"
    assert env["HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE"] == "/run/secrets/admin_password"
    assert "adminPassword" in {s.name for s in specs["migrate"].secrets}
    custom = parse_settings({"hearth:adminEmail": "root@hearth.example.org"})
    assert catalog(custom)["migrate"].env["HEARTH_BOOTSTRAP_ADMIN_EMAIL"] == (
        "root@hearth.example.org"
    )
    for spec in specs.values():
        if spec.name != "migrate":
            assert "adminPassword" not in {s.name for s in spec.secrets}, spec.name
            assert not any(k.startswith("HEARTH_BOOTSTRAP_") for k in spec.env), spec.name


def test_app_replicas_follow_the_setting_and_wait_for_migrations() -> None:
    specs = catalog(LAN)
    replicas = [s for s in specs if s.startswith("app-")]
    assert replicas == ["app-1", "app-2", "app-3"]
    for r in replicas:
        assert specs[r].depends_on == ("migrate",)
        assert specs[r].command == ("serve",)
    assert specs["migrate"].one_shot and specs["migrate"].command == ("migrate",)
    assert set(specs["edge"].depends_on) == {*replicas, "s3"}


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
    assert text.count("health_uri /healthz") == 1, "one upstream group: the app's replicas"


def test_caddyfile_passes_only_presigned_object_requests_to_s3() -> None:
    text = caddyfile(LAN)
    presigned = (
        "\t@presigned {\n"
        f"\t\tpath /{BUCKET}/*\n"
        "\t\tmethod GET HEAD PUT\n"
        "\t\tquery X-Amz-Signature=*\n"
        "\t}\n"
        "\thandle @presigned {\n"
        "\t\t# An uploaded file is never a page of this origin: no script of its own, no cookie.\n"
        "\t\theader Content-Security-Policy \"sandbox; frame-ancestors 'none'\"\n"
        "\t\treverse_proxy s3:7070\n"
    )
    assert presigned in text
    assert f"@bucket path /{BUCKET} /{BUCKET}/*\n\thandle @bucket {{\n\t\trespond" in text
    assert text.index("handle @bucket") < text.index("\thandle {"), "before the app's catch-all"
    assert ":7071" not in text, "never the admin API"
    # The only forward_auth guards the monitoring UIs (test_monitoring.py).
    assert text.count("forward_auth ") == 3


def test_caddyfile_serves_the_console_under_its_own_policy_before_the_apps_catch_all() -> None:
    text = caddyfile(LAN)
    assert "redir / /console/ 302" in text
    # Any other name of the site sends the console to the platform's own (presigned URLs).
    assert "\t\tnot host 192.168.1.20\n\t\tpath / /console /console/*\n" in text
    assert "redir @console_elsewhere https://192.168.1.20:8443{uri} 308" in text
    served = "\thandle /console/* {"
    assert served in text
    assert text.index(served) < text.index("\thandle {"), "before the app's catch-all"
    assert f'header @console Content-Security-Policy "{CONSOLE_CSP}"' in text
    assert "'unsafe-inline'" not in CONSOLE_CSP
    assert "'unsafe-eval'" not in CONSOLE_CSP


def test_postgres_bootstrap_is_idempotent_and_least_privilege() -> None:
    sql = bootstrap_sql()
    assert "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app')\\gexec" in sql
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" in sql
    assert "REVOKE ALL ON DATABASE app FROM PUBLIC;" in sql
    assert "REVOKE ALL ON SCHEMA public FROM PUBLIC;" in sql
    assert "`cat /run/secrets/app_db_password`" in sql, "password read by psql, not argv"


def test_s3_bootstrap_gives_the_app_its_own_key_with_secrets_from_files() -> None:
    specs = catalog()
    spec = specs["bootstrap-s3"]
    script = next(f.content for f in spec.files if f.target.endswith(".sh"))
    assert f"export S3_BUCKET={BUCKET}\n" in script
    assert f"export APP_ACCESS_KEY={APP_S3_ACCESS_KEY}\n" in script
    assert f"export ROOT_ACCESS_KEY={ROOT_ACCESS_KEY}\n" in script
    assert "export ROOT_SECRET_KEY_FILE=/run/secrets/s3_root_secret_key\n" in script
    assert "export APP_SECRET_KEY_FILE=/run/secrets/app_s3_secret_key\n" in script
    assert script.rstrip().endswith("exec hearth-s3-bootstrap"), "no secret as an argument"
    assert {s.name for s in spec.secrets} == {"s3RootSecretKey", "appS3SecretKey"}
    # The root secret is read by the server and its bootstrap, nothing else.
    readers = {s.name for s in specs.values() if "s3RootSecretKey" in {x.name for x in s.secrets}}
    assert readers == {"s3", "bootstrap-s3"}
    assert specs["app-1"].env["HEARTH_S3_ACCESS_KEY"] == APP_S3_ACCESS_KEY
    assert specs["s3"].env["ROOT_SECRET_KEY_FILE"] == "/run/secrets/s3_root_secret_key"


def test_nats_app_user_cannot_publish_everywhere() -> None:
    assert ">" not in APP_NATS_PUBLISH
    assert ">" not in APP_NATS_SUBSCRIBE
    conf = next(f.content for f in catalog()["nats"].files if f.target.endswith(".conf"))
    assert "include base.conf" in conf
    assert "$HEARTH_NATS_APP_PASSWORD" in conf
    assert f"publish: {{ allow: {json.dumps(list(APP_NATS_PUBLISH))} }}" in conf
    assert f"subscribe: {{ allow: {json.dumps(list(APP_NATS_SUBSCRIBE))} }}" in conf


def nats_allows(allowed: tuple[str, ...], subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    tokens = subject.split(".")
    for pattern in allowed:
        parts = pattern.split(".")
        if parts[-1] == ">":
            head, ok = parts[:-1], len(tokens) > len(parts) - 1
        else:
            head, ok = parts, len(tokens) == len(parts)
        if ok and all(p in ("*", t) for p, t in zip(head, tokens, strict=False)):
            return True
    return False


def test_nats_allows_the_file_inspector_both_ways() -> None:
    assert nats_allows(APP_NATS_PUBLISH, "rpc.file.inspect"), "the app sends the request"
    assert nats_allows(APP_NATS_SUBSCRIBE, "rpc.file.inspect"), "the app answers it"
    assert not nats_allows(APP_NATS_SUBSCRIBE, "file.inspect")


def test_nats_allows_every_subject_the_app_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    # The app lists what it needs in one module (app_permissions), without dependencies:
    # loaded by path, since the app is not installed here. The platform's lists are broader
    # (wildcards) and must cover it; the permission bug this would have caught (requests on
    # rpc.file.inspect, allowed as file.inspect) otherwise showed only at runtime.
    path = APP_SRC / "events" / "subjects.py"
    if not path.is_file():
        pytest.skip(f"{path} is missing: the app lists its subjects elsewhere now")
    spec = importlib.util.spec_from_file_location("_app_subjects", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    needed = module.app_permissions()
    for subject in needed.publish:
        assert nats_allows(APP_NATS_PUBLISH, subject), f"publish {subject!r} is not allowed"
    for subject in needed.subscribe:
        assert nats_allows(APP_NATS_SUBSCRIBE, subject), f"subscribe {subject!r} is not allowed"


@pytest.mark.parametrize(
    "name",
    ["BUCKET", "DATA_SERVICES", "TMP", "caddyfile", "public_url", "services"],
)
def test_catalog_keeps_the_names_other_code_imports(name: str) -> None:
    assert name in hearth.catalog.__all__
    assert hasattr(hearth.catalog, name)


def test_catalog_rules_name_the_offender() -> None:
    specs = services(LOCAL)
    with pytest.raises(ValueError, match="'postgres'"):
        check_catalog([*specs, specs[0]])
    with pytest.raises(ValueError, match="'nope'"):
        check_catalog([*specs[:-1], replace(specs[-1], depends_on=("nope",))])
    with pytest.raises(ValueError, match="postgres-data"):
        check_catalog([*specs, replace(specs[1], name="redis2", mounts=specs[0].mounts)])
    edge = next(s for s in specs if s.name == "edge")
    with pytest.raises(ValueError, match=r"\['redis', 'edge'\]|\['edge', 'redis'\]"):
        check_catalog([specs[0], replace(specs[1], ports=edge.ports), *specs[2:]])
