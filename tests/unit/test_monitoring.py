"""Monitoring derived from the catalog: scrape targets, memory limits, routes under login,
alert routing from the stack's settings."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from hearth.catalog import monitoring, postgres, services
from hearth.catalog.common import DATA_HEALTH, FAST_DNS
from hearth.catalog.edge import caddyfile
from hearth.catalog.spec import MetricsEndpoint, ServiceSpec
from hearth.settings import SettingsError, parse_settings

LOCAL = parse_settings({})


def by_name(specs: tuple[ServiceSpec, ...]) -> dict[str, ServiceSpec]:
    return {s.name: s for s in specs}


def file_of(spec: ServiceSpec, name: str) -> str:
    (content,) = [f.content for f in spec.files if f.target.endswith("/" + name)]
    return content


def scrape_jobs(specs: tuple[ServiceSpec, ...]) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(file_of(by_name(specs)[monitoring.METRICS], "scrape.yml"))
    return {job["job_name"]: job for job in doc["scrape_configs"]}


def test_every_metrics_endpoint_of_the_catalog_is_one_scrape_job() -> None:
    specs = services(LOCAL)
    jobs = scrape_jobs(specs)
    endpoints = {s.name: s.metrics for s in specs if s.metrics is not None}
    assert {"app-1", "app-2", "edge", "metrics", "vmalert", "logs"} <= endpoints.keys()
    for name, endpoint in endpoints.items():
        job = jobs.pop(name)
        assert job["metrics_path"] == endpoint.path, name
        (static,) = job["static_configs"]
        assert static["targets"] == [f"{name}:{endpoint.port}"], name
        assert static["labels"] == {"service": name, "host": "localhost"}, name
    # What is left are the blackbox probes.
    assert set(jobs) == {f"probe-{p.name}" for p in monitoring.probes(LOCAL)}


def test_a_new_service_with_a_metrics_endpoint_is_scraped_without_more_code() -> None:
    new = ServiceSpec(
        name="search",
        image="hearth/search:local",
        user="994:994",
        networks=("backend", "monitoring"),
        healthcheck=DATA_HEALTH,
        metrics=MetricsEndpoint(7700, "/stats"),
    )
    platform = tuple(s for s in services(LOCAL) if s.labels.get("hearth.role") != "monitoring")
    specs = (*platform, *monitoring.servers(LOCAL, (*platform, new)))
    assert scrape_jobs(specs)["search"]["metrics_path"] == "/stats"
    limits = yaml.safe_load(file_of(by_name(specs)[monitoring.VMALERT], "generated.yml"))
    series = {r["labels"]["service"]: r["expr"] for r in limits["groups"][0]["rules"]}
    assert series["search"] == f"vector({256 * 2**20})"


def test_a_metrics_endpoint_needs_the_monitoring_network() -> None:
    with pytest.raises(ValueError, match=r"'search'.*monitoring"):
        ServiceSpec(
            name="search",
            image="hearth/search:local",
            user="994:994",
            networks=("backend",),
            healthcheck=DATA_HEALTH,
            metrics=MetricsEndpoint(7700),
        )


def test_every_long_running_service_has_its_memory_limit_as_a_series() -> None:
    specs = services(LOCAL)
    limits = yaml.safe_load(file_of(by_name(specs)[monitoring.VMALERT], "generated.yml"))
    series = {r["labels"]["service"]: r["expr"] for r in limits["groups"][0]["rules"]}
    assert series == {s.name: f"vector({s.memory_mb * 2**20})" for s in specs if not s.one_shot}


def test_every_monitoring_ui_is_behind_forward_auth_with_the_permission() -> None:
    text = caddyfile(LOCAL)
    for name, prefix in monitoring.PREFIXES.items():
        block = re.search(rf"\thandle {prefix}/\* {{\n\t\troute {{\n(.*?)\n\t\t}}\n", text, re.S)
        assert block, prefix
        body = block.group(1)
        auth = body.index("forward_auth app-1:8000 app-2:8000 {")
        assert "uri /api/v1/auth/forward?permission=dashboards:view" in body, prefix
        upstream = f"reverse_proxy @{name}_reads {name}:{monitoring.UI_PORTS[name]}"
        refused = 'respond "not through the edge" 403'
        assert auth < body.index(upstream) < body.index(refused), f"{prefix}: out of order"
        reads = re.search(rf"\t@{name}_reads {{\n(.*?)\n\t}}\n", text, re.S)
        assert reads, name
        assert "/import" not in reads.group(1) and "/admin" not in reads.group(1), name
        assert "/insert" not in reads.group(1) and "/-/" not in reads.group(1), name
    # Never a route to Alertmanager, the exporters or Caddy's own metrics.
    for hidden in (":9093", ":9187", ":9121", ":7777", ":9100", ":9115", "reverse_proxy edge"):
        assert hidden not in text, hidden


def test_the_logs_intake_is_the_only_other_published_port_and_on_loopback() -> None:
    lan = parse_settings({"hearth:platform": "linux", "hearth:bindAddress": "192.168.1.20"})
    logs = by_name(services(lan))[monitoring.LOGS]
    ((port),) = logs.ports
    assert (port.host_ip, port.protocol, port.host_port) == ("127.0.0.1", "udp", 5514)
    assert "-syslog.listenAddr.udp=:5514" in logs.command


def test_alerts_go_to_the_receivers_the_stack_sets() -> None:
    def receiver(settings: dict[str, str]) -> dict[str, Any]:
        spec = by_name(services(parse_settings(settings)))[monitoring.ALERTMANAGER]
        doc = yaml.safe_load(file_of(spec, "alertmanager.yml"))
        (only,) = doc["receivers"]
        return dict(only, global_=doc.get("global"), route=doc["route"])

    none = receiver({})
    assert set(none) == {"name", "global_", "route"}, "no receiver configured: none"
    hooked = receiver(
        {"hearth:alertWebhookUrl": "https://hooks.example.org/x", "hearth:alertGroupWaitS": "5"}
    )
    assert hooked["webhook_configs"] == [
        {"url": "https://hooks.example.org/x", "send_resolved": True}
    ]
    assert hooked["route"]["group_wait"] == "5s"
    mailed = receiver(
        {"hearth:alertEmailTo": "ops@example.org", "hearth:alertSmtpHost": "relay.lan:25"}
    )
    assert mailed["email_configs"] == [{"to": "ops@example.org", "send_resolved": True}]
    assert mailed["global_"]["smtp_smarthost"] == "relay.lan:25"
    assert mailed["global_"]["smtp_from"] == "alerts@localhost"


def test_mail_without_a_relay_and_a_clashing_logs_port_are_refused() -> None:
    with pytest.raises(SettingsError, match="hearth:alertSmtpHost"):
        parse_settings({"hearth:alertEmailTo": "ops@example.org"})
    with pytest.raises(SettingsError, match="hearth:logsPort"):
        parse_settings({"hearth:logsPort": "8443"})


def test_retention_and_disk_caps_follow_the_settings() -> None:
    specs = by_name(
        services(
            parse_settings(
                {
                    "hearth:metricsRetentionDays": "30",
                    "hearth:metricsMinFreeDiskMb": "2048",
                    "hearth:logsRetentionDays": "3",
                    "hearth:logsMaxDiskMb": "512",
                }
            )
        )
    )
    assert "-retentionPeriod=30d" in specs["metrics"].command
    assert f"-storage.minFreeDiskSpaceBytes={2048 * 2**20}" in specs["metrics"].command
    assert "-retentionPeriod=3d" in specs["logs"].command
    assert f"-retention.maxDiskSpaceUsageBytes={512 * 2**20}" in specs["logs"].command


def test_every_dashboard_panel_has_a_query() -> None:
    boards = [
        yaml.safe_load(f.content)
        for f in by_name(services(LOCAL))[monitoring.METRICS].files
        if f.target.endswith(".json")
    ]
    assert len(boards) == len(monitoring.DASHBOARDS)
    for board in boards:
        for row in board["rows"]:
            for panel in row["panels"]:
                assert panel["expr"] and all(panel["expr"]), (board["title"], panel["title"])
                assert 1 <= panel["width"] <= 12


def test_the_exporters_time_out_lookups_fast() -> None:
    for spec in services(LOCAL):
        if spec.labels.get("hearth.role") == "monitoring":
            assert spec.dns_options == FAST_DNS, spec.name
    assert by_name(services(LOCAL))["postgres"].dns_options == ()


def test_the_postgres_exporter_connects_as_its_own_role_never_the_superuser() -> None:
    specs = by_name(services(LOCAL))
    exporter = specs["postgres-exporter"]
    assert exporter.env["DATA_SOURCE_USER"] == postgres.MONITOR != "postgres"
    assert [s.name for s in exporter.secrets] == [postgres.MONITOR_SECRET]
    # The bootstrap makes that role: a login with pg_monitor, and nothing more.
    sql = postgres.bootstrap_sql()
    assert (
        f"ALTER ROLE {postgres.MONITOR} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
        "NOREPLICATION NOBYPASSRLS PASSWORD :'password';"
    ) in sql
    assert f"GRANT pg_monitor TO {postgres.MONITOR};" in sql
    assert f"GRANT EXECUTE ON FUNCTION {postgres.MEMORY_FUNCTION}() TO {postgres.MONITOR};" in sql
    assert postgres.MONITOR_SECRET in {s.name for s in specs["bootstrap-postgres"].secrets}
    queries = yaml.safe_load(file_of(exporter, "postgres-queries.yml"))
    assert f"{postgres.MEMORY_FUNCTION}()" in queries["hearth_container"]["query"]


def test_the_overview_has_a_backups_row_when_the_catalog_has_backup_agents() -> None:
    def rows(specs: tuple[ServiceSpec, ...]) -> list[str]:
        board = yaml.safe_load(file_of(by_name(specs)[monitoring.METRICS], "overview.json"))
        return [row["title"] for row in board["rows"]]

    specs = services(LOCAL)
    assert monitoring.backup_agents(specs) == ["backup-postgres", "backup-s3", "backup-nats"]
    assert rows(specs)[-1] == "Backups (backup-postgres, backup-s3, backup-nats)"
    platform = tuple(
        s
        for s in specs
        if s.labels.get("hearth.role") != "monitoring" and not s.name.startswith("backup-")
    )
    assert "Backups" not in " ".join(rows((*platform, *monitoring.servers(LOCAL, platform))))


def test_wal_archive_staleness_follows_the_archive_timeout() -> None:
    def stale(settings: dict[str, str]) -> dict[str, Any]:
        spec = by_name(services(parse_settings(settings)))[monitoring.VMALERT]
        doc = yaml.safe_load(file_of(spec, "backups.yml"))
        rules: list[dict[str, Any]] = doc["groups"][0]["rules"]
        (rule,) = [r for r in rules if r.get("alert") == "WalArchiveStale"]
        return rule

    default = stale({})
    assert default["for"] == "180s" and "> 300\n" in default["expr"]
    slow = stale({"hearth:walArchiveTimeoutS": "600"})
    assert slow["for"] == "720s" and "> 720\n" in slow["expr"]
