"""Backups and the restore drill on the deployed platform (docs/backups.md).

Rows, objects and acknowledged messages are written; backed up; written again and backed
up (the snapshot schedule's next turn); more rows; the time T; more of everything; then the
data stores are destroyed and the platform restored to T. PostgreSQL comes back to exactly
T (its WAL archive); the S3 objects and the JetStream streams to their newest snapshot at or
before T. Then the latest state after a crash, and what a restore refuses to do.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from hearth import backups
from hearth.catalog import backup
from hearth.render import volume_name
from tests.e2e.conftest import (
    Edge,
    Platform,
    inspect,
    login,
    nats_call,
    run,
    upload_file,
    wait_for,
)

pytestmark = pytest.mark.e2e

KEPT = "/tmp/damaged-file"  # noqa: S108 - inside the agent's private tmpfs
"""Where the damage test keeps the file it damages, to put it back."""


def psql(platform: Platform, sql: str) -> str:
    """SQL as the superuser over the container's own socket."""
    cmd = ["psql", "-XAtq", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    return run(["docker", "exec", platform.container("postgres"), *cmd, "-c", sql]).strip()


def containers(platform: Platform) -> dict[str, str]:
    found: dict[str, str] = platform.stack.outputs()["containers"].value
    return found


def agent_metrics(platform: Platform, store: str, service: str = "") -> dict[str, float]:
    """The metrics of a store's agent (or of `service`, its off-box copier)."""
    url = f"http://127.0.0.1:{backup.METRICS_PORT}/metrics"
    script = f"import urllib.request as u; print(u.urlopen({url!r}).read().decode())"
    agent = platform.container(service or backup.agent_name(store))
    out = run(["docker", "exec", agent, "python3", "-c", script])
    return {
        line.split(" ")[0].split("{")[0]: float(line.split(" ")[1])
        for line in out.splitlines()
        if line and not line.startswith("#")
    }


def wipe(platform: Platform, store: str, kind: str = "data") -> None:
    """The store's data (or its backup repository) gone, as a dead disk leaves it: its
    volume emptied."""
    volume = volume_name(platform.project, f"{store}-{kind}")
    run(
        [
            "docker", "run", "--rm", "--network", "none", "-v", f"{volume}:/d",
            "hearth/base:trixie", "find", "/d", "-mindepth", "1", "-delete",
        ]
    )  # fmt: skip


@dataclass
class Written:
    """What one phase wrote: rows, a project with a file (PostgreSQL and S3), messages."""

    project_id: str
    file_id: str
    body: bytes
    seqs: list[int]


@dataclass
class Drill:
    email: str
    password: str
    token: str
    phases: dict[str, Written] = field(default_factory=dict)
    last_seq_at_snapshot: int = 0


def write(platform: Platform, edge: Edge, drill: Drill, phase: str) -> None:
    psql(platform, f"insert into drill (phase) values ('{phase}')")  # noqa: S608 - our own phase names
    r = edge.request("POST", "/api/v1/projects", body={"name": f"drill-{phase}"}, token=drill.token)
    assert r.status == 201, r.body
    project_id = r.json()["id"]
    body = f"drill {phase} {secrets.token_hex(8)}\n".encode()
    file_id = upload_file(edge, drill.token, project_id, body, name=f"{phase}.txt")
    seqs = nats_call(platform, "publish", "2")
    drill.phases[phase] = Written(project_id, file_id, body, seqs)


def settle(platform: Platform) -> int:
    """The stream's last sequence once the app has published what it will (the outbox
    relay and the file worker follow a write by a moment): unchanged for two seconds."""
    last = nats_call(platform, "last")
    while True:
        time.sleep(2)
        now = nats_call(platform, "last")
        if now == last:
            return int(now)
        last = now


def download(edge: Edge, token: str, w: Written) -> bytes | None:
    r = edge.request(
        "GET", f"/api/v1/projects/{w.project_id}/files/{w.file_id}/download", token=token
    )
    if r.status == 404:
        return None
    assert r.status == 200, r.body
    obj = edge.request("GET", r.json()["url"])
    return obj.body if obj.status == 200 else None


@pytest.fixture(scope="module")
def drill(platform: Platform, edge: Edge) -> Drill:
    email = f"drill-{secrets.token_hex(4)}@example.org"
    password = secrets.token_urlsafe(18)
    r = edge.request("POST", "/api/v1/auth/register", body={"email": email, "password": password})
    assert r.status == 201, r.body
    psql(
        platform,
        "create table drill (phase text not null, at timestamptz default clock_timestamp())",
    )
    return Drill(email, password, login(edge, email, password))


def test_every_store_is_backed_up_with_metrics(
    platform: Platform, drill: Drill, edge: Edge
) -> None:
    """Each agent is up and backs its store up when asked; its metrics say when and how
    much, and PostgreSQL's WAL reaches the archive."""
    for store in backup.STORES:
        platform.wait_healthy(backup.agent_name(store))
    write(platform, edge, drill, "a")
    settle(platform)
    started = time.monotonic()
    backups.backup_now(containers(platform), print, full=True)
    platform.figures["backup_full_s"] = round(time.monotonic() - started, 1)
    for store in backup.STORES:
        m = agent_metrics(platform, store)
        assert time.time() - m["hearth_backup_last_success_timestamp_seconds"] < 120, (store, m)
        assert m["hearth_backup_last_size_bytes"] > 0, (store, m)
        assert m["hearth_backup_failures_total"] == 0, (store, m)
    outputs = platform.stack.outputs()
    assert outputs["backupPassword"].secret, "the key is an output to keep, and a secret"
    assert outputs["backupPassword"].value == platform.secret_values["backupPassword"]
    m = agent_metrics(platform, "postgres")
    assert m["hearth_wal_archiver_up"] == 1 and m["hearth_wal_archived_total"] > 0, m
    assert m["hearth_wal_archive_failed_total"] == 0, m


def test_restore_refuses_live_data_without_yes(platform: Platform) -> None:
    lines: list[str] = []
    with pytest.raises(backups.RestoreRefused, match="YES=1"):
        backups.restore(containers(platform), lines.append)
    assert any("replaces the PostgreSQL data directory" in line for line in lines), lines
    for service in ("postgres", "s3", "app-1"):
        assert inspect(platform.container(service))["State"]["Running"], service


def test_a_missing_or_damaged_repository_stops_a_restore_before_it_changes_anything(
    platform: Platform,
) -> None:
    agent = platform.container(backup.agent_name("s3"))
    run(["docker", "exec", agent, "mv", "/backup/restic/config", "/backup/restic/config.away"])
    try:
        with pytest.raises(backups.BackupError, match="cannot restore s3; nothing was changed"):
            backups.restore(containers(platform), print, yes=True)
    finally:
        run(["docker", "exec", agent, "mv", "/backup/restic/config.away", "/backup/restic/config"])
    agent = platform.container(backup.agent_name("postgres"))
    victim = run(
        ["docker", "exec", agent, "bash", "-c",
         "find /backup/pgbackrest/backup/hearth/*/ -type f ! -name 'backup.manifest*' | head -1"]
    ).strip()  # fmt: skip
    assert victim, "no backed-up file to damage"
    run(["docker", "exec", agent, "cp", victim, KEPT])
    run(["docker", "exec", agent, "truncate", "-s", "7", victim])
    try:
        with pytest.raises(backups.BackupError, match="cannot restore postgres"):
            backups.restore(containers(platform), print, yes=True)
    finally:
        run(["docker", "exec", agent, "cp", KEPT, victim])
    for service in ("postgres", "s3", "nats", "app-1", "app-2"):
        assert inspect(platform.container(service))["State"]["Running"], service
    assert psql(platform, "select count(*) from drill") == "1"


def test_restore_to_a_time_brings_back_exactly_what_was_there(
    platform: Platform, edge: Edge, drill: Drill
) -> None:
    write(platform, edge, drill, "b")
    drill.last_seq_at_snapshot = settle(platform)
    backups.backup_now(containers(platform), print)
    psql(platform, "insert into drill (phase) values ('b2')")
    target = psql(platform, "select to_json(clock_timestamp())::text").strip('"')
    write(platform, edge, drill, "c")
    # The WAL past T reaches the archive (as it would on its own within the timeout).
    psql(platform, "select pg_switch_wal()")
    time.sleep(1.5)

    for store in ("postgres", "s3", "nats"):
        run(["docker", "stop", platform.container(store)], timeout=60)
        wipe(platform, store)
    run(["docker", "start", platform.container("nats")])
    platform.wait_healthy("nats")

    started = time.monotonic()
    backups.restore(containers(platform), print, target=target, yes=True)
    platform.figures["restore_to_time_s"] = round(time.monotonic() - started, 1)

    assert psql(platform, "select string_agg(phase, ',' order by at) from drill") == "a,b,b2"
    token = wait_for("login after the restore", lambda: login(edge, drill.email, drill.password))
    r = edge.request("GET", "/api/v1/projects", token=token)
    assert r.status == 200, r.body
    names = sorted(p["name"] for p in r.json()["items"])
    assert names == ["drill-a", "drill-b"], names
    for phase in ("a", "b"):
        w = drill.phases[phase]
        got = download(edge, token, w)
        assert got is not None and hashlib.sha256(got).digest() == hashlib.sha256(w.body).digest()
    assert nats_call(platform, "last") == drill.last_seq_at_snapshot
    kept = drill.phases["a"].seqs + drill.phases["b"].seqs
    assert nats_call(platform, "get", json.dumps(kept)) == ["m0", "m1"] * 2
    drill.token = token


def test_restore_to_latest_loses_nothing_older_than_the_archive_timeout(
    platform: Platform, drill: Drill
) -> None:
    psql(platform, "insert into drill (phase) values ('d')")
    committed = time.monotonic()
    segment = psql(platform, "select pg_walfile_name(pg_current_wal_insert_lsn())")

    def archived() -> bool:
        last = psql(platform, "select coalesce(last_archived_wal, '') from pg_stat_archiver")
        return len(last) == len(segment) and last >= segment

    try:
        wait_for("the segment holding the row archived", archived, timeout=60, every=0.5)
    except AssertionError:
        archiver = psql(platform, "select * from pg_stat_archiver")
        pg = platform.container("postgres")
        logs = run(["bash", "-c", f"docker logs --tail 30 {pg} 2>&1"])
        procs = run(["docker", "exec", pg, "bash", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"])
        logs += "\n" + procs
        raise AssertionError(f"not archived: {segment}; {archiver}\n{logs}") from None
    rpo = time.monotonic() - committed
    platform.figures["wal_archived_after_s"] = round(rpo, 1)
    assert rpo <= platform.settings.wal_archive_timeout_s + 5, rpo

    run(["docker", "kill", "--signal", "KILL", platform.container("postgres")])
    wipe(platform, "postgres")
    started = time.monotonic()
    backups.restore(containers(platform), print, stores=("postgres",), yes=True)
    platform.figures["restore_latest_postgres_s"] = round(time.monotonic() - started, 1)
    assert psql(platform, "select string_agg(phase, ',' order by at) from drill") == "a,b,b2,d"
    for store in backup.STORES:
        platform.wait_healthy(backup.agent_name(store))


def test_a_repository_lost_with_its_data_comes_back_from_the_off_box_copy(
    platform: Platform,
) -> None:
    """The machine's disks are gone: PostgreSQL's data and its repository. The copy in the
    off-box bucket (another S3 server) brings both back."""
    psql(platform, "insert into drill (phase) values ('e')")
    backups.backup_now(containers(platform), print)
    copier = backup.copier_name("postgres")
    m = agent_metrics(platform, "postgres", copier)
    assert time.time() - m["hearth_backup_last_success_timestamp_seconds"] < 120, m
    run(["docker", "kill", "--signal", "KILL", platform.container("postgres")])
    wipe(platform, "postgres")
    wipe(platform, "postgres", "backup")
    # The agent, restarted, makes a new repository: its copier must not bury the good copy.
    agent = platform.container(backup.agent_name("postgres"))
    run(["docker", "restart", agent])
    repository_id = ["docker", "exec", agent, "cat", "/backup/.hearth-repository-id"]
    wait_for("the new repository named", lambda: run(repository_id).strip())
    refused = run(
        ["bash", "-c", f"docker exec {platform.container(copier)} hearth-backup run 2>&1"],
        check=False,
    )
    assert "newest copy is of another postgres repository" in refused, refused
    started = time.monotonic()
    backups.restore(containers(platform), print, stores=("postgres",), yes=True, from_offbox=True)
    platform.figures["restore_from_offbox_postgres_s"] = round(time.monotonic() - started, 1)
    assert psql(platform, "select string_agg(phase, ',' order by at) from drill") == "a,b,b2,d,e"
    # The received repository carries on: the next backup lands in it.
    backups.backup_now(containers(platform), print)


def test_backups_are_listed_with_age_and_size(platform: Platform, capfd: Any) -> None:
    backups.list_backups(containers(platform), print)
    out = capfd.readouterr().out
    for store in backup.STORES:
        assert f"{store}: " in out, out
    assert " full " in out and " incr " in out and " snapshot " in out, out
