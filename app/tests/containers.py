"""Real PostgreSQL, Redis, NATS JetStream and S3 for the tests, as Docker containers from the
project's images (images/README.md), published on 127.0.0.1 only, removed at the end.

S3 is the platform's server (images/s3, the Versity S3 Gateway), set up as the platform sets
it up: `hearth-s3-bootstrap` of the same image gives the app its bucket and its own key,
limited to that bucket. The app runs with that key; the tests keep the root key for
themselves (cleaning up, and checking what the app's key may not do)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hearth_app.events.subjects import app_permissions

IMAGES = {
    "postgres": os.environ.get("HEARTH_TEST_POSTGRES_IMAGE", "hearth/postgres:local"),
    "redis": os.environ.get("HEARTH_TEST_REDIS_IMAGE", "hearth/redis:local"),
    "nats": os.environ.get("HEARTH_TEST_NATS_IMAGE", "hearth/nats:local"),
    "s3": os.environ.get("HEARTH_TEST_S3_IMAGE", "hearth/s3:local"),
}


def _docker(*args: str) -> str:
    out = subprocess.run(["docker", *args], check=True, capture_output=True, text=True, timeout=120)
    return out.stdout.strip()


@dataclass
class Services:
    prefix: str
    pg_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    redis_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nats_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    # The tests' own NATS user (cleaning streams, reading them back): no restrictions.
    nats_admin_user: str = "test-admin"
    nats_admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    # The S3 gateway's root account (tests only) and the app's own key, made by the bootstrap.
    s3_root_user: str = "hearth-root"
    s3_root_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    s3_bucket: str = "hearth"
    s3_user: str = "hearth-app"
    s3_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ports: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    tmpdir: Path | None = None

    def app_env(self) -> dict[str, str]:
        """The environment a `hearth-app` process needs to reach these services."""
        return {
            **os.environ,
            "HEARTH_ENV": "test",
            "HEARTH_DB_HOST": "127.0.0.1",
            "HEARTH_DB_PORT": str(self.ports["postgres"]),
            "HEARTH_DB_PASSWORD": self.pg_password,
            "HEARTH_REDIS_HOST": "127.0.0.1",
            "HEARTH_REDIS_PORT": str(self.ports["redis"]),
            "HEARTH_REDIS_PASSWORD": self.redis_password,
            "HEARTH_NATS_URL": f"nats://127.0.0.1:{self.ports['nats']}",
            "HEARTH_NATS_USER": "hearth",
            "HEARTH_NATS_PASSWORD": self.nats_password,
            "HEARTH_S3_ENDPOINT": f"http://127.0.0.1:{self.ports['s3']}",
            "HEARTH_S3_ACCESS_KEY": self.s3_user,
            "HEARTH_S3_SECRET_KEY": self.s3_password,
            "HEARTH_AUTH_KEY_ENCRYPTION_SECRET": "test-key-encryption-secret-0123456789abcdef",
        }

    def nats_config(self) -> str:
        """The app's user gets exactly the permissions the app declares (app_permissions()),
        so every test that touches NATS also proves that list is enough."""
        perms = app_permissions()
        return f"""include base.conf
authorization {{
  users: [
    {{
      user: "hearth"
      password: {json.dumps(self.nats_password)}
      permissions: {{
        publish: {{ allow: {json.dumps(list(perms.publish))} }}
        subscribe: {{ allow: {json.dumps(list(perms.subscribe))} }}
      }}
    }}
    {{ user: {json.dumps(self.nats_admin_user)}, password: {json.dumps(self.nats_admin_password)} }}
  ]
}}
"""

    def _run(self, svc: str, port: int, env: dict[str, str], *extra: str) -> None:
        name = f"{self.prefix}-{svc}"
        args = ["run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1::{port}"]
        if svc == "s3":
            args += ["-p", "127.0.0.1::7071"]  # the admin API, to prove the app's key is refused
        args += [
            "--label",
            "hearth.test=app",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
        ]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        args += list(extra)
        args.append(IMAGES[svc])
        _docker(*args)
        self.names.append(name)
        mapping = _docker("port", name, f"{port}/tcp").splitlines()[0]
        self.ports[svc] = int(mapping.rsplit(":", 1)[1])

    def start(self) -> None:
        self._run(
            "postgres",
            5432,
            {
                "POSTGRES_PASSWORD": self.pg_password,
                "POSTGRES_USER": "hearth",
                "POSTGRES_DB": "hearth",
            },
            "--tmpfs",
            "/var/lib/postgresql/data:uid=999,gid=999",
            "--tmpfs",
            "/run/postgresql:uid=999,gid=999",
        )
        self._run("redis", 6379, {"REDIS_PASSWORD": self.redis_password})
        self.tmpdir = Path(tempfile.mkdtemp(prefix="hearth-apptest-"))
        self.tmpdir.chmod(0o755)
        conf = self.tmpdir / "nats.conf"
        conf.write_text(self.nats_config(), encoding="utf-8")
        conf.chmod(0o644)  # read by the image's uid 997
        self._run(
            "nats",
            4222,
            {"NATS_CONFIG_FILE": "/etc/nats/hearth-apptest.conf"},
            "-v",
            f"{conf}:/etc/nats/hearth-apptest.conf:ro",
        )
        self._run(
            "s3",
            7070,
            {"ROOT_ACCESS_KEY": self.s3_root_user, "ROOT_SECRET_KEY": self.s3_root_password},
            "--read-only",
            "--tmpfs",
            "/tmp:size=16m",  # noqa: S108 - the container's own /tmp, as the platform gives it
            "--user",
            "996:996",
        )
        admin = _docker("port", f"{self.prefix}-s3", "7071/tcp").splitlines()[0]
        self.ports["s3-admin"] = int(admin.rsplit(":", 1)[1])
        self.wait_healthy()
        self.bootstrap_s3()

    def bootstrap_s3(self) -> str:
        """The platform's bootstrap (images/s3, hearth-s3-bootstrap), run in the S3 container
        as bootstrap-s3 runs it: the bucket, the app's key and its bucket policy."""
        out = subprocess.run(
            [
                "docker",
                "exec",
                "-e",
                f"S3_BUCKET={self.s3_bucket}",
                "-e",
                f"APP_ACCESS_KEY={self.s3_user}",
                "-e",
                f"APP_SECRET_KEY={self.s3_password}",
                f"{self.prefix}-s3",
                "hearth-s3-bootstrap",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"hearth-s3-bootstrap failed: {out.stdout}{out.stderr}")
        return out.stdout

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.names)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                state = json.loads(_docker("inspect", "--format", "{{json .State}}", name))
                health = (state.get("Health") or {}).get("Status")
                if not state.get("Running"):
                    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stderr
                    raise RuntimeError(f"{name} stopped: {logs[-2000:]}")
                if health == "healthy":
                    pending.discard(name)
            time.sleep(0.5)
        if pending:
            raise RuntimeError(f"not healthy after {timeout}s: {sorted(pending)}")

    def stop(self) -> None:
        for name in self.names:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60, check=False)
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
