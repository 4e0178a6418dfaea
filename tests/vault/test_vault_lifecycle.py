"""Retention (expired and unheld deleted, held kept, evidence until its case closes), consent
withdrawal with a receipt, and transfer packages that an outsider can verify."""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.crypto.keys import generate_age_identity, load_signing_key
from station.timeutil import iso, utcnow
from tests.vault.vault_helpers import FakeDock, make_vault
from vault import access
from vault.access import Refused
from vault.accesslog import verify
from vault.catalog import ACCESS, AUDIT
from vault.intake import load_identities
from vault.retention import sweep
from vault.transfer import make_package, verify_package
from vault.withdraw import withdraw

LEARNING = {"consent": {"given": True, "method": "written", "note": None}}


def _setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = make_vault(tmp_path / "v")
    cat = env.catalog()
    dock = FakeDock(tmp_path / "d", "dock-a", env.inbox, env.recipient)
    dock.register(cat)
    return env, cat, dock


def test_sweep_deletes_expired_unheld_and_keeps_held(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    old = utcnow() - timedelta(days=40)
    expired = [dock.deliver(i, started=old + timedelta(minutes=i)) for i in range(3)]
    short = dock.deliver(5, retention_days=7, started=utcnow() - timedelta(days=8))  # the dock's own retention
    fresh = dock.deliver(6)
    evidence = dock.deliver(7, tag="evidence", tag_details={"case_number": "2026-HH-1"}, started=old)
    learning = dock.deliver(8, tag="learning", tag_details=LEARNING, started=old)
    env.intake(cat).run_once()
    access.hold(env.cfg, cat, expired[0]["id"], case="KL-9", reason="complaint received", user_name="privacy")
    report = sweep(cat, env.inbox)
    deleted = {d["id"] for d in report.deleted}
    assert deleted == {expired[1]["id"], expired[2]["id"], short["id"]}
    assert [h["id"] for h in report.kept_on_hold] == [expired[0]["id"]]
    for r in (expired[1], expired[2], short):
        assert not r["payload"].exists() and not r["manifest"].exists()
        row = cat.recording(r["id"])
        assert row is not None and row.state == "deleted" and row.wearer_id is None
    for r in (expired[0], fresh, evidence, learning):
        assert r["payload"].exists() and cat.recording(r["id"]).state == "catalogued"  # type: ignore[union-attr]
    log = [json.loads(line) for line in env.cfg.audit_log_path.read_text().splitlines()]
    assert sorted(e["details"]["recording"] for e in log if e["what"] == "recording.deleted") == sorted(deleted)
    assert sweep(cat, env.inbox).deleted == []  # nothing twice
    # Evidence is kept until its case is closed.
    with pytest.raises(Refused, match="may close case"):
        access.close_case(env.cfg, cat, "2026-HH-1", user_name="handler")
    assert access.close_case(env.cfg, cat, "2026-HH-1", user_name="privacy") == 1
    assert {d["id"] for d in sweep(cat, env.inbox).deleted} == {evidence["id"]}
    assert verify(env.cfg.audit_log_path, cat.anchor(AUDIT)).ok


def test_withdrawal_deletes_everywhere_and_gives_a_receipt(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    learn = dock.deliver(1, tag="learning", tag_details=LEARNING)
    plain = dock.deliver(2)
    env.intake(cat).run_once()
    with pytest.raises(Refused, match="only learning footage"):
        withdraw(env.cfg, cat, plain["id"], consent_ref="INT-1", user_name="privacy")
    with pytest.raises(Refused, match="may withdraw"):
        withdraw(env.cfg, cat, learn["id"], consent_ref="INT-1", user_name="coach")
    receipt = withdraw(env.cfg, cat, learn["id"], consent_ref="INT-2026-0042", user_name="privacy")
    assert receipt["sha256"] == learn["body"]["sha256"] and receipt["consent_ref"] == "INT-2026-0042"
    assert receipt["withdrawn_by"] == "privacy" and receipt["completed_at"]
    assert not learn["payload"].exists() and not learn["manifest"].exists()
    row = cat.recording(learn["id"])
    assert row is not None and row.state == "withdrawn" and row.wearer_id is None and row.consent is None
    with pytest.raises(Refused, match="already withdrawn"):
        withdraw(env.cfg, cat, learn["id"], consent_ref="INT-2026-0042", user_name="privacy")
    entries = [json.loads(line) for line in env.cfg.access_log_path.read_text().splitlines()]
    assert [e["what"] for e in entries].count("recording.withdrawn") == 1
    assert [e["what"] for e in entries].count("withdraw.refused") == 3


def _independent_check(pkg: Path) -> dict[str, object]:
    """What a receiving party can do without bodydock: sha256sum, and the signature in a few lines."""
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=pkg, check=True)
    doc = json.loads((pkg / "transfer-form.json").read_bytes())
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(doc["signature"]["key"].removeprefix("ed25519:")))
    key.verify(base64.b64decode(doc["signature"]["value"]), rfc8785.dumps(doc["form"]))
    form: dict[str, object] = doc["form"]
    return form


