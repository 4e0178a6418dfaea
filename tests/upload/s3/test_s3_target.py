"""The S3 target against real radosgw: multipart with server-checked part MD5s, the whole
object's SHA-256 checked before it counts, resume from listed parts, abandoned uploads aborted,
nothing under a final key before it is complete, Object Lock on every object."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from station.outbox.target import VaultAlert, VaultError
from station.outbox.transfer_process import TransferProcess
from tests.ceph_fixture import S3Lab
from tests.conftest import ROOT
from tests.upload.conftest import make_item
from tests.upload.s3.conftest import dock_settings, dock_target
from upload.s3_target import SHA_META, S3Target, load_credentials, multipart_etag

MiB = 1024 * 1024
KEY = "dock-1/2026/11/23/CAM1-20261123T080000-abc.mp4.age"
MANIFEST_KEY = "dock-1/2026/11/23/CAM1-20261123T080000-abc.manifest.json"


def test_multipart_delivery_is_complete_checked_and_locked(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(12 * MiB + 123)  # three parts of 5 MiB
    item = make_item(tmp_path, data)
    target = dock_target(s3lab, bucket)
    receipt = target.deliver(item)
    assert receipt.payload_path == f"s3://{bucket}/{KEY}" and not receipt.already_present
    c = s3lab.client()
    head = c.head_object(Bucket=bucket, Key=KEY)
    assert head["ContentLength"] == len(data)
    assert head["Metadata"][SHA_META] == hashlib.sha256(data).hexdigest()
    md5s = [hashlib.md5(data[i:i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB)]
    assert head["ETag"].strip('"') == multipart_etag(md5s)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert s3lab.sha256(bucket, KEY) == hashlib.sha256(data).hexdigest()
    assert c.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read() == item.manifest_path.read_bytes()
    assert not s3lab.uploads(bucket)
    # Idempotent: recognised, not sent again (one version of each key).
    again = target.deliver(item)
    assert again.already_present
    assert {k: len(v) for k, v in s3lab.objects(bucket).items()} == {KEY: 1, MANIFEST_KEY: 1}


def test_small_payload_and_readback_confirm(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    item = make_item(tmp_path, b"tiny")
    receipt = dock_target(s3lab, bucket, confirm="readback").deliver(item)
    assert receipt.sha256 == hashlib.sha256(b"tiny").hexdigest()
    assert s3lab.sha256(bucket, KEY) == receipt.sha256


def test_server_refuses_a_part_with_a_wrong_content_md5(s3lab: S3Lab, bucket: str) -> None:
    # What the per-part check rests on: radosgw verifies Content-MD5 (and ignores x-amz-checksum-*).
    c = s3lab.client(s3lab.dock)
    up = c.create_multipart_upload(Bucket=bucket, Key="x/bad")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError, match="BadDigest"):
        c.upload_part(Bucket=bucket, Key="x/bad", UploadId=up["UploadId"], PartNumber=1, Body=b"data",
                      ContentMD5=wrong)
    c.abort_multipart_upload(Bucket=bucket, Key="x/bad", UploadId=up["UploadId"])


def test_stored_copy_not_matching_the_journal_is_never_completed(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    item = make_item(tmp_path, os.urandom(6 * MiB))
    item = dataclasses.replace(item, payload_sha256="0" * 64)
    with pytest.raises(VaultError, match="upload aborted"):
        dock_target(s3lab, bucket).deliver(item)
    assert not s3lab.objects(bucket) and not s3lab.uploads(bucket)


def test_confirmed_payload_missing_is_never_sent_again(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    item = dataclasses.replace(make_item(tmp_path, b"x" * 100), payload_confirmed=True)
    with pytest.raises(VaultError, match="never replaced") as info:
        dock_target(s3lab, bucket).deliver(item)
    assert info.value.permanent and not s3lab.objects(bucket)


def test_crash_mid_multipart_leaves_nothing_under_the_final_key_and_resumes(
        s3lab: S3Lab, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = os.urandom(20 * MiB)
    item = make_item(tmp_path, data)
    # A real SIGKILL of the uploading process after its second part was acknowledged.
    script = (
        "import sys, pickle; from upload.s3_target import S3Target\n"
        "settings, item = pickle.loads(sys.stdin.buffer.read())\n"
        "S3Target(settings).deliver(item)\n"
    )
    settings = dock_settings(s3lab, bucket, parallel_parts=1)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, input=pickle.dumps((settings, item)),
                       env={**os.environ, "BODYDOCK_CRASH_AT": "s3.part_sent@2"}, capture_output=True)
    assert r.returncode == -9, r.stderr.decode()[-2000:]
    assert KEY not in s3lab.objects(bucket)  # nothing visible under the final key
    uploads = s3lab.uploads(bucket)
    assert [u["Key"] for u in uploads] == [KEY]
    listed = s3lab.client().list_parts(Bucket=bucket, Key=KEY, UploadId=uploads[0]["UploadId"])["Parts"]
    assert len(listed) >= 2
    # A stray second upload of the same key (an older attempt) is aborted, not completed.
    s3lab.client(s3lab.dock).create_multipart_upload(Bucket=bucket, Key=KEY)
    caplog.set_level(logging.INFO, logger="upload.s3_target")
    dock_target(s3lab, bucket).deliver(item)
    # Resumed from the parts the server listed (not sent again); the stray upload aborted.
    assert f"with {len(listed)} parts already there" in caplog.text
    assert "aborting an unfinished upload" in caplog.text
    assert s3lab.sha256(bucket, KEY) == hashlib.sha256(data).hexdigest()
    assert not s3lab.uploads(bucket)
    assert len(s3lab.objects(bucket)[KEY]) == 1


def test_dock_credentials_cannot_delete_or_release(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    item = make_item(tmp_path, b"evidence")
    dock_target(s3lab, bucket).deliver(item)
    c = s3lab.client(s3lab.dock)
    version = s3lab.objects(bucket)[KEY][0]["VersionId"]
    for kw in ({}, {"VersionId": version}, {"VersionId": version, "BypassGovernanceRetention": True}):
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            c.delete_object(Bucket=bucket, Key=KEY, **kw)
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        c.put_object_legal_hold(Bucket=bucket, Key=KEY, LegalHold={"Status": "ON"})
    assert [v.get("DeleteMarker") for v in s3lab.objects(bucket)[KEY]] == [None]


def test_credentials_file_must_be_private_and_is_never_shown(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    creds = s3lab.creds(s3lab.dock)
    assert s3lab.dock.secret_key not in repr(load_credentials(creds))
    loose = tmp_path / "loose.credentials"
    loose.write_bytes(creds.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(VaultError, match="chmod 600") as info:
        dock_target(s3lab, bucket, credentials_file=loose).deliver(make_item(tmp_path, b"x"))
    assert info.value.alert is VaultAlert.AUTH and s3lab.dock.secret_key not in str(info.value)


def test_crash_between_complete_and_retention_still_ends_locked(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    # Ceph 16 drops the Object Lock headers of CreateMultipartUpload, so a completed object is
    # unlocked until its retention is set; a dock killed in between must lock it on its next try.
    data = os.urandom(6 * MiB)
    item = make_item(tmp_path, data)
    script = (
        "import sys, pickle; from upload.s3_target import S3Target\n"
        "settings, item = pickle.loads(sys.stdin.buffer.read())\n"
        "S3Target(settings).deliver(item)\n"
    )
    settings = dock_settings(s3lab, bucket)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, input=pickle.dumps((settings, item)),
                       env={**os.environ, "BODYDOCK_CRASH_AT": "s3.completed"}, capture_output=True)
    assert r.returncode == -9, r.stderr.decode()[-2000:]
    c = s3lab.client()
    assert "ObjectLockMode" not in c.head_object(Bucket=bucket, Key=KEY)  # the window this test is about
    receipt = dock_target(s3lab, bucket).deliver(item)
    assert receipt.sha256 == hashlib.sha256(data).hexdigest()
    head = c.head_object(Bucket=bucket, Key=KEY)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert {k: len(v) for k, v in s3lab.objects(bucket).items()} == {KEY: 1, MANIFEST_KEY: 1}


def test_unsigned_parts_are_still_checked_by_their_content_md5(s3lab: S3Lab, bucket: str) -> None:
    # What sending the parts as UNSIGNED-PAYLOAD rests on: radosgw still refuses a body that
    # does not match its (signed) Content-MD5, and every other request is signed whole.
    target = dock_target(s3lab, bucket)
    parts, control = target._parts_client(), target.client()
    payload_hash: dict[str, list[str]] = {"UploadPart": [], "CreateMultipartUpload": []}

    def seen(op: str) -> Callable[..., None]:
        def hook(request: Any, **_: Any) -> None:
            value = request.headers.get("X-Amz-Content-SHA256", b"")
            payload_hash[op].append(value.decode() if isinstance(value, bytes) else str(value))
        return hook

    for c in (parts, control):
        for op in payload_hash:
            c.meta.events.register(f"before-send.s3.{op}", seen(op))
    up = control.create_multipart_upload(Bucket=bucket, Key="x/unsigned")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError, match="BadDigest"):
        parts.upload_part(Bucket=bucket, Key="x/unsigned", UploadId=up["UploadId"], PartNumber=1,
                          Body=bytearray(b"data"), ContentMD5=wrong)  # type: ignore[arg-type]
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    parts.upload_part(Bucket=bucket, Key="x/unsigned", UploadId=up["UploadId"], PartNumber=1,
                      Body=bytearray(b"data"), ContentMD5=right)  # type: ignore[arg-type]
    control.abort_multipart_upload(Bucket=bucket, Key="x/unsigned", UploadId=up["UploadId"])
    assert payload_hash["UploadPart"] == ["UNSIGNED-PAYLOAD"] * 2
    assert payload_hash["CreateMultipartUpload"] == [hashlib.sha256(b"").hexdigest()]  # signed


def test_delivered_from_the_transfer_process_with_its_alerts(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    # How the daemon runs it (vault.upload.separate_process): the target built and run in a child.
    data = os.urandom(11 * MiB)
    target = TransferProcess(functools.partial(S3Target, dock_settings(s3lab, bucket)))
    try:
        assert target.pid != os.getpid() and bucket in target.description
        receipt = target.deliver(make_item(tmp_path, data))
        assert s3lab.sha256(bucket, KEY) == receipt.sha256 == hashlib.sha256(data).hexdigest()
        assert not s3lab.uploads(bucket)
    finally:
        target.close()
    wrong = tmp_path / "wrong.credentials"
    fd = os.open(wrong, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"[default]\naws_access_key_id = NOBODY\naws_secret_access_key = nothing\n")
    os.close(fd)
    refused = TransferProcess(functools.partial(S3Target, dock_settings(s3lab, bucket, credentials_file=wrong)))
    try:
        with pytest.raises(VaultError) as err:
            refused.deliver(make_item(tmp_path / "again", data))
        assert err.value.alert is VaultAlert.AUTH
    finally:
        refused.close()
