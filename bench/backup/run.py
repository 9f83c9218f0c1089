"""Backup benchmark: pgBackRest and restic as the platform runs them, each against `cp -a`
of the same bytes to the same disk, measured in the same run.

    .venv/bin/python bench/backup/run.py [--rounds 3] [--write docs/benchmarks.md]

Starts its own `postgres`, `backup-postgres` and `backup-s3` containers from the catalog's
specs (hearth/catalog/postgres.py, backup.py: images, users, commands, environment, rendered
pgbackrest.conf, secrets as files, tmpfs, limits; read-only root, no capabilities,
no-new-privileges) on a network and volumes of its own, and removes them at the end. The
agents' containers idle; each step runs in them with the agent's own tool settings.

- PostgreSQL, with WAL archiving as the catalog configures it: a `pgbench -i` dataset; per
  round a full backup and a restore into an empty directory, each beside a `cp -a` of the
  data directory (without `pg_wal`, which pgBackRest takes from the archive) and back; then
  per round an incremental backup after updating 1000 rows.
- restic, as the S3 agent runs it: a directory of random files; per round the first
  snapshot into a new repository and a restore, each beside `cp -a`; then the bytes a second
  snapshot adds after 10 files changed.

Every timed step ends with what it wrote on disk: the tools fsync their repository files;
after `cp -a` and after a restore, every written file is fsynced (`sync FILE…`).
"""

# Only docker, with arguments of this benchmark.
# ruff: noqa: S603, S607

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hearth.catalog import backup, postgres, s3  # noqa: E402
from hearth.catalog.common import BACKUP_REPOSITORY  # noqa: E402
from hearth.catalog.spec import ServiceSpec  # noqa: E402
from hearth.resources.data_store import ensure_volume  # noqa: E402
from hearth.resources.docker_cli import docker  # noqa: E402
from hearth.settings import Settings  # noqa: E402

START, END = "<!-- bench/backup:start -->", "<!-- bench/backup:end -->"
LABEL = "hearth.bench=backup"
MIB = 1024 * 1024
LONG = 900.0
"""Timeout of one step, in seconds: far above any of them on this machine."""
SCRATCH = f"{BACKUP_REPOSITORY}/bench"
"""The references' copies and the restores, on the repository's volume."""


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Box:
    """A running container of the benchmark; `sh` runs a shell script in it."""

    name: str
    spec: ServiceSpec

    def sh(self, script: str, *, timeout: float = LONG) -> str:
        # The tools' secrets from their files, into the process's environment only, as the
        # agent passes them (hearth_backup.py, tool_env).
        env = {
            "PGPASSWORD": "PGPASSWORD_FILE",
            "PGBACKREST_REPO1_CIPHER_PASS": "HEARTH_BACKUP_PASSWORD_FILE",
        }
        prelude = "".join(
            f'export {var}="$(cat "${file_var}")"; '
            for var, file_var in env.items()
            if file_var in self.spec.env
        )
        if "HEARTH_BACKUP_PASSWORD_FILE" in self.spec.env:
            prelude += 'export RESTIC_PASSWORD_FILE="$HEARTH_BACKUP_PASSWORD_FILE"; '
        return docker("exec", self.name, "bash", "-c", "set -euo pipefail; " + prelude + script,
                      timeout=timeout)  # fmt: skip

    def timed(self, script: str) -> tuple[float, str]:
        """Seconds `script` took, timed inside the container (no `docker exec` overhead),
        and what it printed."""
        out = self.sh(f's=$(date +%s%N)\n{script}\ne=$(date +%s%N); echo "@ns $((e - s))"')
        lines = out.rstrip("\n").split("\n")
        return int(lines[-1].split()[1]) / 1e9, "\n".join(lines[:-1])


def synced_copy(src: str, dst: str, *, skip: str = "") -> str:
    """The reference: `cp -a` of `src`'s entries into a new `dst` (less `skip`), then an
    fsync of every copied file."""
    exclude = f"! -name {shlex.quote(skip)} " if skip else ""
    return (
        f"mkdir {dst}; find {src} -mindepth 1 -maxdepth 1 {exclude}-exec cp -a -t {dst} {{}} +; "
        f"{fsync(dst)}"
    )


def fsync(path: str) -> str:
    return f"find {path} -type f -exec sync {{}} +"


def du(box: Box, path: str) -> int:
    return int(box.sh(f"du -sb --apparent-size {path} | cut -f1").strip())


