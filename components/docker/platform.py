"""The whole platform on one Docker Engine: networks, data stores and services."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pulumi
import pulumi_docker as docker

from components.docker import images
from components.docker.host_directory import HostDirectory
from components.docker.service import DataStore, Service, ServiceArgs
from hearth.specs import INTERNAL_NETWORKS, NETWORKS, ServiceSpec, in_start_order


def deploy(
    prefix: str,
    specs: Sequence[ServiceSpec],
    secrets: Mapping[str, pulumi.Input[str]],
    files_dir: str,
    data_root: str | None = None,
    resolve_image: Callable[[str], str] | None = None,
) -> dict[str, Service]:
    """Declare every resource of the stack; returns the services by name.

    Data stores are Docker volumes, or with `data_root` host directories under it.
    `resolve_image` pins each spec's image tag to an id (default: ask the engine).
    """
    resolve = resolve_image or images.local_image_id
    stack = pulumi.get_stack()
    networks = {
        net: docker.Network(
            f"{prefix}-{net}",
            name=f"{prefix}-{net}",
            internal=net in INTERNAL_NETWORKS,
            labels=[docker.NetworkLabelArgs(label="hearth.stack", value=stack)],
        )
        for net in NETWORKS
    }
    stores = {
        name: _store(prefix, stack, name, owner, data_root)
        for name, owner in sorted(store_owners(specs).items())
    }
    deployed: dict[str, Service] = {}
    for spec in in_start_order(specs):
        deployed[spec.name] = Service(
            f"{prefix}-{spec.name}",
            ServiceArgs(
                spec=spec,
                image=resolve(spec.image),
                networks=networks,
                stores=stores,
                secrets=secrets,
                files_dir=files_dir,
                after=[deployed[d].container for d in spec.depends_on],
            ),
        )
    return deployed


def store_owners(specs: Sequence[ServiceSpec]) -> dict[str, str]:
    """Each data store and the uid:gid that owns it; one owner per store."""
    owners: dict[str, set[str]] = {}
    for spec in specs:
        for store in spec.volumes:
            owners.setdefault(store, set()).add(spec.user)
    shared = {store: sorted(users) for store, users in owners.items() if len(users) > 1}
    if shared:
        raise ValueError(f"data stores used by services with different uids: {shared}")
    return {store: users.pop() for store, users in owners.items()}


def _store(prefix: str, stack: str, name: str, owner: str, data_root: str | None) -> DataStore:
    if data_root is None:
        volume = docker.Volume(
            f"{prefix}-{name}",
            name=f"{prefix}-{name}",
            labels=[docker.VolumeLabelArgs(label="hearth.stack", value=stack)],
            # Data outlives `pulumi destroy`; deleting it is an explicit, separate step.
            opts=pulumi.ResourceOptions(retain_on_delete=True),
        )
        return DataStore("volume", volume.name, volume)
    uid, gid = (int(x) for x in owner.split(":"))
    directory = HostDirectory(f"{prefix}-{name}", f"{data_root}/{stack}/{name}", uid, gid)
    return DataStore("bind", directory.path, directory)
