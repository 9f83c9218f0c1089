"""Backups in the catalog (hearth/catalog/backup.py), the operator's commands
(hearth/backups.py) and the agent's pure parts (images/backup/agent). The agents' real
work, with the restore drill, is tested on the deployed platform (tests/e2e/test_backup.py)."""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

from hearth import backups
from hearth.catalog import backup, nats, postgres, services
from hearth.catalog.spec import ServiceSpec, data_stores
from hearth.settings import Settings, SettingsError, parse_settings

LOCAL = parse_settings({})
AGENT = Path(__file__).resolve().parents[2] / "images" / "backup" / "agent" / "hearth_backup.py"


def by_name(specs: tuple[ServiceSpec, ...]) -> dict[str, ServiceSpec]:
    return {s.name: s for s in specs}


def agent_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hearth_backup", AGENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hearth_backup"] = module
    spec.loader.exec_module(module)
    return module


def test_each_store_has_an_agent_running_as_its_owner_with_a_repository_of_its_own() -> None:
    specs = by_name(services(LOCAL))
    stores = data_stores(tuple(specs.values()))
    for store in backup.STORES:
        agent = specs[backup.agent_name(store)]
        assert agent.user == specs[store].user, store
        repository = f"{store}-backup"
        assert stores[repository].uid == specs[store].uid, store
        assert "/backup" in [m.target for m in agent.mounts if m.volume == repository]
        assert agent.metrics is not None and "monitoring" in agent.networks
        assert {s.name for s in agent.secrets} >= {"backupPassword"}


def test_postgres_archives_every_segment_within_the_timeout_into_the_repository() -> None:
    for timeout in (60, 15):
        settings = parse_settings({"hearth:walArchiveTimeoutS": str(timeout)})
        server = by_name(services(settings))[postgres.NAME]
        options = dict(arg.split("=", 1) for arg in server.command[1:] if arg != "-c")
        assert options["archive_mode"] == "on"
        assert options["archive_timeout"] == str(timeout)
        assert options["archive_command"].startswith("pgbackrest --stanza=hearth archive-push")
        assert "postgres-backup" in [m.volume for m in server.mounts]
    assert LOCAL.wal_archive_timeout_s == 60


def test_postgres_and_its_agent_read_one_pgbackrest_configuration() -> None:
    specs = by_name(services(LOCAL))
    confs = [
        [f.content for f in specs[name].files if f.target == postgres.PGBACKREST_CONF]
        for name in (postgres.NAME, backup.agent_name(postgres.NAME))
    ]
    assert confs[0] == confs[1] and len(confs[0]) == 1
    conf = confs[0][0]
    assert "repo1-cipher-type=aes-256-cbc" in conf
    assert "repo1-retention-full=14" in conf
    assert "cipher-pass" not in conf, "the cipher pass comes from a secret file"


def test_the_nats_backup_user_may_only_snapshot_and_restore_streams() -> None:
    conf = nats.config(Settings())
    block = conf[conf.index(f"user: {nats.BACKUP_USER}") :]
    publish = re.search(r"publish: \{ allow: (\[.*?\]) \}", block)
    assert publish is not None
    allowed = publish.group(1)
    assert "$JS.API.STREAM.SNAPSHOT.*" in allowed and "$JS.API.STREAM.RESTORE.*" in allowed
    for subject in ("user.>", "project.>", "$JS.API.>", ">"):
        assert f'"{subject}"' not in allowed, subject


def test_backup_settings_are_validated_before_anything_runs() -> None:
    with pytest.raises(SettingsError, match="walArchiveTimeoutS"):
        parse_settings({"hearth:walArchiveTimeoutS": "5"})
    with pytest.raises(SettingsError, match="backupIntervalMinutes"):
        parse_settings({"hearth:backupIntervalMinutes": "0"})
    agent = by_name(services(parse_settings({"hearth:backupIntervalMinutes": "15"})))
    assert agent["backup-s3"].env["HEARTH_BACKUP_INTERVAL_S"] == "900"


def test_off_box_copiers_only_read_the_repository_and_alone_have_a_route_out() -> None:
    none = by_name(services(LOCAL))
    assert not [n for n in none if n.startswith("offbox-")]
    settings = parse_settings(
        {
            "hearth:backupS3Url": "https://s3.example.org:9000",
            "hearth:backupS3Bucket": "copies",
            "hearth:backupS3Prefix": "home/prod",
        }
    )
    specs = by_name(services(settings))
    for store in backup.STORES:
        copier = specs[backup.copier_name(store)]
        assert copier.user == specs[store].user
        assert [(m.volume, m.read_only) for m in copier.mounts] == [(f"{store}-backup", True)]
        assert copier.networks == ("offbox", "monitoring")
        repository = copier.env["RESTIC_REPOSITORY"]
        assert repository == f"s3:https://s3.example.org:9000/copies/home/prod/{store}"
        assert {s.name for s in copier.secrets} == {
            "backupPassword", "backupS3AccessKey", "backupS3SecretKey",
        }  # fmt: skip
    for name, spec in specs.items():
        if not name.startswith("offbox-"):
            assert "offbox" not in spec.networks, name


def test_an_off_box_url_without_a_bucket_is_refused_with_its_fix() -> None:
    with pytest.raises(SettingsError, match="backupS3Bucket"):
        parse_settings({"hearth:backupS3Url": "https://s3.example.org"})
    with pytest.raises(SettingsError, match="backupS3Url"):
        parse_settings({"hearth:backupS3Url": "s3.example.org", "hearth:backupS3Bucket": "b"})


def test_a_restore_time_without_a_zone_is_local_and_a_bad_one_names_itself() -> None:
    stamp = backups.restore_time("2026-11-30 21:30:00")
    parsed = datetime.fromisoformat(stamp)
    assert parsed.tzinfo is not None
    assert parsed.replace(tzinfo=None) == datetime(2026, 11, 30, 21, 30)
    zoned = datetime.fromisoformat(backups.restore_time("2026-11-30T21:30:00+02:00"))
    assert zoned == datetime.fromisoformat("2026-11-30T19:30:00+00:00")
    with pytest.raises(backups.BackupError, match="'yesterday'"):
        backups.restore_time("yesterday")


def test_a_restore_of_an_unknown_store_is_refused_before_anything_runs() -> None:
    with pytest.raises(backups.BackupError, match="redis"):
        backups.restore({}, print, stores=("postgres", "redis"), yes=True)


def test_the_agent_picks_the_newest_backup_at_or_before_the_target() -> None:
    agent = agent_module()

    class Fixed(agent.Store):  # type: ignore[name-defined,misc]
        name = "fixed"

        def backups(self) -> list[object]:
            return [agent.Backup(str(t), "snapshot", float(t), 1, 1) for t in (100, 200, 300)]

    store = Fixed()
    assert store.pick(None).id == "300"
    assert store.pick(250.0).id == "200"
    assert store.pick(200.0).id == "200"
    with pytest.raises(agent.AgentError, match="no backup at or before"):
        store.pick(99.0)


def test_the_agent_reads_times_with_or_without_a_zone_and_names_a_bad_one() -> None:
    agent = agent_module()
    assert agent.parse_time("2026-11-30T21:30:00Z") == agent.parse_time("2026-11-30T21:30:00")
    assert agent.parse_time("2026-11-30T21:30:00.123456789+00:00") == pytest.approx(
        agent.parse_time("2026-11-30T21:30:00Z") + 0.123456, abs=1e-5
    )
    with pytest.raises(agent.AgentError, match="'noon'"):
        agent.parse_time("noon")
