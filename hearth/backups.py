"""The operator's side of the backup agents (hearth/catalog/backup.py): `make backup`,
`make backups` and `make restore`, run through `docker exec` in each agent, so the tools,
keys and repositories never leave the platform.

A restore checks every repository and picks every backup before it touches anything; it
refuses to replace live data unless told to, and says what it would replace. Then it stops
the app and the stores being restored, has each agent put its store back, and starts them
again, `migrate` first (it clears the app's caches of the replaced data).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from hearth.catalog import backup
from hearth.resources.docker_cli import DockerError, docker

STORES = backup.STORES
STOPPED_FOR_RESTORE = {"postgres": True, "s3": True, "nats": False}
"""Whether a store's server is stopped while its data is put back; JetStream restores
streams through the running server's API."""
HEALTHY_TIMEOUT_S = 180

Out = Callable[[str], None]


class BackupError(RuntimeError):
    """Something the operator must fix; the message says what and how."""


class RestoreRefused(BackupError):
    """A restore over live data without the operator's yes."""


def restore_time(text: str) -> str:
    """The time a restore targets, as ISO 8601 with its zone; one written without a zone is
    this machine's local time (what `date` shows)."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise BackupError(
            f"TIME={text!r} is not a time; write it as 2026-11-30T21:30:00 (local time) "
            "or with a zone, 2026-11-30T21:30:00+00:00"
        ) from None
    return value.astimezone().isoformat()


def _agent(containers: Mapping[str, str], store: str) -> str:
    return containers[backup.agent_name(store)]


def _stream(container: str, *args: str) -> None:
    """`hearth-backup ARGS` in the agent, its output shown as it comes."""
    cmd = ["docker", "exec", container, "hearth-backup", *args]
    proc = subprocess.run(cmd, check=False)  # noqa: S603 - as docker_cli does
    if proc.returncode != 0:
        raise BackupError(f"`hearth-backup {' '.join(args)}` failed in {container} (above)")


def _copier(containers: Mapping[str, str], store: str) -> str | None:
    """The store's off-box copier, when the stack names a bucket."""
    return containers.get(backup.copier_name(store))


def backup_now(containers: Mapping[str, str], out: Out, *, full: bool = False) -> None:
    """Every store backed up, then (with an off-box bucket) its repository copied there."""
    for store in STORES:
        out(f"==> {store}")
        _stream(_agent(containers, store), "run", *(["--full"] if full else []))
        copier = _copier(containers, store)
        if copier:
            out(f"==> {store}: the repository to the off-box bucket")
            _stream(copier, "run")


def fetch(containers: Mapping[str, str], out: Out, stores: Sequence[str]) -> None:
    """Each store's repository replaced by its newest off-box copy: after the machine, or
    the disk of the repositories, was lost. The copy streams from the copier to the agent."""
    for store in stores:
        copier = _copier(containers, store)
        if copier is None:
            raise BackupError(
                "the stack has no off-box bucket (backupS3Url, backupS3Bucket): "
                "nothing to fetch from"
            )
        out(f"==> {store}: the repository from the off-box bucket")
        dump_cmd = ["docker", "exec", copier, "hearth-backup", "dump"]
        receive_cmd = ["docker", "exec", "-i", _agent(containers, store), "hearth-backup"]
        dump = subprocess.Popen(dump_cmd, stdout=subprocess.PIPE)  # noqa: S603 - as above
        receive = subprocess.run(  # noqa: S603 - fixed program and arguments
            [*receive_cmd, "receive", "--yes"], stdin=dump.stdout, check=False
        )
        if dump.stdout is not None:
            dump.stdout.close()
        if dump.wait() != 0 or receive.returncode != 0:
            raise BackupError(
                f"fetching the {store} repository from the off-box bucket failed (above)"
            )


def list_backups(containers: Mapping[str, str], out: Out) -> None:
    for store in STORES:
        _stream(_agent(containers, store), "list")


def plan(
    containers: Mapping[str, str], stores: Sequence[str], target: str | None
) -> dict[str, dict[str, str]]:
    """Each store's repository checked and the backup a restore takes: any failure here
    stops the restore before anything changes."""
    at = ["--time", target] if target else []
    plans = {}
    for store in stores:
        try:
            out = docker("exec", _agent(containers, store), "hearth-backup", "plan", *at)
        except DockerError as exc:
            raise BackupError(
                f"cannot restore {store}; nothing was changed. {exc}".replace("\n", "\n  ")
            ) from None
        plans[store] = json.loads(out.strip().splitlines()[-1])
    return plans


def restore(
    containers: Mapping[str, str],
    out: Out,
    *,
    target: str | None = None,
    stores: Sequence[str] = STORES,
    yes: bool = False,
    from_offbox: bool = False,
) -> None:
    unknown = [s for s in stores if s not in STORES]
    if unknown:
        raise BackupError(f"STORES={','.join(unknown)}: unknown; use some of {','.join(STORES)}")
    if from_offbox:
        if not yes:
            raise RestoreRefused(
                "restoring from the off-box bucket first replaces the repositories on this "
                "machine by their copies there; run it again with YES=1 to go ahead"
            )
        fetch(containers, out, stores)
    plans = plan(containers, stores, target)
    out(f"Restore to {target or 'the latest state'}:")
    for store, p in plans.items():
        out(f"  {store}: from backup {p['backup']} of {p['backupTime']}; replaces {p['replaces']}")
    if not yes:
        raise RestoreRefused(
            "a restore replaces the data above; run it again with YES=1 "
            "(make restore YES=1) to go ahead"
        )
    started = time.monotonic()

    def say(text: str) -> None:
        out(f"[{time.monotonic() - started:5.1f} s] {text}")

    apps = sorted(c for name, c in containers.items() if name.startswith("app-"))
    stopped = [containers[s] for s in stores if STOPPED_FOR_RESTORE[s]]
    say(f"stopping {', '.join(apps + stopped)}")
    docker("stop", "--time", "30", *apps, *stopped, timeout=120)
    at = ["--time", target] if target else []
    for store in stores:
        say(f"restoring {store}")
        _stream(_agent(containers, store), "restore", "--yes", *at)
    if stopped:
        say(f"starting {', '.join(stopped)}")
        docker("start", *stopped)
        wait_healthy(stopped)
    if "postgres" in stores:
        # After the promotion that ends a restore, PostgreSQL's checkpointer can sleep a whole
        # checkpoint_timeout before it honours archive_timeout again (it looked while
        # recovery was still ending). A checkpoint wakes it: the WAL archive keeps its pace.
        pg = ["psql", "-XAtq", "-U", "postgres", "-d", "postgres", "-c", "CHECKPOINT"]
        docker("exec", containers["postgres"], *pg)
    say("running migrate (it clears the app's caches)")
    docker("start", "--attach", containers["migrate"], timeout=HEALTHY_TIMEOUT_S)
    say(f"starting {', '.join(apps)}")
    docker("start", *apps)
    wait_healthy(apps)
    say("restored; the platform is serving again")


def wait_healthy(names: Sequence[str], timeout: float = HEALTHY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        lines = docker("inspect", "--format", "{{.Name}} {{.State.Health.Status}}", *names)
        health = dict(line.lstrip("/").split() for line in lines.splitlines())
        if all(h == "healthy" for h in health.values()):
            return
        if time.monotonic() > deadline:
            raise BackupError(f"not healthy {timeout:.0f} s after the restore: {health}")
        time.sleep(1)
