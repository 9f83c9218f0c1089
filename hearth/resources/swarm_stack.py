"""A Swarm stack as a Pulumi resource: the platform on a Docker Swarm, deployed with
`docker stack deploy` against one of its managers.

Its inputs are the stack document (hearth.swarm) as structured data, so `pulumi preview
--diff` names the service and field that change, the non-secret files it names, and the
secret values, which reach only files in a private temporary directory for the length
of a deploy (Swarm keeps them encrypted in its raft log) and are never an output.

- create/update: the data stores' volumes first, each owned by its service's uid
  (`prepare_stores`); then two passes, each waiting until Swarm has converged: the stack without
  the services that wait for the one-shots, then the whole stack, so the jobs
  (migrations, bootstraps) have completed before the app rolls; a job that completed
  with the same spec is not run again. Services the document lost are removed. Converged means each
  service runs its new spec on all its tasks (an update rolled back fails the apply), and
  each job completed; a service whose labelled nodes are all down waits for them without
  holding up the rest. A failure names the services and their tasks' errors. Secrets
  and configs of the stack that no service uses any more are removed afterwards.
- diff and read (`up --refresh`): each service's version and running tasks, so a service
  removed, scaled or changed by hand shows as a change, and the apply repairs it.
- delete: `docker stack rm`: services, networks, secrets and configs go; the volumes
  (the data) stay on their nodes.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

import pulumi
import yaml
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from hearth.resources.docker_cli import DockerError, docker
from hearth.resources.values import whole
from hearth.swarm import SPEC_LABEL

INPUTS = ("host", "namespace", "document", "files", "secret_files", "stores", "timeout_s")
NAMESPACE_LABEL = "com.docker.stack.namespace"
REMOVAL_TIMEOUT_S = 120


class SwarmStackError(RuntimeError):
    """A deployment failed; the message says which services, and their tasks' errors."""


class SwarmStackArgs(TypedDict):
    host: str
    """A manager's Docker API, as DOCKER_HOST takes it."""
    namespace: str
    document: pulumi.Input[Mapping[str, Any]]
    files: Mapping[str, str]
    """Path (relative to the document) → content, for configuration files."""
    secret_files: Mapping[str, str]
    """Path → the name of the secret whose value goes there."""
    secrets: Mapping[str, pulumi.Input[str]]
    """Secret name → value (Pulumi secrets)."""
    stores: Mapping[str, Mapping[str, Any]]
    """Data store → its owner's `uid`, `gid` and `image`, and the node labels of its
    `placement`: `prepare_stores` makes its volume theirs before anything mounts it."""
    timeout_s: int


def _write(directory: Path, props: Mapping[str, Any]) -> None:
    for path, content in (props.get("files") or {}).items():
        _put(directory / path, content)
    secrets = props.get("secrets") or {}
    for path, name in (props.get("secret_files") or {}).items():
        _put(directory / path, secrets[name])


def _put(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)


def _stack_deploy(host: str, namespace: str, path: Path) -> None:
    docker(
        "stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", str(path),
        namespace, host=host, timeout=300,
    )  # fmt: skip


def _ready_nodes(host: str) -> list[dict[str, str]]:
    """The labels of each node that can take tasks now."""
    ids = docker("node", "ls", "-q", host=host).split()
    return [
        node["Spec"].get("Labels") or {}
        for node in json.loads(docker("node", "inspect", *ids, host=host))
        if node["Status"]["State"] == "ready" and node["Spec"].get("Availability") == "active"
    ]


def _placeable(constraints: list[str], nodes: list[dict[str, str]]) -> bool:
    """Whether a ready node meets every `node.labels.K == V` constraint."""
    wanted = [c.removeprefix("node.labels.").split(" == ") for c in constraints]
    return any(all(labels.get(k) == v for k, v in wanted) for labels in nodes)


