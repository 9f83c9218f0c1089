"""The platform's monitoring (images/monitoring, one image; why: docs/adr/0009):

- `metrics`: VictoriaMetrics, scraping every metrics endpoint of the catalog (its scrape
  configuration is generated from the specs, never kept by hand) and serving vmui with
  the dashboards of templates/monitoring/dashboards/;
- `vmalert`: the alerting and recording rules of templates/monitoring/rules/, evaluated
  against `metrics`, sent to `alertmanager`;
- `alertmanager`: grouping, inhibition, and the receivers the stack configures (a webhook,
  mail through a relay);
- `logs`: VictoriaLogs, fed by Docker's syslog log driver of every container;
- exporters for what has no metrics of its own: `postgres-exporter` (as the role
  `monitor`, pg_monitor only), `redis-exporter`, `nats-exporter`, `node-exporter` (the
  host), `blackbox-exporter` (the edge's certificate, S3's health and an S3 request).

Everything is on the internal `monitoring` network; people reach the UIs through the
edge only, under the platform's login (PREFIXES, UI_ROUTES; the edge's Caddyfile).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hearth.catalog import edge, nats, postgres, redis, s3
from hearth.catalog.common import (
    FAST_DNS,
    TMP,
    go_memory_limit,
    public_host,
    public_url,
    render,
    secret_path,
    secrets,
    template_file,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import (
    ConfigFile,
    HealthCheck,
    MetricsEndpoint,
    PublishedPort,
    SecretFile,
    ServiceSpec,
    VolumeMount,
)
from hearth.settings import Settings

IMAGE = "monitoring"
USER = "995:995"
"""The image's uid:gid (images/monitoring/Dockerfile, USER)."""
ETC = "/etc/monitoring"
LABELS = {"hearth.role": "monitoring"}

METRICS = "metrics"
METRICS_PORT = 8428
VMALERT = "vmalert"
VMALERT_PORT = 8880
ALERTMANAGER = "alertmanager"
ALERTMANAGER_PORT = 9093
LOGS = "logs"
LOGS_PORT = 9428
SYSLOG_PORT = 5514
"""Inside the container; published on the host's loopback as the logsPort setting."""

PREFIXES = {METRICS: "/dashboards", LOGS: "/logs", VMALERT: "/alerts"}
"""Path prefix of each UI on the platform's site (the edge routes these under login)."""
UI_PATHS = {
    METRICS: f"{PREFIXES[METRICS]}/vmui/",
    LOGS: f"{PREFIXES[LOGS]}/select/vmui/",
    VMALERT: f"{PREFIXES[VMALERT]}/vmalert/",
}
"""Where each UI starts."""
UI_PORTS = {METRICS: METRICS_PORT, LOGS: LOGS_PORT, VMALERT: VMALERT_PORT}


@dataclass(frozen=True)
class UiRoute:
    """What the edge passes on to a UI's service, under its prefix: the UI and the read
    APIs it calls, with these methods. Nothing else: not the ingestion, deletion, admin or
    debug endpoints, which `dashboards:view` must not reach."""

    methods: tuple[str, ...]
    paths: tuple[str, ...]


