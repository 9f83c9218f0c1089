"""The platform's specs as a Compose document: the TrueNAS artefact (a custom app is a
Compose document), also runnable with `docker compose` on any Engine.

The same hardening as the docker target, per container: non-root user, every capability
dropped but the spec's few, no-new-privileges, read-only root (tmpfs where the spec says),
memory and process limits, a healthcheck (none on one-shots), a restart policy, and logging
set per container (TrueNAS rewrites the daemon's own configuration): Docker's syslog driver
sends every line to the logs service (VictoriaLogs) on a loopback UDP port, and keeps a
rotated local copy for `docker logs` (dual logging, Engine 20.10+).

Files the document names on the host (secrets, and the non-secret configuration files
specs carry) are listed by `host_files`, with the owner and mode to write them with:
whoever ships the document writes them first (the compose e2e on this machine, the
TrueNAS target on the NAS). Secret values never enter the document.

Host layout (`secrets_dir`, `config_dir` are parameters):

    <secrets_dir>/<uid>/<secret name>    0400, owned by the uid that reads it: a secret
                                         read by several uids gets one copy per uid
    <config_dir>/<service>/<file name>   the spec's mode (0444 or 0555), owned by root

Configuration files are `file:` configs (bind mounts), not inline `content:`: Compose
refuses inline configs in read-only services, and Docker refuses copying into them.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from hearth.catalog.spec import INTERNAL_NETWORKS, NO_NAT_NETWORKS, ServiceSpec, check_catalog
from hearth.settings import Settings

NO_NAT_OPTION = "com.docker.network.bridge.enable_ip_masquerade"

LOG_ROTATION = {"cache-max-size": "10m", "cache-max-file": "3"}
"""Rotation of the local copy `docker logs` reads (Docker's dual-logging cache), the same
as the daemon's own for the `local` driver (tools/daemon.json)."""


def log_config(settings: Settings) -> dict[str, Any]:
    """Every container's logging: RFC 5424 syslog over UDP to the logs service's port on
    the host's loopback (a send never blocks the container, even while the logs service
    is down), tagged with the container's name, plus the rotated local copy."""
    return {
        "driver": "syslog",
        "options": {
            "syslog-address": f"udp://127.0.0.1:{settings.logs_port}",
            "syslog-format": "rfc5424micro",
            "tag": "{{.Name}}",
            **LOG_ROTATION,
        },
    }


PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class HostFile:
    """A file the document expects on the host: where, owned by whom, with what mode, and
    either the secret whose value it holds or its (non-secret) content."""

    path: str
    uid: int
    gid: int
    mode: int
    secret: str | None = None
    content: str | None = None


def secret_key(name: str, uid: int) -> str:
    """The document's name for the copy of secret `name` readable by `uid`."""
    return f"{name}-{uid}"


def config_key(service: str, target: str) -> str:
    return f"{service}-{posixpath.basename(target)}"


def _config_dir(secrets_dir: str, config_dir: str | None) -> str:
    return config_dir or posixpath.normpath(posixpath.join(secrets_dir, "..", "config"))


def _check_dir(what: str, path: str) -> None:
    if not posixpath.isabs(path) or ".." in path.split("/"):
        raise ValueError(f"{what} must be an absolute path without '..', got {path!r}")


def host_files(
    specs: Sequence[ServiceSpec], *, secrets_dir: str, config_dir: str | None = None
) -> tuple[HostFile, ...]:
    """Every host file `render` with the same directories names, once each."""
    _check_dir("secrets_dir", secrets_dir)
    configs = _config_dir(secrets_dir, config_dir)
    _check_dir("config_dir", configs)
    found: dict[str, HostFile] = {}
    for spec in specs:
        for s in spec.secrets:
            path = posixpath.join(secrets_dir, str(spec.uid), s.name)
            found[path] = HostFile(path, spec.uid, spec.gid, 0o400, secret=s.name)
        for f in spec.files:
            path = posixpath.join(configs, spec.name, posixpath.basename(f.target))
            if path in found:
                raise ValueError(
                    f"service {spec.name!r}: two config files named {posixpath.basename(path)!r}"
                )
            found[path] = HostFile(path, 0, 0, f.mode, content=f.content)
    return tuple(found[p] for p in sorted(found))


def files_digest(spec: ServiceSpec) -> str:
    """SHA-256 over a service's configuration files (target, mode, content): a label that
    changes when a file does, which Compose's own config hash cannot see."""
    h = hashlib.sha256()
    for f in sorted(spec.files, key=lambda f: f.target):
        h.update(f"{f.target}\0{f.mode:o}\0{f.content}\0".encode())
    return h.hexdigest()


def volume_name(project: str, store: str) -> str:
    """The Docker volume holding `store` when data lives in volumes: `<project>-<store>`."""
    return f"{project}-{store}"


def _duration(seconds: int) -> str:
    return f"{seconds}s"


def _literal(value: str) -> str:
    """Compose interpolates `$VAR` everywhere; `$$` is a literal dollar."""
    return value.replace("$", "$$")


def container(spec: ServiceSpec, image: str) -> dict[str, Any]:
    """What a service is in every document (Compose, Swarm): its image, its non-root user,
    an init, a read-only root, every capability dropped but the spec's few, its command
    and environment."""
    svc: dict[str, Any] = {
        "image": image,
        "user": spec.user,
        "init": True,
        "read_only": spec.read_only,
        "cap_drop": ["ALL"],
    }
    if spec.cap_add:
        svc["cap_add"] = sorted(spec.cap_add)
    if spec.command:
        svc["command"] = [_literal(c) for c in spec.command]
    if spec.env:
        svc["environment"] = {k: _literal(v) for k, v in sorted(spec.env.items())}
    return svc


def healthcheck(spec: ServiceSpec) -> dict[str, Any]:
    """The engine's healthcheck of a long-running service; none on a one-shot."""
    if spec.one_shot:
        return {"disable": True}
    hc = spec.healthcheck
    return {
        "test": ["CMD", *(_literal(t) for t in hc.test)],
        "interval": _duration(hc.interval_s),
        "timeout": _duration(hc.timeout_s),
        "retries": hc.retries,
        "start_period": _duration(hc.start_period_s),
    }


def _service(
    spec: ServiceSpec,
    specs: Mapping[str, ServiceSpec],
    project: str,
    data_paths: Mapping[str, str] | None,
    logging: Mapping[str, Any],
) -> dict[str, Any]:
    svc = {"container_name": f"{project}-{spec.name}", **container(spec, spec.image)}
    svc["security_opt"] = ["no-new-privileges:true"]
    if spec.tmpfs:
        svc["tmpfs"] = [f"{p}:{o}" if o else p for p, o in sorted(spec.tmpfs.items())]
    svc["mem_limit"] = f"{spec.memory_mb}m"
    # No swap beyond the memory limit: a leak ends in an OOM kill and a restart, not thrashing.
    svc["memswap_limit"] = f"{spec.memory_mb}m"
    svc["pids_limit"] = spec.processes
    svc["healthcheck"] = healthcheck(spec)
    if spec.dns_options:
        svc["dns_opt"] = list(spec.dns_options)
    svc["restart"] = spec.restart
    svc["logging"] = {"driver": logging["driver"], "options": dict(logging["options"])}
    svc["networks"] = {net: {"aliases": [spec.name]} for net in spec.networks}
    if spec.depends_on:
        svc["depends_on"] = {
            dep: {
                "condition": "service_completed_successfully"
                if specs[dep].one_shot
                else "service_healthy"
            }
            for dep in spec.depends_on
        }
    if spec.ports:
        svc["ports"] = [
            {
                "target": p.container_port,
                "published": str(p.host_port),
                "host_ip": p.host_ip,
                "protocol": p.protocol,
            }
            for p in spec.ports
        ]
    volumes: list[dict[str, Any]] = []
    for m in spec.mounts:
        if data_paths is None:
            volumes.append(
                {"type": "volume", "source": m.volume, "target": m.target, "read_only": m.read_only}
            )
        else:
            volumes.append(
                {
                    "type": "bind",
                    "source": data_paths[m.volume],
                    "target": m.target,
                    "read_only": m.read_only,
                    # A missing dataset is an error, not an empty root-owned directory.
                    "bind": {"create_host_path": False},
                }
            )
    if volumes:
        svc["volumes"] = volumes
    if spec.secrets:
        svc["secrets"] = [
            {"source": secret_key(s.name, spec.uid), "target": s.target} for s in spec.secrets
        ]
    if spec.files:
        svc["configs"] = [
            {"source": config_key(spec.name, f.target), "target": f.target} for f in spec.files
        ]
    svc["labels"] = {
        "hearth.project": project,
        "hearth.service": spec.name,
        **{k: _literal(v) for k, v in sorted(spec.labels.items())},
    }
    return svc


def render(
    settings: Settings,
    specs: Sequence[ServiceSpec],
    *,
    project: str,
    secrets_dir: str,
    config_dir: str | None = None,
    data_paths: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Compose document of `specs`, as plain data (`dump` makes it YAML).

    - `project`: the Compose project name; containers, networks and volumes are named
      `<project>-<name>`, so two projects never share anything.
    - `secrets_dir`, `config_dir` (default `<secrets_dir>/../config`): absolute host
      directories holding the files `host_files` lists.
    - `data_paths`: None keeps data in external named volumes (`volume_name`); a mapping of
      every data store to an absolute host path bind-mounts those instead (TrueNAS:
      `<pool>/<stack>/<store>` datasets; the directories must exist, owned as
      `hearth.catalog.spec.data_stores` says).

    Raises ValueError naming the bad input: a project name Compose refuses, a relative
    directory, a data store missing from `data_paths`, an inconsistent catalog.
    """
    if not PROJECT_NAME.match(project):
        raise ValueError(
            f"project {project!r}: use lowercase letters, digits, '-' and '_' "
            "(starting with a letter or digit, at most 63 characters)"
        )
    check_catalog(specs)
    stores = sorted({m.volume for s in specs for m in s.mounts})
    if data_paths is not None:
        missing = [s for s in stores if s not in data_paths]
        if missing:
            raise ValueError(f"data_paths has no host path for data stores {missing}")
        for store in stores:
            _check_dir(f"data_paths[{store!r}]", data_paths[store])
    files = host_files(specs, secrets_dir=secrets_dir, config_dir=config_dir)
    by_name = {s.name: s for s in specs}
    used_networks = sorted({n for s in specs for n in s.networks})

    doc: dict[str, Any] = {
        "name": project,
        "x-hearth": {"platform": settings.platform, "rendered-by": "hearth.render"},
        "services": {
            s.name: _service(s, by_name, project, data_paths, log_config(settings)) for s in specs
        },
        "networks": {
            net: {
                "name": f"{project}-{net}",
                "internal": net in INTERNAL_NETWORKS,
                "labels": {"hearth.project": project},
                **({"driver_opts": {NO_NAT_OPTION: "false"}} if net in NO_NAT_NETWORKS else {}),
            }
            for net in used_networks
        },
    }
    if data_paths is None and stores:
        # Created and kept by the target (data outlives the project): Compose only uses them.
        doc["volumes"] = {
            store: {"name": volume_name(project, store), "external": True} for store in stores
        }
    secrets = {secret_key(f.secret, f.uid): {"file": f.path} for f in files if f.secret is not None}
    if secrets:
        doc["secrets"] = dict(sorted(secrets.items()))
    configs = {
        config_key(spec.name, f.target): {
            "file": posixpath.join(
                _config_dir(secrets_dir, config_dir), spec.name, posixpath.basename(f.target)
            )
        }
        for spec in specs
        for f in spec.files
    }
    if configs:
        doc["configs"] = dict(sorted(configs.items()))
    return doc


def dump(doc: Mapping[str, Any]) -> str:
    """YAML for `docker compose -f -` or TrueNAS's `custom_compose_config_string`."""
    return yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=100)
