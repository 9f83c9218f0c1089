"""hearth-backup: the platform's backup agent, one per data store (docs/backups.md).

    hearth-backup schedule            run backups on the store's schedule; serve /metrics
    hearth-backup run [--full]        one backup now, with progress (what `make backup` runs)
    hearth-backup list [--json]       the store's backups, their age and size
    hearth-backup plan [--time T]     check the repository; say which backup a restore takes
    hearth-backup restore [--time T] --yes
                                      put that backup back (to T, or the latest state)
    hearth-backup health              exit 0 while the scheduler runs
    hearth-backup dump                off-box copy: the newest copy of the repository, as tar
    hearth-backup receive --yes       agent: a repository from standard input (a dump), in
                                      place of its own

With HEARTH_BACKUP_OFFBOX=1 the agent is an off-box copier instead (`offbox-<store>`): it
mounts a store's repository read-only and keeps a copy of it in an S3 bucket off this
machine (restic, encrypted again), soon after anything in the repository changes.

The store (HEARTH_BACKUP_STORE) picks the tool: `postgres` is pgBackRest (full and
incremental backups, the WAL archive for point-in-time restores), `s3` a restic snapshot of
the S3 server's files, `nats` a restic snapshot of every JetStream stream as the server's
own snapshot API hands it out (`nats backup stream`). The repository is the truth: the
schedule and the metrics are read from it, so a restarted agent carries on where it was.

Python's standard library only: the image has Debian's python3 and nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RUN_DIR = Path("/tmp/hearth-backup")  # noqa: S108 - the container's private tmpfs
LOCK = RUN_DIR / "job.lock"
STATUS = RUN_DIR / "status.json"
HEARTBEAT = RUN_DIR / "heartbeat"
RETRY_S = 300
"""After a failed backup, the next try comes this soon (or at the interval, if shorter)."""
FIRST_BACKUP_DELAY_S = 60
"""A store never backed up waits this long after the agent starts: the platform's own
start-up comes first."""
COPY_GAP_S = 60
"""An off-box copier copies a changed repository at most this often (the WAL archive
changes every archive_timeout under writes)."""
PRUNE_EVERY_S = 86400
"""restic's forget --prune rewrites packs: once a day is enough to honour retention."""


class AgentError(Exception):
    """A failure the operator can act on; the message says what and how."""


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise AgentError(f"{name} is not set (the catalog sets it: hearth/catalog/backup.py)")
    return value


def read_secret(var: str) -> str:
    path = env(var)
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise AgentError(f"{var}={path} is not readable by uid {os.getuid()}: {exc}") from None


def log(text: str) -> None:
    """Progress on standard error: standard output is for what a command answers (a plan,
    a list, a dump)."""
    print(f"hearth-backup[{env('HEARTH_BACKUP_STORE', '?')}]: {text}", file=sys.stderr, flush=True)


