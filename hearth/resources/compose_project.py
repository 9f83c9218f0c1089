"""A Docker Compose project as a Pulumi resource: the platform on one Docker Engine.

Its inputs are the document's content (services, networks, volumes, secrets, configs)
as structured data, so `pulumi preview --diff` names the service and the field that
change. `digests` (per service: local image id, configuration files, an HMAC of the
secrets it reads) become labels, so Compose recreates exactly the services whose image,
files or secrets changed: its own config hash sees none of those. Secret values are
never an input: the document names files on the host (hearth.resources.host_file).

- create/update: `docker compose up -d --wait --remove-orphans --pull never`, bounded by
  a timeout; a failure names the failing service, its state and its last log lines.
- diff and read (`up --refresh`): each service's live config hash and state, so a
  container that was removed, stopped or changed by hand shows as a change, and the apply
  repairs it.
- delete: `down`: containers, networks and anonymous volumes go; the data stores live
  outside Compose's lifecycle (external volumes, host directories) and stay.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import yaml
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from hearth.resources.docker_cli import DockerError, docker
from hearth.resources.values import whole

CONTENT = ("services", "networks", "volumes", "secrets", "configs")
"""Inputs that are the Compose document's top-level sections."""
INPUTS = ("project", *CONTENT, "digests", "timeout_s")
DIGEST_LABEL = "hearth.digest."
LOG_LINES = 30
ANONYMOUS = re.compile(r"[0-9a-f]{64}")
"""How Docker names a volume nobody named."""


class ComposeError(RuntimeError):
    """A deployment failed; the message says which service, in which state, and why."""


class ComposeProjectArgs(TypedDict):
    project: str
    """Compose project name; containers, networks and volumes are named `<project>-<name>`."""
    services: Mapping[str, Any]
    networks: Mapping[str, Any]
    volumes: Mapping[str, Any]
    secrets: Mapping[str, Any]
    configs: Mapping[str, Any]
    digests: Mapping[str, pulumi.Input[Mapping[str, str]]]
    """Service → {digest name → value}; each becomes the label `hearth.digest.<name>`."""
    timeout_s: int
    """How long `up --wait` may take before the apply fails."""


def document(props: Mapping[str, Any]) -> dict[str, Any]:
    """The Compose document the inputs describe, digests merged into each service's labels."""
    props = whole(dict(props))
    services = {}
    for name, service in props["services"].items():
        labels = dict(service.get("labels") or {})
        for key, value in sorted((props.get("digests") or {}).get(name, {}).items()):
            labels[DIGEST_LABEL + key] = value
        services[name] = {**service, "labels": labels}
    doc: dict[str, Any] = {"name": props["project"], "services": services}
    for section in CONTENT[1:]:
        if props.get(section):
            doc[section] = props[section]
    return doc


def compose(doc: Mapping[str, Any], *args: str, timeout: float = 120) -> str:
    """`docker compose` on the document, given on standard input (no file on disk)."""
    text = yaml.safe_dump(dict(doc), sort_keys=False)
    return docker("compose", "-p", doc["name"], "-f", "-", *args, stdin=text, timeout=timeout)


def down(project: str) -> None:
    """Remove the project's containers, networks and anonymous volumes (a one-shot whose
    image declares a VOLUME gets one). Data stores are external volumes or host
    directories: they stay.

    Found by the project's labels, so it works without the document (and never picks up a
    compose file from the working directory); Compose then removes the containers as
    orphans but leaves their anonymous volumes and the networks, so those go here.
    """
    label = f"label=com.docker.compose.project={project}"
    ids = docker("ps", "-aq", "--filter", label).split()
    mounts = [m for c in json.loads(docker("inspect", *ids)) for m in c["Mounts"]] if ids else []
    anonymous = [
        m["Name"] for m in mounts if m["Type"] == "volume" and ANONYMOUS.fullmatch(m["Name"])
    ]
    empty = {"name": project}
    compose(empty, "down", "--remove-orphans", "--timeout", "20", timeout=300)
    if anonymous:
        docker("volume", "rm", "--force", *sorted(set(anonymous)))
    networks = docker("network", "ls", "-q", "--filter", label).split()
    if networks:
        # A container someone attached from outside (a debugging shell, a stand-in) would
        # keep a network in use: it is disconnected, not removed.
        attached = docker(
            "network", "inspect", "--format",
            '{{.ID}}{{range $id, $c := .Containers}} {{$id}}{{end}}', *networks,
        )  # fmt: skip
        for line in attached.splitlines():
            network, *containers = line.split()
            for container in containers:
                docker("network", "disconnect", "--force", network, container)
        docker("network", "rm", *networks)


def compose_version() -> str:
    return docker("compose", "version", "--short").strip()


