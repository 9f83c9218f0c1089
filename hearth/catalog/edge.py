"""The edge (images/edge): Caddy, the only service publishing ports. TLS from ACME with a
domain, else from Caddy's own CA; the app's replicas load-balanced with active health
checks; S3 path-style, for the app's presigned URLs only."""

from __future__ import annotations

from hearth.catalog import app, s3
from hearth.catalog.common import (
    EDGE_NODE,
    IMAGE_HEALTHCHECK,
    TMP,
    data_volume,
    go_memory_limit,
    on_swarm,
    public_host,
    public_port_suffix,
    render,
)
from hearth.catalog.images import image_ref
from hearth.catalog.spec import (
    ConfigFile,
    HealthCheck,
    MetricsEndpoint,
    PublishedPort,
    ServiceSpec,
)
from hearth.settings import Settings

NAME = "edge"
USER = "10002:10002"
"""The image's uid:gid (images/edge/Dockerfile, USER)."""
# Ports inside the container: unprivileged, so the edge needs no capability.
HTTP_PORT = 8080
HTTPS_PORT = 8443
HEALTH_PORT = 8081
"""Loopback only, never published (images/edge/healthcheck.sh)."""
METRICS_PORT = 9180
"""Caddy's metrics, for the scraper on `monitoring`; never published nor routed."""
FORWARD_AUTH = "/api/v1/auth/forward"
"""The app's endpoint deciding whether a request may reach an operator UI."""

CADDYFILE = "/etc/caddy/Caddyfile"
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""The admin console's Content-Security-Policy: no inline script or style, nothing from
another origin (docs/console.md)."""


def caddyfile(settings: Settings) -> str:
    """The edge's configuration: TLS, the app's replicas, S3's presigned URLs and the
    monitoring UIs under the platform's login."""
    from hearth.catalog import monitoring  # monitoring probes the edge: it imports this module

    swarm = on_swarm(settings)
    if settings.domain:
        sites = [settings.domain]
    else:
        sites = ["localhost", "127.0.0.1"]
        if not settings.bind_address.is_loopback:
            sites.append(str(settings.bind_address))
    return render(
        "edge/Caddyfile.j2",
        http_port=HTTP_PORT,
        https_port=HTTPS_PORT,
        health_port=HEALTH_PORT,
        host=public_host(settings),
        port_suffix=public_port_suffix(settings),
        domain=settings.domain,
        acme_email=settings.acme_email,
        sites=sites,
        apps=[] if swarm else [f"{name}:{app.PORT}" for name in app.replica_names(settings)],
        app_service=app.replica_names(settings)[0] if swarm else None,
        app_port=app.PORT,
        bucket=s3.BUCKET,
        s3=f"{s3.NAME}:{s3.S3_PORT}",
        metrics_port=METRICS_PORT,
        console_csp=CONSOLE_CSP,
        forward_auth=f"{FORWARD_AUTH}?permission={monitoring.PERMISSION}",
        uis=[
            {
                "name": name,
                "prefix": prefix,
                "upstream": f"{name}:{monitoring.UI_PORTS[name]}",
                "start": monitoring.UI_PATHS[name],
                "methods": monitoring.UI_ROUTES[name].methods,
                "paths": [prefix + p for p in monitoring.UI_ROUTES[name].paths],
            }
            for name, prefix in monitoring.PREFIXES.items()
            if not swarm
        ],
    )


def server(settings: Settings) -> ServiceSpec:
    memory = 128
    bind = str(settings.bind_address)
    return ServiceSpec(
        name=NAME,
        image=image_ref(NAME),
        user=USER,
        # `monitoring`: the operator UIs it routes to, and the scraper of its metrics.
        networks=("edge", "storage", "monitoring"),
        ports=(
            PublishedPort(container_port=HTTP_PORT, host_port=settings.http_port, host_ip=bind),
            PublishedPort(container_port=HTTPS_PORT, host_port=settings.https_port, host_ip=bind),
        ),
        env={"GOMEMLIMIT": go_memory_limit(memory)},
        files=(ConfigFile(target=CADDYFILE, content=caddyfile(settings)),),
        mounts=data_volume(NAME, "/data"),
        tmpfs={TMP: "size=8m"},
        depends_on=(*app.replica_names(settings), s3.NAME),
        healthcheck=HealthCheck(
            test=IMAGE_HEALTHCHECK, interval_s=3, timeout_s=3, retries=3, start_period_s=30
        ),
        memory_mb=memory,
        processes=128,
        labels={"hearth.role": "edge"},
        placement=(EDGE_NODE,) if on_swarm(settings) else (),
        metrics=MetricsEndpoint(METRICS_PORT),
    )
