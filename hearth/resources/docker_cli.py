"""The one way Hearth's resources talk to Docker: its CLI, with errors that say what failed.

The CLI (and its Compose plugin) is what an operator has and uses by hand too, so the
resources need no Docker SDK and see the engine exactly as `docker` shows it.
"""

from __future__ import annotations

import subprocess


class DockerError(RuntimeError):
    """A `docker` command failed or timed out; the message has the command and its output."""


def docker(*args: str, stdin: str | None = None, timeout: float = 120) -> str:
    """Run `docker ARGS…`; its standard output, or DockerError with what it printed."""
    cmd = ["docker", *args]
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
