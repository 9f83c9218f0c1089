"""Hearth's security baseline as CrossGuard policies over the Compose services a stack runs.

Every policy reads the rendered services from a resource's inputs, never from the catalog:
whatever produced the document (the renderer, a hand edit, a new target), a service that
breaks the baseline stops `preview` and `up` with a message naming it and the fix.

- the docker target's `ComposeProject`: `services` and `networks` are inputs of their own;
- the truenas target's custom app: its `compose` input is the whole document as YAML;
- the swarm target's `SwarmStack`: its `document` input is the stack document. Swarm
  cannot set two things a service asks Compose for, so on a swarm the baseline holds them
  at the nodes instead: no-new-privileges is their daemon's default (the Ansible `swarm`
  role sets and checks it), and a memory limit there comes without a swap limit (nodes
  run without swap: docs/swarm.md).

The checks are pure functions of a `Document`, so tests call them directly, and the
`ResourceValidationPolicy` objects in `POLICIES` wrap them for the pack (`__main__.py`).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

PACK = "hearth-security-baseline"
COMPOSE_PROJECT = "pulumi-python:dynamic/hearth:ComposeProject"
CUSTOM_APP = "pulumi-python:dynamic/truenas:CustomApp"
SWARM_STACK = "pulumi-python:dynamic/hearth:SwarmStack"
JOB_MODES = ("replicated-job", "global-job")
SWARM_RESTARTS = {"any": "always", "on-failure": "on-failure", "none": "no"}
"""Swarm's restart conditions, as the Compose restart policies they match."""

ROLE_LABEL = "hearth.role"
"""`edge` marks the service that may publish ports; `data` a data service."""
ALLOWED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
"""The only capabilities a service may add back after dropping them all."""
LONG_RUNNING_RESTARTS = ("always", "unless-stopped", "on-failure")


@dataclass(frozen=True)
class Document:
    """The parts of a Compose document the baseline reads, as plain data."""

    services: Mapping[str, Mapping[str, Any]]
    networks: Mapping[str, Mapping[str, Any]]
    swarm: bool = False
    """A Swarm stack document (docker stack deploy), not a Compose one."""


Check = Callable[[Document], Iterator[str]]


def plain(value: Any) -> Any:
    """Resource inputs as dicts, lists and scalars (the policy SDK hands in read-only
    proxies); numbers that are whole become ints (Pulumi sends every number as a float)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def document(resource_type: str, props: Mapping[str, Any]) -> Document | None:
    """The Compose services a resource deploys; None for a resource that deploys none.

    Raises ValueError when a custom app's `compose` is not a Compose document: the
    baseline cannot be checked, so the resource is refused."""
    if resource_type == COMPOSE_PROJECT:
        doc = {"services": props.get("services"), "networks": props.get("networks")}
    elif resource_type == SWARM_STACK:
        doc = props.get("document") or {}
    elif resource_type == CUSTOM_APP:
        try:
            doc = yaml.safe_load(str(props.get("compose")))
        except yaml.YAMLError as exc:
            raise ValueError(f"its `compose` is not YAML ({exc}): fix the document") from exc
    else:
        return None
    doc = plain(doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise ValueError("its Compose document has no `services` mapping: fix the document")
    services = {n: s if isinstance(s, dict) else {} for n, s in doc["services"].items()}
    networks = {n: v if isinstance(v, dict) else {} for n, v in (doc.get("networks") or {}).items()}
    return Document(services, networks, swarm=resource_type == SWARM_STACK)


def _labels(svc: Mapping[str, Any]) -> dict[str, str]:
    labels = svc.get("labels") or {}
    if isinstance(labels, list):
        return dict(str(item).partition("=")[::2] for item in labels)
    return {str(k): str(v) for k, v in labels.items()}


def _role(svc: Mapping[str, Any]) -> str:
    return _labels(svc).get(ROLE_LABEL, "")


def one_shots(doc: Document) -> set[str]:
    """Services that run to completion: another service waits for them to exit 0
    (`service_completed_successfully`), which is how the renderer marks a catalog one-shot
    and what `docker compose up --wait` needs to accept one that has exited; on a swarm,
    jobs."""
    found = {
        n for n, svc in doc.services.items() if (svc.get("deploy") or {}).get("mode") in JOB_MODES
    }
    for svc in doc.services.values():
        depends = svc.get("depends_on") or {}
        if isinstance(depends, dict):
            for dep, how in depends.items():
                if (
                    isinstance(how, dict)
                    and how.get("condition") == "service_completed_successfully"
                ):
                    found.add(dep)
    return found


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)


def size_bytes(value: Any) -> int | None:
    """A Compose size (`512m`, `1g`, `1GiB`, bytes as a number) in bytes; None if unset."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE.fullmatch(str(value).strip())
    if match is None:
        return None
    unit = " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024**unit)