def test_transfer_package_verifies_independently_and_tampering_is_caught(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    a = dock.deliver(1, tag="evidence", tag_details={"case_number": "PV-2026-7"}, size=140_000)
    b = dock.deliver(2)
    learn = dock.deliver(3, tag="learning", tag_details=LEARNING)
    env.intake(cat).run_once()
    cfg = env.cfg
    ids, key = load_identities(cfg.identity_file), load_signing_key(cfg.signing_key)
    with pytest.raises(Refused, match="learning footage is never handed over"):
        make_package(cfg, cat, ids, key, [a["id"], learn["id"]], to="Politie Eenheid Den Haag",
                     basis="art. 6 lid 1 sub c AVG", case="PV-2026-7", user_name="privacy")
    with pytest.raises(Refused, match="may transfer"):
        make_package(cfg, cat, ids, key, [a["id"]], to="Politie", basis="b", case="PV-2026-7", user_name="coach")
    pkg = make_package(cfg, cat, ids, key, [a["id"], b["id"]], to="Politie Eenheid Den Haag",
                       basis="art. 6 lid 1 sub c AVG; vordering art. 126nd Sv", case="PV-2026-7",
                       user_name="liaison")
    form = _independent_check(pkg)
    assert form["case_number"] == "PV-2026-7" and form["to"] == "Politie Eenheid Den Haag"
    assert (pkg / f"recordings/{a['id']}.mp4").read_bytes() == a["plain"]  # the original, byte-exact
    html = (pkg / "transfer-form.html").read_text()
    assert "PV-2026-7" in html and a["body"]["sha256"] in html and "126nd" in html
    assert verify_package(pkg)[1] == []
    entries = [json.loads(line) for line in cfg.access_log_path.read_text().splitlines()]
    whats = [e["what"] for e in entries]
    assert whats.index("transfer.opened") < whats.index("transfer.completed")
    assert whats.count("transfer.refused") == 2
    # Tampering: a changed byte in the footage, and a re-written form.
    footage = pkg / f"recordings/{b['id']}.mp4"
    data = bytearray(footage.read_bytes())
    data[0] ^= 1
    footage.write_bytes(bytes(data))
    problems = verify_package(pkg)[1]
    assert any("does not match the form" in p for p in problems)
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=pkg, capture_output=True).returncode
    doc = json.loads((pkg / "transfer-form.json").read_bytes())
    doc["form"]["case_number"] = "PV-2026-8"
    (pkg / "transfer-form.json").write_text(json.dumps(doc))
    assert verify_package(pkg)[1] == ["transfer form signature does not verify"]
    assert verify(cfg.access_log_path, cat.anchor(ACCESS)).ok


def test_transfer_encrypted_to_the_recipient(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    a = dock.deliver(1, size=90_000)
    env.intake(cat).run_once()
    recipient = generate_age_identity(tmp_path / "police-id.txt")
    cfg = env.cfg
    pkg = make_package(cfg, cat, load_identities(cfg.identity_file), load_signing_key(cfg.signing_key), [a["id"]],
                       to="OM Arrondissementsparket", basis="vordering", case="OM-1", user_name="privacy",
                       recipient=recipient)
    _independent_check(pkg)
    enc = pkg / f"recordings/{a['id']}.mp4.age"
    out = subprocess.run(["age", "-d", "-i", str(tmp_path / "police-id.txt"), str(enc)], capture_output=True,
                         check=True).stdout
    assert out == a["plain"]
    assert verify_package(pkg, identities=load_identities(tmp_path / "police-id.txt"))[1] == []
    assert iso(utcnow())[:4] in json.loads((pkg / "transfer-form.json").read_bytes())["form"]["created_at"]
