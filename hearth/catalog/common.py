"""What several services of the catalog share: secret file paths, the public URL, health
presets, the bootstrap one-shot shape, and rendering config templates.

Templates live in hearth/catalog/templates/<service>/ and render with StrictUndefined: a
name the template uses and the code does not give fails the render, never yields "".
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jinja2

from hearth.catalog.images import image_ref
from hearth.catalog.spec import ConfigFile, HealthCheck, SecretFile, ServiceSpec, VolumeMount
from hearth.settings import Settings

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

TMP = "/tmp"  # noqa: S108 - a private tmpfs in each container, not the host's /tmp
ETC = "/etc/hearth"
"""Where scripts and files the catalog writes for a service are mounted."""
EXECUTABLE = 0o555
"""Mode of the scripts the catalog mounts (config files are 0444, the ConfigFile default)."""

IMAGE_HEALTHCHECK = ("/usr/local/bin/healthcheck.sh",)
"""Every image of ours carries its healthcheck there (images/<service>/healthcheck.sh)."""

DATA_HEALTH = HealthCheck(
    test=IMAGE_HEALTHCHECK, interval_s=3, timeout_s=3, retries=3, start_period_s=60
)
"""Engine 20.10 has no start_interval: a short interval, and a start period long enough
for a recovery (WAL replay, AOF load, JetStream stream recovery)."""

ONE_SHOT_HEALTH = HealthCheck(test=("true",), interval_s=30, retries=1, start_period_s=0)
"""One-shots have no healthcheck: targets disable it; this value is never run."""

DATA_LABELS = {"hearth.role": "data"}

DATA_NODE = "hearth.data=true"
"""On a swarm, the node label of the node holding the data stores: every service mounting
one, and the one-shots preparing them, run there (docs/swarm.md)."""
EDGE_NODE = "hearth.edge=true"
"""On a swarm, the node label of the nodes publishing the edge's ports."""


def on_swarm(settings: Settings) -> bool:
    return settings.platform == "swarm"


FAST_DNS = ("timeout:1", "attempts:1")
"""resolv.conf options for a service that must notice quickly when a peer is gone: the
lookup of a stopped service's name fails after a second instead of ten
(ServiceSpec.dns_options)."""

BACKUP_REPOSITORY = "/backup"
"""Where a backup repository store is mounted: in each backup agent (backup.py), and in
`postgres`, which archives its WAL there."""
BACKUP_SECRET = "backupPassword"  # noqa: S105 - its name, not its value
"""The one generated secret every backup repository is encrypted with."""


def backup_store(service: str) -> str:
    """The data store holding `service`'s backups, kept like its data."""
    return f"{service}-backup"


def secret_path(name: str) -> str:
    """Where a secret's file is mounted: /run/secrets/<snake_case name>."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return f"/run/secrets/{snake}"


def secret(name: str) -> SecretFile:
    """Secret `name` (a key of hearth.secrets.GENERATED) as a file at secret_path(name)."""
    return SecretFile(name=name, target=secret_path(name))


def secrets(*names: str) -> tuple[SecretFile, ...]:
    return tuple(secret(n) for n in names)


def data_volume(service: str, target: str) -> tuple[VolumeMount, ...]:
    """The one data store of a service, named `<service>-data`."""
    return (VolumeMount(volume=f"{service}-data", target=target),)


def public_host(settings: Settings) -> str:
    """The name clients use: the domain, else the bind address (`localhost` on loopback)."""
    if settings.domain:
        return settings.domain
    return "localhost" if settings.bind_address.is_loopback else str(settings.bind_address)


def public_port_suffix(settings: Settings) -> str:
    """`:<https port>`, or nothing on 443 (so URLs and redirects carry no `:443`)."""
    return "" if settings.https_port == 443 else f":{settings.https_port}"


def public_url(settings: Settings) -> str:
    return f"https://{public_host(settings)}{public_port_suffix(settings)}"


def go_memory_limit(memory_mb: int, percent: int = 80) -> str:
    """GOMEMLIMIT, a share of the container's limit: Go's GC works harder before the OOM
    killer would, instead of letting the heap double between collections."""
    return f"{memory_mb * percent // 100}MiB"


def bash(script: str) -> tuple[str, ...]:
    """The command running a mounted script (mounted files carry no exec bit on every host)."""
    return ("bash", script)


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        # Configuration files and scripts, not HTML: escaping would corrupt them.
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Jinja's own `tojson` escapes <, > and & for HTML; NATS subjects contain `>`.
    env.filters["json"] = json.dumps
    return env


def render(template: str, **context: object) -> str:
    """Template `<service>/<file>.j2` rendered with `context`; `source` names the template."""
    source = f"hearth/catalog/templates/{template}"
    return _environment().get_template(template).render(source=source, **context)


def template_file(
    target: str, template: str, *, mode: int = 0o444, **context: object
) -> ConfigFile:
    """A config file at `target` whose content is `template` rendered with `context`."""
    return ConfigFile(target=target, content=render(template, **context), mode=mode)


def bootstrap_name(service: str) -> str:
    return f"bootstrap-{service}"


def bootstrap_one_shot(
    service: str,
    user: str,
    script: ConfigFile,
    *,
    secrets: tuple[SecretFile, ...],
    files: tuple[ConfigFile, ...] = (),
    env: dict[str, str] | None = None,
    memory_mb: int,
    processes: int,
) -> ServiceSpec:
    """`bootstrap-<service>`: an idempotent one-shot that sets `service` up with the client
    of its own image (run as the image's user), by running `script` with bash. It reuses
    the server's image: no image of its own to build, patch or keep in memory."""
    return ServiceSpec(
        name=bootstrap_name(service),
        image=image_ref(service),
        user=user,
        networks=("backend",),
        command=bash(script.target),
        env=env or {},
        secrets=secrets,
        files=(*files, script),
        tmpfs={TMP: "size=4m"},
        depends_on=(service,),
        one_shot=True,
        restart="no",
        healthcheck=ONE_SHOT_HEALTH,
        memory_mb=memory_mb,
        processes=processes,
        labels={"hearth.role": "bootstrap"},
    )