def _limits(svc: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}


# --- the policies' checks: each yields one message per violation, naming the service and
# --- the fix, and never a value that might be secret.


def non_root_user(doc: Document) -> Iterator[str]:
    for name, svc in doc.services.items():
        user = str(svc.get("user", "")).strip()
        uid = user.split(":")[0]
        if not uid.isdigit() or int(uid) == 0:
            who = f"user {user!r}" if user else "the image's default user"
            yield (
                f"service {name!r} runs as {who}: set `user` to a non-root numeric "
                "uid:gid (e.g. '10001:10001') that owns what the service writes"
            )


def capabilities_dropped(doc: Document) -> Iterator[str]:
    for name, svc in doc.services.items():
        dropped = {str(c).upper().removeprefix("CAP_") for c in svc.get("cap_drop") or []}
        if "ALL" not in dropped:
            yield f"service {name!r} keeps Docker's default capabilities: set `cap_drop: [ALL]`"
        added = {str(c).upper().removeprefix("CAP_") for c in svc.get("cap_add") or []}
        extra = sorted(added - ALLOWED_CAPABILITIES)
        if extra:
            yield (
                f"service {name!r} adds capabilities {extra}: remove them from `cap_add` "
                f"(only {sorted(ALLOWED_CAPABILITIES)} may be added; listen on a port "
                "above 1024 instead of binding a low one)"
            )
        if svc.get("privileged") is True:
            yield (
                f"service {name!r} is privileged (every capability and device): remove `privileged`"
            )


_NO_NEW_PRIVILEGES = re.compile(r"no-new-privileges(?:[:=]true)?")


def no_new_privileges(doc: Document) -> Iterator[str]:
    if doc.swarm:
        return  # Swarm has no security_opt: the nodes' daemon default (module docstring)
    for name, svc in doc.services.items():
        opts = [str(o).strip() for o in svc.get("security_opt") or []]
        if not any(_NO_NEW_PRIVILEGES.fullmatch(o) for o in opts):
            yield (
                f"service {name!r} may gain privileges (setuid binaries): add "
                "`security_opt: ['no-new-privileges:true']`"
            )


def read_only_root(doc: Document) -> Iterator[str]:
    for name, svc in doc.services.items():
        if svc.get("read_only") is not True:
            yield (
                f"service {name!r} has a writable root filesystem: set `read_only: true` "
                "and give it a tmpfs or a data volume where it must write"
            )


def resource_limits(doc: Document) -> Iterator[str]:
    for name, svc in doc.services.items():
        limits = _limits(svc)
        memory = size_bytes(svc.get("mem_limit") or limits.get("memory"))
        if not memory or memory <= 0:
            yield (
                f"service {name!r} has no memory limit: set `mem_limit` (and `memswap_limit` "
                "to the same value: no swap)"
            )
        elif not doc.swarm:
            swap = size_bytes(svc.get("memswap_limit"))
            if swap != memory:
                yield (
                    f"service {name!r} may swap beyond its memory limit: set "
                    "`memswap_limit` to the same value as the memory limit"
                )
        pids = svc.get("pids_limit") or limits.get("pids")
        if not isinstance(pids, int) or pids <= 0:
            yield (
                f"service {name!r} has no process limit: set `pids_limit` "
                "(e.g. 256) so a fork bomb stays inside it"
            )


def healthcheck(doc: Document) -> Iterator[str]:
    shots = one_shots(doc)
    for name, svc in doc.services.items():
        if name in shots:
            continue
        hc = svc.get("healthcheck") or {}
        test = hc.get("test") or []
        if hc.get("disable") is True or not test or test in ("NONE", ["NONE"]):
            yield (
                f"service {name!r} runs without a healthcheck: add `healthcheck.test` "
                "(a one-shot is exempt only when a service waits for it with "
                "`condition: service_completed_successfully`)"
            )


def _restart(svc: Mapping[str, Any]) -> str:
    condition = ((svc.get("deploy") or {}).get("restart_policy") or {}).get("condition")
    if condition is not None:
        return SWARM_RESTARTS.get(str(condition), str(condition))
    return str(svc.get("restart", "no"))


