"""Settings, one class per concern, read from the environment and ``*_FILE`` secrets.

Nothing here is built at import time: :func:`load_settings` reads the environment when
called, so tests and the CLI build their own objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

Environment = Literal["development", "test", "production"]

# Values people paste from examples. Outside development we refuse to start with them.
_PLACEHOLDERS = {
    "",
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "password",
    "placeholder",
    "example",
    "todo",
    "xxx",
    "postgres",
}


def is_placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in _PLACEHOLDERS or v.startswith(("changeme", "change-me", "replace-me", "<"))


class FileSecretsSource(PydanticBaseSettingsSource):
    """Reads ``<PREFIX><FIELD>_FILE``: the value is the content of that file (Docker secrets)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        prefix = str(self.config.get("env_prefix", ""))
        path = os.environ.get(f"{prefix}{field_name}_FILE".upper())
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text(encoding="utf-8").strip(), field_name, False
        except OSError as exc:
            raise ValueError(f"{prefix}{field_name.upper()}_FILE: cannot read {path}: {exc}") from exc

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                out[key] = value
        return out


class _Base(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # A *_FILE wins over the plain variable: secrets never need to sit in the environment.
        return (init_settings, FileSecretsSource(settings_cls), env_settings)


class CoreSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="HEARTH_", extra="ignore", frozen=True)

    env: Environment = "production"
    log_level: str = "INFO"
    # Peers whose X-Forwarded-For we believe: addresses, networks (CIDR) or host names (the
    # platform names its edge). Anyone else's forwarding headers are ignored (core/net.py).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    cors_origins: list[str] = Field(default_factory=list)


class DatabaseSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="HEARTH_DB_", extra="ignore", frozen=True)

    host: str = "postgres"
    port: int = 5432
    name: str = "hearth"
    user: str = "hearth"
    password: SecretStr = SecretStr("")
    pool_size: int = 10

    def url(self) -> str:
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+asyncpg",
            username=self.user,
            password=self.password.get_secret_value(),
            host=self.host,
            port=self.port,
            database=self.name,
        ).render_as_string(hide_password=False)


class RedisSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="HEARTH_REDIS_", extra="ignore", frozen=True)

    host: str = "redis"
    port: int = 6379
    db: int = 0
    password: SecretStr = SecretStr("")
    cache_ttl_seconds: int = 60


class NatsSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="HEARTH_NATS_", extra="ignore", frozen=True)

    url: str = "nats://nats:4222"
    user: str = ""
    password: SecretStr = SecretStr("")
    stream: str = "HEARTH"
    dlq_stream: str = "HEARTH_DLQ"
    # Copies JetStream keeps of each stream: 1 on one box, 3 on a three-server cluster (swarm).
    stream_replicas: int = Field(default=1, ge=1, le=5)
    max_deliver: int = 3
    ack_wait_seconds: float = 30.0
    # First redelivery delay after a failure; doubles per attempt.
    retry_base_seconds: float = 1.0
    # Run the file worker inside the API process (one-box default); `hearth-app worker` otherwise.
    run_worker: bool = True


class S3Settings(_Base):
    model_config = SettingsConfigDict(env_prefix="HEARTH_S3_", extra="ignore", frozen=True)

    endpoint: str = "http://s3:7070"
    # Where clients reach S3 for presigned URLs (the edge), if not the same as endpoint.
    public_endpoint: str = ""
    region: str = "us-east-1"
    bucket: str = "hearth"
    access_key: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    max_file_bytes: int = 25 * 1024 * 1024
    allowed_content_types: list[str] = Field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "application/pdf",
            "text/plain",
            "application/zip",
        ]
    )
    presign_seconds: int = 300
    # Storage clean-up (hearth_app/files/gc.py): the S3 server applies no lifecycle rules.
    # Every gc_interval_seconds one replica aborts multipart uploads older than
    # multipart_expiry_seconds, deletes objects no file row names (older than
    # orphan_grace_seconds) and files declared but never completed (pending_expiry_seconds).
    gc_interval_seconds: int = Field(default=3600, ge=0)
    multipart_expiry_seconds: int = Field(default=24 * 3600, ge=0)
    orphan_grace_seconds: int = Field(default=3600, ge=0)
    pending_expiry_seconds: int = Field(default=24 * 3600, ge=0)

    @model_validator(mode="after")
    def _pending_outlives_its_upload_url(self) -> S3Settings:
        if self.pending_expiry_seconds <= self.presign_seconds:
            raise ValueError(
                "HEARTH_S3_PENDING_EXPIRY_SECONDS must exceed HEARTH_S3_PRESIGN_SECONDS: "
                "a file may be uploaded until its URL expires"
            )
        return self


