"""One set of tests over both places a vault's deliveries can be: a folder and an S3 bucket
(real radosgw, Object Lock on, the docks writing under the bucket policy of docs/vault.md).

Intake (accept, quarantine, a rerun repeats nothing), reconcile by listing, view, hold and
release (the bucket's own legal hold follows), the retention sweep (expired unheld deleted with
every version, held kept even from the vault's own bypass) and withdrawal (every version gone).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from station.timeutil import utcnow
from tests.ceph_fixture import S3Lab
from tests.vault.vault_helpers import FakeDock, VaultEnv, make_vault
from vault import access
from vault.reconcile import reconcile
from vault.retention import sweep
from vault.stores import open_store
from vault.withdraw import withdraw

LEARNING = {"consent": {"given": True, "method": "written", "note": None}}


@dataclass
class Where:
    """The vault's deliveries in a folder or a bucket, and what a dock or an intruder does there."""

    kind: str
    env: VaultEnv
    staging: Path  # where the fake dock writes; a bucket gets it by publish()
    lab: S3Lab | None = None
    bucket: str = ""

    def publish(self) -> None:
        """As a dock delivers: payloads and segments first, manifests last, each with the floor."""
        if self.lab is None:
            return
        c = self.lab.client(self.lab.dock)
        files = sorted((p for p in self.staging.rglob("*") if p.is_file()), key=lambda p: p.name.endswith(
            ".manifest.json"))
        until = dt.datetime.now(dt.UTC) + timedelta(days=1)
        for p in files:
            data = p.read_bytes()
            c.put_object(Bucket=self.bucket, Key=p.relative_to(self.staging).as_posix(), Body=data,
                         ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),
                         ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
            p.unlink()

    def has(self, rel: str) -> bool:
        if self.lab is None:
            return (self.env.inbox / rel).exists()
        return rel in self.lab.objects(self.bucket)

    def versions(self, rel: str) -> int:
        if self.lab is None:
            return int((self.env.inbox / rel).exists())
        return len(self.lab.objects(self.bucket).get(rel, []))

    def remove_behind_the_toolkits_back(self, rel: str) -> None:
        if self.lab is None:
            (self.env.inbox / rel).unlink()
            return
        c = self.lab.client()
        for v in self.lab.objects(self.bucket)[rel]:
            c.delete_object(Bucket=self.bucket, Key=rel, VersionId=v["VersionId"], BypassGovernanceRetention=True)

    def legal_hold(self, rel: str) -> str | None:
        if self.lab is None:
            return None
        return str(self.lab.client().get_object_legal_hold(Bucket=self.bucket, Key=rel)["LegalHold"]["Status"])