def restart_policy(doc: Document) -> Iterator[str]:
    shots = one_shots(doc)
    for name, svc in doc.services.items():
        restart = _restart(svc)
        if name in shots:
            if restart not in ("no", "on-failure") and not restart.startswith("on-failure:"):
                yield (
                    f"service {name!r} is a one-shot but restart is {restart!r}: "
                    "set `restart: 'no'` so it is not run again after it succeeds"
                )
        elif restart.split(":")[0] not in LONG_RUNNING_RESTARTS:
            yield (
                f"service {name!r} is not restarted when it stops (restart {restart!r}): "
                "set `restart: unless-stopped`"
            )


def log_rotation(doc: Document) -> Iterator[str]:
    for name, svc in doc.services.items():
        logging = svc.get("logging") or {}
        driver = logging.get("driver")
        options = logging.get("options") or {}
        # The `local` driver rotates by design; json-file only when told to; a remote driver
        # (syslog) through the copy `docker logs` reads (dual logging), when it is bounded.
        if driver == "local" or {"max-size", "max-file"} <= set(options):
            continue
        if {"cache-max-size", "cache-max-file"} <= set(options) and (
            str(options.get("cache-disabled", "false")).lower() != "true"
        ):
            continue
        how = f"the {driver!r} driver" if driver else "the daemon's default driver"
        yield (
            f"service {name!r} logs with {how} without rotation: set `logging: {{driver: "
            "local, options: {max-size: 10m, max-file: '3'}}` on the service (the "
            "daemon's own configuration is not ours on every target)"
        )


def ports_only_on_edge(doc: Document) -> Iterator[str]:
    for name, svc in doc.services.items():
        if svc.get("network_mode") == "host":
            yield (
                f"service {name!r} uses the host's network, exposing every port it "
                "listens on: remove `network_mode: host` and join the platform's networks"
            )
        if _role(svc) == "edge":
            continue
        if any(not _on_loopback(port) for port in svc.get("ports") or []):
            yield (
                f"service {name!r} publishes ports beyond the host's loopback, but only the "
                f"edge (label {ROLE_LABEL}=edge) may: remove its `ports` and reach it through "
                "the edge, or publish it on 127.0.0.1 for the host alone"
            )


def _on_loopback(port: Any) -> bool:
    """A port only the host itself can reach (the long form with a loopback `host_ip`)."""
    if not isinstance(port, dict):
        return False  # the short form binds every address unless it names one; be strict
    try:
        return ipaddress.ip_address(str(port.get("host_ip", ""))).is_loopback
    except ValueError:
        return False


def _writes_data(svc: Mapping[str, Any]) -> bool:
    """A writable volume or bind mount: the service keeps data."""
    for mount in svc.get("volumes") or []:
        if isinstance(mount, dict):
            if mount.get("type", "volume") in ("volume", "bind") and not mount.get("read_only"):
                return True
        elif isinstance(mount, str):
            # `[source:]target[:options]`; a bare target is an anonymous volume.
            parts = mount.split(":")
            if len(parts) < 3 or "ro" not in parts[2].split(","):
                return True
    return False


NO_NAT = "com.docker.network.bridge.enable_ip_masquerade"


def _closed(net: Mapping[str, Any]) -> bool:
    """No route out: internal, or never masqueraded (a private source nobody outside answers)."""
    opts = net.get("driver_opts") or {}
    return net.get("internal") is True or str(opts.get(NO_NAT, "true")).lower() == "false"


def data_on_internal_networks(doc: Document) -> Iterator[str]:
    internal = {n for n, net in doc.networks.items() if _closed(net)}
    for name, svc in doc.services.items():
        role = _role(svc)
        if role != "data" and (role == "edge" or not _writes_data(svc)):
            continue
        mode = svc.get("network_mode")
        if mode is not None:
            joined = [] if mode == "none" else [f"network_mode {mode}"]
        else:
            networks = svc.get("networks") or ["default"]
            joined = sorted(n for n in networks if n not in internal)
        if joined:
            yield (
                f"service {name!r} holds data but joins {joined}, which have a route out: "
                "attach it only to internal networks (`internal: true`, such as backend) or "
                "networks without NAT (`driver_opts: {com.docker.network.bridge."
                "enable_ip_masquerade: 'false'}`)"
            )


