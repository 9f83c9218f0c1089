"""The data-service images run hardened and do their job.

Each test starts its image as the platform does (read-only root, no
capabilities, no-new-privileges, the image's non-root uid, secrets as files),
waits for Docker to report the image's own healthcheck healthy, and then checks
real behaviour over the wire: authentication with the secret from the file,
refusal of a wrong one, and data that survives a restart or a replacement.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.client import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from docker.models.containers import Container

from .clients import NatsClient, NatsError, RespClient, RespError
from .conftest import ROOT, Harness, host_port, wait_healthy

LOCALHOST = "127.0.0.1"


def proc_status(container: Container) -> dict[str, str]:
    """PID 1's /proc status fields, read inside the container."""
    result = container.exec_run(["cat", "/proc/1/status"])
    assert result.exit_code == 0, result.output
    fields = {}
    for line in result.output.decode().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def assert_hardened(container: Container, uid: int, *secret_values: str) -> None:
    """PID 1 runs as `uid`, without capabilities or new privileges, on a read-only root,
    and no secret value is visible in the container's configuration."""
    status = proc_status(container)
    assert status["Uid"].split()[:2] == [str(uid), str(uid)], status["Uid"]
    assert int(status["CapEff"], 16) == 0, status["CapEff"]
    assert status["NoNewPrivs"] == "1"
    write = container.exec_run(["touch", "/hearth-write-test"])
    assert write.exit_code != 0, "the root filesystem is writable"
    assert b"Read-only file system" in write.output
    inspected = json.dumps(container.attrs)
    for value in secret_values:
        assert value not in inspected, "a secret value shows in docker inspect"


# --- PostgreSQL ---------------------------------------------------------------