def pending(host: str, namespace: str, document: Mapping[str, Any]) -> dict[str, str]:
    """Services of `document` that have not converged to it yet, and what each lacks.

    A service whose nodes are all down is left out: it starts when one comes back, and
    the rest of the stack must still be deployable (a node lost is what Swarm is for).
    Raises SwarmStackError when an update was rolled back (a job that keeps failing runs
    into the apply's timeout, whose report shows its tasks' errors).
    """
    live = live_state(host, namespace)
    nodes = _ready_nodes(host)
    waiting = {}
    for name, service in document["services"].items():
        seen = live.get(name)
        deploy = service["deploy"]
        constraints = deploy.get("placement", {}).get("constraints", [])
        if seen is None:
            waiting[name] = "not created yet"
        elif not seen["job"] and not _placeable(constraints, nodes):
            continue  # its nodes are down: it starts, or updates, when one is back
        elif seen["spec"] != deploy["labels"][SPEC_LABEL]:
            if seen["update"] in ("rollback_started", "rollback_completed", "paused"):
                raise SwarmStackError(
                    f"service {name!r}: its update was rolled back ({seen['update']}: "
                    f"{seen['message']})\n\n{failure_report(host, namespace)}"
                )
            waiting[name] = f"updating ({seen['update'] or 'queued'})"
        elif seen["update"] == "updating":
            waiting[name] = "updating"
        elif seen["job"]:
            done, _, total = seen["completed"].partition("/")
            if not total or done != total:
                waiting[name] = f"job: {seen['completed'] or 'not started'} completed"
        elif not _converged(seen["replicas"]):
            waiting[name] = f"{seen['replicas']} tasks running"
    return waiting


def prepare_stores(
    host: str, namespace: str, stores: Mapping[str, Mapping[str, Any]], timeout: float
) -> None:
    """Each data store's volume, made on its node and given to its owner's uid before any
    service mounts it (containers run without CAP_CHOWN and could not fix it; an image
    without the mount point would leave it root's). One short job per placement, as root
    with CAP_CHOWN alone and on none of the stack's networks, the way the docker target's
    DockerVolume does it with `docker run`; outside the stack, so the stack's own
    services all keep the baseline. Idempotent: only a volume's top directory is touched,
    and only while it is root's. Stores whose nodes are all down wait for the next apply."""
    stores = whole(dict(stores))
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, store in sorted(stores.items()):
        groups.setdefault(tuple(store["placement"]), []).append(name)
    nodes = _ready_nodes(host)
    jobs = []
    for i, (placement, names) in enumerate(sorted(groups.items()), start=1):
        constraints = [f"node.labels.{p.replace('=', ' == ')}" for p in placement]
        if not _placeable(constraints, nodes):
            continue
        job = f"{namespace}-stores-{i}"
        # Only a volume still root's: once given away, root without CAP_FOWNER may not chmod.
        owners = {n: f"{stores[n]['uid']}:{stores[n]['gid']}" for n in names}
        script = " && ".join(
            f'{{ [ "$(stat -c %u:%g /stores/{n})" = {o} ] || '
            f"{{ chmod 0700 /stores/{n} && chown {o} /stores/{n}; }}; }}"
            for n, o in owners.items()
        )
        mounts = [
            f"type=volume,source={namespace}_{n},target=/stores/{n},"
            f"volume-label=hearth.project={namespace}"
            for n in names
        ]
        _remove_job(host, job)
        docker(
            "service", "create", "--detach", "--name", job, "--mode", "replicated-job",
            "--restart-condition", "none", "--user", "0:0", "--cap-drop", "ALL",
            "--cap-add", "CHOWN", "--read-only", "--limit-memory", "32M", "--limit-pids", "16",
            "--label", f"hearth.project={namespace}",
            *(a for c in constraints for a in ("--constraint", c)),
            *(a for m in mounts for a in ("--mount", m)),
            "--entrypoint", "sh", str(stores[names[0]]["image"]), "-c", script,
            host=host,
        )  # fmt: skip
        jobs.append(job)
    deadline = time.monotonic() + timeout
    for job in jobs:
        while True:
            replicas = docker("service", "ls", "--filter", f"name={job}", "--format",
                              "{{.Replicas}}", host=host).strip()  # fmt: skip
            if replicas.endswith("(1/1 completed)"):
                break
            tasks = docker("service", "ps", "--no-trunc", "--format",
                           "{{.CurrentState}} {{.Error}}", job, host=host)  # fmt: skip
            if "Failed" in tasks or "Rejected" in tasks or time.monotonic() > deadline:
                logs = docker("service", "logs", "--raw", job, host=host)
                _remove_job(host, job)
                raise SwarmStackError(
                    f"preparing the data stores failed ({job}): {tasks.strip()}\n{logs}"
                )
            time.sleep(1)
        _remove_job(host, job)


def _remove_job(host: str, job: str) -> None:
    if docker("service", "ls", "-q", "--filter", f"name={job}", host=host).strip():
        docker("service", "rm", job, host=host)


