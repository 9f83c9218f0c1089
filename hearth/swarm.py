"""The platform's specs as a Swarm stack document (`docker stack deploy`), the swarm
target's artefact: the same catalog as the Compose document (hearth.render), in the
Compose v3 schema Swarm reads.

What changes on a swarm, and why:

- placement: a service keeps its data in volumes of the node it runs on, so a service
  mounting a data store, and a one-shot preparing one, runs on the node labelled
  `hearth.data=true` unless its spec names labels of its own (`hearth.nats=<n>`,
  `hearth.edge=true`);
- replicas spread across nodes; services without data update start-first, services with
  data stop-first (two servers never share a store); a failed update rolls back;
- one-shots are jobs (`replicated-job`); `x-hearth.after-jobs` lists the services that
  must wait for them, which the deploying resource starts in a second pass;
- every service is found by DNS (`endpoint_mode: dnsrr`) and the edge publishes its ports
  on its own nodes (`mode: host`, one edge per labelled node): this kernel, like many,
  has no IPVS for Swarm's virtual IPs and routing mesh;
- secrets and configs are Swarm objects named after their content (an HMAC for
  secrets), so a changed one is a new object and its services roll; secret values never
  enter the document, which names files the deploying resource writes next to it;
- images are named by their content (`hearth/<x>:<id>`): every node must hold that tag,
  and a rebuilt image rolls its services;
- Swarm cannot set `security_opt`: no-new-privileges is the nodes' daemon default (the
  Ansible `swarm` role); logs stay on each node (`local` driver, rotated).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hearth.catalog.common import DATA_NODE
from hearth.catalog.spec import INTERNAL_NETWORKS, ServiceSpec, check_catalog
from hearth.render import LOG_ROTATION, PROJECT_NAME, config_key, container, healthcheck

SCHEMA_VERSION = "3.9"
NAME_LIMIT = 64
"""Swarm's longest secret or config name."""
LOG_OPTIONS = {
    "max-size": LOG_ROTATION["cache-max-size"],
    "max-file": LOG_ROTATION["cache-max-file"],
}
SPEC_LABEL = "hearth.spec"
"""A service label: the digest of its section, which `read` compares with the live one."""


@dataclass(frozen=True)
class StackFile:
    """A file `docker stack deploy` reads next to the document: a secret's value (never in
    the document) or a config file's content."""

    path: str
    secret: str | None = None
    content: str | None = None


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def object_name(namespace: str, key: str, digest: str) -> str:
    """`<namespace>-<key>-<digest>`, the key cut so the name fits Swarm's limit."""
    room = NAME_LIMIT - len(namespace) - len(digest[:12]) - 2
    return f"{namespace}-{key[:room].rstrip('.-_')}-{digest[:12]}"


def _tmpfs(path: str, options: str) -> dict[str, Any]:
    mount: dict[str, Any] = {"type": "tmpfs", "target": path}
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key != "size":
            raise ValueError(f"tmpfs {path}: option {option!r} has no Swarm equivalent")
        units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
        mount["tmpfs"] = {"size": int(value[:-1]) * units[value[-1]]}
    return mount


def placement(spec: ServiceSpec) -> tuple[str, ...]:
    """The node labels a spec's tasks need: its own, or the data node's when it has data
    or prepares it."""
    if spec.placement:
        return spec.placement
    return (DATA_NODE,) if spec.mounts or spec.one_shot else ()


def _deploy(spec: ServiceSpec) -> dict[str, Any]:
    constraints = [f"node.labels.{k} == {v}" for k, v in (p.split("=") for p in placement(spec))]
    deploy: dict[str, Any] = {"endpoint_mode": "dnsrr"}
    if spec.one_shot:
        deploy["mode"] = "replicated-job"
    elif spec.ports:
        deploy["mode"] = "global"
    else:
        deploy["replicas"] = spec.replicas
    deploy["placement"] = {"constraints": constraints} if constraints else {}
    if spec.replicas > 1:
        deploy["placement"]["preferences"] = [{"spread": "node.id"}]
    deploy["resources"] = {"limits": {"memory": f"{spec.memory_mb}M", "pids": spec.processes}}
    if spec.one_shot:
        deploy["restart_policy"] = {"condition": "on-failure", "max_attempts": 3}
        return deploy
    deploy["restart_policy"] = {"condition": "any", "delay": "2s"}
    # Two servers never share a store, and two edges never share a node's ports.
    order = "stop-first" if spec.mounts or spec.ports else "start-first"
    policy = {"parallelism": 1, "order": order, "delay": "2s"}
    deploy["update_config"] = {**policy, "failure_action": "rollback", "monitor": "5s"}
    deploy["rollback_config"] = policy
    return deploy