def live_state(project: str) -> dict[str, dict[str, str]]:
    """Service → its container's config hash, state and health, as the engine reports them."""
    ids = docker(
        "ps",
        "-aq",
        "--filter",
        f"label=com.docker.compose.project={project}",
        # Not `docker compose run` containers: they are no service's container.
        "--filter",
        "label=com.docker.compose.oneoff=False",
    ).split()
    if not ids:
        return {}
    state: dict[str, dict[str, str]] = {}
    for c in json.loads(docker("inspect", *ids)):
        labels = c["Config"]["Labels"] or {}
        service = labels.get("com.docker.compose.service", c["Name"])
        if service in state:
            # Two containers for one service (one made by hand): not as applied.
            state[service] = {"hash": "", "state": "duplicated", "health": "", "exit_code": ""}
            continue
        state[service] = {
            "hash": labels.get("com.docker.compose.config-hash", ""),
            "state": c["State"]["Status"],
            "health": (c["State"].get("Health") or {}).get("Status", ""),
            "exit_code": str(c["State"].get("ExitCode", "")),
        }
    return state


def drift(
    props: Mapping[str, Any], live: Mapping[str, Mapping[str, str]] | None = None
) -> list[str]:
    """Long-running services whose container (in `live`, default: as last read) is missing,
    stopped or not as applied."""
    hashes: Mapping[str, str] = props.get("hashes") or {}
    live = props.get("live") or {} if live is None else live
    drifted = []
    for name, service in (props.get("services") or {}).items():
        if service.get("restart") == "no":
            continue  # one-shots: exited is their finished state
        seen = live.get(name)
        if seen is None or seen.get("hash") != hashes.get(name) or seen.get("state") != "running":
            drifted.append(name)
    return sorted(drifted)


def failure_report(doc: Mapping[str, Any], project: str) -> str:
    """Each service that is not as `up --wait` needs it: its state and last log lines."""
    live = live_state(project)
    lines = []
    for name, service in doc["services"].items():
        seen = live.get(name, {})
        one_shot = service.get("restart") == "no"
        ok = (
            (seen.get("state") == "exited" and seen.get("exit_code") == "0")
            if one_shot
            else (seen.get("state") == "running" and seen.get("health") in ("", "healthy"))
        )
        if ok:
            continue
        what = ", ".join(f"{k}={v}" for k, v in seen.items() if k != "hash") or "no container"
        try:
            logs = compose(doc, "logs", "--no-color", "--tail", str(LOG_LINES), name)
        except DockerError as exc:
            logs = str(exc)
        lines.append(f"service {name!r}: {what}\n{logs.rstrip()}")
    return "\n\n".join(lines) or "no service reported a failure"


def apply(props: Mapping[str, Any]) -> dict[str, Any]:
    """Bring the project to the document; returns the outputs (inputs + what was seen)."""
    doc = document(props)
    project = doc["name"]
    timeout = int(props.get("timeout_s") or 600)
    try:
        compose(
            doc,
            "up",
            "-d",
            "--wait",
            "--wait-timeout",
            str(timeout),
            "--remove-orphans",
            "--pull",
            "never",
            timeout=timeout + 60,
        )
    except DockerError as exc:
        try:
            report = failure_report(doc, project)
        except DockerError as again:  # the engine went away too: keep the first error
            report = f"(no report: {again})"
        raise ComposeError(
            f"compose project {project!r} did not come up: {exc}\n\n{report}"
        ) from None
    live = live_state(project)
    return {
        **{k: props.get(k) for k in INPUTS},
        # What Compose labelled each container with: the reference drift is measured against.
        "hashes": {name: seen["hash"] for name, seen in live.items()},
        "live": live,
        "compose_version": compose_version(),
    }


class ComposeProjectProvider(ResourceProvider):
    """Stateless: everything it needs comes in the properties of each call."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(props["project"], apply(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(apply(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if olds.get("project") != news.get("project"):
            # The new project publishes the same ports: the old one goes first.
            return DiffResult(changes=True, replaces=["project"], delete_before_replace=True)
        changed = [k for k in INPUTS if whole(olds.get(k)) != whole(news.get(k))]
        if changed:
            return DiffResult(changes=True)
        # Compared with the engine now, not only at the last refresh: a plain `up` (and
        # `preview`) sees a container removed, stopped or changed by hand, and repairs it.
        return DiffResult(changes=bool(drift(olds, live_state(olds["project"]))))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, {**props, "live": live_state(props.get("project") or id_)})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        down(props["project"])


class ComposeProject(pulumi.dynamic.Resource, module="hearth", name="ComposeProject"):
    """The platform's containers and networks, as one Compose project."""

    project: pulumi.Output[str]
    hashes: pulumi.Output[dict[str, str]]
    """Service → the Compose config hash applied."""
    live: pulumi.Output[dict[str, dict[str, str]]]
    """Service → config hash, state and health last seen on the engine."""
    compose_version: pulumi.Output[str]
    """The Docker Compose version that applied the project."""

    def __init__(
        self, name: str, args: ComposeProjectArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            ComposeProjectProvider(),
            name,
            {**args, "hashes": None, "live": None, "compose_version": None},
            opts,
        )