def psql(container: Container, password: str, sql: str, user: str = "postgres") -> tuple[int, str]:
    """Run `sql` through psql over TCP (so pg_hba's password rule applies)."""
    result = container.exec_run(
        ["psql", "-h", LOCALHOST, "-U", user, "-d", "hearth", "-tAX", "-c", sql],
        environment={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
    )
    return result.exit_code, result.output.decode(errors="replace").strip()


def test_postgres_authenticates_with_the_password_file_and_rejects_a_wrong_one(
    harness: Harness,
) -> None:
    password, cipher_pass = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    container = harness.run(
        "postgres",
        user="999:999",
        ports=["5432/tcp"],
        environment={
            "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres-password",
            "POSTGRES_DB": "hearth",
            "PGBACKREST_REPO1_CIPHER_PASS_FILE": "/run/secrets/pgbackrest-cipher",
        },
        secrets={
            "/run/secrets/postgres-password": harness.secret("pg", password),
            "/run/secrets/pgbackrest-cipher": harness.secret("cipher", cipher_pass),
        },
        volumes={harness.volume("postgres"): "/var/lib/postgresql/data"},
        tmpfs={"/run/postgresql": "size=8m"},
    )
    wait_healthy(container)

    code, out = psql(container, password, "SELECT current_user || '@' || current_database()")
    assert (code, out) == (0, "postgres@hearth")
    code, out = psql(container, password, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)")
    assert code == 0, out

    code, out = psql(container, password + "x", "SELECT 1")
    assert code != 0
    assert "password authentication failed" in out

    assert_hardened(container, 999, password, cipher_pass)
    # pgBackRest for archive_command/restore_command, which inherit the server's environment:
    # the repository's cipher pass read from its file, the _FILE variable gone.
    version = container.exec_run(["pgbackrest", "version"])
    assert version.output.decode().startswith("pgBackRest 2.55."), version.output
    environ = container.exec_run(["cat", "/proc/1/environ"]).output.split(b"\0")
    assert f"PGBACKREST_REPO1_CIPHER_PASS={cipher_pass}".encode() in environ
    assert not [v for v in environ if v.startswith(b"PGBACKREST_REPO1_CIPHER_PASS_FILE=")]


def test_postgres_refuses_to_initialise_without_a_password(harness: Harness) -> None:
    container = harness.run(
        "postgres",
        user="999:999",
        ports=[],
        volumes={harness.volume("postgres"): "/var/lib/postgresql/data"},
        tmpfs={"/run/postgresql": "size=8m"},
    )
    assert container.wait(timeout=30)["StatusCode"] != 0
    assert b"POSTGRES_PASSWORD_FILE" in container.logs()


# --- Redis (Valkey) -----------------------------------------------------------


def test_redis_requires_the_password_from_the_file(harness: Harness) -> None:
    # Quotes, spaces and a backslash: the password must reach the server intact.
    password = 'p "w\\d ' + secrets.token_urlsafe(12)
    container = harness.run(
        "redis",
        user="998:998",
        ports=["6379/tcp"],
        environment={"REDIS_PASSWORD_FILE": "/run/secrets/redis-password"},
        secrets={"/run/secrets/redis-password": harness.secret("redis", password)},
        volumes={harness.volume("redis"): "/data"},
    )
    wait_healthy(container)
    port = host_port(container, "6379/tcp")

    with RespClient(LOCALHOST, port) as anonymous:
        reply = anonymous.command("PING")
        assert isinstance(reply, RespError)
        assert reply.startswith("NOAUTH")
        wrong = anonymous.command("AUTH", password + "x")
        assert isinstance(wrong, RespError)
        assert wrong.startswith("WRONGPASS")

    with RespClient(LOCALHOST, port) as client:
        assert client.command("AUTH", password) == "OK"
        assert client.command("PING") == "PONG"
        assert client.command("SET", "hearth:test", "v1") == "OK"
        assert client.command("GET", "hearth:test") == "v1"
        assert client.command("CONFIG", "GET", "appendonly") == ["appendonly", "yes"]

    assert_hardened(container, 998, password)


# --- NATS with JetStream ------------------------------------------------------


def test_nats_jetstream_keeps_acknowledged_messages_across_a_kill_and_restart(
    harness: Harness,
) -> None:
    password = secrets.token_urlsafe(18)
    container = harness.run(
        "nats",
        user="997:997",
        ports=["4222/tcp", "8222/tcp"],
        environment={"NATS_USER": "hearth", "NATS_PASSWORD_FILE": "/run/secrets/nats-password"},
        secrets={"/run/secrets/nats-password": harness.secret("nats", password)},
        volumes={harness.volume("nats"): "/data"},
    )
    wait_healthy(container)

    jsz = requests.get(f"http://{LOCALHOST}:{host_port(container, '8222/tcp')}/jsz", timeout=5)
    assert jsz.status_code == 200
    assert jsz.json()["config"]["store_dir"] == "/data/jetstream"

    port = host_port(container, "4222/tcp")
    with pytest.raises(NatsError, match="Authorization Violation"):
        NatsClient(LOCALHOST, port, "hearth", password + "x").close()

    with NatsClient(LOCALHOST, port, "hearth", password) as nats:
        stream = nats.jetstream(
            "STREAM.CREATE.EVENTS",
            {"name": "EVENTS", "subjects": ["events.>"], "storage": "file"},
        )
        assert stream["config"]["name"] == "EVENTS"
        ack = json.loads(nats.request("events.user.created", b"user-1"))
        assert ack == {"stream": "EVENTS", "seq": 1}

    assert_hardened(container, 997, password)

    # kill -9, as a crash would: the acknowledged message must still be there.
    container.kill(signal="SIGKILL")
    container.wait(timeout=30)
    container.start()
    wait_healthy(container)
    port = host_port(container, "4222/tcp")
    with NatsClient(LOCALHOST, port, "hearth", password) as nats:
        info = nats.jetstream("STREAM.INFO.EVENTS")
        assert info["state"]["messages"] == 1
        stored = nats.jetstream("STREAM.MSG.GET.EVENTS", {"seq": 1})["message"]
        assert stored["subject"] == "events.user.created"
        assert base64.b64decode(stored["data"]) == b"user-1"


# --- S3 (the Versity S3 Gateway) -----------------------------------------------------


def s3_client(port: int, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=f"http://{LOCALHOST}:{port}",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )


def run_s3(
    harness: Harness, volume: str, root_key: str, root_secret: Path, **more_secrets: Path
) -> Container:
    container = harness.run(
        "s3",
        user="996:996",
        ports=["7070/tcp"],
        environment={
            "ROOT_ACCESS_KEY": root_key,
            "ROOT_SECRET_KEY_FILE": "/run/secrets/s3-root-secret",
        },
        secrets={
            "/run/secrets/s3-root-secret": root_secret,
            **{f"/run/secrets/{name}": path for name, path in more_secrets.items()},
        },
        volumes={volume: "/data"},
    )
    wait_healthy(container)
    return container


def test_s3_serves_s3_and_keeps_objects_across_container_replacement(
    harness: Harness,
) -> None:
    root_key, root_secret = "hearth-root", secrets.token_urlsafe(24)
    secret_file = harness.secret("s3-root-secret", root_secret)
    volume = harness.volume("s3")

    first = run_s3(harness, volume, root_key, secret_file)
    s3 = s3_client(host_port(first, "7070/tcp"), root_key, root_secret)
    s3.create_bucket(Bucket="hearth-files")
    s3.put_object(
        Bucket="hearth-files", Key="docs/hello.txt", Body=b"hello, hearth", ContentType="text/plain"
    )
    got = s3.get_object(Bucket="hearth-files", Key="docs/hello.txt")
    assert got["Body"].read() == b"hello, hearth"
    assert got["ContentType"] == "text/plain"

    intruder = s3_client(host_port(first, "7070/tcp"), root_key, root_secret + "x")
    with pytest.raises(ClientError) as denied:
        intruder.list_buckets()
    assert denied.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    health = requests.get(f"http://{LOCALHOST}:{host_port(first, '7070/tcp')}/health", timeout=5)
    assert health.status_code == 200

    assert_hardened(first, 996, root_secret)
    # The posix backend: objects are plain files on the data volume.
    stored = first.exec_run(["cat", "/data/buckets/hearth-files/docs/hello.txt"])
    assert stored.output == b"hello, hearth"

    # Replacement, as `pulumi up` does after a config change: same volume, new container.
    first.remove(force=True)
    second = run_s3(harness, volume, root_key, secret_file)
    s3 = s3_client(host_port(second, "7070/tcp"), root_key, root_secret)
    assert "hearth-files" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    body = s3.get_object(Bucket="hearth-files", Key="docs/hello.txt")["Body"].read()
    assert body == b"hello, hearth"


def test_s3_refuses_to_start_without_a_root_secret(harness: Harness) -> None:
    container = harness.run(
        "s3", user="996:996", ports=[], environment={"ROOT_ACCESS_KEY": "hearth-root"}
    )
    assert container.wait(timeout=30)["StatusCode"] != 0
    assert b"ROOT_SECRET_KEY" in container.logs()


def test_s3_bootstrap_makes_a_key_limited_to_its_bucket_idempotently(harness: Harness) -> None:
    """The bootstrap the platform runs (hearth-s3-bootstrap): the bucket, owned by root; a key
    with role `user`; a bucket policy for that key. Secrets from files only."""
    root_key, root_secret = "hearth-root", secrets.token_urlsafe(24)
    app_key, app_secret = "hearth-app", secrets.token_urlsafe(24)
    app_secret_file = harness.secret("app-secret", app_secret)
    container = run_s3(
        harness,
        harness.volume("s3"),
        root_key,
        harness.secret("s3-root-secret", root_secret),
        app_secret=app_secret_file,
    )
    port = host_port(container, "7070/tcp")
    root = s3_client(port, root_key, root_secret)
    root.create_bucket(Bucket="other")

    def bootstrap() -> str:
        # As bootstrap-s3 runs it: the root secret's file from the container's environment
        # (ROOT_SECRET_KEY_FILE), the app's secret from its file; nothing on a command line.
        result = container.exec_run(
            ["hearth-s3-bootstrap"],
            environment={
                "S3_BUCKET": "app-files",
                "APP_ACCESS_KEY": app_key,
                "APP_SECRET_KEY_FILE": "/run/secrets/app_secret",
            },
        )
        out: str = result.output.decode(errors="replace")
        assert result.exit_code == 0, out
        assert app_secret not in out
        assert root_secret not in out
        return out

    first = bootstrap()
    assert "bucket app-files created" in first
    assert "key hearth-app created" in first
    again = bootstrap()
    assert "bucket app-files exists" in again
    assert "key hearth-app exists" in again

    app = s3_client(port, app_key, app_secret)
    app.put_object(Bucket="app-files", Key="k", Body=b"v")
    assert app.get_object(Bucket="app-files", Key="k")["Body"].read() == b"v"
    forbidden_calls: list[Callable[[], Any]] = [
        lambda: app.put_object(Bucket="other", Key="k", Body=b"v"),
        lambda: app.list_objects_v2(Bucket="other"),
        lambda: app.create_bucket(Bucket="mine"),
        lambda: app.delete_bucket(Bucket="app-files"),
        lambda: app.put_bucket_policy(Bucket="app-files", Policy='{"Statement": []}'),
    ]
    for forbidden in forbidden_calls:
        with pytest.raises(ClientError) as denied:
            forbidden()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
    policy = json.loads(root.get_bucket_policy(Bucket="app-files")["Policy"])
    assert {r for st in policy["Statement"] for r in st["Resource"]} == {
        "arn:aws:s3:::app-files",
        "arn:aws:s3:::app-files/*",
    }

    # A new secret (rotated in the platform's secrets): the next run sets it.
    rotated = secrets.token_urlsafe(24)
    app_secret_file.chmod(0o644)
    app_secret_file.write_text(rotated + "\n")  # same file, as the bind mount sees it
    app_secret_file.chmod(0o444)
    bootstrap()
    with pytest.raises(ClientError):
        app.list_objects_v2(Bucket="app-files")
    s3_client(port, app_key, rotated).list_objects_v2(Bucket="app-files")

    # Refused: a missing secret, a short one, both forms at once.
    for env in (
        {"S3_BUCKET": "app-files", "APP_ACCESS_KEY": app_key},
        {"S3_BUCKET": "app-files", "APP_ACCESS_KEY": app_key, "APP_SECRET_KEY": "short"},
        {
            "S3_BUCKET": "app-files",
            "APP_ACCESS_KEY": app_key,
            "APP_SECRET_KEY": rotated,
            "APP_SECRET_KEY_FILE": "/run/secrets/s3-root-secret",
        },
    ):
        result = container.exec_run(["hearth-s3-bootstrap"], environment=env)
        assert result.exit_code != 0, env
        assert b"APP_SECRET_KEY" in result.output


# --- Static checks -------------------------------------------------------------


def test_every_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    dockerfiles = sorted(ROOT.glob("images/*/Dockerfile"))
    assert dockerfiles, "no images/*/Dockerfile found"
    result = subprocess.run(  # noqa: S603 - the linter from our venv on our own files
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), *map(str, dockerfiles)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
