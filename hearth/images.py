"""Image references that change exactly when an image's build context changes.

tools/build-images.sh tags every image `hearth/<service>:<context hash>` (and
`:local`). Naming that hash here, computed the same way, makes a container
replaced when its image really changed and gives a second `pulumi up` nothing
to do otherwise, without an image resource that diffs on every run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"


def context_hash(service: str, images_dir: Path = IMAGES_DIR) -> str:
    """First 12 hex digits of SHA-256 over the sorted (path, content) of the context."""
    context = images_dir / service
    if not (context / "Dockerfile").is_file():
        raise FileNotFoundError(
            f"no image for service {service!r}: {context}/Dockerfile is missing"
        )
    digest = hashlib.sha256()
    files = {p.relative_to(context).as_posix(): p for p in context.rglob("*") if p.is_file()}
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0")
        digest.update(files[rel].read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def image_ref(service: str, images_dir: Path = IMAGES_DIR) -> str:
    return f"hearth/{service}:{context_hash(service, images_dir)}"


if __name__ == "__main__":
    # tools/build-images.sh asks here, so the shell and the program never disagree.
    import sys

    sys.stdout.write(context_hash(sys.argv[1]) + "\n")
