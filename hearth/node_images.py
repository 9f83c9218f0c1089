"""The platform's images onto every node of a swarm, with no registry: `docker save` here,
`docker load` on each node, under the content tags the stack runs them by
(hearth.catalog.images.content_tag). A node already holding an image is skipped."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from hearth.resources.docker_cli import DockerError, docker


def _missing(host: str, tags: Sequence[str]) -> list[str]:
    missing = []
    for tag in tags:
        try:
            docker("image", "inspect", "--format", "{{.Id}}", tag, host=host)
        except DockerError:
            missing.append(tag)
    return missing


def _load(host: str, tags: Sequence[str]) -> None:
    """`docker save TAGS | docker -H HOST load`: layers shared by the images go once."""
    save = subprocess.Popen(["docker", "save", *tags], stdout=subprocess.PIPE)  # noqa: S603, S607
    load = subprocess.run(  # noqa: S603
        ["docker", "-H", host, "load", "--quiet"],  # noqa: S607
        stdin=save.stdout,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert save.stdout is not None
    save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise DockerError(f"loading {list(tags)} into {host} failed: {load.stderr.strip()}")


def distribute(
    tags: Mapping[str, str], hosts: Sequence[str], report: Callable[[str], None]
) -> dict[str, list[str]]:
    """Tag each local image (`hearth/x:local` → its content tag) and load the content tags
    each node lacks; returns what each host was given."""
    for local, content in sorted(tags.items()):
        docker("tag", local, content)
    wanted = sorted(tags.values())

    def one(host: str) -> list[str]:
        missing = _missing(host, wanted)
        if missing:
            report(f"{host}: loading {', '.join(missing)}")
            _load(host, missing)
        else:
            report(f"{host}: has every image")
        return missing

    with ThreadPoolExecutor(max_workers=len(hosts) or 1) as pool:
        return dict(zip(hosts, pool.map(one, hosts), strict=True))
