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
    password = secrets.token_urlsafe(18)
    container = harness.run(
        "postgres",
        user="999:999",
        ports=["5432/tcp"],
        environment={
            "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres-password",
            "POSTGRES_DB": "hearth",
        },
        secrets={"/run/secrets/postgres-password": harness.secret("pg", password)},
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

    assert_hardened(container, 999, password)


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


# --- MinIO (S3) ---------------------------------------------------------------


def s3_client(port: int, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=f"http://{LOCALHOST}:{port}",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def run_minio(harness: Harness, volume: str, user: Path, password: Path) -> Container:
    container = harness.run(
        "minio",
        user="996:996",
        ports=["9000/tcp"],
        environment={
            "MINIO_ROOT_USER_FILE": "/run/secrets/minio-root-user",
            "MINIO_ROOT_PASSWORD_FILE": "/run/secrets/minio-root-password",
        },
        secrets={
            "/run/secrets/minio-root-user": user,
            "/run/secrets/minio-root-password": password,
        },
        volumes={volume: "/data"},
        # Only for the mc client used below (its alias config); the server needs none.
        tmpfs={"/tmp": "size=8m"},  # noqa: S108 - the container's /tmp, a private tmpfs
    )
    wait_healthy(container)
    return container


def test_minio_serves_s3_and_keeps_objects_across_container_replacement(
    harness: Harness,
) -> None:
    root_user, root_password = "hearth-admin", secrets.token_urlsafe(24)
    user_file = harness.secret("minio-user", root_user)
    password_file = harness.secret("minio-password", root_password)
    volume = harness.volume("minio")

    first = run_minio(harness, volume, user_file, password_file)
    s3 = s3_client(host_port(first, "9000/tcp"), root_user, root_password)
    s3.create_bucket(Bucket="hearth-files")
    s3.put_object(Bucket="hearth-files", Key="docs/hello.txt", Body=b"hello, hearth")
    body = s3.get_object(Bucket="hearth-files", Key="docs/hello.txt")["Body"].read()
    assert body == b"hello, hearth"

    intruder = s3_client(host_port(first, "9000/tcp"), root_user, root_password + "x")
    with pytest.raises(ClientError) as denied:
        intruder.list_buckets()
    assert denied.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    assert_hardened(first, 996, root_password)

    # Replacement, as `pulumi up` does after a config change: same volume, new container.
    first.remove(force=True)
    second = run_minio(harness, volume, user_file, password_file)
    s3 = s3_client(host_port(second, "9000/tcp"), root_user, root_password)
    assert "hearth-files" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    body = s3.get_object(Bucket="hearth-files", Key="docs/hello.txt")["Body"].read()
    assert body == b"hello, hearth"


def test_minio_image_ships_mc_for_scoped_access_keys(harness: Harness) -> None:
    """The bootstrap path the platform uses: a user limited to one bucket, made with mc."""
    root_user, root_password = "hearth-admin", secrets.token_urlsafe(24)
    container = run_minio(
        harness,
        harness.volume("minio"),
        harness.secret("minio-user", root_user),
        harness.secret("minio-password", root_password),
    )
    app_key, app_secret = "hearth-app", secrets.token_urlsafe(24)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::app-files", "arn:aws:s3:::app-files/*"],
            }
        ],
    }
    policy_file = "/tmp/app-files-rw.json"  # noqa: S108 - in the container's private tmpfs
    admin_env = {
        "MC_HOST_local": f"http://{root_user}:{root_password}@127.0.0.1:9000",
        "POLICY": json.dumps(policy),
    }
    for cmd in (
        ["mc", "mb", "local/app-files"],
        ["mc", "mb", "local/other"],
        ["sh", "-c", f'printf %s "$POLICY" > {policy_file}'],
        ["mc", "admin", "policy", "create", "local", "app-files-rw", policy_file],
        ["mc", "admin", "user", "add", "local", app_key, app_secret],
        ["mc", "admin", "policy", "attach", "local", "app-files-rw", "--user", app_key],
    ):
        result = container.exec_run(cmd, environment=admin_env)
        assert result.exit_code == 0, (cmd[:4], result.output.decode(errors="replace"))

    app = s3_client(host_port(container, "9000/tcp"), app_key, app_secret)
    app.put_object(Bucket="app-files", Key="k", Body=b"v")
    assert app.get_object(Bucket="app-files", Key="k")["Body"].read() == b"v"
    with pytest.raises(ClientError) as denied:
        app.put_object(Bucket="other", Key="k", Body=b"v")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


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
