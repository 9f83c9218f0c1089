"""The first-administrator settings: checked before `migrate` changes anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from hearth_app.auth.bootstrap import PASSWORD_VAR, AdminRequest, BootstrapError, admin_request
from hearth_app.core.settings import (
    AuthSettings,
    BootstrapSettings,
    CoreSettings,
    DatabaseSettings,
    Environment,
    NatsSettings,
    RateLimitSettings,
    RedisSettings,
    S3Settings,
    Settings,
    load_settings,
)

SECRET = "a-long-enough-admin-password"


def _settings(email: str = "", password: str = "", env: Environment = "production") -> Settings:
    return Settings(
        core=CoreSettings(env=env),
        db=DatabaseSettings(password=SecretStr("a-real-db-password")),
        redis=RedisSettings(),
        nats=NatsSettings(),
        s3=S3Settings(access_key=SecretStr("hearth-app"), secret_key=SecretStr("a-real-s3-secret")),
        auth=AuthSettings(key_encryption_secret=SecretStr("k" * 40)),
        ratelimit=RateLimitSettings(),
        bootstrap=BootstrapSettings(admin_email=email, admin_password=SecretStr(password)),
    )


def _request(email: str = "", password: str = "", env: Environment = "production") -> AdminRequest | None:
    return admin_request(_settings(email, password, env))


def test_nothing_configured_means_no_admin_to_ensure() -> None:
    assert _request() is None


@pytest.mark.parametrize("email", ["admin@hearth.localhost", "admin@example.com", " Admin@Example.COM "])
def test_default_friendly_addresses_pass_the_apps_email_validation(email: str) -> None:
    req = _request(email, SECRET)
    assert req is not None
    assert req.email == email.strip().lower()
    assert req.password.get_secret_value() == SECRET
    assert SECRET not in repr(req)


@pytest.mark.parametrize(
    ("email", "password", "names"),
    [
        ("admin@example.com", "", "HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE is not set or names an empty file"),
        ("", SECRET, "HEARTH_BOOTSTRAP_ADMIN_EMAIL is not"),
        ("not-an-address", SECRET, "HEARTH_BOOTSTRAP_ADMIN_EMAIL='not-an-address' is not an email"),
        ("admin@example.com", "short", "must be 12 to 128 characters"),
        ("admin@example.com", "changeme-please", "is a placeholder"),
    ],
)
def test_incomplete_or_unusable_settings_are_clear_errors(email: str, password: str, names: str) -> None:
    with pytest.raises(BootstrapError) as err:
        _request(email, password)
    assert names in str(err.value)
    if password:
        assert password not in str(err.value)


def test_placeholder_passwords_are_accepted_in_development_only() -> None:
    assert _request("admin@example.com", "changeme-please", env="development") is not None


def test_the_password_comes_from_its_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "admin_password"
    secret.write_text(SECRET + "\n")
    monkeypatch.setenv("HEARTH_ENV", "development")
    monkeypatch.setenv("HEARTH_BOOTSTRAP_ADMIN_EMAIL", "admin@hearth.localhost")
    monkeypatch.setenv(PASSWORD_VAR, str(secret))
    settings = load_settings()
    assert settings.bootstrap.admin_password.get_secret_value() == SECRET
    req = admin_request(settings)
    assert req is not None
    assert req.email == "admin@hearth.localhost"


def test_a_missing_password_file_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEARTH_BOOTSTRAP_ADMIN_EMAIL", "admin@hearth.localhost")
    monkeypatch.setenv(PASSWORD_VAR, str(tmp_path / "nope"))
    with pytest.raises(ValueError, match=PASSWORD_VAR):
        load_settings()


def _migrate(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`hearth-app migrate` as the deployment runs it; these stop before any connection."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    exe = Path(sys.executable).parent / "hearth-app"
    return subprocess.run(
        [str(exe), "migrate"],
        env={**base, "HEARTH_ENV": "development", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )


def test_migrate_refuses_a_missing_password_file_naming_the_variable(tmp_path: Path) -> None:
    out = _migrate(
        tmp_path,
        HEARTH_BOOTSTRAP_ADMIN_EMAIL="admin@hearth.localhost",
        HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE=str(tmp_path / "missing"),
    )
    assert out.returncode == 2
    assert f"{PASSWORD_VAR}: cannot read" in out.stderr
    assert "Traceback" not in out.stderr


def test_migrate_refuses_an_empty_password_file_naming_the_variable(tmp_path: Path) -> None:
    empty = tmp_path / "admin_password"
    empty.write_text("\n")
    out = _migrate(
        tmp_path,
        HEARTH_BOOTSTRAP_ADMIN_EMAIL="admin@hearth.localhost",
        HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE=str(empty),
    )
    assert out.returncode == 2
    assert f"{PASSWORD_VAR} is not set or names an empty file" in out.stderr
    assert "Traceback" not in out.stderr