_PROMETHEUS_READS = (
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/*",
    "/api/v1/metadata",
    "/api/v1/export",
    "/api/v1/status/*",
)
UI_ROUTES = {
    # vmui POSTs its queries as forms, to its server URL `<prefix>/prometheus`, where it also
    # reads the dashboards; its read API (no /api/v1/import, no /api/v1/admin).
    METRICS: UiRoute(
        methods=("GET", "HEAD", "POST"),
        paths=(
            "/vmui/*",
            "/prometheus/vmui/*",
            *_PROMETHEUS_READS,
            *(f"/prometheus{p}" for p in _PROMETHEUS_READS),
        ),
    ),
    # VictoriaLogs' UI and its LogsQL API (queries may be POSTed forms); never /insert.
    LOGS: UiRoute(methods=("GET", "HEAD", "POST"), paths=("/select/*",)),
    # vmalert's UI and its read API; never /-/reload.
    VMALERT: UiRoute(methods=("GET", "HEAD"), paths=("/vmalert/*", "/api/v1/*")),
}
"""Paths relative to the UI's prefix (PREFIXES)."""


PERMISSION = "dashboards:view"
"""What a user needs to see any monitoring UI (the app's permission catalogue)."""

DASHBOARDS = ("overview", "postgres", "valkey", "nats", "app", "edge", "host")
"""vmui dashboards, templates/monitoring/dashboards/<name>.json.j2."""
RULES = ("services", "data", "backups", "app", "edge", "host")
BACKUP_PREFIX = "backup-"
"""Backup agents are services `backup-<store>` (rules/backups.yml.j2, the overview's row)."""
"""Rule groups, templates/monitoring/rules/<name>.yml.j2 (unit tests: tests/monitoring/)."""


@dataclass(frozen=True)
class Probe:
    """A blackbox probe: `module` of blackbox.yml.j2 against `target`, as job `probe-<name>`."""

    name: str
    module: str
    target: str


def probes(settings: Settings) -> tuple[Probe, ...]:
    return (
        # The certificate the edge presents for the platform's name (SNI: blackbox.yml.j2).
        Probe("edge-tls", "edge_tls", f"{edge.NAME}:{edge.HTTPS_PORT}"),
        # The S3 server has no Prometheus metrics (statsd only): its health endpoint, and
        # an S3 request on the app's bucket (S3Errors; blackbox.yml.j2, module s3_api).
        Probe("s3", "http_2xx", f"http://{s3.NAME}:{s3.S3_PORT}/health"),
        Probe("s3-api", "s3_api", f"http://{s3.NAME}:{s3.S3_PORT}/{s3.BUCKET}/.hearth-probe"),
    )


def _health(port: int, path: str) -> HealthCheck:
    return HealthCheck(
        test=("/usr/local/bin/healthcheck.sh", str(port), path),
        interval_s=5,
        timeout_s=3,
        retries=3,
        start_period_s=30,
    )


def _spec(
    name: str,
    *,
    port: int,
    command: Sequence[str],
    networks: tuple[str, ...] = ("monitoring",),
    metrics_path: str = "/metrics",
    health_path: str = "/metrics",
    memory_mb: int = 64,
    processes: int = 64,
    env: Mapping[str, str] | None = None,
    secrets: tuple[SecretFile, ...] = (),
    files: tuple[ConfigFile, ...] = (),
    mounts: tuple[VolumeMount, ...] = (),
    tmpfs: Mapping[str, str] | None = None,
    ports: tuple[PublishedPort, ...] = (),
    depends_on: tuple[str, ...] = (),
) -> ServiceSpec:
    """A service of the monitoring image: its own metrics on `port`, healthy when
    `health_path` answers 200 there."""
    return ServiceSpec(
        name=name,
        image=image_ref(IMAGE),
        user=USER,
        networks=networks,
        command=tuple(command),
        env={"GOMEMLIMIT": go_memory_limit(memory_mb), **(env or {})},
        secrets=secrets,
        files=files,
        mounts=mounts,
        tmpfs=tmpfs or {},
        ports=ports,
        depends_on=depends_on,
        healthcheck=_health(port, health_path),
        memory_mb=memory_mb,
        processes=processes,
        metrics=MetricsEndpoint(port, metrics_path),
        labels=LABELS,
        # A scraper or exporter answers within its scrape timeout when a peer is gone.
        dns_options=FAST_DNS,
    )


def exporters(settings: Settings) -> tuple[ServiceSpec, ...]:
    return (
        _spec(
            "postgres-exporter",
            port=9187,
            health_path="/",
            networks=("backend", "monitoring"),
            command=(
                "prometheus-postgres-exporter",
                "--web.listen-address=:9187",
                f"--extend.query-path={ETC}/postgres-queries.yml",
            ),
            # Its own role, pg_monitor only (the bootstrap makes it), never the superuser.
            env={
                "DATA_SOURCE_URI": f"{postgres.NAME}:{postgres.PORT}/postgres?sslmode=disable",
                "DATA_SOURCE_USER": postgres.MONITOR,
                "DATA_SOURCE_PASS_FILE": secret_path(postgres.MONITOR_SECRET),
            },
            secrets=secrets(postgres.MONITOR_SECRET),
            files=(
                template_file(
                    f"{ETC}/postgres-queries.yml",
                    "monitoring/postgres-queries.yml.j2",
                    container=postgres.NAME,
                    memory_function=postgres.MEMORY_FUNCTION,
                ),
            ),
            depends_on=(postgres.NAME,),
        ),
        _spec(
            "redis-exporter",
            port=9121,
            health_path="/health",
            networks=("backend", "monitoring"),
            command=(
                "prometheus-redis-exporter",
                "--web.listen-address=:9121",
                f"--redis.addr=redis://{redis.NAME}:{redis.PORT}",
            ),
            # The image's entrypoint reads the file into REDIS_PASSWORD, which the exporter reads.
            env={"REDIS_PASSWORD_FILE": secret_path("redisPassword")},
            secrets=secrets("redisPassword"),
            depends_on=(redis.NAME,),
        ),
        _spec(
            "nats-exporter",
            port=7777,
            health_path="/healthz",
            networks=("backend", "monitoring"),
            command=(
                "hearth-nats-exporter",
                "-listen=:7777",
                f"-server=http://{nats.NAME}:{nats.MONITOR_PORT}",
            ),
            memory_mb=32,
            depends_on=(nats.NAME,),
        ),
        _spec(
            "node-exporter",
            port=9100,
            health_path="/",
            command=(
                "prometheus-node-exporter",
                "--web.listen-address=:9100",
                # The container sees the host's memory, CPU and load; of the disks, the one
                # holding the platform's data, mounted below.
                "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|etc)($|/)",
            ),
            # Read-only: the filesystem of the data stores, for its free space.
            mounts=(VolumeMount(volume=f"{METRICS}-data", target="/host/data", read_only=True),),
            memory_mb=32,
        ),
        _spec(
            "blackbox-exporter",
            port=9115,
            health_path="/-/healthy",
            # `storage`: the S3 server is there; the edge is on `monitoring`.
            networks=("monitoring", "storage"),
            command=(
                "prometheus-blackbox-exporter",
                "--web.listen-address=:9115",
                f"--config.file={ETC}/blackbox.yml",
            ),
            files=(
                template_file(
                    f"{ETC}/blackbox.yml", "monitoring/blackbox.yml.j2", host=public_host(settings)
                ),
            ),
            memory_mb=32,
        ),
    )


def scrape_targets(specs: Sequence[ServiceSpec]) -> list[dict[str, str]]:
    """Every metrics endpoint of the catalog, as job name, address and path."""
    return [
        {"job": s.name, "address": f"{s.name}:{s.metrics.port}", "path": s.metrics.path}
        for s in specs
        if s.metrics is not None
    ]


def scrape_config(settings: Settings, specs: Sequence[ServiceSpec]) -> str:
    return render(
        "monitoring/scrape.yml.j2",
        interval=settings.monitoring_interval_s,
        host=public_host(settings),
        targets=scrape_targets(specs),
        probes=probes(settings),
        blackbox="blackbox-exporter:9115",
    )


def memory_limits(specs: Sequence[ServiceSpec]) -> dict[str, int]:
    """Each long-running service's memory limit in bytes (recording rules: generated.yml)."""
    return {s.name: s.memory_mb * 2**20 for s in specs if not s.one_shot}


def rule_files(settings: Settings, specs: Sequence[ServiceSpec]) -> tuple[ConfigFile, ...]:
    """The rule groups, and the generated one: the catalog's memory limits as series."""
    # Caddy's internal CA issues 12-hour certificates and renews them with 4 hours left;
    # ACME ones last 90 days and are renewed 30 days before they end.
    cert_warning_s = 14 * 86400 if settings.domain else 3600
    # A write is archived within archive_timeout (and a scrape or two): past that, stale.
    wal_stale_for_s = settings.wal_archive_timeout_s + 120
    files = [
        template_file(
            f"{ETC}/rules/{name}.yml",
            f"monitoring/rules/{name}.yml.j2",
            cert_warning_s=cert_warning_s,
            redis=redis.NAME,
            nats=nats.NAME,
            wal_archive_timeout_s=settings.wal_archive_timeout_s,
            wal_stale_s=max(300, wal_stale_for_s),
            wal_stale_for_s=wal_stale_for_s,
        )
        for name in RULES
    ]
    files.append(
        template_file(
            f"{ETC}/rules/generated.yml",
            "monitoring/generated-rules.yml.j2",
            limits=memory_limits(specs),
        )
    )
    return tuple(files)


def backup_agents(specs: Sequence[ServiceSpec]) -> list[str]:
    """The backup agents of the catalog (`backup-<store>`, each with its metrics endpoint)."""
    return [s.name for s in specs if s.name.startswith(BACKUP_PREFIX) and s.metrics is not None]


def dashboard_files(specs: Sequence[ServiceSpec]) -> tuple[ConfigFile, ...]:
    """The dashboards; the overview has a Backups row when the catalog has backup agents."""
    return tuple(
        template_file(
            f"{ETC}/dashboards/{name}.json",
            f"monitoring/dashboards/{name}.json.j2",
            backups=backup_agents(specs),
        )
        for name in DASHBOARDS
    )


def metrics(settings: Settings, specs: Sequence[ServiceSpec]) -> ServiceSpec:
    """VictoriaMetrics, scraping every endpoint in `specs` (the rest of the platform)."""
    prefix = PREFIXES[METRICS]
    return _spec(
        METRICS,
        port=METRICS_PORT,
        command=(
            "victoria-metrics",
            "-storageDataPath=/data",
            f"-retentionPeriod={settings.metrics_retention_days}d",
            f"-storage.minFreeDiskSpaceBytes={settings.metrics_min_free_disk_mb * 2**20}",
            f"-promscrape.config={ETC}/scrape.yml",
            f"-http.pathPrefix={prefix}",
            f"-vmui.customDashboardsPath={ETC}/dashboards",
            # Recent samples are queryable at once (the default hides the last 30 s).
            "-search.latencyOffset=5s",
        ),
        metrics_path=f"{prefix}/metrics",
        health_path=f"{prefix}/health",
        files=(
            ConfigFile(target=f"{ETC}/scrape.yml", content=scrape_config(settings, specs)),
            *dashboard_files(specs),
        ),
        mounts=(VolumeMount(volume=f"{METRICS}-data", target="/data"),),
        tmpfs={TMP: "size=16m"},
        memory_mb=256,
        processes=128,
    )


def vmalert(settings: Settings, specs: Sequence[ServiceSpec]) -> ServiceSpec:
    prefix = PREFIXES[VMALERT]
    datasource = f"http://{METRICS}:{METRICS_PORT}{PREFIXES[METRICS]}"
    return _spec(
        VMALERT,
        port=VMALERT_PORT,
        command=(
            "vmalert",
            "-httpListenAddr=:8880",
            f"-rule={ETC}/rules/*.yml",
            f"-datasource.url={datasource}",
            # Recording rules and alert state go back to VictoriaMetrics; the state is read
            # back after a restart, so a firing alert does not start its `for` again.
            f"-remoteWrite.url={datasource}",
            f"-remoteRead.url={datasource}",
            f"-notifier.url=http://{ALERTMANAGER}:{ALERTMANAGER_PORT}",
            f"-evaluationInterval={settings.monitoring_interval_s}s",
            f"-http.pathPrefix={prefix}",
            f"-external.url={public_url(settings)}{prefix}",
        ),
        metrics_path=f"{prefix}/metrics",
        health_path=f"{prefix}/health",
        files=rule_files(settings, specs),
        depends_on=(METRICS, ALERTMANAGER),
    )


def alertmanager(settings: Settings) -> ServiceSpec:
    return _spec(
        ALERTMANAGER,
        port=ALERTMANAGER_PORT,
        command=(
            "prometheus-alertmanager",
            f"--config.file={ETC}/alertmanager.yml",
            "--storage.path=/data",
            f"--web.listen-address=:{ALERTMANAGER_PORT}",
            # One instance: no gossip port.
            "--cluster.listen-address=",
            f"--web.external-url={public_url(settings)}/alerts",
            "--web.route-prefix=/",
        ),
        health_path="/-/healthy",
        files=(
            template_file(
                f"{ETC}/alertmanager.yml",
                "monitoring/alertmanager.yml.j2",
                group_wait=settings.alert_group_wait_s,
                group_interval=settings.alert_group_interval_s,
                repeat_interval=settings.alert_repeat_interval_s,
                webhook_url=settings.alert_webhook_url,
                email_to=settings.alert_email_to,
                email_from=settings.alert_email_from or f"alerts@{public_host(settings)}",
                smtp_host=settings.alert_smtp_host,
            ),
        ),
        mounts=(VolumeMount(volume=f"{ALERTMANAGER}-data", target="/data"),),
    )


def logs(settings: Settings) -> ServiceSpec:
    prefix = PREFIXES[LOGS]
    return _spec(
        LOGS,
        port=LOGS_PORT,
        networks=("monitoring", "intake"),
        command=(
            "victoria-logs",
            "-storageDataPath=/data",
            f"-retentionPeriod={settings.logs_retention_days}d",
            f"-retention.maxDiskSpaceUsageBytes={settings.logs_max_disk_mb * 2**20}",
            f"-http.pathPrefix={prefix}",
            f"-syslog.listenAddr.udp=:{SYSLOG_PORT}",
        ),
        metrics_path=f"{prefix}/metrics",
        health_path=f"{prefix}/health",
        ports=(
            PublishedPort(
                container_port=SYSLOG_PORT,
                host_port=settings.logs_port,
                host_ip="127.0.0.1",
                protocol="udp",
            ),
        ),
        mounts=(VolumeMount(volume=f"{LOGS}-data", target="/data"),),
        memory_mb=128,
    )


def servers(settings: Settings, scraped: Sequence[ServiceSpec]) -> tuple[ServiceSpec, ...]:
    """The monitoring services, scraping `scraped` (the rest of the catalog) and themselves.

    `metrics` and `vmalert` carry files about the whole platform, themselves included:
    built once without them to learn their own endpoints and limits, then for good."""
    own = (*exporters(settings), alertmanager(settings), logs(settings))
    drafts = (metrics(settings, ()), vmalert(settings, ()))
    everything = (*scraped, *own, *drafts)
    return (*own, metrics(settings, everything), vmalert(settings, everything))
