"""The app against the platform's S3 server (images/s3, the Versity S3 Gateway) with the key
the platform gives it: what that key may and may not do, presigned URLs that refuse any
tampering, uploads held to what was declared, and the storage clean-up (no lifecycle rules
on the server) keeping the disk from growing for ever."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from hearth_app.files import gc
from hearth_app.files.gc import Report, collect
from tests.conftest import Harness, s3_client
from tests.containers import Services

BODY = b"hello from hearth\n"


def refused(call: Callable[[], Any], *codes: str) -> str:
    """`call` fails with an S3 error (one of `codes`, when given); returns the code."""
    with pytest.raises(ClientError) as err:
        call()
    code = str(err.value.response["Error"]["Code"])
    status = err.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status in (400, 401, 403, 405, 501), (code, status)
    if codes:
        assert code in codes, (code, err.value.response["Error"])
    return code


@pytest.fixture(scope="module")
def other_bucket(services: Services) -> Iterator[str]:
    """A bucket that is not the app's, with an object in it, made by root."""
    name = f"other-{uuid.uuid4().hex[:12]}"
    root = s3_client(services, root=True)
    root.create_bucket(Bucket=name)
    root.put_object(Bucket=name, Key="secret.txt", Body=b"not yours")
    yield name
    for obj in root.list_objects_v2(Bucket=name).get("Contents", []):
        root.delete_object(Bucket=name, Key=obj["Key"])
    root.delete_bucket(Bucket=name)


# ---- the app's key: its bucket, and nothing else ----------------------------------------


def test_the_app_key_uses_objects_in_its_bucket(services: Services) -> None:
    app = s3_client(services)
    bucket = services.s3_bucket
    app.head_bucket(Bucket=bucket)
    app.put_object(Bucket=bucket, Key="projects/k", Body=BODY, ContentType="text/plain")
    assert app.get_object(Bucket=bucket, Key="projects/k")["Body"].read() == BODY
    assert [o["Key"] for o in app.list_objects_v2(Bucket=bucket)["Contents"]] == ["projects/k"]
    app.delete_object(Bucket=bucket, Key="projects/k")
    assert "Contents" not in app.list_objects_v2(Bucket=bucket)


def test_the_app_key_cannot_create_or_delete_buckets_or_change_its_bucket(
    services: Services,
) -> None:
    app = s3_client(services)
    bucket = services.s3_bucket
    refused(lambda: app.create_bucket(Bucket=f"mine-{uuid.uuid4().hex[:8]}"), "AccessDenied")
    refused(lambda: app.delete_bucket(Bucket=bucket), "AccessDenied")
    refused(lambda: app.put_bucket_policy(Bucket=bucket, Policy='{"Statement": []}'), "AccessDenied")
    refused(lambda: app.delete_bucket_policy(Bucket=bucket), "AccessDenied")
    refused(lambda: app.get_bucket_policy(Bucket=bucket), "AccessDenied")
    refused(lambda: app.put_bucket_acl(Bucket=bucket, ACL="public-read"), "AccessDenied")
    refused(
        lambda: app.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}),
        "AccessDenied",
    )
    # Root still finds the bucket and its policy as the bootstrap left them.
    root = s3_client(services, root=True)
    assert services.s3_user in root.get_bucket_policy(Bucket=bucket)["Policy"]


def test_the_app_key_cannot_touch_any_other_bucket(services: Services, other_bucket: str) -> None:
    app = s3_client(services)
    refused(lambda: app.list_objects_v2(Bucket=other_bucket), "AccessDenied")
    refused(lambda: app.head_bucket(Bucket=other_bucket))
    refused(lambda: app.get_object(Bucket=other_bucket, Key="secret.txt"), "AccessDenied")
    refused(lambda: app.put_object(Bucket=other_bucket, Key="x", Body=b"x"), "AccessDenied")
    refused(lambda: app.delete_object(Bucket=other_bucket, Key="secret.txt"), "AccessDenied")
    refused(lambda: app.delete_bucket(Bucket=other_bucket), "AccessDenied")
    refused(
        lambda: app.copy_object(
            Bucket=services.s3_bucket,
            Key="projects/stolen",
            CopySource={"Bucket": other_bucket, "Key": "secret.txt"},
        ),
        "AccessDenied",
    )
    names = [b["Name"] for b in app.list_buckets().get("Buckets", [])]
    assert other_bucket not in names
    root = s3_client(services, root=True)
    assert root.get_object(Bucket=other_bucket, Key="secret.txt")["Body"].read() == b"not yours"


