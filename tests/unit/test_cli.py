"""What `make up` tells the operator, and what it refuses before touching anything."""

from __future__ import annotations

import pytest
from pulumi import automation as auto

from hearth import cli
from hearth.settings import SettingsError

OUTPUTS = {
    "endpoint": auto.OutputValue("https://localhost:8443/", False),
    "adminEmail": auto.OutputValue("admin@hearth.localhost", False),
    "adminPassword": auto.OutputValue("not-to-be-shown-0123456789", True),
}


def test_up_ends_with_the_endpoint_and_how_to_sign_in_but_never_the_password() -> None:
    text = cli.sign_in_text("local", OUTPUTS, own_ca=True)
    assert "https://localhost:8443/" in text
    assert "Admin console: https://localhost:8443/console/\n" in text
    assert "admin@hearth.localhost" in text
    assert "make outputs SHOW_SECRETS=1\n" in text
    assert "not-to-be-shown" not in text
    assert "docs/local.md" in text


def test_other_stacks_are_named_in_the_command_and_acme_needs_no_ca_hint() -> None:
    text = cli.sign_in_text("linux", OUTPUTS, own_ca=False)
    assert "make outputs SHOW_SECRETS=1 STACK=linux" in text
    assert "CA" not in text


def test_deploying_as_a_user_who_cannot_give_files_away_is_refused_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(SettingsError, match="sudo make up"):
        cli.require_root("local")
    cli.require_root("truenas")  # the NAS's API does it: no local root needed


def test_a_refusal_exits_2_before_pulumi_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("Pulumi was started")

    monkeypatch.setattr(cli, "select_stack", never)
    assert cli.main(["up", "--stack", "local"]) == 2
    assert "needs root" in capsys.readouterr().err
