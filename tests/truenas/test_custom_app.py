"""CustomApp provider against the double: a Compose document as one TrueNAS app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from hearth.resources.truenas.connection import TrueNASOperationError
from hearth.resources.truenas.custom_app import CustomAppProvider, app_name_for
from tests.truenas.conftest import Running

Make = Callable[[type[CustomAppProvider]], CustomAppProvider]

COMPOSE = "services:\n  web:\n    image: hearth/edge:abc\n    read_only: true\n"
APP = {"app_name": "hearth-prod", "compose": COMPOSE}


def test_app_names_from_stack_prefixes() -> None:
    assert app_name_for("hearth-prod") == "hearth-prod"
    assert app_name_for("hearth-My_Stack.2") == "hearth-my-stack-2"
    assert len(app_name_for("hearth-" + "x" * 60)) == 40


def test_check_names_a_bad_app_name_and_a_bad_document() -> None:
    bad = {"app_name": "Hearth_Prod", "compose": "just text"}
    found = {f.property: f.reason for f in CustomAppProvider().check({}, bad).failures}
    assert set(found) == {"app_name", "compose"}
    assert "lowercase" in found["app_name"]
    assert "services" in found["compose"]


def test_create_runs_the_job_and_stores_the_document(nas: Running, make: Make) -> None:
    provider = make(CustomAppProvider)
    created = provider.create(APP)
    assert created.id == "hearth-prod"
    assert nas.state.apps["hearth-prod"]["config"] == yaml.safe_load(COMPOSE)
    assert nas.state.apps["hearth-prod"]["custom_app"] is True
    assert any(j.method == "app.create" and j.state == "SUCCESS" for j in nas.state.jobs.values())


def test_same_document_differently_formatted_is_no_change(nas: Running, make: Make) -> None:
    provider = make(CustomAppProvider)
    created = provider.create(APP)
    read = provider.read(created.id, created.outs or {})
    assert read.outs is not None
    assert provider.diff(created.id, read.outs, APP).changes is False
    reformatted = yaml.safe_dump(yaml.safe_load(COMPOSE), default_flow_style=True)
    assert provider.diff(created.id, read.outs, {**APP, "compose": reformatted}).changes is False


def test_a_changed_document_is_one_app_update(nas: Running, make: Make) -> None:
    provider = make(CustomAppProvider)
    created = provider.create(APP)
    changed = {**APP, "compose": COMPOSE.replace("abc", "def")}
    diff = provider.diff(created.id, created.outs or {}, changed)
    assert diff.changes is True
    assert diff.replaces == []
    provider.update(created.id, created.outs or {}, changed)
    assert nas.state.apps["hearth-prod"]["deployments"] == 2
    assert nas.state.apps["hearth-prod"]["config"]["services"]["web"]["image"] == "hearth/edge:def"


def test_a_new_name_replaces_deleting_first(make: Make) -> None:
    diff = CustomAppProvider().diff("hearth-prod", APP, {**APP, "app_name": "hearth-other"})
    assert diff.replaces == ["app_name"]
    assert diff.delete_before_replace is True


def test_read_reports_a_document_changed_in_the_ui(nas: Running, make: Make) -> None:
    provider = make(CustomAppProvider)
    created = provider.create(APP)
    nas.state.apps["hearth-prod"]["config"]["services"]["web"]["read_only"] = False
    read = provider.read(created.id, created.outs or {})
    assert read.outs is not None
    assert provider.diff(created.id, read.outs, APP).changes is True


def test_create_adopts_an_existing_app_and_delete_removes_it(nas: Running, make: Make) -> None:
    provider = make(CustomAppProvider)
    provider.create(APP)
    provider.create({**APP, "compose": COMPOSE.replace("abc", "xyz")})
    assert nas.state.apps["hearth-prod"]["deployments"] == 2
    provider.delete("hearth-prod", {})
    assert "hearth-prod" not in nas.state.apps
    provider.delete("hearth-prod", {})
    assert provider.read("hearth-prod", APP).id == ""


def test_a_crashed_app_fails_the_step_with_where_to_look(
    nas: Running, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = nas.state.app_entry

    def crashed(name: str, retrieve_config: bool = False) -> dict[str, Any]:
        return {**entry(name, retrieve_config), "state": "CRASHED"}

    monkeypatch.setattr(nas.state, "app_entry", crashed)
    with pytest.raises(TrueNASOperationError, match=r"crashed.*Workloads"):
        make(CustomAppProvider).create(APP)