def _service(
    spec: ServiceSpec,
    namespace: str,
    image: str,
    secret_names: Mapping[str, str],
    config_names: Mapping[str, str],
) -> dict[str, Any]:
    svc = container(spec, image)
    volumes = [_tmpfs(p, o) for p, o in sorted(spec.tmpfs.items())]
    volumes += [
        {"type": "volume", "source": m.volume, "target": m.target, "read_only": m.read_only}
        for m in spec.mounts
    ]
    if volumes:
        svc["volumes"] = volumes
    svc["healthcheck"] = healthcheck(spec)
    svc["stop_grace_period"] = "10s"
    svc["logging"] = {"driver": "local", "options": dict(LOG_OPTIONS)}
    svc["networks"] = {
        net: {"aliases": list(spec.aliases)} if spec.aliases else {} for net in spec.networks
    }
    if spec.ports:
        svc["ports"] = [
            {"target": p.container_port, "published": p.host_port, "protocol": p.protocol}
            | {"mode": "host"}
            for p in spec.ports
        ]
    if spec.secrets:
        svc["secrets"] = [
            {
                "source": secret_names[s.name],
                "target": s.target,
                "uid": str(spec.uid),
                "gid": str(spec.gid),
                "mode": 0o400,
            }
            for s in spec.secrets
        ]
    if spec.files:
        svc["configs"] = [
            {"source": config_names[config_key(spec.name, f.target)], "target": f.target}
            | {"mode": f.mode}
            for f in spec.files
        ]
    svc["labels"] = {"hearth.project": namespace, "hearth.service": spec.name, **spec.labels}
    svc["deploy"] = _deploy(spec)
    digest = _short(json.dumps(svc, sort_keys=True))
    svc["deploy"]["labels"] = {"hearth.project": namespace, SPEC_LABEL: digest}
    return svc


def _after_jobs(specs: Sequence[ServiceSpec]) -> list[str]:
    """Services depending, directly or not, on a one-shot: they start after the jobs."""
    by_name = {s.name: s for s in specs}

    def waits(spec: ServiceSpec) -> bool:
        return any(by_name[d].one_shot or waits(by_name[d]) for d in spec.depends_on)

    return [s.name for s in specs if not s.one_shot and waits(s)]


def render(
    specs: Sequence[ServiceSpec],
    *,
    namespace: str,
    images: Mapping[str, str],
    secret_digests: Mapping[str, str],
) -> dict[str, Any]:
    """The stack document of `specs`, as plain data; `stack_files` lists the files it names.

    - `namespace`: the stack's name; Swarm prefixes services, networks and volumes with it.
    - `images`: each spec's image tag → the tag to run (by content, `hearth/<x>:<id>`).
    - `secret_digests`: each secret's name → a digest of its value (an HMAC), which names
      its Swarm secret.

    Raises ValueError naming the bad input.
    """
    if not PROJECT_NAME.match(namespace):
        raise ValueError(f"stack name {namespace!r}: lowercase letters, digits, '-' and '_'")
    check_catalog(specs)
    missing = sorted({s.name for spec in specs for s in spec.secrets} - set(secret_digests))
    if missing:
        raise ValueError(f"no digest for secrets {missing}")
    secrets = {}
    secret_names: dict[str, str] = {}
    for name in sorted({s.name for spec in specs for s in spec.secrets}):
        key = object_name(namespace, name, secret_digests[name])
        secrets[key] = {"name": key, "file": _secret_path(name)}
        secret_names[name] = key
    configs = {}
    config_names: dict[str, str] = {}
    for spec in specs:
        for f in spec.files:
            local = config_key(spec.name, f.target)
            key = object_name(namespace, local, _short(f.content))
            configs[key] = {"name": key, "file": _config_path(local)}
            config_names[local] = key
    used_networks = sorted({n for s in specs for n in s.networks})
    stores = sorted({m.volume for s in specs for m in s.mounts})
    doc: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "x-hearth": {"rendered-by": "hearth.swarm", "after-jobs": _after_jobs(specs)},
        "services": {
            s.name: _service(s, namespace, images[s.image], secret_names, config_names)
            for s in specs
        },
        "networks": {
            net: {
                "driver": "overlay",
                "internal": net in INTERNAL_NETWORKS,
                "labels": {"hearth.project": namespace},
            }
            for net in used_networks
        },
    }
    if stores:
        # Created on first use on the node a service runs on; `docker stack rm` keeps them.
        doc["volumes"] = {s: {"labels": {"hearth.project": namespace}} for s in stores}
    if secrets:
        doc["secrets"] = secrets
    if configs:
        doc["configs"] = configs
    return doc


def _secret_path(name: str) -> str:
    return f"secrets/{name}"


def _config_path(key: str) -> str:
    return f"configs/{key}"


def stack_files(specs: Sequence[ServiceSpec]) -> tuple[StackFile, ...]:
    """The files the document of `specs` names, relative to it: secrets by name only."""
    found = {
        _secret_path(s.name): StackFile(_secret_path(s.name), secret=s.name)
        for spec in specs
        for s in spec.secrets
    }
    for spec in specs:
        for f in spec.files:
            path = _config_path(config_key(spec.name, f.target))
            found[path] = StackFile(path, content=f.content)
    return tuple(found[p] for p in sorted(found))
