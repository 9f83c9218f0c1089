"""Pin an image tag to the image id it names on this machine's Docker Engine.

A container whose `image` is an id is replaced exactly when the image behind the
tag was rebuilt, and left alone otherwise; an image resource would instead report
changes on every run (pulumi-docker #14, #132). Reading the engine here is a
look-up, like a data source: nothing is built or changed.
"""

from __future__ import annotations

import docker
import docker.errors


class ImageMissing(LookupError):
    pass


def local_image_id(tag: str) -> str:
    try:
        image = docker.from_env().images.get(tag)
    except docker.errors.ImageNotFound:
        raise ImageMissing(
            f"image {tag} is not on this machine's Docker Engine; build it with: make images"
        ) from None
    return str(image.id)