@pytest.fixture(params=["folder", "bucket"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    env = make_vault(tmp_path / "v")
    if request.param == "folder":
        return Where(kind="folder", env=env, staging=env.inbox)
    lab: S3Lab = request.getfixturevalue("s3lab")
    bucket = lab.new_bucket("vault")
    creds = lab.creds(lab.vault)
    text = env.config_path.read_text().replace(
        "  inbox: inbox\n",
        f"  bucket:\n    endpoint: {lab.endpoint}\n    bucket: {bucket}\n    credentials_file: {creds}\n")
    env.config_path.write_text(text)
    return Where(kind="bucket", env=env, staging=tmp_path / "staging", lab=lab, bucket=bucket)


def _dock(where: Where, tmp_path: Path) -> tuple[Any, FakeDock]:
    cat = where.env.catalog()
    dock = FakeDock(tmp_path / "d", "dock-a", where.staging, where.env.recipient)
    dock.register(cat)
    return cat, dock


def _rel(where: Where, rec: dict[str, Any], key: str) -> str:
    return Path(rec[key]).relative_to(where.staging).as_posix()


def test_intake_quarantine_and_reconcile_by_listing(where: Where, tmp_path: Path) -> None:
    cat, dock = _dock(where, tmp_path)
    recs = [dock.deliver(i) for i in range(3)]
    rels = [_rel(where, r, "payload") for r in recs]
    forged = dock.deliver(9, key=FakeDock(tmp_path / "other", "dock-a", tmp_path / "x", where.env.recipient).key)
    forged_rel = _rel(where, forged, "manifest")
    dock.cut_segment()
    where.publish()
    s = where.env.intake(cat).run_once()
    assert (s.accepted, s.segments, s.quarantined) == (3, 1, 1), s.reasons
    assert not where.has(forged_rel)  # moved out of the vault into quarantine
    (q,) = cat.all("SELECT folder FROM quarantine")
    assert (where.env.cfg.quarantine_dir / q["folder"] / Path(forged_rel).name).exists()
    again = where.env.intake(cat).run_once()
    assert (again.accepted, again.quarantined, again.unchanged) == (0, 0, 4)
    (r,) = reconcile(where.env.cfg, cat)
    assert r.in_vault == 3 and not r.unexpected
    assert [m["recording"] for m in r.missing] == [forged["id"]]
    where.remove_behind_the_toolkits_back(rels[1])
    (r,) = reconcile(where.env.cfg, cat)
    assert {m["recording"]: m["why"] for m in r.missing}[recs[1]["id"]].startswith("catalogued, but its file")
    (r,) = reconcile(where.env.cfg, cat, deep=True)
    assert len(r.missing) == 2


def test_view_reads_from_the_store(where: Where, tmp_path: Path) -> None:
    cat, dock = _dock(where, tmp_path)
    rec = dock.deliver(1)
    where.publish()
    where.env.intake(cat).run_once()
    out = io.BytesIO()
    access.view(where.env.cfg, cat, where.env.intake(cat).identities, rec["id"], purpose="complaint", case="KL-1",
                user_name="handler", stream=out)
    assert out.getvalue() == rec["plain"]


def test_hold_sweep_and_withdrawal(where: Where, tmp_path: Path) -> None:
    cat, dock = _dock(where, tmp_path)
    old = utcnow() - timedelta(days=40)
    expired, held = dock.deliver(1, started=old), dock.deliver(2, started=old + timedelta(minutes=1))
    learn = dock.deliver(3, tag="learning", tag_details=LEARNING)
    where.publish()
    where.env.intake(cat).run_once()
    cfg = where.env.cfg
    hid = access.hold(cfg, cat, held["id"], case="KL-9", reason="complaint received", user_name="privacy")
    held_rel = _rel(where, held, "payload")
    if where.lab is not None:
        assert where.legal_hold(held_rel) == "ON"
        # Nobody deletes a held object: not the dock, not the vault itself with its bypass right.
        for user in (where.lab.dock, where.lab.vault):
            vid = where.lab.objects(where.bucket)[held_rel][0]["VersionId"]
            with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
                where.lab.client(user).delete_object(Bucket=where.bucket, Key=held_rel, VersionId=vid,
                                                     BypassGovernanceRetention=True)
    report = sweep(cat, open_store(cfg))
    assert [d["id"] for d in report.deleted] == [expired["id"]]
    assert [h["id"] for h in report.kept_on_hold] == [held["id"]]
    assert [where.versions(_rel(where, expired, k)) for k in ("payload", "manifest")] == [0, 0]
    assert where.has(held_rel)
    access.release(cfg, cat, hid, reason="complaint settled", user_name="privacy")
    if where.lab is not None:
        assert where.legal_hold(held_rel) == "OFF"
    assert [d["id"] for d in sweep(cat, open_store(cfg)).deleted] == [held["id"]]
    assert where.versions(held_rel) == 0
    receipt = withdraw(cfg, cat, learn["id"], consent_ref="INT-2026-7", user_name="privacy")
    assert sorted(receipt["removed"]) == sorted(f"vault:{_rel(where, learn, k)}" for k in ("payload", "manifest"))
    assert [where.versions(_rel(where, learn, k)) for k in ("payload", "manifest")] == [0, 0]


def test_a_hold_placed_in_the_bucket_by_hand_keeps_the_sweep_away(where: Where, tmp_path: Path) -> None:
    if where.lab is None:
        pytest.skip("a folder has no legal hold of its own; the catalog's holds are tested above")
    cat, dock = _dock(where, tmp_path)
    rec = dock.deliver(1, started=utcnow() - timedelta(days=40))
    where.publish()
    where.env.intake(cat).run_once()
    rel = _rel(where, rec, "payload")
    where.lab.client().put_object_legal_hold(Bucket=where.bucket, Key=rel, LegalHold={"Status": "ON"})
    report = sweep(cat, open_store(where.env.cfg))
    assert report.deleted == [] and [h["id"] for h in report.kept_on_hold] == [rec["id"]]
    assert where.has(rel) and cat.recording(rec["id"]).state == "catalogued"  # type: ignore[union-attr]
