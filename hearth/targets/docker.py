"""The docker target (local, linux, wsl2): the platform as one Compose project on this
machine's Docker Engine.

    data stores   named volumes on `local`, uid-owned host directories under
                  `<dataRoot>/<stack>/<store>` on linux and wsl2; kept on destroy
    host files    `<files>/secrets/<uid>/<secret>` (0400, owned by the uid reading it)
                  and `<files>/config/<service>/<file>`; `<files>` is `.state/files/<stack>`
                  on `local`, `<dataRoot>/files/<stack>` elsewhere
    the project   hearth.resources.compose_project, from the document hearth.render makes
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi import automation as auto

from hearth import render
from hearth.catalog.spec import ServiceSpec, data_stores
from hearth.resources import docker_cli
from hearth.resources.compose_project import ComposeProject, ComposeProjectArgs, down
from hearth.resources.data_store import DockerVolume, HostDirectory
from hearth.resources.docker_cli import docker
from hearth.resources.host_file import HostFile
from hearth.settings import Settings
from hearth.targets import Deployment, prefix_for

STATE_DIR = Path(__file__).resolve().parents[2] / ".state"
UP_TIMEOUT_S = 600
"""How long `up --wait` may take: a cold start recovers every store, then migrates."""
STACK_LABEL = "hearth.stack"


def files_dir(settings: Settings, stack: str) -> Path:
    """Host directory of the stack's secret and config files: beside the data, or .state/."""
    base = Path(settings.host_data_root) if settings.host_data_root else STATE_DIR
    return base / "files" / stack


def secrets_digest(key: str, spec: ServiceSpec, values: Mapping[str, str]) -> str:
    """HMAC-SHA256 over the secrets a service reads: changes exactly when one of them does."""
    mac = hmac.new(key.encode(), digestmod=hashlib.sha256)
    for name in sorted(s.name for s in spec.secrets):
        mac.update(f"{name}\0{values[name]}\0".encode())
    return mac.hexdigest()


def _digests(d: Deployment, spec: ServiceSpec, image: str) -> pulumi.Output[dict[str, str]]:
    names = sorted({s.name for s in spec.secrets})
    values = pulumi.Output.all(d.secrets["digestKey"], *(d.secrets[n] for n in names))
    # An HMAC under a secret key reveals nothing of the values: it may be shown in previews.
    mac = pulumi.Output.unsecret(
        values.apply(lambda v: secrets_digest(v[0], spec, dict(zip(names, v[1:], strict=True))))
    )
    return mac.apply(lambda m: {"image": image, "files": render.files_digest(spec), "secrets": m})


def deploy(d: Deployment) -> Mapping[str, Any]:
    settings, stack, project = d.settings, d.stack, d.prefix
    data_root = settings.host_data_root
    files = files_dir(settings, stack)
    stores: dict[str, pulumi.Resource] = {}
    paths: dict[str, str] = {}
    images_by_service = {spec.name: spec.image for spec in d.specs}
    for store in data_stores(d.specs).values():
        if data_root is None:
            stores[store.name] = DockerVolume(
                f"{project}-{store.name}",
                render.volume_name(project, store.name),
                {STACK_LABEL: stack, "hearth.store": store.name},
                owner=(store.uid, store.gid, images_by_service[store.service]),
            )
        else:
            paths[store.name] = f"{data_root}/{stack}/{store.name}"
            stores[store.name] = HostDirectory(
                f"{project}-{store.name}", paths[store.name], store.uid, store.gid
            )
    secrets_dir = str(files / "secrets")
    host_files: list[pulumi.Resource] = []
    for f in render.host_files(d.specs, secrets_dir=secrets_dir):
        rel = Path(f.path).relative_to(files)
        host_files.append(
            HostFile(
                f"{project}-{str(rel).replace('/', '-')}",
                f.path,
                d.secrets[f.secret] if f.secret is not None else (f.content or ""),
                secret=f.secret is not None,
                mode=f.mode,
                uid=f.uid,
                gid=f.gid,
            )
        )
    images = docker_cli.image_ids(sorted({spec.image for spec in d.specs}))
    doc = render.render(
        settings, d.specs, project=project, secrets_dir=secrets_dir, data_paths=paths or None
    )
    compose = ComposeProject(
        project,
        ComposeProjectArgs(
            project=project,
            services=doc["services"],
            networks=doc.get("networks", {}),
            volumes=doc.get("volumes", {}),
            secrets=doc.get("secrets", {}),
            configs=doc.get("configs", {}),
            digests={spec.name: _digests(d, spec, images[spec.image]) for spec in d.specs},
            timeout_s=UP_TIMEOUT_S,
        ),
        pulumi.ResourceOptions(depends_on=[*stores.values(), *host_files]),
    )
    return {
        "composeProject": compose.project,
        "composeVersion": compose.compose_version,
        "containers": {name: svc["container_name"] for name, svc in doc["services"].items()},
        "dataStores": paths or {s: render.volume_name(project, s) for s in stores},
    }


def purge(stack: auto.Stack, settings: Settings) -> list[str]:
    """Delete the data stores a destroyed stack kept: its volumes, or its host directories.

    Containers a failed first apply left (Pulumi never recorded them) go first: they would
    hold the volumes."""
    down(prefix_for(stack.name))
    if settings.host_data_root is None:
        names = docker("volume", "ls", "-q", "--filter", f"label={STACK_LABEL}={stack.name}")
        removed = names.split()
        if removed:
            docker("volume", "rm", *removed)
        shutil.rmtree(files_dir(settings, stack.name), ignore_errors=True)
        return removed
    removed = []
    for path in (Path(settings.host_data_root) / stack.name, files_dir(settings, stack.name)):
        if path.exists():
            shutil.rmtree(path)
            removed.append(str(path))
    return removed
