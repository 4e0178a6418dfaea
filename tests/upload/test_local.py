from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.outbox.target import DeliveryItem, VaultError
from upload.local import LocalDirTarget


def item(tmp: Path, data: bytes, rid: str = "CAM-20261123T080000-abc") -> DeliveryItem:
    payload = tmp / "store" / f"{rid}.mp4"
    payload.parent.mkdir(exist_ok=True)
    payload.write_bytes(data)
    manifest = tmp / "store" / f"{rid}.manifest.json"
    manifest.write_bytes(b'{"m":1}')
    return DeliveryItem(recording_id=rid, station_id="dock-1", started_at=datetime(2026, 11, 23, 8, tzinfo=UTC),
                        payload_path=payload, payload_name=payload.name,
                        payload_sha256=hashlib.sha256(data).hexdigest(),
                        payload_size=len(data), manifest_path=manifest, manifest_name=manifest.name)


def test_layout_and_idempotence(tmp_path: Path) -> None:
    target = LocalDirTarget(tmp_path / "vault")
    it = item(tmp_path, os.urandom(3 * 1024 * 1024 + 7))
    r1 = target.deliver(it)
    assert r1.payload_path == str(tmp_path / "vault/dock-1/2026/11/23" / it.payload_name)
    assert not r1.already_present and r1.sha256 == it.payload_sha256
    r2 = target.deliver(it)
    assert r2.already_present
    assert sorted(p.name for p in (tmp_path / "vault/dock-1/2026/11/23").iterdir()) == sorted(
        [it.payload_name, it.manifest_name])


def test_damaged_copy_in_vault_is_replaced(tmp_path: Path) -> None:
    target = LocalDirTarget(tmp_path / "vault")
    it = item(tmp_path, b"x" * 5000)
    target.deliver(it)
    dest = tmp_path / "vault/dock-1/2026/11/23" / it.payload_name
    dest.write_bytes(b"y" * 5000)
    r = target.deliver(it)
    assert not r.already_present and dest.read_bytes() == b"x" * 5000


def test_unwritable_vault_is_a_vault_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "vault"
        blocker.write_text("a file where the vault folder should be")
    else:  # pragma: no cover
        pytest.skip("needs root for the file-instead-of-folder case to be meaningful")
    with pytest.raises(VaultError):
        LocalDirTarget(blocker).deliver(item(tmp_path, b"data"))
