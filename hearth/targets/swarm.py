"""The swarm target: the platform as one stack on a Docker Swarm of 3 to 5 machines,
deployed through a manager's Docker API (`swarmManager`; docs/swarm.md).

    data stores   named volumes on the nodes their services are pinned to (hearth.swarm),
                  kept when the stack goes
    images        `hearth/<x>:<id>` by content, loaded on every node beforehand
                  (`make swarm-images`): no registry is needed
    the stack     hearth.resources.swarm_stack, from the document hearth.swarm makes
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi import automation as auto

from hearth import swarm
from hearth.catalog.images import content_tag
from hearth.catalog.spec import ServiceSpec, data_stores
from hearth.resources import docker_cli
from hearth.resources.swarm_stack import SwarmStack, SwarmStackArgs
from hearth.settings import Settings, SettingsError
from hearth.targets import Deployment

DEPLOY_TIMEOUT_S = 600
"""Each pass of `docker stack deploy`: a cold start recovers every store, then migrates."""


def secret_digest(key: str, name: str, value: str) -> str:
    """HMAC-SHA256 of one secret: names its Swarm secret, so a new value is a new secret
    (and its services roll), and reveals nothing of the value."""
    return hmac.new(key.encode(), f"{name}\0{value}".encode(), hashlib.sha256).hexdigest()


def images(specs: Sequence[ServiceSpec]) -> dict[str, str]:
    """Each image the catalog names → the content tag the nodes run it by."""
    ids = docker_cli.image_ids(sorted({spec.image for spec in specs}))
    return {tag: content_tag(tag, image_id) for tag, image_id in ids.items()}


def deploy(d: Deployment) -> Mapping[str, Any]:
    host = d.settings.swarm_manager
    assert host is not None  # settings require it on this platform
    names = sorted({s.name for spec in d.specs for s in spec.secrets})
    values = pulumi.Output.all(d.secrets["digestKey"], *(d.secrets[n] for n in names))
    digests = pulumi.Output.unsecret(
        values.apply(
            lambda v: {n: secret_digest(v[0], n, x) for n, x in zip(names, v[1:], strict=True)}
        )
    )
    tags = images(d.specs)
    document = digests.apply(
        lambda dg: swarm.render(d.specs, namespace=d.prefix, images=tags, secret_digests=dg)
    )
    files = swarm.stack_files(d.specs)
    by_name = {spec.name: spec for spec in d.specs}
    stores = {
        store.name: {
            "uid": store.uid,
            "gid": store.gid,
            "image": tags[by_name[store.service].image],
            "placement": list(swarm.placement(by_name[store.service])),
        }
        for store in data_stores(d.specs).values()
    }
    stack = SwarmStack(
        d.prefix,
        SwarmStackArgs(
            host=host,
            namespace=d.prefix,
            document=document,
            files={f.path: f.content for f in files if f.content is not None},
            secret_files={f.path: f.secret for f in files if f.secret is not None},
            secrets={n: d.secrets[n] for n in names},
            stores=stores,
            timeout_s=DEPLOY_TIMEOUT_S,
        ),
    )
    return {
        "swarmStack": stack.namespace,
        "swarmManager": host,
        "swarmEngine": stack.engine,
        "images": sorted(tags.values()),
    }


def purge(stack: auto.Stack, settings: Settings) -> list[str]:
    """The data stays on the nodes, which a manager's API cannot reach: say how."""
    raise SettingsError(
        f"on a swarm each node keeps its own volumes; on every node run: "
        f"docker volume rm $(docker volume ls -q --filter label=hearth.project=hearth-"
        f"{stack.name}) (docs/swarm.md)"
    )
