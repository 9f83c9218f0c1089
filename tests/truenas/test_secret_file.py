"""SecretFile provider against the double: file_receive, owner, mode, no value leaks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hearth.resources.truenas.connection import TrueNASOperationError
from hearth.resources.truenas.secret_file import SecretFileProvider
from tests.truenas.conftest import Running

Make = Callable[[type[SecretFileProvider]], SecretFileProvider]

VALUE = "correct-horse-battery-staple"
PATH = "/mnt/tank/prod/secrets/postgres/postgresPassword"
PROPS = {"path": PATH, "content": VALUE, "uid": 999.0, "gid": 999.0, "mode": "0400"}


def with_secrets_dataset(nas: Running) -> None:
    nas.state.dataset_create({"name": "tank/prod/secrets", "create_ancestors": True})


def test_check_never_echoes_the_content() -> None:
    bad = {**PROPS, "path": "/etc/passwd", "content": ""}
    found = {f.property: f.reason for f in SecretFileProvider().check({}, bad).failures}
    assert set(found) == {"path", "content"}
    assert "/mnt/<pool>/" in found["path"]


def test_create_writes_the_file_owned_by_the_service(nas: Running, make: Make) -> None:
    with_secrets_dataset(nas)
    provider = make(SecretFileProvider)
    created = provider.create(PROPS)
    f = nas.files.files[PATH]
    assert f.content == VALUE.encode()
    assert (f.uid, f.gid, f.mode) == (999, 999, 0o400)
    assert created.outs is not None
    assert created.outs["sha256"] != VALUE
    calls = str(nas.state.snapshot()["calls"])
    assert "filesystem.file_receive" in calls


def test_same_content_is_no_change_new_content_is_an_update(nas: Running, make: Make) -> None:
    with_secrets_dataset(nas)
    provider = make(SecretFileProvider)
    created = provider.create(PROPS)
    outs = created.outs or {}
    read = provider.read(created.id, outs)
    assert read.outs is not None
    assert provider.diff(created.id, read.outs, PROPS).changes is False
    rotated = {**PROPS, "content": "another-value"}
    diff = provider.diff(created.id, outs, rotated)
    assert diff.changes is True
    assert diff.replaces == []
    provider.update(created.id, outs, rotated)
    assert nas.files.files[PATH].content == b"another-value"


def test_read_notices_an_owner_changed_outside_pulumi(nas: Running, make: Make) -> None:
    with_secrets_dataset(nas)
    provider = make(SecretFileProvider)
    created = provider.create(PROPS)
    nas.files.files[PATH].uid = 0
    read = provider.read(created.id, created.outs or {})
    assert read.outs is not None
    assert provider.diff(created.id, read.outs, PROPS).changes is True


def test_delete_blanks_the_secret(nas: Running, make: Make) -> None:
    with_secrets_dataset(nas)
    provider = make(SecretFileProvider)
    provider.create(PROPS)
    provider.delete(PATH, {})
    assert VALUE.encode() not in nas.files.files[PATH].content
    provider.delete("/mnt/tank/prod/secrets/none", {})  # absent: nothing to do


def test_a_path_outside_the_pools_fails_without_the_value(nas: Running, make: Make) -> None:
    provider = make(SecretFileProvider)
    with pytest.raises(TrueNASOperationError) as err:
        provider.create({**PROPS, "path": "/mnt/ocean/x/secret"})
    assert "Read-only file system" in str(err.value)
    assert VALUE not in str(err.value)
