"""The one way Hearth's resources talk to Docker: its CLI, with errors that say what failed.

The CLI (and its Compose plugin) is what an operator has and uses by hand too, so the
resources need no Docker SDK and see the engine exactly as `docker` shows it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


class DockerError(RuntimeError):
    """A `docker` command failed or timed out; the message has the command and its output."""


def docker(
    *args: str, stdin: str | None = None, timeout: float = 120, host: str | None = None
) -> str:
    """Run `docker ARGS…` (against `host`, a DOCKER_HOST URL, when given); its standard
    output, or DockerError with what it printed."""
    cmd = ["docker", *(("-H", host) if host else ()), *args]
    try:
        proc = subprocess.run(  # noqa: S603 - fixed program, arguments from our resources
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise DockerError(
            f"`{' '.join(cmd[:4])} …` did not finish within {timeout:.0f} s"
        ) from None
    except FileNotFoundError:
        raise DockerError("the docker CLI is not installed; run: make setup") from None
    if proc.returncode != 0:
        raise DockerError(
            f"`{' '.join(cmd)}` exited {proc.returncode}: {(proc.stderr or proc.stdout)[-2000:]}"
        )
    return proc.stdout


def image_ids(tags: Sequence[str]) -> dict[str, str]:
    """Each tag's image id on this machine's engine, in one look-up: what the targets pin a
    tag to, so a rebuilt image is a change in the diff."""
    try:
        ids = docker("image", "inspect", "--format", "{{.Id}}", *tags).split()
    except DockerError:
        missing = [t for t in tags if not _present(t)]
        raise DockerError(
            f"images {missing} are not on this machine's Docker Engine; build them with: "
            "make images"
        ) from None
    return dict(zip(tags, ids, strict=True))


def _present(tag: str) -> bool:
    try:
        docker("image", "inspect", tag)
    except DockerError:
        return False
    return True