_SECRET_WORDS = re.compile(r"PASSW(?:OR)?D|SECRET|TOKEN|CREDENTIAL|PRIVATE|KEY")
_KEY_IDS = re.compile(r"(?:ACCESS_KEY|KEY_ID|PUBLIC_KEY)$")
"""Names of key identifiers, not keys (an S3 access key id names an account)."""
_KEY_VALUES = (
    re.compile(r"-----BEGIN [A-Z ]*-----"),  # PEM: keys, certificates with keys
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"),  # JWT
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|glpat-[\w-]{20,}|xox[abprs]-[\w-]{10,})"),
    re.compile(r"\bsk_(?:live|test)_[A-Za-z0-9]{16,}"),
    re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@]+:[^\s/@]+@", re.IGNORECASE),  # URL with password
)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")


def secret_name(name: str) -> bool:
    """A variable whose name says it holds a secret (its `*_FILE` form names a path)."""
    upper = name.upper()
    if upper.endswith("_FILE"):
        return False
    words = set(_SECRET_WORDS.findall(upper))
    return bool(words) and not (words == {"KEY"} and _KEY_IDS.search(upper))


def looks_like_key(value: str) -> bool:
    """A value shaped like a credential: a known key format, a URL with a password, or a
    random token (24 characters or more, upper and lower case letters and digits, 4 bits
    of entropy per character or more). Paths and URLs are not taken for tokens."""
    if any(p.search(value) for p in _KEY_VALUES):
        return True
    if value.startswith("/") or "://" in value:
        return False
    for token in _TOKEN.findall(value):
        if not all(any(test(c) for c in token) for test in (str.isupper, str.islower, str.isdigit)):
            continue
        counts = Counter(token)
        entropy = -sum(c / len(token) * math.log2(c / len(token)) for c in counts.values())
        if entropy >= 4.0:
            return True
    return False


def _environment(svc: Mapping[str, Any]) -> dict[str, str | None]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        pairs = [str(item).partition("=") for item in env]
        return {k: (v if sep else None) for k, sep, v in pairs}
    return {str(k): None if v is None else str(v) for k, v in env.items()}


def no_secret_in_environment(doc: Document) -> Iterator[str]:
    for name, svc in doc.services.items():
        for var, value in sorted(_environment(svc).items()):
            if not value:
                continue
            fix = (
                "put the value in a secret file (Compose `secrets:`, mounted under "
                f"/run/secrets) and name its path in {var.removesuffix('_FILE')}_FILE"
            )
            if var.upper().endswith("_FILE") and not value.startswith("/"):
                yield f"service {name!r}: {var} must name a file, not hold a value: {fix}"
            elif secret_name(var):
                yield f"service {name!r}: {var} holds a secret in the environment: {fix}"
            elif looks_like_key(value):
                yield f"service {name!r}: {var} holds what looks like a key: {fix}"


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check


RULES = (
    Rule("non-root-user", "Containers run as a non-root numeric uid:gid.", non_root_user),
    Rule(
        "capabilities-dropped",
        "Every capability is dropped (cap_drop ALL); none is added back but "
        "NET_BIND_SERVICE; nothing is privileged.",
        capabilities_dropped,
    ),
    Rule("no-new-privileges", "security_opt no-new-privileges is set.", no_new_privileges),
    Rule("read-only-root", "The root filesystem is read-only.", read_only_root),
    Rule(
        "resource-limits",
        "A memory limit without swap beyond it, and a process (pids) limit.",
        resource_limits,
    ),
    Rule("healthcheck", "Every long-running service has a healthcheck.", healthcheck),
    Rule(
        "restart-policy",
        "Long-running services restart when they stop; one-shots do not.",
        restart_policy,
    ),
    Rule(
        "log-rotation",
        "Container logs rotate (the local driver, or max-size and max-file).",
        log_rotation,
    ),
    Rule(
        "ports-only-on-edge",
        "Only the edge publishes ports; no service uses the host's network.",
        ports_only_on_edge,
    ),
    Rule(
        "data-on-internal-networks",
        "Services holding data join internal networks only.",
        data_on_internal_networks,
    ),
    Rule(
        "no-secret-in-environment",
        "No secret in an environment variable: secrets are files named by *_FILE.",
        no_secret_in_environment,
    ),
)


def violations(resource_type: str, props: Mapping[str, Any], rule: Rule) -> list[str]:
    """What `rule` reports for one resource's inputs (nothing for other resources)."""
    try:
        doc = document(resource_type, props)
    except ValueError as exc:
        return [f"the baseline cannot be checked: {exc}"]
    return [] if doc is None else list(rule.check(doc))


def _policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in violations(args.resource_type, args.props, rule):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


POLICIES: list[Policy] = [_policy(rule) for rule in RULES]
