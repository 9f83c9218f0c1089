"""Purging a stack's datasets: explicit, complete, and never under a running app."""

from __future__ import annotations

import pytest

from hearth.resources.truenas.connection import Endpoint, TrueNASOperationError
from hearth.targets.truenas import purge_datasets
from tests.truenas.conftest import Running
from tests.truenas_double import DEFAULT_API_KEY


def test_purge_deletes_the_stack_tree_only(nas: Running) -> None:
    for name in ("tank/prod/postgres-data", "tank/prod/secrets", "tank/other/keep"):
        nas.state.dataset_create({"name": name, "create_ancestors": True})
    endpoint = Endpoint(nas.url, DEFAULT_API_KEY)
    deleted = purge_datasets(endpoint, "tank/prod", "hearth-prod")
    assert deleted == ["tank/prod/secrets", "tank/prod/postgres-data", "tank/prod"]
    assert "tank/prod" not in nas.state.datasets
    assert "tank/other/keep" in nas.state.datasets
    assert purge_datasets(endpoint, "tank/prod", "hearth-prod") == []


def test_purge_refuses_while_the_app_exists(nas: Running) -> None:
    nas.state.dataset_create({"name": "tank/prod/postgres-data", "create_ancestors": True})
    nas.state.app_create({
        "app_name": "hearth-prod", "custom_app": True,
        "custom_compose_config_string": "services: {a: {image: x}}",
    })  # fmt: skip
    with pytest.raises(TrueNASOperationError, match="destroy the stack first"):
        purge_datasets(Endpoint(nas.url, DEFAULT_API_KEY), "tank/prod", "hearth-prod")
    assert "tank/prod/postgres-data" in nas.state.datasets