def _wait(host: str, namespace: str, document: Mapping[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while waiting := pending(host, namespace, document):
        if time.monotonic() > deadline:
            lines = "\n".join(f"  {name}: {why}" for name, why in sorted(waiting.items()))
            raise SwarmStackError(
                f"not converged within {timeout:.0f} s:\n{lines}\n\n"
                f"{failure_report(host, namespace)}"
            )
        time.sleep(2)


def live_state(host: str, namespace: str) -> dict[str, dict[str, Any]]:
    """Service → its spec digest label, desired and running tasks, as the manager reports."""
    names = docker(
        "service", "ls", "-q", "--filter", f"label={NAMESPACE_LABEL}={namespace}", host=host
    ).split()
    if not names:
        return {}
    rows = docker(
        "service", "ls", "--format", "{{json .}}",
        "--filter", f"label={NAMESPACE_LABEL}={namespace}", host=host,
    ).splitlines()  # fmt: skip
    running = {row["ID"]: row["Replicas"] for row in map(json.loads, rows)}
    state = {}
    for service in json.loads(docker("service", "inspect", *names, host=host)):
        spec = service["Spec"]
        name = spec["Name"].removeprefix(f"{namespace}_")
        replicas = running.get(service["ID"][:12], "")
        update = service.get("UpdateStatus") or {}
        state[name] = {
            "spec": (spec.get("Labels") or {}).get(SPEC_LABEL, ""),
            "job": "ReplicatedJob" in spec["Mode"] or "GlobalJob" in spec["Mode"],
            "replicas": replicas,
            # Jobs: `0/1 (1/1 completed)`.
            "completed": replicas.partition("(")[2].removesuffix(" completed)"),
            "update": update.get("State", ""),
            "message": update.get("Message", ""),
            "version": service["Version"]["Index"],
        }
    return state


def _converged(replicas: str) -> bool:
    """`docker service ls` REPLICAS: `2/2`, or `1/1 (max 1 per node)`. More running than
    desired is converged too: a task on a node that went down counts as running until the
    node comes back, while its replacement runs elsewhere."""
    running, _, desired = replicas.split(" ")[0].partition("/")
    return desired.isdigit() and running.isdigit() and int(running) >= int(desired)


def drift(props: Mapping[str, Any], live: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Long-running services that are missing, changed since the apply (scaled, updated
    by hand: any change bumps a service's version), or short of tasks."""
    applied = whole(props.get("versions") or {})
    drifted = []
    for name, service in (props.get("document") or {}).get("services", {}).items():
        if service.get("deploy", {}).get("mode") == "replicated-job":
            continue  # a completed job has no running task
        seen = live.get(name)
        if seen is None or seen["version"] != applied.get(name) or not _converged(seen["replicas"]):
            drifted.append(name)
    return sorted(drifted)


def failure_report(host: str, namespace: str) -> str:
    """Each service not converged, with its newest tasks' states and errors."""
    lines = []
    for name, seen in live_state(host, namespace).items():
        if seen["job"] or _converged(seen["replicas"]):
            continue
        tasks = docker(
            "service", "ps", "--no-trunc", "--format",
            "{{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}",
            f"{namespace}_{name}", host=host,
        )  # fmt: skip
        lines.append(f"service {name!r} ({seen['replicas']}):\n{tasks.rstrip()}")
    return "\n\n".join(lines) or "no service reported a failure"


def _remove_unused(host: str, namespace: str, document: Mapping[str, Any]) -> None:
    """Secrets and configs of this stack that the document no longer names: older values."""
    for kind in ("secret", "config"):
        wanted = {v["name"] for v in (document.get(f"{kind}s") or {}).values()}
        names = docker(
            kind, "ls", "--format", "{{.Name}}",
            "--filter", f"label={NAMESPACE_LABEL}={namespace}", host=host,
        ).split()  # fmt: skip
        stale = sorted(set(names) - wanted)
        if stale:
            docker(kind, "rm", *stale, host=host)


def _without(document: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    services = {k: v for k, v in document["services"].items() if k not in names}
    return {**document, "services": services}


def _done_jobs(host: str, namespace: str, document: Mapping[str, Any]) -> set[str]:
    """Jobs that completed with the spec the document has: `docker stack deploy` would run
    them again (it updates every service it is given), for nothing."""
    live = live_state(host, namespace)
    done = set()
    for name, service in document["services"].items():
        seen = live.get(name)
        if seen and seen["job"] and seen["spec"] == service["deploy"]["labels"][SPEC_LABEL]:
            finished, _, total = seen["completed"].partition("/")
            if total and finished == total:
                done.add(name)
    return done


def _prune(host: str, namespace: str, document: Mapping[str, Any]) -> None:
    """Services of the stack the document no longer has (`--prune` would also take the
    completed jobs left out of the deploy)."""
    stale = sorted(set(live_state(host, namespace)) - set(document["services"]))
    if stale:
        docker("service", "rm", *(f"{namespace}_{name}" for name in stale), host=host)


def apply(props: Mapping[str, Any]) -> dict[str, Any]:
    """Bring the stack to the document; returns the outputs (inputs + what was seen)."""
    host, namespace = props["host"], props["namespace"]
    document = whole(dict(props["document"]))
    timeout = float(props.get("timeout_s") or 600)
    with tempfile.TemporaryDirectory(prefix="hearth-stack-") as tmp:
        directory = Path(tmp)
        _write(directory, props)
        try:
            prepare_stores(host, namespace, props.get("stores") or {}, timeout)
            done = _done_jobs(host, namespace, document)
            first = _without(document, done | set(document["x-hearth"]["after-jobs"]))
            for path, doc in (("jobs.yml", first), ("stack.yml", _without(document, done))):
                (directory / path).write_text(yaml.safe_dump(doc, sort_keys=False))
                _stack_deploy(host, namespace, directory / path)
                _wait(host, namespace, doc, timeout)
            _prune(host, namespace, document)
        except DockerError as exc:
            try:
                report = failure_report(host, namespace)
            except DockerError as again:
                report = f"(no report: {again})"
            raise SwarmStackError(
                f"swarm stack {namespace!r} did not converge: {exc}\n\n{report}"
            ) from None
    _remove_unused(host, namespace, document)
    live = live_state(host, namespace)
    return {
        **{k: props.get(k) for k in INPUTS},
        # The reference drift is measured against: each service's version as applied.
        "versions": {name: seen["version"] for name, seen in live.items()},
        "live": live,
        "engine": docker("version", "--format", "{{.Server.Version}}", host=host).strip(),
    }


def remove(host: str, namespace: str) -> None:
    """`docker stack rm`, then wait until its networks are gone (the removal is
    asynchronous, and a new deploy of the same name would find them half-removed)."""
    docker("stack", "rm", namespace, host=host)
    deadline = time.monotonic() + REMOVAL_TIMEOUT_S
    label = f"label={NAMESPACE_LABEL}={namespace}"
    while docker("network", "ls", "-q", "--filter", label, host=host).split():
        if time.monotonic() > deadline:
            raise SwarmStackError(
                f"the networks of stack {namespace!r} were not removed within "
                f"{REMOVAL_TIMEOUT_S} s; see: docker -H {host} network ls"
            )
        time.sleep(1)


class SwarmStackProvider(ResourceProvider):
    """Stateless: everything it needs comes in the properties of each call."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(props["namespace"], apply(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(apply(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if (olds.get("host"), olds.get("namespace")) != (news.get("host"), news.get("namespace")):
            return DiffResult(
                changes=True, replaces=["host", "namespace"], delete_before_replace=True
            )
        changed = [k for k in INPUTS if whole(olds.get(k)) != whole(news.get(k))]
        if changed:
            return DiffResult(changes=True)
        # Compared with the swarm now: a plain `up` (and `preview`) sees a service
        # removed, scaled or changed by hand, and repairs it.
        return DiffResult(changes=bool(drift(olds, live_state(olds["host"], olds["namespace"]))))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, {**props, "live": live_state(props["host"], id_)})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        remove(props["host"], props["namespace"])


class SwarmStack(pulumi.dynamic.Resource, module="hearth", name="SwarmStack"):
    """The platform's services, networks, secrets and configs, as one Swarm stack."""

    namespace: pulumi.Output[str]
    versions: pulumi.Output[dict[str, int]]
    """Service → its version (Swarm's) as the apply left it."""
    live: pulumi.Output[dict[str, dict[str, Any]]]
    """Service → spec digest, version, update state and tasks, as last seen."""
    engine: pulumi.Output[str]
    """The manager's Docker Engine version."""

    def __init__(
        self, name: str, args: SwarmStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {**args, "secrets": pulumi.Output.secret(args["secrets"])}
        outputs = {"versions": None, "live": None, "engine": None}
        super().__init__(SwarmStackProvider(), name, {**props, **outputs}, opts)
