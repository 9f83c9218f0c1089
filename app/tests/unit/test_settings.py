from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hearth_app.core.settings import (
    AuthSettings,
    DatabaseSettings,
    NatsSettings,
    S3Settings,
    is_placeholder,
    load_settings,
)
from hearth_app.events.bus import EventBus

STRONG = "k" * 40


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for k, v in values.items():
        monkeypatch.setenv(k, v)


def test_placeholder_secrets_are_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _env(
        monkeypatch,
        HEARTH_ENV="production",
        HEARTH_DB_PASSWORD="changeme",
        HEARTH_S3_ACCESS_KEY="placeholder",
        HEARTH_S3_SECRET_KEY="real-secret-value-123",
        HEARTH_AUTH_KEY_ENCRYPTION_SECRET=STRONG,
    )
    with pytest.raises(ValidationError) as err:
        load_settings()
    assert "HEARTH_DB_PASSWORD" in str(err.value)
    assert "HEARTH_S3_ACCESS_KEY" in str(err.value)
    assert "HEARTH_S3_SECRET_KEY" not in str(err.value)


def test_placeholders_are_accepted_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, HEARTH_ENV="development", HEARTH_DB_PASSWORD="changeme")
    assert load_settings().db.password.get_secret_value() == "changeme"


def test_short_key_encryption_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(
        monkeypatch,
        HEARTH_ENV="production",
        HEARTH_DB_PASSWORD="a-real-db-password",
        HEARTH_S3_ACCESS_KEY="hearth-app",
        HEARTH_S3_SECRET_KEY="a-real-s3-secret",
        HEARTH_AUTH_KEY_ENCRYPTION_SECRET="too-short-but-not-placeholder",
    )
    with pytest.raises(ValidationError, match="at least 32"):
        load_settings()


def test_file_secrets_are_read_and_win_over_plain_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("from-the-file\n")
    _env(monkeypatch, HEARTH_DB_PASSWORD="from-env", HEARTH_DB_PASSWORD_FILE=str(secret))
    assert DatabaseSettings().password.get_secret_value() == "from-the-file"


def test_unreadable_secret_file_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _env(monkeypatch, HEARTH_DB_PASSWORD_FILE=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="HEARTH_DB_PASSWORD_FILE"):
        DatabaseSettings()


def test_settings_default_to_owasp_argon2id_parameters() -> None:
    a = AuthSettings()
    assert (a.argon2_memory_kib, a.argon2_time_cost, a.argon2_parallelism) == (19456, 2, 1)


def test_oidc_providers_parse_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(
        monkeypatch,
        HEARTH_AUTH_OIDC_PROVIDERS='[{"name":"corp","issuer":"https://id.example","client_id":"hearth"}]',
    )
    assert AuthSettings().oidc_providers[0].name == "corp"


@pytest.mark.parametrize("value", ["", "changeme", "CHANGEME-please", "<your secret>", "password"])
def test_placeholder_detection(value: str) -> None:
    assert is_placeholder(value)


def test_real_secret_is_not_a_placeholder() -> None:
    assert not is_placeholder("9c1f0e7d-real-secret")


def test_s3_defaults_name_the_platforms_server_and_clean_up_hourly() -> None:
    s = S3Settings()
    assert s.endpoint == "http://s3:7070"
    assert s.gc_interval_seconds == 3600
    assert s.multipart_expiry_seconds == s.pending_expiry_seconds == 24 * 3600


def test_abandoned_uploads_may_not_expire_before_their_upload_url(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, HEARTH_S3_PRESIGN_SECONDS="600", HEARTH_S3_PENDING_EXPIRY_SECONDS="600")
    with pytest.raises(ValidationError, match="HEARTH_S3_PENDING_EXPIRY_SECONDS"):
        S3Settings()


def test_streams_keep_as_many_copies_as_the_platform_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """One on a single server; one per server of a cluster (the swarm's three)."""
    assert {c.num_replicas for c in EventBus(NatsSettings()).stream_configs()} == {1}
    monkeypatch.setenv("HEARTH_NATS_STREAM_REPLICAS", "3")
    assert {c.num_replicas for c in EventBus(NatsSettings()).stream_configs()} == {3}
    monkeypatch.setenv("HEARTH_NATS_STREAM_REPLICAS", "0")
    with pytest.raises(ValidationError, match="stream_replicas"):
        NatsSettings()
