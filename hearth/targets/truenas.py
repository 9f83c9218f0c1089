"""The truenas target: the whole platform on a TrueNAS box, through its JSON-RPC API.

One custom app runs the Compose document `hearth.render` makes from the catalog (the same
renderer as the docker target), bind-mounting datasets of the stack's pool:

    <pool>/<stack>                 the stack's root dataset (root:root 0755)
    <pool>/<stack>/<store>         one per data store, owned by the uid:gid of the service
                                   that writes it (`hearth.catalog.spec.data_stores`), tuned
                                   for it (PostgreSQL 16K + lz4, S3 1M + zstd),
                                   snapshotted hourly, kept two weeks
    <pool>/<stack>/secrets         secret files, secrets/<uid>/<secret>, 0400 owned by the
                                   uid that reads them (root:root 0700; never snapshotted)
    <pool>/<stack>/config          the services' configuration files, config/<service>/<file>,
                                   root-owned and read-only (root:root 0755)

Which files go where comes from `hearth.render.host_files`, with the same directories the
document names, so the document and the datasets always agree.

Datasets are kept by `pulumi destroy` (retain_on_delete) and adopted again by the next
`up`; `purge` is the explicit step that deletes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi import automation as auto

from hearth import render
from hearth.catalog.spec import DataStore, ServiceSpec, data_stores
from hearth.resources.truenas.config_file import ConfigFile, ConfigFileArgs
from hearth.resources.truenas.connection import (
    API_KEY_KEY,
    Endpoint,
    TrueNASOperationError,
    session,
)
from hearth.resources.truenas.custom_app import CustomApp, CustomAppArgs, app_name_for
from hearth.resources.truenas.dataset import Dataset, DatasetArgs
from hearth.resources.truenas.secret_file import SecretFile, SecretFileArgs
from hearth.resources.truenas.snapshot_task import Schedule, SnapshotTask, SnapshotTaskArgs
from hearth.settings import PROJECT, Settings
from hearth.targets import Deployment, prefix_for


@dataclass(frozen=True)
class Tuning:
    """ZFS properties for one kind of data."""

    recordsize: str
    compression: str


TUNING = {
    "postgres": Tuning("16K", "LZ4"),  # 8 KiB pages: small records, cheap compression
    "s3": Tuning("1M", "ZSTD"),  # large immutable objects: big records compress well
    "nats": Tuning("128K", "LZ4"),  # append-only stream files
    "redis": Tuning("128K", "LZ4"),  # snapshot and AOF files written whole
    "valkey": Tuning("128K", "LZ4"),
}
"""By the name of the service writing the store (or the store's own name)."""
DEFAULT_TUNING = Tuning("128K", "LZ4")

SNAPSHOT_SCHEDULE = Schedule(minute="0", hour="*")
SNAPSHOT_LIFETIME = (2, "WEEK")
SNAPSHOT_NAMING = "hearth-%Y-%m-%d_%H-%M"
SECRETS = "secrets"
CONFIG = "config"
RESERVED = (SECRETS, CONFIG)
"""Datasets under the stack root that hold files, not a store's data."""
API_KEY = API_KEY_KEY.removeprefix(f"{PROJECT}:")


def tuning(store: DataStore) -> Tuning:
    """The ZFS tuning of a store: by its writer (`postgres`, `s3-1`), else its name."""
    for key in (store.service, store.name):
        for kind, tuned in TUNING.items():
            if key == kind or key.startswith(f"{kind}-"):
                return tuned
    return DEFAULT_TUNING


def stores(specs: Sequence[ServiceSpec]) -> dict[str, DataStore]:
    """The catalog's data stores (one owner each), none named like a dataset of files."""
    found = data_stores(specs)
    clash = sorted(set(found) & set(RESERVED))
    if clash:
        raise ValueError(f"data stores may not be called {clash}: those datasets hold files")
    return found


def root_dataset(settings: Settings, stack: str) -> str:
    """`<pool>/<stack>`: every dataset of the stack is under it."""
    if settings.truenas_pool is None:
        raise ValueError("hearth:truenasPool is required on the truenas platform")
    return f"{settings.truenas_pool}/{stack}"


@dataclass(frozen=True)
class Layout:
    """Where one stack lives on the NAS: dataset names and their host paths."""

    root: str
    """The stack's root dataset, `<pool>/<stack>`."""

    @property
    def mountpoint(self) -> str:
        return f"/mnt/{self.root}"

    @property
    def secrets_dir(self) -> str:
        return f"{self.mountpoint}/{SECRETS}"

    @property
    def config_dir(self) -> str:
        return f"{self.mountpoint}/{CONFIG}"

    def data_paths(self, found: Mapping[str, DataStore]) -> dict[str, str]:
        """Data store → host path of its dataset, `/mnt/<pool>/<stack>/<store>`."""
        return {name: f"{self.mountpoint}/{name}" for name in found}

    def resource_suffix(self, path: str) -> str:
        """A file's resource name from its path below the root (`secrets-999-x`)."""
        return path.removeprefix(f"{self.mountpoint}/").replace("/", "-").replace(".", "-")


def compose_document(
    settings: Settings, layout: Layout, project: str, specs: Sequence[ServiceSpec]
) -> str:
    """The custom app's Compose document, bind-mounting the stack's datasets."""
    doc = render.render(
        settings,
        specs,
        project=project,
        secrets_dir=layout.secrets_dir,
        config_dir=layout.config_dir,
        data_paths=layout.data_paths(stores(specs)),
    )
    return render.dump(doc)


def deploy(deployment: Deployment) -> Mapping[str, Any]:
    """Declare every TrueNAS resource of the stack; returns the stack outputs to export."""
    settings, stack, prefix, specs = (
        deployment.settings,
        deployment.stack,
        deployment.prefix,
        deployment.specs,
    )
    # The providers read the key from the stack config in their own process (never a
    # resource input, never in state); requiring it here stops a run without one before
    # anything is declared.
    pulumi.Config(PROJECT).require_secret(API_KEY)
    layout = Layout(root_dataset(settings, stack))
    found = stores(specs)
    listed = render.host_files(specs, secrets_dir=layout.secrets_dir, config_dir=layout.config_dir)
    missing = sorted({f.secret for f in listed if f.secret is not None} - set(deployment.secrets))
    if missing:
        raise ValueError(f"secrets {missing} are used by services but not provided")
    app_name = app_name_for(prefix)
    document = compose_document(settings, layout, app_name, specs)

    labels = {"hearth:stack": stack}
    root = Dataset(
        f"{prefix}-root",
        DatasetArgs(
            name=layout.root,
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
            name=f"{layout.root}/{SECRETS}",
            comments=f"Hearth stack {stack}: secret files (not snapshotted)",
            user_properties={**labels, "hearth:role": "secrets"},
            uid=0,
            gid=0,
            mode="0700",
        ),
        after_root,
    )
    config_ds = Dataset(
        f"{prefix}-config",
        DatasetArgs(
            name=f"{layout.root}/{CONFIG}",
            comments=f"Hearth stack {stack}: configuration files",
            user_properties={**labels, "hearth:role": "config"},
            uid=0,
            gid=0,
            mode="0755",
        ),
        after_root,
    )
    datasets: dict[str, Dataset] = {}
    for store in found.values():
        tuned = tuning(store)
        datasets[store.name] = Dataset(
            f"{prefix}-data-{store.name}",
            DatasetArgs(
                name=f"{layout.root}/{store.name}",
                recordsize=tuned.recordsize,
                compression=tuned.compression,
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
                naming_schema=SNAPSHOT_NAMING,
                schedule=SNAPSHOT_SCHEDULE,
            ),
        )

    files: list[pulumi.Resource] = []
    for f in listed:
        name = f"{prefix}-{layout.resource_suffix(f.path)}"
        mode = f"{f.mode:04o}"
        if f.secret is not None:
            files.append(
                SecretFile(
                    name,
                    SecretFileArgs(
                        path=f.path,
                        content=deployment.secrets[f.secret],
                        uid=f.uid,
                        gid=f.gid,
                        mode=mode,
                    ),
                    pulumi.ResourceOptions(depends_on=[secrets_ds]),
                )
            )
        else:
            files.append(
                ConfigFile(
                    name,
                    ConfigFileArgs(
                        path=f.path, content=f.content or "", uid=f.uid, gid=f.gid, mode=mode
                    ),
                    pulumi.ResourceOptions(depends_on=[config_ds]),
                )
            )

    app = CustomApp(
        f"{prefix}-app",
        CustomAppArgs(app_name=app_name, compose=document),
        pulumi.ResourceOptions(depends_on=[*datasets.values(), *files]),
    )
    return {
        "app": app.app_name,
        "appState": app.state,
        "datasets": {name: ds.dataset_name for name, ds in datasets.items()},
        "dataRoot": layout.mountpoint,
    }


def purge_datasets(endpoint: Endpoint, root: str, app: str) -> list[str]:
    """Delete the dataset `root` and everything under it; returns the names deleted.

    Refused while the app `app` exists, so data is never pulled from under its containers.
    """
    with session(endpoint, f"purge the datasets under {root}") as c:
        if c.call("app.query", [["name", "=", app]]):
            raise TrueNASOperationError(
                f"the app {app!r} still exists; destroy the stack first (make down), then purge"
            )
        if not c.call("pool.dataset.query", [["id", "=", root]], {"select": ["id"]}):
            return []
        below = c.call("pool.dataset.query", [["id", "^", f"{root}/"]], {"select": ["id"]})
        names = sorted([root, *(d["id"] for d in below)], reverse=True)
        c.call("pool.dataset.delete", root, {"recursive": True})
    return names


def purge(stack: auto.Stack, settings: Settings) -> list[str]:
    """Delete what `destroy` kept: `<pool>/<stack>` with its datasets and their snapshots.

    The one step that loses data (`make down PURGE=1`, after the destroy). It logs in with
    the key in the stack's own config, as the providers do.
    """
    key = stack.get_all_config().get(API_KEY_KEY)
    if settings.truenas_url is None or settings.truenas_pool is None or key is None:
        raise TrueNASOperationError(
            f"stack {stack.name!r} lacks hearth:truenasUrl, hearth:truenasPool or "
            f"{API_KEY_KEY}; nothing to purge"
        )
    return purge_datasets(
        Endpoint(settings.truenas_url, key.value),
        root_dataset(settings, stack.name),
        app_name_for(prefix_for(stack.name)),
    )
