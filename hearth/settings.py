"""Stack settings: the one place Pulumi config is read and validated.

Everything a stack can set is a field here. Validation runs before any resource
is declared, so a bad value stops the run with a message that names the config
key and says how to fix it, and nothing is touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from ipaddress import IPv4Address
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from hearth.secrets import GENERATED

PROJECT = "hearth"

Platform = Literal["local", "linux", "wsl2", "truenas", "swarm"]
Port = Annotated[int, Field(ge=1, le=65535)]
HostName = Annotated[
    str, Field(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
]
ZfsName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$")]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
"""An address as the app accepts it (app/src/hearth_app/auth/schemas.py, Email)."""

BACKUP_S3_KEYS = ("backupS3AccessKey", "backupS3SecretKey")
"""The off-box bucket's key, set by the operator as Pulumi secrets (docs/backups.md)."""
SECRET_KEYS = ("truenasApiKey", *BACKUP_S3_KEYS, *GENERATED)
"""Keys held only as Pulumi secrets: read by the program with require_secret, never here."""

DEFAULT_DATA_ROOT = {"linux": "/srv/hearth", "wsl2": "/srv/hearth"}
"""Where data lives when the platform keeps it in host paths and the stack says nothing."""

WINDOWS_DRIVE = re.compile(r"^/mnt/[a-zA-Z](/|$)")


class SettingsError(ValueError):
    """Invalid stack configuration; the message lists every bad key and its fix."""


class Settings(BaseModel):
    """Validated settings of one stack. Field names map to camelCase config keys."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    platform: Platform = "local"
    """Which kind of host the stack runs on; selects the platform defaults."""
    bind_address: IPv4Address = IPv4Address("127.0.0.1")
    """Host address the edge publishes on: loopback on `local`, a LAN address elsewhere."""
    http_port: Port = 8080
    """Host port of the edge's HTTP endpoint."""
    https_port: Port = 8443
    """Host port of the edge's HTTPS endpoint."""
    domain: HostName | None = None
    """Public DNS name of the platform. Set: certificates from ACME. Unset: internal CA."""
    acme_email: Email | None = None
    """Contact address given to the ACME CA (only with `domain`)."""
    app_replicas: Annotated[int, Field(ge=1, le=8)] = 2
    """How many app containers the edge balances across."""
    registration_open: bool = True
    """Whether anyone may register an account; off, only admins create users."""
    admin_email: Email = "admin@hearth.localhost"
    """Address of the platform's first admin account, which the `migrate` one-shot sets up
    with the generated `adminPassword` secret."""
    data_root: str | None = None
    """Host directory for data on linux and wsl2 (default /srv/hearth); `local` uses volumes."""
    metrics_retention_days: Annotated[int, Field(ge=1, le=3650)] = 15
    """Days VictoriaMetrics keeps samples."""
    metrics_min_free_disk_mb: Annotated[int, Field(ge=64)] = 1024
    """VictoriaMetrics stops storing samples when its disk has less free space than this."""
    logs_retention_days: Annotated[int, Field(ge=1, le=3650)] = 7
    """Days VictoriaLogs keeps log lines."""
    logs_max_disk_mb: Annotated[int, Field(ge=64)] = 2048
    """VictoriaLogs drops its oldest days once its data passes this size."""
    logs_port: Port = 5514
    """Loopback UDP port on the host where Docker's syslog log driver hands every
    container's lines to VictoriaLogs; one per stack on a host."""
    monitoring_interval_s: Annotated[int, Field(ge=1, le=300)] = 15
    """How often metrics are scraped and alert rules evaluated."""
    alert_group_wait_s: Annotated[int, Field(ge=0, le=3600)] = 30
    """Alertmanager waits this long to gather a new group's alerts into one notification."""
    alert_group_interval_s: Annotated[int, Field(ge=1, le=86400)] = 300
    """Alertmanager's delay before notifying about changes (new, resolved) in a group."""
    alert_repeat_interval_s: Annotated[int, Field(ge=60, le=604800)] = 14400
    """Alertmanager notifies again about an alert still firing after this long."""
    alert_webhook_url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")] | None = None
    """Alertmanager posts every notification to this URL (its webhook format)."""
    alert_email_to: Email | None = None
    """Alertmanager mails every notification here too (needs alertSmtpHost)."""
    alert_email_from: Email | None = None
    """Sender address of alert mails (default: alerts@<the platform's host>)."""
    alert_smtp_host: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")] | None = None
    """SMTP relay for alert mails, host:port, without authentication (a local relay)."""
    backup_interval_minutes: Annotated[int, Field(ge=1, le=10080)] = 60
    """How often each data store is backed up: an incremental PostgreSQL backup and a
    snapshot of the S3 objects and the NATS streams (docs/backups.md)."""
    backup_full_interval_hours: Annotated[int, Field(ge=1, le=8760)] = 168
    """How often PostgreSQL gets a full backup; incrementals stand on the newest one."""
    backup_retention_days: Annotated[int, Field(ge=1, le=3650)] = 14
    """Backups (and the WAL archive) are kept until no restore within this many days
    needs them."""
    wal_archive_timeout_s: Annotated[int, Field(ge=10, le=3600)] = 60
    """PostgreSQL hands a WAL segment to the archive at least this often while anything is
    written: the most a restore to the latest state can lose."""
    backup_s3_url: (
        Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")] | None
    ) = None
    """An S3 server off this machine (scheme, host, port) that receives a copy of every
    backup repository after each backup; with backupS3Bucket and the secrets
    backupS3AccessKey, backupS3SecretKey."""
    backup_s3_bucket: (
        Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None
    ) = None
    """The off-box bucket (made when missing, if the key may)."""
    backup_s3_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")] = (
        "hearth"
    )
    """Where in the bucket this stack's copies go: one prefix per stack sharing a bucket."""
    backup_s3_region: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")] = "us-east-1"
    """The bucket's region, for the S3 signature."""
    truenas_url: Annotated[str, Field(pattern=r"^wss?://[^/\s]+(/.*)?$")] | None = None
    """TrueNAS middleware WebSocket URL, e.g. wss://nas.lan/api/current (truenas only)."""
    swarm_manager: Annotated[str, Field(pattern=r"^(unix|tcp|ssh)://[^\s]+$")] | None = None
    """How to reach a Swarm manager's Docker API, as DOCKER_HOST takes it, e.g.
    ssh://admin@10.0.0.11 (swarm only; docs/swarm.md)."""
    truenas_pool: ZfsName | None = None
    """ZFS pool that holds the stack's datasets under /mnt/<pool>/<stack> (truenas only)."""

    @model_validator(mode="after")
    def _platform_rules(self) -> Self:
        problems: dict[str, str] = {}
        if self.platform == "local" and not self.bind_address.is_loopback:
            problems["bindAddress"] = (
                f"the local stack publishes on loopback only, got {self.bind_address}; "
                "use the linux stack to serve the LAN"
            )
        if self.https_port == self.http_port:
            problems["httpsPort"] = f"must differ from httpPort ({self.http_port})"
        if self.acme_email and not self.domain:
            problems["acmeEmail"] = "only meaningful with hearth:domain set"
        if self.data_root is not None:
            path = PurePosixPath(self.data_root)
            if self.platform in ("local", "truenas", "swarm"):
                problems["dataRoot"] = (
                    f"not used on {self.platform} (local, swarm: Docker volumes; truenas: "
                    "/mnt/<truenasPool>/<stack>); remove it"
                )
            elif not path.is_absolute() or ".." in path.parts:
                problems["dataRoot"] = (
                    f"must be an absolute path without '..', got {self.data_root!r}"
                )
            elif self.platform == "wsl2" and WINDOWS_DRIVE.match(self.data_root):
                problems["dataRoot"] = (
                    f"{self.data_root!r} is on a Windows drive (DrvFs): slow, and its "
                    "permissions cannot satisfy PostgreSQL; use a path on the distro's ext4 "
                    "disk such as /srv/hearth"
                )
        if self.alert_email_to and not self.alert_smtp_host:
            problems["alertSmtpHost"] = "required with hearth:alertEmailTo (host:port of a relay)"
        if self.logs_port in (self.http_port, self.https_port):
            problems["logsPort"] = f"must differ from httpPort and httpsPort ({self.logs_port})"
        if (self.backup_s3_url is None) != (self.backup_s3_bucket is None):
            problems["backupS3Bucket" if self.backup_s3_url else "backupS3Url"] = (
                "backupS3Url and backupS3Bucket go together: set both for off-box copies, "
                "or neither"
            )
        required = {"truenas": ("truenas_url", "truenas_pool"), "swarm": ("swarm_manager",)}
        for key in required.get(self.platform, ()):
            if getattr(self, key) is None:
                problems[to_camel(key)] = f"required on the {self.platform} platform"
        if self.swarm_manager is not None and self.platform != "swarm":
            problems["swarmManager"] = "only used on the swarm platform; remove it"
        if problems:
            raise _PlatformRuleError(problems)
        return self

    @property
    def host_data_root(self) -> str | None:
        """Host directory under which services keep their data, or None for volumes."""
        if self.platform in DEFAULT_DATA_ROOT:
            return self.data_root or DEFAULT_DATA_ROOT[self.platform]
        return None