@dataclass
class Bench:
    """The benchmark's network, volumes, host files and containers; `close` removes them."""

    prefix: str = field(default_factory=lambda: f"hearth-bench-backup-{secrets.token_hex(3)}")
    files: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hearth-bench-")))
    boxes: list[str] = field(default_factory=list)
    volumes: set[str] = field(default_factory=set)
    network: str = ""
    secret_values: dict[str, str] = field(default_factory=dict)

    def open(self) -> None:
        self.network = self.prefix
        # Internal, as `backend` is: no route out.
        docker("network", "create", "--internal", "--label", LABEL, self.network)

    def host_file(self, name: str, content: str, uid: int, *, mode: int) -> Path:
        """A file bind-mounted read-only; owned by the reader (0400) as the platform's
        secrets are when this runs as root, else world-readable."""
        path = self.files / name
        path.write_text(content)
        try:
            os.chown(path, uid, uid)
        except PermissionError:
            mode = 0o444
        path.chmod(mode)
        return path

    def start(self, spec: ServiceSpec, *, idle: bool = False) -> Box:
        """Run `spec` as the platform does; `idle`: its command replaced by a sleep (the
        agent's scheduler would take backups of its own)."""
        uid = int(spec.user.split(":")[0])
        name = f"{self.prefix}-{spec.name}"
        args = [
            "run", "--detach", "--name", name, "--label", LABEL,
            "--network", self.network, "--network-alias", spec.name,
            "--user", spec.user, "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--memory", f"{spec.memory_mb}m", "--pids-limit", str(spec.processes),
        ]  # fmt: skip
        if spec.read_only:
            args.append("--read-only")
        for target, opts in spec.tmpfs.items():
            args += ["--tmpfs", f"{target}:{opts}"]
        for key, value in spec.env.items():
            args += ["--env", f"{key}={value}"]
        for mount in spec.mounts:
            volume = f"{self.prefix}-{mount.volume}"
            if volume not in self.volumes:
                ensure_volume(volume, {"hearth.bench": "backup"}, uid, uid, spec.image)
                self.volumes.add(volume)
            args += ["--volume", f"{volume}:{mount.target}{':ro' if mount.read_only else ''}"]
        for i, f in enumerate(spec.files):
            path = self.host_file(f"{spec.name}-file-{i}", f.content, uid, mode=f.mode & 0o444)
            args += ["--volume", f"{path}:{f.target}:ro"]
        for s in spec.secrets:
            value = self.secret_values.setdefault(s.name, secrets.token_urlsafe(24))
            path = self.host_file(f"{spec.name}-{s.name}", value + "\n", uid, mode=0o400)
            args += ["--volume", f"{path}:{s.target}:ro"]
        if idle:
            args += ["--no-healthcheck", "--entrypoint", "sleep", spec.image, "infinity"]
        else:
            args += [spec.image, *spec.command]
        docker(*args)
        self.boxes.append(name)
        return Box(name, spec)

    def wait_healthy(self, box: Box, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        status = ""
        while time.monotonic() < deadline:
            status = docker("inspect", "--format", "{{.State.Health.Status}}", box.name).strip()
            if status == "healthy":
                return
            time.sleep(0.5)
        logs = subprocess.run(
            ["docker", "logs", "--tail", "30", box.name], capture_output=True, text=True
        )
        raise RuntimeError(f"{box.name} is {status} after {timeout:.0f} s:\n{logs.stderr}")

    def close(self) -> None:
        for name in self.boxes:
            with contextlib.suppress(Exception):
                docker("rm", "--force", "--volumes", name)
        for volume in self.volumes:
            with contextlib.suppress(Exception):
                docker("volume", "rm", "--force", volume)
        if self.network:
            with contextlib.suppress(Exception):
                docker("network", "rm", self.network)
        shutil.rmtree(self.files, ignore_errors=True)


@contextlib.contextmanager
def bench() -> Iterator[Bench]:
    b = Bench()
    try:
        b.open()
        yield b
    finally:
        b.close()


# ---- PostgreSQL ----------------------------------------------------------------------


def psql(box: Box, sql: str) -> str:
    return box.sh(f"psql -XAtq -d postgres -c {shlex.quote(sql)}").strip()


def wait_archived(agent: Box, timeout: float = 300) -> None:
    """Until PostgreSQL has archived every WAL segment written so far (a backlog from the
    load would otherwise be waited for inside the first backup)."""
    segment = psql(agent, "checkpoint; select pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, failed = psql(
            agent, "select coalesce(last_archived_wal, ''), failed_count from pg_stat_archiver"
        ).split("|")
        if int(failed):
            raise RuntimeError(f"WAL archiving failed {failed} times; see the postgres logs")
        if done >= segment:
            return
        time.sleep(0.5)
    raise RuntimeError(f"WAL segment {segment} was not archived within {timeout:.0f} s")


def backups(agent: Box) -> list[dict[str, Any]]:
    info = json.loads(
        agent.sh(f"pgbackrest --stanza={postgres.STANZA} info --output=json", timeout=60)
    )
    found: list[dict[str, Any]] = info[0].get("backup", [])
    return found


def measure_postgres(b: Bench, settings: Settings, rounds: int, scale: int) -> dict[str, Any]:
    server = b.start(postgres.server(settings))
    b.wait_healthy(server)
    spec = next(a for a in backup.agents(settings) if a.name == backup.agent_name("postgres"))
    agent = b.start(spec, idle=True)
    stanza = f"--stanza={postgres.STANZA}"
    agent.sh(f"pgbackrest {stanza} stanza-create")

    load_s, _ = server.timed(f"pgbench -i -q -s {scale} -U postgres postgres >/dev/null 2>&1")
    wait_archived(agent)
    pgdata = postgres.PGDATA
    f: dict[str, Any] = {
        "scale": scale,
        "load_s": load_s,
        "pgdata_bytes": du(agent, pgdata) - du(agent, f"{pgdata}/pg_wal"),
    }
    agent.sh(f"mkdir -p {SCRATCH}")
    copy, restored, copy_back = f"{SCRATCH}/pg-copy", f"{SCRATCH}/pg-restore", f"{SCRATCH}/pg-back"
    rows: dict[str, list[float]] = {k: [] for k in ("full", "cp", "restore", "cp_back")}
    fulls: list[dict[str, Any]] = []
    for i in range(rounds):
        psql(agent, "checkpoint")
        # Alternate which goes first, so neither always meets the other's cache.
        steps = [("cp", synced_copy(pgdata, copy, skip="pg_wal")),
                 ("full", f"pgbackrest {stanza} backup --type=full")]  # fmt: skip
        for key, script in steps if i % 2 == 0 else steps[::-1]:
            rows[key].append(agent.timed(script)[0])
        fulls.append(backups(agent)[-1])
        agent.sh(f"mkdir -m 0700 {restored}")
        steps = [
            ("restore", f"pgbackrest {stanza} restore --set={fulls[-1]['label']} "
                        f"--pg1-path={restored}; {fsync(restored)}"),
            ("cp_back", synced_copy(copy, copy_back)),
        ]  # fmt: skip
        for key, script in steps if i % 2 == 0 else steps[::-1]:
            rows[key].append(agent.timed(script)[0])
        agent.sh(f"rm -rf {copy} {restored} {copy_back}")
    f["rounds"] = rows
    f["full_size"] = [int(x["info"]["size"]) for x in fulls]
    f["full_repo"] = [int(x["info"]["repository"]["delta"]) for x in fulls]

    def incrementals() -> list[tuple[int, float]]:
        """Per round: 1000 rows updated (spread over the table), then an incremental."""
        out = []
        for i in range(rounds):
            psql(
                agent,
                "update pgbench_accounts set abalance = abalance + 1 where aid in "  # noqa: S608 - integers
                f"(select generate_series({i + 1}, {scale * 100_000}, {scale * 100}))",
            )
            seconds, _ = agent.timed(f"pgbackrest {stanza} backup --type=incr")
            out.append((int(backups(agent)[-1]["info"]["repository"]["delta"]), seconds))
        return out

    # Block incremental (the catalog's repo1-bundle, repo1-block): changed blocks only.
    f["incr"] = incrementals()
    f["fs"] = agent.sh(
        f"awk '$2 == \"{BACKUP_REPOSITORY}\" {{print $3}}' /proc/self/mounts"
    ).strip()
    return f


# ---- restic --------------------------------------------------------------------------


GENERATE = """
import os, random, sys
root, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
for n in range(count):
    d = os.path.join(root, f"d{n % 20:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{n:05d}.bin"), "wb") as f:
        f.write(os.urandom(rng.randint(4 * 1024, 256 * 1024)))
"""

CHANGE = """
import os, sys
root, first, total = sys.argv[1], int(sys.argv[2]), 0
for n in range(first, first + 10):
    path = os.path.join(root, f"d{n % 20:02d}", f"f{n:05d}.bin")
    size = os.path.getsize(path)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    total += size
print(total)
"""


def restic_summary(out: str) -> dict[str, Any]:
    for line in reversed(out.splitlines()):
        with contextlib.suppress(ValueError):
            msg = json.loads(line)
            if msg.get("message_type") == "summary":
                return dict(msg)
    raise RuntimeError(f"restic printed no summary:\n{out[-2000:]}")


def measure_restic(b: Bench, settings: Settings, rounds: int, count: int) -> dict[str, Any]:
    spec = next(a for a in backup.agents(settings) if a.name == backup.agent_name(s3.NAME))
    agent = b.start(spec, idle=True)
    data = spec.env["HEARTH_BACKUP_SOURCE"]
    repo = spec.env["RESTIC_REPOSITORY"]
    agent.sh(f"python3 -c {shlex.quote(GENERATE)} {data} {count} 12")
    f: dict[str, Any] = {"count": count, "data_bytes": du(agent, data)}
    agent.sh(f"mkdir -p {SCRATCH}")
    copy, restored, copy_back = f"{SCRATCH}/s3-copy", f"{SCRATCH}/s3-restore", f"{SCRATCH}/s3-back"
    restic = "restic --no-cache"
    rows: dict[str, list[float]] = {k: [] for k in ("backup", "cp", "restore", "cp_back")}
    first, second, changed = [], [], []
    for i in range(rounds):
        agent.sh(f"rm -rf {repo}; {restic} init >/dev/null")
        steps = [
            ("cp", synced_copy(data, copy)),
            ("backup", f"{restic} backup --json --exclude-caches {data}"),
        ]
        for key, script in steps if i % 2 == 0 else steps[::-1]:
            seconds, out = agent.timed(script)
            rows[key].append(seconds)
            if key == "backup":
                first.append(restic_summary(out))
        steps = [
            ("restore", f"{restic} restore latest:{data} --target {restored} >/dev/null; "
                        f"{fsync(restored)}"),
            ("cp_back", synced_copy(copy, copy_back)),
        ]  # fmt: skip
        for key, script in steps if i % 2 == 0 else steps[::-1]:
            rows[key].append(agent.timed(script)[0])
        if du(agent, restored) != f["data_bytes"]:
            raise RuntimeError(
                f"restic restored {du(agent, restored)} bytes, not {f['data_bytes']}"
            )
        changed.append(int(agent.sh(f"python3 -c {shlex.quote(CHANGE)} {data} {i * 10}")))
        second.append(restic_summary(agent.sh(f"{restic} backup --json --exclude-caches {data}")))
        agent.sh(f"rm -rf {copy} {restored} {copy_back}")
    f["rounds"] = rows
    f["first_added"] = [int(s["data_added"]) for s in first]
    f["second_added"] = [int(s["data_added"]) for s in second]
    f["changed_bytes"] = changed
    return f


# ---- report --------------------------------------------------------------------------


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, StopIteration):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem = int(next(x for x in meminfo if x.startswith("MemTotal")).split()[1]) // 1024**2
    engine = docker("version", "--format", "{{.Server.Version}}").strip()
    return (
        f"{os.cpu_count()} cores ({model or 'unknown CPU'}), {mem} GiB RAM, Docker Engine {engine}"
    )


def mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def wrap(text: str) -> str:
    return textwrap.fill(text, 95, break_on_hyphens=False, break_long_words=False)


def per_round(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def table(pg: dict[str, Any], rs: dict[str, Any], ctx: dict[str, Any]) -> str:
    def ratio(rows: dict[str, list[float]], key: str, ref: str) -> str:
        per = [a / c for a, c in zip(rows[key], rows[ref], strict=True)]
        return f"{median(per):.2f}"

    r, q = pg["rounds"], rs["rounds"]
    full_repo = median(pg["full_repo"])
    incr = [x for x, _ in pg["incr"]]
    cp = "`cp -a` of the directory (reference)"
    back = "`cp -a` of the copy back (reference)"
    rows = [
        (f"PostgreSQL: `pgbench -i -s {pg['scale']}`, archiving on, loaded in",
         f"{pg['load_s']:.1f} s", ""),
        ("its data directory without `pg_wal`", mib(pg["pgdata_bytes"]), ""),
        ("full backup (`pgbackrest backup --type=full`)", f"{median(r['full']):.2f} s",
         ratio(r, "full", "cp")),
        ("`cp -a` of the data directory, without `pg_wal` (reference)",
         f"{median(r['cp']):.2f} s", "1"),
        ("the full backup's size in the repository (zst, encrypted)", mib(full_repo),
         f"{full_repo / median(pg['full_size']):.3f} of the data"),
        ("restore into an empty directory (`pgbackrest restore`)",
         f"{median(r['restore']):.2f} s", ratio(r, "restore", "cp_back")),
        (back, f"{median(r['cp_back']):.2f} s", "1"),
        ("incremental backup (block incremental) after 1000 rows updated: added to the "
         "repository", f"{mib(median(incr))} in {median([s for _, s in pg['incr']]):.2f} s",
         f"{median(incr) / full_repo:.3f} of the full"),
        (f"restic: {rs['count']} files of 4 to 256 KiB of random bytes", mib(rs["data_bytes"]), ""),
        ("first snapshot (`restic backup`, a new repository)", f"{median(q['backup']):.2f} s",
         ratio(q, "backup", "cp")),
        (cp, f"{median(q['cp']):.2f} s", "1"),
        ("restore (`restic restore`)", f"{median(q['restore']):.2f} s",
         ratio(q, "restore", "cp_back")),
        (back, f"{median(q['cp_back']):.2f} s", "1"),
        (f"second snapshot after 10 files ({mib(median(rs['changed_bytes']))}) changed: "
         "`data_added`", mib(median(rs["second_added"])),
         f"{median(rs['second_added']) / median(rs['first_added']):.4f} of the first"),
    ]  # fmt: skip
    lines = "\n".join(f"| {m} | {v} | {x} |" for m, v, x in rows)
    n = ctx["rounds"]
    context = (
        f"Measured {ctx['when']} by `.venv/bin/python bench/backup/run.py --rounds {n}` "
        f"({ctx['total_s']:.0f} s in all): the catalog's `postgres`, `backup-postgres` and "
        "`backup-s3` containers as the platform runs them (their uid, read-only root, no "
        "capabilities, their memory limits), volumes on "
        f"{pg['fs']}. Times are medians of {n} rounds, ratios medians of per-round ratios. "
        f"Load average {ctx['load_before']:.1f} before, {ctx['load_after']:.1f} after; "
        f"{ctx['machine']}."
    )
    rounds = (
        f"Per round (s): full backup {per_round(r['full'])} beside `cp -a` "
        f"{per_round(r['cp'])}; restore {per_round(r['restore'])} beside "
        f"{per_round(r['cp_back'])}; restic backup {per_round(q['backup'])} beside "
        f"{per_round(q['cp'])}, restore {per_round(q['restore'])} beside "
        f"{per_round(q['cp_back'])}. Per round (MiB): incremental "
        f"{per_round([x / MIB for x in incr])}, restic's second snapshot "
        f"{per_round([x / MIB for x in rs['second_added']])}."
    )
    return "\n".join(
        [START, "## Backups", "", wrap(context), "",
         "| measure | value | ratio |", "|---|---|---|", lines, "",
         wrap(rounds), END]
    )  # fmt: skip


def write(path: Path, text: str) -> None:
    doc = path.read_text()
    if START in doc:
        doc = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: text, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + text + "\n"
    path.write_text(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=int, default=20, help="pgbench scale (15 MiB each)")
    parser.add_argument(
        "--files", type=int, default=1600, help="files for restic (130 KiB each on average)"
    )
    parser.add_argument("--write", type=Path, help="update this Markdown file's backup section")
    args = parser.parse_args()
    settings = Settings()
    started = time.monotonic()
    ctx: dict[str, Any] = {"rounds": args.rounds, "load_before": os.getloadavg()[0]}
    with bench() as b:
        pg = measure_postgres(b, settings, args.rounds, args.scale)
        rs = measure_restic(b, settings, args.rounds, args.files)
    ctx |= {
        "load_after": os.getloadavg()[0],
        "total_s": time.monotonic() - started,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
    }
    text = table(pg, rs, ctx)
    sys.stdout.write(text + "\n")
    if args.write:
        write(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