class OidcProvider(BaseModel):
    name: str
    issuer: str
    client_id: str
    client_secret: SecretStr = SecretStr("")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    # Sign in to an existing local account with the same email, on a first login, only when the
    # provider says the email is verified AND the local account's own email is verified.
    link_by_verified_email: bool = True


class AuthSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="HEARTH_AUTH_", extra="ignore", frozen=True)

    issuer: str = "https://hearth.local"
    audience: str = "hearth-api"
    registration_enabled: bool = True
    access_ttl_seconds: int = 300
    refresh_ttl_seconds: int = 14 * 24 * 3600
    # Absolute session lifetime: refresh stops working after this, whatever the rotations.
    session_max_seconds: int = 30 * 24 * 3600
    # Encrypts signing keys at rest in PostgreSQL (AES-256-GCM, key derived by SHA-256).
    key_encryption_secret: SecretStr = SecretStr("")
    key_rotation_days: int = 30
    # OWASP password storage cheat sheet: argon2id, m=19 MiB, t=2, p=1.
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    # Failed-login backoff (auth/backoff.py). Delay doubles per attempt past the threshold,
    # capped; it always ends.
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_pair_threshold: int = Field(default=5, ge=1)
    backoff_pair_max_seconds: int = Field(default=900, ge=1)
    backoff_account_threshold: int = Field(default=10, ge=1)
    # The account-wide wait anyone can cause for the owner, per attempt: at most a minute.
    backoff_account_max_seconds: int = Field(default=60, ge=1, le=60)
    backoff_ip_threshold: int = Field(default=30, ge=1)
    backoff_ip_max_seconds: int = Field(default=900, ge=1)
    backoff_window_seconds: int = Field(default=24 * 3600, ge=60)
    cookie_secure: bool = True
    oidc_providers: list[OidcProvider] = Field(default_factory=list)
    oidc_redirect_base: str = ""

    @field_validator("oidc_providers", mode="before")
    @classmethod
    def _parse_providers(cls, v: Any) -> Any:
        if isinstance(v, str):
            return json.loads(v) if v.strip() else []
        return v


class RateLimitSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="HEARTH_RATELIMIT_", extra="ignore", frozen=True)

    enabled: bool = True
    ip_per_minute: int = 600
    ip_burst: int = 100
    user_per_minute: int = 1200
    user_burst: int = 200


class BootstrapSettings(_Base):
    """The first administrator, ensured by `hearth-app migrate` when both are set."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_BOOTSTRAP_", extra="ignore", frozen=True)

    admin_email: str = ""
    # Give it as HEARTH_BOOTSTRAP_ADMIN_PASSWORD_FILE. Used only to create the account: an
    # existing account's password is never changed.
    admin_password: SecretStr = SecretStr("")


class Settings(BaseModel):
    """All concerns together; the app and the CLI take one of these."""

    model_config = {"frozen": True}

    core: CoreSettings
    db: DatabaseSettings
    redis: RedisSettings
    nats: NatsSettings
    s3: S3Settings
    auth: AuthSettings
    ratelimit: RateLimitSettings
    # Only `migrate` reads it; empty unless given.
    bootstrap: BootstrapSettings = Field(default_factory=lambda: BootstrapSettings.model_construct())

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.core.env == "development":
            return self
        secrets = {
            "HEARTH_DB_PASSWORD": self.db.password,
            "HEARTH_S3_ACCESS_KEY": self.s3.access_key,
            "HEARTH_S3_SECRET_KEY": self.s3.secret_key,
            "HEARTH_AUTH_KEY_ENCRYPTION_SECRET": self.auth.key_encryption_secret,
        }
        bad = [k for k, v in secrets.items() if is_placeholder(v.get_secret_value())]
        if bad:
            raise ValueError(
                f"placeholder or empty secrets outside development: {', '.join(bad)}; "
                "set each (or <NAME>_FILE) to a real secret, or HEARTH_ENV=development"
            )
        if len(self.auth.key_encryption_secret.get_secret_value()) < 32:
            raise ValueError("HEARTH_AUTH_KEY_ENCRYPTION_SECRET must be at least 32 characters")
        return self


def load_settings(**overrides: Any) -> Settings:
    parts: dict[str, Any] = {
        "core": CoreSettings(),
        "db": DatabaseSettings(),
        "redis": RedisSettings(),
        "nats": NatsSettings(),
        "s3": S3Settings(),
        "auth": AuthSettings(),
        "ratelimit": RateLimitSettings(),
        "bootstrap": BootstrapSettings(),
    }
    parts.update(overrides)
    return Settings(**parts)