def now() -> float:
    return time.time()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def parse_time(text: str) -> float:
    """An ISO 8601 time; one without a zone is UTC (the CLI always sends a zone)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AgentError(
            f"time {text!r} is not ISO 8601; write e.g. 2026-11-30T21:30:00+00:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


RESTIC = ("restic", "--no-cache", "--retry-lock", "5m")
"""Each restic run waits for another's lock (a scheduled backup, a restore's check) rather
than failing at once."""


def run(cmd: list[str], *, extra_env: dict[str, str] | None = None, capture: bool = True) -> str:
    """Run a tool; its output, or AgentError with the command and what it printed."""
    proc = subprocess.run(  # noqa: S603 - fixed tools, arguments of our own
        cmd,
        env={**os.environ, **(extra_env or {})},
        capture_output=capture,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        said = ((proc.stderr or "") + (proc.stdout or "")).strip()[-3000:] if capture else ""
        raise AgentError(f"`{' '.join(cmd[:3])} …` exited {proc.returncode}: {said}")
    return proc.stdout or ""


@dataclass(frozen=True)
class Backup:
    """One backup in a repository."""

    id: str
    kind: str
    time: float
    """When it was taken: a restore to T takes the newest at or before T."""
    size: int
    """Bytes of data it covers."""
    added: int
    """Bytes it added to the repository (an incremental's own size)."""


# ---- stores --------------------------------------------------------------------------


class Store:
    name = ""

    def prepare(self) -> None:
        """Make the repository ready (idempotent)."""

    def jobs(self) -> dict[str, int]:
        """Backup kind → its interval in seconds."""
        return {"snapshot": int(env("HEARTH_BACKUP_INTERVAL_S"))}

    def backups(self) -> list[Backup]:
        raise NotImplementedError

    def backup(self, kind: str) -> None:
        raise NotImplementedError

    def maintain(self) -> None:
        """Apply retention."""

    def verify(self) -> None:
        """Raise AgentError when the repository is missing or damaged."""

    def replaces(self) -> str:
        """What a restore would overwrite, in words."""
        raise NotImplementedError

    def restore(self, backup: Backup, target: float | None) -> None:
        raise NotImplementedError

    def extra_metrics(self) -> list[str]:
        return []

    def changed_since(self, when: float) -> bool:
        """Whether there is something new to back up before the interval is up."""
        return False

    def pick(self, target: float | None) -> Backup:
        """The backup a restore to `target` (None: the latest state) starts from."""
        found = sorted(self.backups(), key=lambda b: b.time)
        if target is not None:
            found = [b for b in found if b.time <= target]
        if not found:
            when = f"at or before {iso(target)}" if target is not None else "at all"
            raise AgentError(f"the {self.name} repository has no backup {when}")
        return found[-1]


class Postgres(Store):
    """pgBackRest: the stanza's full and incremental backups plus the WAL archive that
    PostgreSQL's archive_command fills (so a restore reaches any time since the oldest
    full backup kept)."""

    name = "postgres"

    def __init__(self) -> None:
        self.stanza = env("HEARTH_BACKUP_STANZA", "hearth")
        self.pgdata = Path(env("PGDATA"))

    def tool_env(self) -> dict[str, str]:
        # The process's environment only: never the container's, never an argument.
        return {
            "PGPASSWORD": read_secret("PGPASSWORD_FILE"),
            "PGBACKREST_REPO1_CIPHER_PASS": read_secret("HEARTH_BACKUP_PASSWORD_FILE"),
        }

    def pgbackrest(self, *args: str, capture: bool = True) -> str:
        cmd = ["pgbackrest", f"--stanza={self.stanza}", *args]
        return run(cmd, extra_env=self.tool_env(), capture=capture)

    def prepare(self) -> None:
        self.pgbackrest("stanza-create")

    def jobs(self) -> dict[str, int]:
        return {
            "full": int(env("HEARTH_BACKUP_FULL_INTERVAL_S")),
            "incr": int(env("HEARTH_BACKUP_INTERVAL_S")),
        }

    def info(self) -> dict[str, Any]:
        data = json.loads(self.pgbackrest("info", "--output=json"))
        if not data:
            raise AgentError("pgBackRest knows no stanza: the repository is missing")
        stanza: dict[str, Any] = data[0]
        status = stanza.get("status", {})
        if status.get("code") not in (0, 2):  # 2: the stanza has no backups yet
            raise AgentError(
                f"the PostgreSQL repository is unusable: {status.get('message')} "
                f"(pgbackrest info, stanza {self.stanza})"
            )
        return stanza

    def backups(self) -> list[Backup]:
        return [
            Backup(
                id=b["label"],
                kind=b["type"],
                time=float(b["timestamp"]["stop"]),
                size=int(b["info"]["size"]),
                added=int(b["info"]["repository"]["delta"]),
            )
            for b in self.info().get("backup", [])
        ]

    def backup(self, kind: str) -> None:
        # Incrementals stand on the last backup; pgBackRest makes a full one when none is.
        self.pgbackrest("backup", f"--type={kind}", "--log-level-console=info", capture=False)

    def verify(self) -> None:
        self.info()
        out = self.pgbackrest("verify", "--output=text", "--verbose")
        if "status: ok" not in out:
            raise AgentError(f"the PostgreSQL repository failed verification:\n{out.strip()}")

    def running(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((env("PGHOST"), int(env("PGPORT", "5432"))), timeout=2),
        ):
            return True
        return False

    def replaces(self) -> str:
        files = list(self.pgdata.iterdir()) if self.pgdata.exists() else []
        if not files:
            return "nothing (the PostgreSQL data directory is empty)"
        return f"the PostgreSQL data directory {self.pgdata} ({human_size(du(self.pgdata))})"

    def restore(self, backup: Backup, target: float | None) -> None:
        if self.running():
            raise AgentError("PostgreSQL is running: stop it first (`make restore` does)")
        args = ["restore", "--log-level-console=info", f"--set={backup.id}"]
        if (self.pgdata / "PG_VERSION").exists():
            # The server is down (checked above); a pid file is what a crash leaves.
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            args.append("--delta")
        else:
            empty_dir(self.pgdata)
        if target is not None:
            stamp = datetime.fromtimestamp(target, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            args += ["--type=time", f"--target={stamp}", "--target-action=promote"]
        self.pgbackrest(*args, capture=False)

    def extra_metrics(self) -> list[str]:
        query = (
            "select archived_count, failed_count, "
            "coalesce(extract(epoch from last_archived_time), 0), "
            "coalesce(extract(epoch from last_failed_time), 0) from pg_stat_archiver"
        )
        try:
            out = run(
                ["psql", "-XAtq", "-F", " ", "-d", "postgres", "-c", query],
                extra_env={"PGPASSWORD": read_secret("PGPASSWORD_FILE"), "PGCONNECT_TIMEOUT": "3"},
            )
        except AgentError:
            return ["hearth_wal_archiver_up 0"]
        archived, failed, last_ok, last_failed = out.split()
        return [
            "hearth_wal_archiver_up 1",
            f"hearth_wal_archived_total {archived}",
            f"hearth_wal_archive_failed_total {failed}",
            f"hearth_wal_last_archived_timestamp_seconds {last_ok}",
            f"hearth_wal_last_failed_timestamp_seconds {last_failed}",
        ]


class Restic(Store):
    """A restic repository of one store's snapshots (deduplicated, encrypted)."""

    def tool_env(self) -> dict[str, str]:
        return {"RESTIC_PASSWORD_FILE": env("HEARTH_BACKUP_PASSWORD_FILE")}

    def options(self) -> list[str]:
        return []

    def restic(self, *args: str, capture: bool = True) -> str:
        cmd = [*RESTIC, *self.options(), *args]
        return run(cmd, extra_env=self.tool_env(), capture=capture)

    def prepare(self) -> None:
        try:
            self.restic("cat", "config")
        except AgentError:
            repo = Path(env("RESTIC_REPOSITORY"))
            if repo.exists() and any(repo.iterdir()):
                raise  # something is there but unreadable: never paper over it
            self.restic("init")
            log(f"made the restic repository {repo}")

    def backups(self) -> list[Backup]:
        try:
            snaps = json.loads(self.restic("snapshots", "--json", "--tag", self.name))
        except AgentError as exc:
            raise AgentError(f"the {self.name} repository is unusable: {exc}") from None
        return [
            Backup(
                id=s["short_id"],
                kind="snapshot",
                time=parse_time(s["time"]),
                size=int(s.get("summary", {}).get("total_bytes_processed", 0)),
                added=int(s.get("summary", {}).get("data_added", 0)),
            )
            for s in snaps
        ]

    def snapshot(self, path: Path, taken: float, *extra: str) -> None:
        """restic backup of `path`, stamped with the moment its content was taken, with a
        progress line every few seconds."""
        cmd = [
            # One host name whatever the container's: retention groups snapshots by host.
            *RESTIC, *self.options(), "backup", "--json", "--host", "hearth",
            "--tag", self.name,
            "--time", datetime.fromtimestamp(taken, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "--exclude-caches", *extra, str(path),
        ]  # fmt: skip
        proc = subprocess.Popen(  # noqa: S603
            cmd,
            env={**os.environ, **self.tool_env(), "TZ": "UTC"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        shown = 0.0
        for line in proc.stdout:
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if msg.get("message_type") == "status" and now() - shown > 2:
                    shown = now()
                    done = msg.get("bytes_done", 0)
                    log(f"{msg.get('percent_done', 0) * 100:.0f} % ({human_size(done)})")
                elif msg.get("message_type") == "summary":
                    log(
                        f"snapshot {msg.get('snapshot_id', '')[:8]}: "
                        f"{human_size(msg.get('total_bytes_processed', 0))} read, "
                        f"{human_size(msg.get('data_added', 0))} added"
                    )
        err = proc.stderr.read() if proc.stderr else ""
        if proc.wait() != 0:
            raise AgentError(f"restic backup of {path} failed: {err.strip()[-2000:]}")

    def maintain(self) -> None:
        days = env("HEARTH_BACKUP_RETENTION_DAYS")
        self.restic("forget", "--tag", self.name, "--keep-within", f"{days}d", "--prune")

    def verify(self) -> None:
        self.backups()
        self.restic("check")

    def restore_into(self, backup: Backup, directory: Path) -> None:
        """`directory` as the snapshot holds it (the snapshot is of that directory): its
        files, modes, owners and extended attributes; what was there is removed first."""
        empty_dir(directory)
        self.restic("restore", f"{backup.id}:{directory}", "--target", str(directory))


class S3(Restic):
    """The S3 server's files: objects and their metadata (extended attributes), and its
    accounts. The server writes an object to a temporary file and renames it into place,
    so a snapshot holds whole objects only."""

    name = "s3"

    def __init__(self) -> None:
        self.data = Path(env("HEARTH_BACKUP_SOURCE"))

    def backup(self, kind: str) -> None:
        # A server that is down may have lost its disk: an empty snapshot would become
        # "the latest state".
        if not self.running():
            raise AgentError("the S3 server is not running: nothing is backed up")
        self.snapshot(self.data, now())

    def running(self) -> bool:
        host, _, port = env("HEARTH_BACKUP_S3_ADDRESS").rpartition(":")
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 2):
            return True
        return False

    def replaces(self) -> str:
        objects = sum(1 for p in (self.data / "buckets").rglob("*") if p.is_file())
        return f"the S3 server's files ({objects} objects, {human_size(du(self.data))})"

    def restore(self, backup: Backup, target: float | None) -> None:
        if self.running():
            raise AgentError("the S3 server is running: stop it first (`make restore` does)")
        self.restore_into(backup, self.data)


class Nats(Restic):
    """Every JetStream stream, snapshotted by the server itself (`nats backup stream`: a
    consistent copy while it keeps serving), then kept by restic."""

    name = "nats"

    def __init__(self) -> None:
        self.staging = Path(env("HEARTH_BACKUP_STAGING"))

    def tool_env(self) -> dict[str, str]:
        return {**super().tool_env(), "NATS_PASSWORD": read_secret("NATS_PASSWORD_FILE")}

    def nats(self, *args: str, capture: bool = True) -> str:
        return run(["nats", *args], extra_env=self.tool_env(), capture=capture)

    def streams(self) -> list[str]:
        return sorted(json.loads(self.nats("stream", "ls", "--names", "--json") or "[]") or [])

    def backup(self, kind: str) -> None:
        taken = now()
        empty_dir(self.staging)
        for stream in self.streams():
            log(f"stream {stream}: snapshot")
            self.nats("backup", "stream", stream, str(self.staging / stream))
        self.snapshot(self.staging, taken)
        empty_dir(self.staging)

    def replaces(self) -> str:
        streams = self.streams()
        if not streams:
            return "nothing (no JetStream streams)"
        return f"the JetStream streams {', '.join(streams)}"

    def restore(self, backup: Backup, target: float | None) -> None:
        self.restore_into(backup, self.staging)
        for stream in self.streams():
            log(f"stream {stream}: removed")
            self.nats("stream", "rm", "--force", stream)
        for snap in sorted(p for p in self.staging.iterdir() if p.is_dir()):
            log(f"stream {snap.name}: restored")
            self.nats("backup", "restore", "stream", str(snap))
        empty_dir(self.staging)


class OffBox(Restic):
    """A copy of one store's repository (mounted read-only) in an S3 bucket off this machine:
    what survives the loss of the machine. restic deduplicates the repository's files, so a
    copy sends what is new; the files are encrypted already and restic encrypts them again."""

    def __init__(self) -> None:
        self.name = env("HEARTH_BACKUP_STORE")
        self.source = Path(env("HEARTH_BACKUP_SOURCE"))

    def tool_env(self) -> dict[str, str]:
        return {
            **super().tool_env(),
            "AWS_ACCESS_KEY_ID": read_secret("HEARTH_BACKUP_S3_ACCESS_KEY_FILE"),
            "AWS_SECRET_ACCESS_KEY": read_secret("HEARTH_BACKUP_S3_SECRET_KEY_FILE"),
        }

    def options(self) -> list[str]:
        # Path-style requests: what every S3 server answers, named by host and port only.
        return ["-o", "s3.bucket-lookup=path"]

    def jobs(self) -> dict[str, int]:
        return {"copy": int(env("HEARTH_BACKUP_INTERVAL_S"))}

    def backup(self, kind: str) -> None:
        """A copy, unless the bucket's newest copy is of another repository: a new machine,
        or a repository lost and made anew, must never bury the copies a restore needs."""
        own = repository_id()
        snaps = json.loads(self.restic("snapshots", "--json", "--tag", self.name) or "[]")
        if snaps:
            newest = max(snaps, key=lambda x: parse_time(x["time"]))
            theirs = [t for t in newest.get("tags") or [] if t.startswith("repository:")]
            if theirs and theirs != [f"repository:{own}"]:
                raise AgentError(
                    f"the off-box bucket's newest copy is of another {self.name} repository "
                    f"({theirs[0]}) than this machine's ({own}): bring it back with "
                    "`make restore FROM=offbox YES=1`, or give this stack another "
                    "backupS3Prefix; nothing was copied"
                )
        self.snapshot(
            self.source, now(), "--exclude", str(self.staging), "--tag", f"repository:{own}"
        )

    @property
    def staging(self) -> Path:
        """The NATS agent's scratch space in its repository: never copied."""
        return self.source / "staging"

    def changed_since(self, when: float) -> bool:
        if now() - when < COPY_GAP_S:
            return False
        return any(
            p.lstat().st_mtime > when
            for p in self.source.rglob("*")
            if self.staging not in (p, *p.parents)
        )

    def replaces(self) -> str:
        return f"the {self.name} backup repository"

    def dump(self) -> None:
        """The newest copy as a tar stream on standard output, paths relative to the
        repository."""
        newest = self.pick(None)
        cmd = [*RESTIC, *self.options(), "dump", "--archive", "tar",
               f"{newest.id}:{self.source}", "/"]  # fmt: skip
        log(f"sending the copy {newest.id} of {iso(newest.time)}")
        proc = subprocess.run(  # noqa: S603
            cmd, env={**os.environ, **self.tool_env()}, check=False, stderr=subprocess.PIPE
        )
        if proc.returncode != 0:
            raise AgentError(f"restic dump failed: {proc.stderr.decode()[-2000:]}")


STORES: dict[str, type[Store]] = {"postgres": Postgres, "s3": S3, "nats": Nats}


def repository_id(create: bool = False) -> str:
    """The repository's name of its own, a file beside it: its off-box copies carry it, so a
    copier can tell them from another repository's."""
    path = Path(env("HEARTH_BACKUP_REPOSITORY")) / ".hearth-repository-id"
    if create and not path.exists():
        path.write_text(f"{uuid.uuid4()}\n")
    try:
        return path.read_text().strip()
    except OSError:
        raise AgentError(f"{path} is missing: the agent has not made its repository yet") from None


def prepare(store: Store) -> None:
    """The repository ready (the agents name theirs; a copier only reads)."""
    if not isinstance(store, OffBox):
        repository_id(create=True)
    store.prepare()


def du(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_symlink())


def empty_dir(path: Path) -> None:
    """Remove what is inside `path` (a mount point: the directory itself stays)."""
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


# ---- status and metrics --------------------------------------------------------------


@contextlib.contextmanager
def job_lock() -> Iterator[None]:
    """One backup, restore or prune at a time, whoever starts it (scheduler or operator)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def status() -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(STATUS.read_text())
        return found
    except (OSError, ValueError):
        return {}


def save_status(**changes: object) -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    new = {**status(), **changes}
    tmp = STATUS.with_suffix(".tmp")
    tmp.write_text(json.dumps(new))
    tmp.replace(STATUS)


def take_backup(store: Store, kind: str) -> None:
    """One backup, counted in the status either way."""
    started = now()
    try:
        with job_lock():
            store.backup(kind)
            newest = max(store.backups(), key=lambda b: b.time)
    except AgentError:
        save_status(failures=status().get("failures", 0) + 1, last_failure=now())
        raise
    save_status(
        last_success=newest.time, last_size=newest.size, last_added=newest.added,
        last_duration=now() - started,
    )  # fmt: skip
    log(f"{kind} backup done in {now() - started:.1f} s")


def container_memory() -> int:
    """This container's memory as its cgroup counts it (the agent and the tools it runs),
    less the file cache the kernel can drop: what the memory limit is measured against."""
    for usage, stat in (
        ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat"),
        ("/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/memory/memory.stat"),
    ):
        with contextlib.suppress(OSError, ValueError):
            used = int(Path(usage).read_text())
            fields = dict(line.split() for line in Path(stat).read_text().splitlines())
            return used - int(fields.get("inactive_file", fields.get("total_inactive_file", 0)))
    return 0


def metrics(store: Store) -> str:
    s = status()
    interval = min(store.jobs().values())
    label = f'{{store="{store.name}"}}'
    lines = [
        f"hearth_backup_last_success_timestamp_seconds{label} {s.get('last_success', 0)}",
        f"hearth_backup_interval_seconds{label} {interval}",
        f"hearth_backup_failures_total{label} {s.get('failures', 0)}",
        f"hearth_backup_last_size_bytes{label} {s.get('last_size', 0)}",
        f"hearth_backup_last_added_bytes{label} {s.get('last_added', 0)}",
        f"hearth_backup_last_duration_seconds{label} {s.get('last_duration', 0)}",
        f"process_resident_memory_bytes {container_memory()}",
        *store.extra_metrics(),
    ]
    return "\n".join(lines) + "\n"


def serve_metrics(store: Store, port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, code = metrics(store).encode(), 200
            elif self.path == "/healthz":
                body, code = b"ok\n", 200
            else:
                body, code = b"not found\n", 404
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - its own network
    threading.Thread(target=server.serve_forever, daemon=True).start()


# ---- commands ------------------------------------------------------------------------


def cmd_schedule(store: Store, _args: argparse.Namespace) -> int:
    """Back up when each kind is due, counting from the newest backup of that kind in the
    repository; a failure is retried sooner than the interval."""
    serve_metrics(store, int(env("HEARTH_BACKUP_METRICS_PORT")))
    while True:
        HEARTBEAT.parent.mkdir(parents=True, exist_ok=True)
        HEARTBEAT.touch()
        try:
            with job_lock():
                prepare(store)
            break
        except AgentError as exc:
            log(f"waiting for the store and its repository: {exc}")
            time.sleep(5)
    jobs = store.jobs()
    retry_at = dict.fromkeys(jobs, now() + FIRST_BACKUP_DELAY_S)
    last_prune = 0.0
    while True:
        HEARTBEAT.touch()
        try:
            found = store.backups()
        except AgentError as exc:
            log(str(exc))
            time.sleep(30)
            continue
        if found:
            newest = max(found, key=lambda b: b.time)
            if status().get("last_success", 0) < newest.time:
                save_status(last_success=newest.time, last_size=newest.size,
                            last_added=newest.added)  # fmt: skip
        due = {}
        for kind, interval in jobs.items():
            # A full backup counts from the last full one, any other kind from any backup;
            # something new in an off-box copier's repository is due at once.
            last = max((b.time for b in found if kind != "full" or b.kind == kind), default=0)
            due[kind] = now() if store.changed_since(last) else last + interval
            due[kind] = max(due[kind], retry_at.get(kind, 0))
        kind = min(due, key=lambda k: (due[k], k != "full"))
        wait = due[kind] - now()
        if wait > 0:
            time.sleep(min(wait, 30))
            continue
        try:
            take_backup(store, kind)
            retry_at.pop(kind, None)
            if now() - last_prune > PRUNE_EVERY_S:
                with job_lock():
                    store.maintain()
                last_prune = now()
        except AgentError as exc:
            log(f"{kind} backup failed: {exc}")
            retry_at[kind] = now() + min(jobs[kind], RETRY_S)


def cmd_run(store: Store, args: argparse.Namespace) -> int:
    kinds = list(store.jobs())  # postgres: full, incr; the others: snapshot
    kind = "full" if args.full and "full" in kinds else kinds[-1]
    with job_lock():
        prepare(store)
    take_backup(store, kind)
    return 0


def cmd_list(store: Store, args: argparse.Namespace) -> int:
    found = sorted(store.backups(), key=lambda b: b.time)
    if args.json:
        print(json.dumps([b.__dict__ for b in found]))
        return 0
    print(f"{store.name}: {len(found)} backups")
    for b in found:
        print(
            f"  {b.id:<22} {b.kind:<8} {iso(b.time)}  {human_age(now() - b.time):>8} ago  "
            f"{human_size(b.size):>10} data  {human_size(b.added):>10} stored"
        )
    return 0


def cmd_plan(store: Store, args: argparse.Namespace) -> int:
    target = parse_time(args.time) if args.time else None
    store.verify()
    chosen = store.pick(target)
    print(
        json.dumps(
            {
                "store": store.name,
                "backup": chosen.id,
                "backupTime": iso(chosen.time),
                "replaces": store.replaces(),
            }
        )
    )
    return 0


def cmd_restore(store: Store, args: argparse.Namespace) -> int:
    if not args.yes:
        raise AgentError(f"restoring replaces {store.replaces()}; add --yes to go ahead")
    target = parse_time(args.time) if args.time else None
    # `plan` verified the repository; the tools check every file they restore anyway.
    with job_lock():
        chosen = store.pick(target)
        log(f"restoring {chosen.kind} backup {chosen.id} of {iso(chosen.time)}")
        store.restore(chosen, target)
    log("restored" + (f" to {iso(target)}" if target is not None else " to the latest state"))
    return 0


def cmd_dump(store: Store, _args: argparse.Namespace) -> int:
    if not isinstance(store, OffBox):
        raise AgentError("dump is an off-box copier's command (HEARTH_BACKUP_OFFBOX=1)")
    store.dump()
    return 0


def cmd_receive(store: Store, args: argparse.Namespace) -> int:
    """Replace this agent's repository by the tar stream on standard input (an off-box
    copier's dump): after the machine or the repository's disk was lost."""
    repository = Path(env("HEARTH_BACKUP_REPOSITORY"))
    if not args.yes:
        raise AgentError(f"receiving replaces the repository {repository}; add --yes")
    with job_lock():
        empty_dir(repository)
        run(["tar", "-x", "-C", str(repository), "--no-same-owner", "-f", "-"], capture=False)
    log(f"received the repository into {repository}")
    return 0


def cmd_health(_store: Store, _args: argparse.Namespace) -> int:
    """Healthy while the scheduler loop runs: it touches the heartbeat at least every 30 s
    (a backup in progress holds it longer, so the margin is wide)."""
    try:
        age = now() - HEARTBEAT.stat().st_mtime
    except OSError:
        return 1
    return 0 if age < 6 * 3600 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hearth-backup", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("schedule")
    sub.add_parser("health")
    p_run = sub.add_parser("run")
    p_run.add_argument("--full", action="store_true", help="postgres: a full backup")
    p_list = sub.add_parser("list")
    p_list.add_argument("--json", action="store_true")
    sub.add_parser("dump")
    sub.add_parser("receive").add_argument("--yes", action="store_true")
    for name in ("plan", "restore"):
        p = sub.add_parser(name)
        p.add_argument("--time", help="ISO 8601; default: the latest state")
        p.add_argument("--yes", action="store_true", help="restore: replace what is there")
    args = parser.parse_args(argv)
    commands = {
        "schedule": cmd_schedule,
        "run": cmd_run,
        "list": cmd_list,
        "plan": cmd_plan,
        "restore": cmd_restore,
        "health": cmd_health,
        "dump": cmd_dump,
        "receive": cmd_receive,
    }
    try:
        store_name = env("HEARTH_BACKUP_STORE")
        if store_name not in STORES:
            raise AgentError(f"HEARTH_BACKUP_STORE={store_name!r}: one of {sorted(STORES)}")
        store = OffBox() if env("HEARTH_BACKUP_OFFBOX", "") == "1" else STORES[store_name]()
        return commands[args.command](store, args)
    except AgentError as exc:
        print(f"hearth-backup: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