def admin_call(services: Services, action: str, key: str, secret: str, query: str = "") -> int:
    """A request to the gateway's admin API (PATCH /<action>), SigV4-signed with key/secret;
    returns the HTTP status."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"http://127.0.0.1:{services.ports['s3-admin']}/{action}{query}"
    body = (
        b"<Account><Access>intruder</Access><Secret>intruder-secret-0123456789</Secret>"
        b"<Role>admin</Role></Account>"
    )
    req = AWSRequest(method="PATCH", url=url, data=body)
    S3SigV4Auth(Credentials(key, secret), "s3", "us-east-1").add_auth(req)
    return httpx.request("PATCH", url, content=body, headers=dict(req.headers), timeout=10).status_code


def test_the_app_key_cannot_administer_users_or_owners(services: Services) -> None:
    key, secret = services.s3_user, services.s3_password
    for action, query in (
        ("create-user", ""),
        ("list-users", ""),
        ("update-user", f"?access={key}"),
        ("delete-user", "?access=hearth-root"),
        ("change-bucket-owner", f"?bucket={services.s3_bucket}&owner={key}"),
        ("list-buckets", ""),
    ):
        assert admin_call(services, action, key, secret, query) == 403, action
    # The same request signed by root is accepted: the refusal is the key's role.
    assert admin_call(services, "list-users", services.s3_root_user, services.s3_root_password) == 200


def test_no_key_gets_nothing(services: Services, other_bucket: str) -> None:
    s3_client(services).put_object(Bucket=services.s3_bucket, Key="projects/anon", Body=BODY)
    anon = s3_client(services, anonymous=True)
    for bucket in (services.s3_bucket, other_bucket):
        refused(lambda b=bucket: anon.list_objects_v2(Bucket=b), "AccessDenied")  # type: ignore[misc]
        refused(lambda b=bucket: anon.put_object(Bucket=b, Key="x", Body=b"x"), "AccessDenied")  # type: ignore[misc]
        refused(lambda b=bucket: anon.delete_bucket(Bucket=b), "AccessDenied")  # type: ignore[misc]
    refused(lambda: anon.get_object(Bucket=services.s3_bucket, Key="projects/anon"), "AccessDenied")
    refused(lambda: anon.delete_object(Bucket=services.s3_bucket, Key="projects/anon"), "AccessDenied")
    refused(lambda: anon.get_object(Bucket=other_bucket, Key="secret.txt"), "AccessDenied")
    refused(lambda: anon.create_bucket(Bucket=f"anon-{uuid.uuid4().hex[:8]}"), "AccessDenied")
    refused(lambda: anon.list_buckets(), "AccessDenied")
    assert admin_call(services, "list-users", "", "") in (400, 403)
    s3_client(services).delete_object(Bucket=services.s3_bucket, Key="projects/anon")


def test_the_bootstrap_is_idempotent_and_resets_the_app_secret(services: Services) -> None:
    """Run again, it changes nothing the app relies on; the secret file is the truth."""
    out = services.bootstrap_s3()
    assert f"bucket {services.s3_bucket} exists" in out
    assert f"key {services.s3_user} exists" in out
    s3_client(services).head_bucket(Bucket=services.s3_bucket)
    # A secret changed behind the platform's back is set back by the next run.
    root = s3_client(services, root=True)
    root.put_object(Bucket=services.s3_bucket, Key="projects/kept", Body=BODY)
    assert admin_call(services, "list-users", services.s3_root_user, services.s3_root_password) == 200
    services.bootstrap_s3()
    app = s3_client(services)
    assert app.get_object(Bucket=services.s3_bucket, Key="projects/kept")["Body"].read() == BODY
    app.delete_object(Bucket=services.s3_bucket, Key="projects/kept")


# ---- presigned URLs ------------------------------------------------------------------------


def tampered(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _declare(h: Harness, auth: dict[str, str], body: bytes, ctype: str) -> dict[str, Any]:
    pid = (await h.client.post("/api/v1/projects", json={"name": "P"}, headers=auth)).json()["id"]
    declared = {
        "name": "f.txt",
        "content_type": ctype,
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    r = await h.client.post(f"/api/v1/projects/{pid}/files", json=declared, headers=auth)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    out["project_id"] = pid
    return out


async def test_a_presigned_put_accepts_exactly_what_was_declared(h: Harness) -> None:
    _, auth = await h.user("exact@example.com")
    up = await _declare(h, auth, BODY, "text/plain")
    url, headers = up["upload_url"], up["upload_headers"]
    async with httpx.AsyncClient() as s3:
        # Larger than declared: the signed Content-Length does not match.
        bigger = await s3.put(url, content=BODY + b"more", headers=headers)
        assert bigger.status_code == 403, bigger.text
        # Smaller than declared.
        smaller = await s3.put(url, content=BODY[:-1], headers=headers)
        assert smaller.status_code == 403, smaller.text
        # Another content type than declared: the signed Content-Type does not match.
        other_type = await s3.put(url, content=BODY, headers={**headers, "Content-Type": "image/png"})
        assert other_type.status_code == 403, other_type.text
        # The declared size but other bytes: the signed SHA-256 does not match.
        other_bytes = await s3.put(url, content=BODY.upper(), headers=headers)
        assert other_bytes.status_code in (400, 403), other_bytes.text
        # Without the checksum header that was signed.
        no_sum = {k: v for k, v in headers.items() if k.lower() != "x-amz-checksum-sha256"}
        unsigned = await s3.put(url, content=BODY, headers=no_sum)
        assert unsigned.status_code == 403, unsigned.text
        # Nothing of that reached the bucket.
        fid = up["file"]["id"]
        assert (await h.res.storage.head(f"projects/{up['project_id']}/{fid}")) is None
        ok = await s3.put(url, content=BODY, headers=headers)
        assert ok.status_code == 200, ok.text
    head = await h.res.storage.head(f"projects/{up['project_id']}/{fid}")
    assert head is not None
    assert head["ContentLength"] == len(BODY)
    assert head["ContentType"] == "text/plain"


async def test_a_presigned_url_refuses_other_keys_methods_objects_and_expiry(
    h: Harness, services: Services
) -> None:
    storage = h.res.storage
    key = "projects/presigned/object.txt"
    await storage.put(key, BODY, "text/plain")
    url = await storage.presign_get(key, "object.txt")
    async with httpx.AsyncClient() as s3:
        good = await s3.get(url)
        assert good.status_code == 200
        assert good.content == BODY
        assert good.headers["content-disposition"] == 'attachment; filename="object.txt"'

        # Another key: the same URL with another access key id, or signed with another secret.
        as_root = tampered(url, **{"X-Amz-Credential": url_credential(url, services.s3_root_user)})
        assert (await s3.get(as_root)).status_code == 403
        other = s3_client(services, secret_key="not-the-secret-0123456789")
        params = {"Bucket": services.s3_bucket, "Key": key}
        forged = other.generate_presigned_url("get_object", Params=params)
        assert (await s3.get(forged)).status_code == 403
        # A signature changed by one character.
        sig = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
        flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
        assert (await s3.get(tampered(url, **{"X-Amz-Signature": flipped}))).status_code == 403
        # A longer lifetime than signed.
        assert (await s3.get(tampered(url, **{"X-Amz-Expires": "604800"}))).status_code == 403
        # Another object with the same signature.
        other_object = url.replace("/presigned/object.txt", "/presigned/other.txt")
        assert (await s3.get(other_object)).status_code == 403
        # Another method: a GET URL used to overwrite or delete.
        assert (await s3.put(url, content=b"overwritten")).status_code == 403
        assert (await s3.delete(url)).status_code == 403
        assert (await s3.get(url)).content == BODY

    # A PUT URL used to read.
    put_url = await storage.presign_put(key, "text/plain", len(BODY), hashlib.sha256(BODY).hexdigest())
    async with httpx.AsyncClient() as s3:
        assert (await s3.get(put_url)).status_code == 403

    # Expired: a URL that lived one second, used three seconds later.
    short = s3_client(services).generate_presigned_url(
        "get_object", Params={"Bucket": services.s3_bucket, "Key": key}, ExpiresIn=1
    )
    await asyncio.sleep(3)
    async with httpx.AsyncClient() as s3:
        expired = await s3.get(short)
    assert expired.status_code == 403
    assert "expired" in expired.text.lower(), expired.text
    await storage.delete(key)


def url_credential(url: str, access_key: str) -> str:
    credential = dict(parse_qsl(urlsplit(url).query))["X-Amz-Credential"]
    return access_key + credential[credential.index("/") :]


# ---- storage clean-up ------------------------------------------------------------------------


def bucket_files(services: Services, *find: str) -> list[str]:
    """Paths under the bucket's directory on the server's disk (posix backend): its files,
    or what the `find` arguments select."""
    where = f"/data/buckets/{services.s3_bucket}"
    out = subprocess.run(
        ["docker", "exec", f"{services.prefix}-s3", "find", where, *(find or ("-type", "f"))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return sorted(out.stdout.split())


async def test_clean_up_aborts_expired_multipart_uploads_and_frees_their_parts(
    h: Harness, services: Services
) -> None:
    app = s3_client(services)
    bucket = services.s3_bucket
    part = b"x" * (5 * 1024 * 1024)
    upload = app.create_multipart_upload(Bucket=bucket, Key="projects/big/upload")
    app.upload_part(
        Bucket=bucket, Key="projects/big/upload", UploadId=upload["UploadId"], PartNumber=1, Body=part
    )
    assert len(bucket_files(services)) >= 1, "the part is on disk"

    # Not expired yet: kept.
    report = await collect(h.res)
    assert report.aborted_uploads == 0
    assert len(app.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1

    later = datetime.now(UTC) + timedelta(seconds=h.settings.s3.multipart_expiry_seconds + 60)
    report = await collect(h.res, now=later)
    assert report.aborted_uploads == 1
    assert app.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert bucket_files(services) == [], "the parts are gone from the disk"
    where = f"/data/buckets/{bucket}"
    left = bucket_files(services, "-mindepth", "1")
    # Only the gateway's fixed temporary directories stay: nothing per upload.
    assert set(left) <= {f"{where}/.sgwtmp", f"{where}/.sgwtmp/multipart"}, left


async def test_clean_up_deletes_orphans_and_abandoned_uploads_and_keeps_files(
    h: Harness, services: Services
) -> None:
    _, auth = await h.user("gc@example.com")
    # A file that is ready: kept.
    kept = await _declare(h, auth, BODY, "text/plain")
    async with httpx.AsyncClient() as s3:
        put = await s3.put(kept["upload_url"], content=BODY, headers=kept["upload_headers"])
        assert put.status_code == 200, put.text
    pid, fid = kept["project_id"], kept["file"]["id"]
    r = await h.client.post(f"/api/v1/projects/{pid}/files/{fid}/complete", headers=auth)
    assert r.status_code == 202, r.text
    # Uploaded but never completed: abandoned.
    abandoned = await _declare(h, auth, BODY, "text/plain")
    async with httpx.AsyncClient() as s3:
        put = await s3.put(abandoned["upload_url"], content=BODY, headers=abandoned["upload_headers"])
        assert put.status_code == 200, put.text
    # A project deleted with its files: the object stays behind, an orphan.
    doomed = await _declare(h, auth, BODY, "text/plain")
    async with httpx.AsyncClient() as s3:
        put = await s3.put(doomed["upload_url"], content=BODY, headers=doomed["upload_headers"])
        assert put.status_code == 200, put.text
    r = await h.client.delete(f"/api/v1/projects/{doomed['project_id']}", headers=auth)
    assert r.status_code == 204, r.text
    assert len(bucket_files(services)) == 3

    # Young: nothing is touched.
    assert await collect(h.res) == Report()

    s = h.settings.s3
    later = datetime.now(UTC) + timedelta(seconds=max(s.orphan_grace_seconds, s.pending_expiry_seconds) + 60)
    report = await collect(h.res, now=later)
    assert report.deleted_orphans == 1
    assert report.expired_pending == 1
    assert bucket_files(services) == [f"/data/buckets/{services.s3_bucket}/projects/{pid}/{fid}"]
    gone = await h.client.get(
        f"/api/v1/projects/{abandoned['project_id']}/files/{abandoned['file']['id']}", headers=auth
    )
    assert gone.status_code == 404
    kept_row = await h.client.get(f"/api/v1/projects/{pid}/files/{fid}", headers=auth)
    assert kept_row.status_code == 200
    # A second pass finds nothing more to do.
    assert await collect(h.res, now=later) == Report()


async def test_serve_cleans_up_periodically_on_one_replica_at_a_time(h: Harness, services: Services) -> None:
    """The scheduled job `serve` runs: a pass every interval, skipped while another replica
    holds the lock."""
    s3 = h.settings.s3.model_copy(update={"gc_interval_seconds": 1, "multipart_expiry_seconds": 0})
    res = dataclasses.replace(h.res, settings=h.settings.model_copy(update={"s3": s3}))
    app = s3_client(services)
    bucket = services.s3_bucket
    app.create_multipart_upload(Bucket=bucket, Key="projects/periodic/upload")

    async def uploads_left(seconds: float) -> int:
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            left = len(app.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
            if not left or asyncio.get_running_loop().time() > deadline:
                return left
            await asyncio.sleep(0.2)

    # Another replica holds the lock: this one skips its rounds.
    await h.res.redis.set(gc.LOCK_KEY, "another replica", ex=60)
    task = asyncio.create_task(gc.run_periodically(res, first_delay=0))
    try:
        assert await uploads_left(2.5) == 1
        await h.res.redis.delete(gc.LOCK_KEY)
        assert await uploads_left(10) == 0
        assert await h.res.redis.get(gc.LOCK_KEY) == str(os.getpid()), "this replica took it"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_gc_storage_runs_one_pass_from_the_command_line(services: Services, migrated: object) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "hearth-app")
    out = subprocess.run(
        [exe, "gc-storage"], env=services.app_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "multipart uploads aborted" in out.stdout
    assert "orphaned objects deleted" in out.stdout
