"""Names of the images `make images` (tools/build-images.sh) builds.

Specs name images by tag; each target pins the tag to what it really runs (the docker
target resolves it to the image id), so a rebuilt image replaces its containers and an
unchanged one changes nothing.
"""

from __future__ import annotations

from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parents[2] / "images"
TAG = "local"


def image_ref(service: str, images_dir: Path = IMAGES_DIR) -> str:
    """`hearth/<service>:local`, refusing a service that has no images/<service>/Dockerfile."""
    if not (images_dir / service / "Dockerfile").is_file():
        raise FileNotFoundError(
            f"no image for service {service!r}: {images_dir / service}/Dockerfile is missing"
        )
    return f"hearth/{service}:{TAG}"


def content_tag(ref: str, image_id: str) -> str:
    """`hearth/<service>:<first 12 hex digits of its id>`: the name a swarm runs an image by.
    Without a registry, nodes hold images loaded by hand under the same tag; a tag that
    names the content makes a rebuilt image a change, and a node lacking it an error."""
    return f"{ref.rsplit(':', 1)[0]}:{image_id.removeprefix('sha256:')[:12]}"
