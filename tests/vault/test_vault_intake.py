"""Intake: verified deliveries enter the catalog; everything else goes to quarantine with the
reason, an alert and a vault-audit entry. Reruns change nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.crypto.keys import KeyFileError, public_key_text
from station.crypto.signed import key_fingerprint, open_manifest, sign_manifest
from tests.vault.vault_helpers import FakeDock, make_vault
from vault.accesslog import verify
from vault.catalog import AUDIT
from vault.intake import load_identities
from vault.trust import TrustError, add_station


def _setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = make_vault(tmp_path / "v")
    cat = env.catalog()
    dock = FakeDock(tmp_path / "d", "dock-a", env.inbox, env.recipient)
    dock.register(cat)
    return env, cat, dock


def test_accepts_verified_recordings_and_is_idempotent(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    recs = [dock.deliver(i, size=70_000 * i + 1) for i in range(1, 4)]
    s = env.intake(cat).run_once()
    assert (s.accepted, s.quarantined) == (3, 0)
    row = cat.recording(recs[0]["id"])
    assert row is not None and row.state == "catalogued" and row.sha256 == recs[0]["body"]["sha256"]
    assert row.wearer_id == "BOA-1042" and row.duration_s == 10.0 and row.retention_days == 28
    again = env.intake(cat).run_once()
    assert (again.accepted, again.quarantined, again.unchanged) == (0, 0, 3)
    entries = [json.loads(line) for line in env.cfg.audit_log_path.read_text().splitlines()]
    assert [e["what"] for e in entries].count("recording.accepted") == 3
    assert verify(env.cfg.audit_log_path, cat.anchor(AUDIT)).ok


def _quarantined(cat, reason_part: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    rows = [dict(r) for r in cat.all("SELECT * FROM quarantine")]
    assert any(reason_part in str(r["reason"]) for r in rows), rows
    return rows


def test_manifest_resigned_with_unregistered_key_is_quarantined(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    rec = dock.deliver(1, key=Ed25519PrivateKey.generate())
    s = env.intake(cat).run_once()
    assert (s.accepted, s.quarantined) == (0, 1)
    rows = _quarantined(cat, "different station key")
    assert cat.recording(rec["id"]) is None
    assert not rec["payload"].exists() and not rec["manifest"].exists()  # moved out of the inbox
    assert (env.cfg.quarantine_dir / str(rows[0]["folder"]) / rec["payload"].name).exists()
    assert cat.all("SELECT * FROM alerts WHERE kind='quarantine'")
    assert "delivery.quarantined" in env.cfg.audit_log_path.read_text()


def test_unregistered_station_is_quarantined(tmp_path: Path) -> None:
    env, cat, _ = _setup(tmp_path)
    other = FakeDock(tmp_path / "o", "dock-x", env.inbox, env.recipient)
    other.deliver(1)
    assert env.intake(cat).run_once().quarantined == 1
    _quarantined(cat, "not registered")


def test_flipped_ciphertext_byte_is_quarantined(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    rec = dock.deliver(1, size=200_000)
    data = bytearray(rec["payload"].read_bytes())
    data[len(data) // 2] ^= 0x01
    rec["payload"].write_bytes(bytes(data))
    assert env.intake(cat).run_once().quarantined == 1
    _quarantined(cat, "ciphertext SHA-256 does not match")


def test_consistent_forgery_is_caught_by_decryption(tmp_path: Path) -> None:
    # The dock's key signs a manifest whose ciphertext hash matches, but whose plaintext hash lies.
    env, cat, dock = _setup(tmp_path)
    rec = dock.deliver(1)
    body = {k: v for k, v in rec["body"].items() if k != "version"}
    body["sha256"] = "00" * 32
    rec["manifest"].write_bytes(sign_manifest(body, dock.key))
    assert env.intake(cat).run_once().quarantined == 1
    _quarantined(cat, "plaintext SHA-256")


def test_missing_payload_and_wrong_folder(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    rec = dock.deliver(1)
    rec["payload"].unlink()
    other = FakeDock(tmp_path / "o", "dock-b", env.inbox, env.recipient)
    other.register(cat)
    rec2 = other.deliver(2)
    moved = env.inbox / "dock-a" / rec2["manifest"].relative_to(env.inbox / "dock-b")
    moved.parent.mkdir(parents=True, exist_ok=True)
    rec2["manifest"].rename(moved)
    s = env.intake(cat).run_once()
    assert s.quarantined == 2
    _quarantined(cat, "missing")
    _quarantined(cat, "signed by a different station key")


def test_retag_updates_tag_and_bad_reissue_is_quarantined(tmp_path: Path) -> None:
    env, cat, dock = _setup(tmp_path)
    rec = dock.deliver(1)
    env.intake(cat).run_once()
    import hashlib

    body = {k: v for k, v in rec["body"].items() if k != "version"}
    body.update(tag="learning", tag_details={"consent": {"given": True, "method": "verbal", "note": None}},
                tag_revision=1, supersedes=hashlib.sha256(rec["doc"]).hexdigest())
    doc = sign_manifest(body, dock.key)
    rec["manifest"].write_bytes(doc)
    s = env.intake(cat).run_once()
    assert s.retagged == 1
    row = cat.recording(rec["id"])
    assert row is not None and row.tag == "learning" and row.consent == {"given": True, "method": "verbal",
                                                                         "note": None}
    assert row.retention_days == 365
    # A later revision signed by someone else is quarantined; the accepted manifest is put back.
    forged = {**body, "tag": "uncategorised", "tag_details": None, "tag_revision": 2,
              "supersedes": hashlib.sha256(doc).hexdigest()}
    rec["manifest"].write_bytes(sign_manifest(forged, Ed25519PrivateKey.generate()))
    s = env.intake(cat).run_once()
    assert s.quarantined == 1
    assert open_manifest(rec["manifest"].read_bytes())["tag"] == "learning"
    assert rec["payload"].exists()
    row = cat.recording(rec["id"])
    assert row is not None and row.tag == "learning" and row.state == "catalogued"


def test_trust_store_checks_fingerprint_and_refuses_repinning(tmp_path: Path) -> None:
    env = make_vault(tmp_path / "v")
    cat = env.catalog()
    key = Ed25519PrivateKey.generate()
    with pytest.raises(TrustError, match="fingerprint"):
        add_station(cat, "dock-q", public_key_text(key), by="admin", fingerprint="0000 1111")
    fp = add_station(cat, "dock-q", public_key_text(key), by="admin", fingerprint=key_fingerprint(key))
    assert fp == key_fingerprint(key)
    with pytest.raises(TrustError, match="another key"):
        add_station(cat, "dock-q", public_key_text(Ed25519PrivateKey.generate()), by="admin")


def test_identity_file_with_lax_permissions_is_refused(tmp_path: Path) -> None:
    env = make_vault(tmp_path / "v")
    os.chmod(env.cfg.identity_file, 0o640)
    with pytest.raises(KeyFileError, match="group/other"):
        load_identities(env.cfg.identity_file)
