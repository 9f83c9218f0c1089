"""One login per provider process, clear errors, and never a login retried in a loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hearth.resources.truenas import connection
from hearth.resources.truenas.connection import TrueNASOperationError
from hearth.resources.truenas.dataset import DatasetProvider
from hearth.resources.truenas.snapshot_task import SnapshotTaskProvider
from tests.truenas.conftest import Running, configure, start
from tests.truenas_double import DoubleConfig

Make = Callable[[type[DatasetProvider]], DatasetProvider]
DS = {"name": "tank/prod/data", "uid": 1000, "gid": 1000, "mode": "0700"}


def test_many_operations_share_one_login(nas: Running, make: Make) -> None:
    datasets = make(DatasetProvider)
    tasks = configure(SnapshotTaskProvider(), nas.url)
    for i in range(5):
        datasets.create(DatasetProvider().check({}, {**DS, "name": f"tank/prod/d{i}"}).inputs)
    tasks.create({
        "dataset": "tank/prod/d0", "lifetime_value": 1, "lifetime_unit": "DAY",
        "naming_schema": "hearth-%Y-%m-%d_%H-%M", "schedule": {"minute": "0"},
    })  # fmt: skip
    datasets.read("tank/prod/d1", {})
    assert nas.logins() == 1


def test_a_wrong_key_is_reported_once_and_not_retried(nas: Running) -> None:
    provider = configure(DatasetProvider(), nas.url, api_key="1-wrong")
    for _ in range(3):
        with pytest.raises(TrueNASOperationError, match="refused the API key") as err:
            provider.create(DatasetProvider().check({}, DS).inputs)
        assert "pulumi config set --secret hearth:truenasApiKey" in str(err.value)
        assert "1-wrong" not in str(err.value)
    assert nas.logins() == 1


def test_no_endpoint_says_which_settings_to_set() -> None:
    with pytest.raises(TrueNASOperationError, match=r"hearth:truenasUrl.*hearth:truenasApiKey"):
        DatasetProvider().create(DatasetProvider().check({}, DS).inputs)


def test_an_unreachable_nas_names_the_url_setting() -> None:
    provider = configure(DatasetProvider(), "ws://127.0.0.1:9/api/current")
    try:
        with pytest.raises(TrueNASOperationError, match=r"cannot reach.*hearth:truenasUrl"):
            provider.create(DatasetProvider().check({}, DS).inputs)
    finally:
        connection.close_all()


@pytest.fixture
def strict_nas() -> Iterator[Running]:
    """A double with a tiny rate limit (3 unauthenticated calls, then locked out)."""
    running = start(
        DoubleConfig(
            rate_limit_calls=3,
            rate_limit_period=60.0,
            rate_limit_lockout=600.0,
            rate_limit_sleep=(0.0, 0.0),
            job_delay=0.0,
        )
    )
    try:
        yield running
    finally:
        connection.close_all()
        running.double.stop()


def test_a_rate_limit_lockout_is_explained_and_not_retried(strict_nas: Running) -> None:
    # Someone else (another script on this machine) used up the allowance.
    for _ in range(3):
        strict_nas.double.middleware.limiter.exceeded("auth.login_ex", "127.0.0.1")
    provider = configure(DatasetProvider(), strict_nas.url)
    with pytest.raises(TrueNASOperationError) as err:
        provider.create(DatasetProvider().check({}, DS).inputs)
    message = str(err.value)
    assert "Rate Limit Exceeded" in message
    assert "20 logins" in message
    assert "10 minutes" in message
    before = strict_nas.logins()
    for _ in range(3):
        with pytest.raises(TrueNASOperationError, match="Rate Limit Exceeded"):
            provider.read("tank/prod/data", {})
    assert strict_nas.logins() == before, "a refused login is never tried again"


def test_dropped_connections_cannot_turn_into_a_login_storm(nas: Running, make: Make) -> None:
    provider = make(DatasetProvider)
    for _ in range(connection.LOGIN_BUDGET):
        provider.read("tank", {})
        for client in connection._clients.values():  # as if the connection had dropped
            client.close()
        connection._clients.clear()
    with pytest.raises(TrueNASOperationError, match="not logging in"):
        provider.read("tank", {})
    assert nas.logins() == connection.LOGIN_BUDGET


def test_an_idle_connection_that_died_is_replaced_once(
    nas: Running, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = make(DatasetProvider)
    provider.read("tank", {})
    for client in connection._clients.values():
        client.close()  # the NAS went away and came back
    monkeypatch.setattr(connection, "IDLE_CHECK_S", 0.0)
    provider.read("tank", {})
    provider.read("tank", {})
    assert nas.logins() == 2