class _PlatformRuleError(ValueError):
    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def _coerce(value: Any) -> Any:
    """Pulumi hands every config value over as a string; objects and lists as JSON.

    An empty string is "not set": Pulumi.yaml declares optional keys with default "".
    """
    if value == "":
        return None
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def parse_settings(config: Mapping[str, Any], stack: str = "<stack>") -> Settings:
    """Build Settings from a `{"hearth:key": value}` mapping, as Pulumi holds config.

    Keys of other namespaces (providers' own config) are left alone.
    """
    prefix = f"{PROJECT}:"
    ours = {
        k[len(prefix) :]: _coerce(v)
        for k, v in config.items()
        if k.startswith(prefix) and k[len(prefix) :] not in SECRET_KEYS
    }
    fix_set = "Fix it with: pulumi config set {key} <value> --stack {stack}"
    try:
        return Settings.model_validate(ours)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            # Cross-key rules arrive wrapped, one error naming several keys.
            if isinstance(err.get("ctx", {}).get("error"), _PlatformRuleError):
                rule: _PlatformRuleError = err["ctx"]["error"]
                lines += [
                    f"{PROJECT}:{k}: {msg}. " + fix_set.format(key=f"{PROJECT}:{k}", stack=stack)
                    for k, msg in rule.problems.items()
                ]
                continue
            key = f"{PROJECT}:{err['loc'][0]}" if err["loc"] else PROJECT
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(f.alias or n for n, f in Settings.model_fields.items()))
                lines.append(
                    f"{key}: unknown setting. Known settings: {known}. "
                    f"Remove it with: pulumi config rm {key} --stack {stack}"
                )
            else:
                lines.append(
                    f"{key}: {err['msg']} (got {err.get('input')!r}). "
                    + fix_set.format(key=key, stack=stack)
                )
    raise SettingsError(f"invalid configuration of stack {stack!r}:\n  " + "\n  ".join(lines))
