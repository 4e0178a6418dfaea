"""Faults between the station's outbox and real radosgw. In each: every recording in the bucket
exactly once with its SHA-256, nothing under a final key before it is complete, no abandoned
multipart upload left, the local copy deleted only after the vault confirmed it."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import pytest

from station.outbox.deliverer import Deliverer, DeliveryPolicy
from tests.ceph_fixture import S3Lab, S3User, write_credentials
from tests.conftest import ROOT, wait_for
from tests.station.outbox_helpers import Outbox, make_outbox
from tests.upload.conftest import make_item
from tests.upload.s3.conftest import dock_settings, dock_target
from upload.s3_target import S3Target

MiB = 1024 * 1024
FAST_RETRY = DeliveryPolicy(parallel=2, retry_initial_s=0.2, retry_max_s=1.0)


@pytest.fixture
def ob(tmp_path: Path) -> Iterator[Outbox]:
    o = make_outbox(tmp_path)
    yield o
    o.close()


def queue(ob: Outbox, n: int, size: int) -> dict[str, str]:
    out = {}
    for i in range(n):
        data = os.urandom(size + i)
        ob.queue(f"REC{i:02d}", data, age_s=100 - i)
        out[f"REC{i:02d}"] = hashlib.sha256(data).hexdigest()
    return out


def all_confirmed(ob: Outbox, truth: dict[str, str]) -> bool:
    return all(ob.status(r) == ("confirmed", "deleted") for r in truth)


def never_deleted_unconfirmed(ob: Outbox, truth: dict[str, str]) -> None:
    for rid in truth:
        status, local = ob.status(rid)
        assert local == "present" or status == "confirmed", f"{rid}: {status}/{local}"


def payload_keys(lab: S3Lab, bucket: str) -> dict[str, list[dict[str, object]]]:
    return {k: v for k, v in lab.objects(bucket).items() if k.endswith(".mp4.age") and "/audit/" not in k}


def assert_bucket_exactly(lab: S3Lab, bucket: str, ob: Outbox, truth: dict[str, str]) -> None:
    keys = payload_keys(lab, bucket)
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == sorted(f"{r}.mp4.age" for r in truth)
    for key, versions in keys.items():
        assert len(versions) == 1, f"{key} was written {len(versions)} times"
        rid = key.rsplit("/", 1)[1].removesuffix(".mp4.age")
        assert lab.sha256(bucket, key) == truth[rid], f"{rid} differs in the bucket"
        manifest = key.removesuffix(".mp4.age") + ".manifest.json"
        body = lab.client().get_object(Bucket=bucket, Key=manifest)["Body"].read()
        assert body == b'{"recording": "%s"}\n' % rid.encode()
    assert not lab.uploads(bucket), "an abandoned multipart upload was left"
    for rid in truth:
        assert ob.status(rid) == ("confirmed", "deleted")


def run(ob: Outbox, target: S3Target, policy: DeliveryPolicy = FAST_RETRY) -> Deliverer:
    d = ob.deliverer(target, policy)
    d.start()
    return d


def parts_uploaded(lab: S3Lab, bucket: str) -> int:
    c, n = lab.client(), 0
    for u in lab.uploads(bucket):
        try:
            n += len(c.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", []))
        except botocore.exceptions.ClientError as exc:
            # Completed (or aborted) between the listing and this look: no longer under way.
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "NoSuchUpload"):
                raise
    return n


def test_radosgw_killed_mid_multipart_and_restarted(ob: Outbox, s3lab: S3Lab, bucket: str) -> None:
    truth = queue(ob, 3, 12 * MiB)
    policy = DeliveryPolicy(parallel=2, retry_initial_s=0.2, retry_max_s=1.0, bandwidth_bytes_per_s=12 * MiB)
    target = dock_target(s3lab, bucket, io_timeout_s=5.0)
    d = run(ob, target, policy)
    try:
        wait_for(lambda: parts_uploaded(s3lab, bucket) >= 1, 60, what="a multipart upload under way")
        s3lab.cluster.kill_rgw()
        assert not all_confirmed(ob, truth)
        wait_for(lambda: d.last_error is not None, 60, what="the outage noticed")
        never_deleted_unconfirmed(ob, truth)
        s3lab.cluster.start_rgw()
        wait_for(lambda: all_confirmed(ob, truth), 120, what="upload after radosgw restart")
    finally:
        d.stop()
        target.close()
        if "client.rgw.a" not in s3lab.cluster.daemons:
            s3lab.cluster.start_rgw()
    assert_bucket_exactly(s3lab, bucket, ob, truth)


def test_network_cut_and_restored(ob: Outbox, s3lab: S3Lab, bucket: str) -> None:
    truth = queue(ob, 2, 12 * MiB)
    policy = DeliveryPolicy(parallel=2, retry_initial_s=0.2, retry_max_s=1.0, bandwidth_bytes_per_s=8 * MiB)
    target = dock_target(s3lab, bucket, io_timeout_s=3.0, connect_timeout_s=2.0)
    d = run(ob, target, policy)
    try:
        wait_for(lambda: parts_uploaded(s3lab, bucket) >= 1, 60, what="a multipart upload under way")
        s3lab.cluster.cut_network()
        wait_for(lambda: d.last_error is not None and "unreachable" in d.last_error, 60, what="the cut noticed")
        never_deleted_unconfirmed(ob, truth)
        s3lab.cluster.restore_network()
        wait_for(lambda: all_confirmed(ob, truth), 120, what="upload after the network came back")
    finally:
        s3lab.cluster.restore_network()
        d.stop()
        target.close()
    assert_bucket_exactly(s3lab, bucket, ob, truth)


def test_quota_full_then_raised(ob: Outbox, s3lab: S3Lab, bucket: str) -> None:
    admin = s3lab.cluster.admin
    admin("quota", "set", "--quota-scope=bucket", f"--bucket={bucket}", f"--max-size={10 * MiB}")
    admin("quota", "enable", "--quota-scope=bucket", f"--bucket={bucket}")
    truth = queue(ob, 3, 6 * MiB)  # 18 MiB into 10 MiB
    target = dock_target(s3lab, bucket)
    d = run(ob, target)
    try:
        wait_for(lambda: "vault-full" in ob.open_alerts(), 60, what="the vault-full alert")
        assert not all_confirmed(ob, truth)
        never_deleted_unconfirmed(ob, truth)
        for key in payload_keys(s3lab, bucket):  # whatever is under a final key is complete
            rid = key.rsplit("/", 1)[1].removesuffix(".mp4.age")
            assert s3lab.sha256(bucket, key) == truth[rid]
        admin("quota", "set", "--quota-scope=bucket", f"--bucket={bucket}", "--max-size=-1")
        wait_for(lambda: all_confirmed(ob, truth), 120, what="upload after the quota was raised")
        wait_for(lambda: "vault-full" not in ob.open_alerts(), 10)
    finally:
        d.stop()
        target.close()
    assert_bucket_exactly(s3lab, bucket, ob, truth)


def test_wrong_credentials_then_fixed(ob: Outbox, s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    truth = queue(ob, 2, 1 * MiB)
    wrong = write_credentials(tmp_path / "wrong.credentials",
                              S3User(uid="dock", access_key=s3lab.dock.access_key, secret_key="not-the-secret"))
    target = dock_target(s3lab, bucket, credentials_file=wrong)
    d = run(ob, target)
    try:
        wait_for(lambda: "vault-auth" in ob.open_alerts(), 30, what="the vault-auth alert")
        never_deleted_unconfirmed(ob, truth)
        assert "not-the-secret" not in (d.last_error or "")
    finally:
        d.stop()
        target.close()
    assert not payload_keys(s3lab, bucket)
    target = dock_target(s3lab, bucket)
    d = run(ob, target)
    try:
        wait_for(lambda: all_confirmed(ob, truth), 60)
        wait_for(lambda: "vault-auth" not in ob.open_alerts(), 10)
    finally:
        d.stop()
        target.close()
    assert_bucket_exactly(s3lab, bucket, ob, truth)


def test_station_clock_skewed_past_the_signature_window(s3lab: S3Lab, bucket: str, tmp_path: Path) -> None:
    """The dock process runs under libfaketime 20 minutes ahead (S3 allows 15): refused, named as
    clock skew, nothing written; with the right clock the same item goes up once."""
    if not Path("/usr/bin/faketime").exists():
        pytest.fail("faketime is not installed (Debian package faketime; `make deps` installs it)")
    data = os.urandom(6 * MiB)
    item = make_item(tmp_path / "item", data)
    script = (
        "import sys, pickle, json, time; from upload.s3_target import S3Target; "
        "from station.outbox.target import VaultError\n"
        "settings, item = pickle.loads(sys.stdin.buffer.read())\n"
        "try:\n    S3Target(settings).deliver(item); print(json.dumps({'ok': True, 't': time.time()}))\n"
        "except VaultError as e:\n"
        "    print(json.dumps({'alert': e.alert and e.alert.value, 'permanent': e.permanent, 'msg': str(e),"
        " 't': time.time()}))\n"
    )
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    r = subprocess.run(["faketime", "-f", "+20m", sys.executable, "-c", script], cwd=ROOT, env=env,
                       input=pickle.dumps((dock_settings(s3lab, bucket), item)), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    out = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert out["t"] - time.time() > 15 * 60, "faketime did not skew the clock"
    assert out.get("alert") == "vault-clock-skew" and out["permanent"], out
    assert "clock" in out["msg"]
    assert not s3lab.objects(bucket) and not s3lab.uploads(bucket)
    receipt = dock_target(s3lab, bucket).deliver(item)
    assert receipt.sha256 == hashlib.sha256(data).hexdigest()
    assert [len(v) for v in payload_keys(s3lab, bucket).values()] == [1]
