"""The whole platform on TrueNAS: a dataset tree, snapshot tasks, secret files and one
custom app running the Compose document rendered from the same specs as the docker target.

    <pool>/<stack>                 the stack's root dataset (root:root 0755)
    <pool>/<stack>/<store>         one per data store, owned by the uid:gid of the service
                                   that writes it, tuned for it (PostgreSQL 16K + lz4,
                                   MinIO 1M + zstd), snapshotted hourly, kept two weeks
    <pool>/<stack>/secrets         secret files, secrets/<uid>/<secret>, 0400 owned by the
                                   uid that reads them (root:root 0700; never snapshotted)
    <pool>/<stack>/config          the services' configuration files, config/<service>/<file>,
                                   root-owned and read-only (root:root 0755)

The layout of files, and which service owns which store, come from `hearth.compose`
(`host_files`, `render`), so the document and the datasets always agree.

Datasets are kept by `pulumi destroy` (retain_on_delete) and adopted again by the next
`up`; `purge_stack_datasets` is the explicit step that deletes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.truenas.config_file import ConfigFile, ConfigFileArgs
from components.truenas.custom_app import CustomApp, CustomAppArgs, app_name_for
from components.truenas.dataset import Dataset, DatasetArgs
from components.truenas.secret_file import SecretFile, SecretFileArgs
from components.truenas.snapshot_task import Schedule, SnapshotTask, SnapshotTaskArgs
from hearth import compose
from hearth.settings import Settings
from hearth.specs import ServiceSpec


@dataclass(frozen=True)
class Tuning:
    """ZFS properties for one kind of data."""

    recordsize: str
    compression: str


TUNING = {
    "postgres": Tuning("16K", "LZ4"),  # 8 KiB pages: small records, cheap compression
    "minio": Tuning("1M", "ZSTD"),  # large immutable objects: big records compress well
    "s3": Tuning("1M", "ZSTD"),
    "nats": Tuning("128K", "LZ4"),  # append-only stream files
    "redis": Tuning("128K", "LZ4"),  # snapshot and AOF files written whole
    "valkey": Tuning("128K", "LZ4"),
}
"""By the name of the service writing the store (or the store's own name)."""
DEFAULT_TUNING = Tuning("128K", "LZ4")

SNAPSHOT_SCHEDULE = Schedule(minute="0", hour="*")
SNAPSHOT_LIFETIME = (2, "WEEK")
SECRETS = "secrets"
CONFIG = "config"
RESERVED = (SECRETS, CONFIG)
"""Datasets under the stack root that hold files, not a store's data."""


@dataclass(frozen=True)
class Store:
    """A data store: the dataset that holds it and who writes it."""

    name: str
    service: str
    uid: int
    gid: int

    @property
    def tuning(self) -> Tuning:
        for key in (self.service, self.name):
            for kind, tuning in TUNING.items():
                if key == kind or key.startswith(f"{kind}-"):
                    return tuning
        return DEFAULT_TUNING


def stores(specs: Sequence[ServiceSpec]) -> dict[str, Store]:
    """Each store once, by name, owned by the service that mounts it writable (or, when
    every mount of it is read-only, by the first service that mounts it)."""
    found: dict[str, Store] = {}
    for writable in (True, False):
        for spec in specs:
            for mount in spec.mounts:
                if mount.read_only == writable:
                    continue
                prev = found.get(mount.volume)
                if prev is None:
                    found[mount.volume] = Store(mount.volume, spec.name, spec.uid, spec.gid)
                elif writable and (prev.uid, prev.gid) != (spec.uid, spec.gid):
                    raise ValueError(
                        f"data store {mount.volume!r} is written by {prev.service} "
                        f"({prev.uid}:{prev.gid}) and {spec.name} ({spec.user}); one owner only"
                    )
    clash = sorted(set(found) & set(RESERVED))
    if clash:
        raise ValueError(f"data stores may not be called {clash}: those datasets hold files")
    return dict(sorted(found.items()))


def root_dataset(settings: Settings, stack: str) -> str:
    if settings.truenas_pool is None:
        raise ValueError("hearth:truenasPool is required on the truenas platform")
    return f"{settings.truenas_pool}/{stack}"


def host_paths(settings: Settings, stack: str, specs: Sequence[ServiceSpec]) -> dict[str, str]:
    """Data store → host path of its dataset: /mnt/<pool>/<stack>/<store>."""
    return {name: f"/mnt/{root_dataset(settings, stack)}/{name}" for name in stores(specs)}


def secrets_dir(settings: Settings, stack: str) -> str:
    return f"/mnt/{root_dataset(settings, stack)}/{SECRETS}"


def config_dir(settings: Settings, stack: str) -> str:
    return f"/mnt/{root_dataset(settings, stack)}/{CONFIG}"


def compose_document(
    settings: Settings, stack: str, project: str, specs: Sequence[ServiceSpec]
) -> str:
    """The Compose document of the custom app, bind-mounting the stack's datasets."""
    doc = compose.render(
        settings,
        specs,
        project=project,
        secrets_dir=secrets_dir(settings, stack),
        config_dir=config_dir(settings, stack),
        data_paths=host_paths(settings, stack, specs),
    )
    return compose.dump(doc)


def _resource_suffix(path: str, root: str) -> str:
    return path.removeprefix(f"/mnt/{root}/").replace("/", "-").replace(".", "-")


def deploy(
    prefix: str,
    settings: Settings,
    specs: Sequence[ServiceSpec],
    secrets: Mapping[str, pulumi.Input[str]],
) -> dict[str, Any]:
    """Declare every TrueNAS resource of the stack; returns the values to export."""
    stack = pulumi.get_stack()
    root_name = root_dataset(settings, stack)
    labels = {"hearth:stack": stack}
    root = Dataset(
        f"{prefix}-root",
        DatasetArgs(
            name=root_name,
            comments=f"Hearth stack {stack}",
            user_properties=labels,
            uid=0,
            gid=0,
            mode="0755",
        ),
    )
    after_root = pulumi.ResourceOptions(depends_on=[root])
    secrets_ds = Dataset(
        f"{prefix}-secrets",
        DatasetArgs(
            name=f"{root_name}/{SECRETS}",
            comments=f"Hearth stack {stack}: secret files (not snapshotted)",
            user_properties={**labels, "hearth:role": "secrets"},
            uid=0,
            gid=0,
            mode="0700",
        ),
        after_root,
    )
    datasets: dict[str, Dataset] = {}
    for store in stores(specs).values():
        datasets[store.name] = Dataset(
            f"{prefix}-data-{store.name}",
            DatasetArgs(
                name=f"{root_name}/{store.name}",
                recordsize=store.tuning.recordsize,
                compression=store.tuning.compression,
                comments=f"Hearth stack {stack}: {store.name} of {store.service}",
                user_properties={**labels, "hearth:store": store.name},
                uid=store.uid,
                gid=store.gid,
                mode="0700",
            ),
            after_root,
        )
        SnapshotTask(
            f"{prefix}-snapshots-{store.name}",
            SnapshotTaskArgs(
                dataset=datasets[store.name].dataset_name,
                lifetime_value=SNAPSHOT_LIFETIME[0],
                lifetime_unit="WEEK",
                naming_schema="hearth-%Y-%m-%d_%H-%M",
                schedule=SNAPSHOT_SCHEDULE,
            ),
        )
    config_ds = Dataset(
        f"{prefix}-config",
        DatasetArgs(
            name=f"{root_name}/{CONFIG}",
            comments=f"Hearth stack {stack}: configuration files",
            user_properties={**labels, "hearth:role": "config"},
            uid=0,
            gid=0,
            mode="0755",
        ),
        after_root,
    )
    listed = compose.host_files(
        specs, secrets_dir=secrets_dir(settings, stack), config_dir=config_dir(settings, stack)
    )
    missing = sorted({f.secret for f in listed if f.secret is not None} - set(secrets))
    if missing:
        raise ValueError(f"secrets {missing} are used by services but not provided")
    files: list[pulumi.Resource] = []
    for f in listed:
        suffix = _resource_suffix(f.path, root_name)
        if f.secret is not None:
            files.append(
                SecretFile(
                    f"{prefix}-{suffix}",
                    SecretFileArgs(
                        path=f.path,
                        content=secrets[f.secret],
                        uid=f.uid,
                        gid=f.gid,
                        mode=f"{f.mode:04o}",
                    ),
                    pulumi.ResourceOptions(depends_on=[secrets_ds]),
                )
            )
        else:
            files.append(
                ConfigFile(
                    f"{prefix}-{suffix}",
                    ConfigFileArgs(
                        path=f.path,
                        content=f.content or "",
                        uid=f.uid,
                        gid=f.gid,
                        mode=f"{f.mode:04o}",
                    ),
                    pulumi.ResourceOptions(depends_on=[config_ds]),
                )
            )
    app_name = app_name_for(prefix)
    app = CustomApp(
        f"{prefix}-app",
        CustomAppArgs(
            app_name=app_name, compose=compose_document(settings, stack, app_name, specs)
        ),
        pulumi.ResourceOptions(depends_on=[*datasets.values(), *files]),
    )
    return {
        "app": app.app_name,
        "appState": app.state,
        "datasets": {name: ds.dataset_name for name, ds in datasets.items()},
        "dataRoot": f"/mnt/{root_name}",
    }
