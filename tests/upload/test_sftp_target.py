"""The SFTP target against a real sshd: layout, confirmation, idempotence, resume."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from station.outbox.target import VaultAlert, VaultError
from tests.upload.conftest import make_item, sftp_target, sha256, stage, vault_dir, vault_folder_as_user
from tests.upload.lab.sshd import SftpServer


@pytest.mark.parametrize("confirm,streams", [("size", 1), ("readback", 3)])
def test_delivers_payload_then_manifest(tmp_path: Path, sftp_server: SftpServer, confirm: str, streams: int) -> None:
    target = sftp_target(sftp_server, confirm=confirm, streams=streams)
    item = make_item(tmp_path, os.urandom(9 * 1024 * 1024 + 17))
    try:
        r = target.deliver(item)
    finally:
        target.close()
    folder = vault_dir(sftp_server, item)
    assert r.payload_path == f"/vault/dock-1/2026/11/23/{item.payload_name}"
    assert r.manifest_path.endswith(item.manifest_name) and not r.already_present
    assert sorted(p.name for p in folder.iterdir()) == sorted([item.payload_name, item.manifest_name])
    assert sha256(folder / item.payload_name) == item.payload_sha256
    assert (folder / item.manifest_name).read_bytes() == item.manifest_path.read_bytes()


def test_second_delivery_is_recognised_not_resent(tmp_path: Path, sftp_server: SftpServer) -> None:
    target = sftp_target(sftp_server)
    item = make_item(tmp_path, os.urandom(3 * 1024 * 1024))
    target.deliver(item)
    payload = vault_dir(sftp_server, item) / item.payload_name
    mtime = payload.stat().st_mtime_ns
    r = target.deliver(item)
    target.close()
    assert r.already_present
    assert payload.stat().st_mtime_ns == mtime  # untouched, not rewritten
    assert sorted(p.name for p in payload.parent.iterdir()) == sorted([item.payload_name, item.manifest_name])


def test_wrong_size_copy_in_vault_is_replaced(tmp_path: Path, sftp_server: SftpServer) -> None:
    target = sftp_target(sftp_server)
    item = make_item(tmp_path, os.urandom(1024 * 1024))
    target.deliver(item)
    payload = vault_dir(sftp_server, item) / item.payload_name
    payload.write_bytes(b"truncated")
    r = target.deliver(item)
    target.close()
    assert not r.already_present and sha256(payload) == item.payload_sha256


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_confirmed_payload_is_never_sent_again(tmp_path: Path, sftp_server: SftpServer, damage: str) -> None:
    import dataclasses

    target = sftp_target(sftp_server)
    item = make_item(tmp_path, os.urandom(1024 * 1024))
    target.deliver(item)
    payload = vault_dir(sftp_server, item) / item.payload_name
    if damage == "missing":
        payload.unlink()
    else:
        payload.write_bytes(b"truncated")
    try:
        with pytest.raises(VaultError, match="never replaced"):
            target.deliver(dataclasses.replace(item, payload_confirmed=True))
    finally:
        target.close()
    assert (payload.read_bytes() == b"truncated") if damage == "truncated" else not payload.exists()
    assert not list(payload.parent.glob("*.partial"))


def test_readback_catches_same_size_damage(tmp_path: Path, sftp_server: SftpServer) -> None:
    target = sftp_target(sftp_server, confirm="readback")
    item = make_item(tmp_path, os.urandom(1024 * 1024))
    target.deliver(item)
    payload = vault_dir(sftp_server, item) / item.payload_name
    with payload.open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\0" * 16)
    r = target.deliver(item)
    target.close()
    assert not r.already_present and sha256(payload) == item.payload_sha256


def test_partial_with_good_prefix_is_resumed(tmp_path: Path, sftp_server: SftpServer) -> None:
    data = os.urandom(6 * 1024 * 1024)
    item = make_item(tmp_path, data)
    folder = vault_folder_as_user(sftp_server, item)
    partial = folder / (item.payload_name + ".partial")
    stage(sftp_server, partial, data[: 4 * 1024 * 1024])
    inode = partial.stat().st_ino
    target = sftp_target(sftp_server)
    r = target.deliver(item)
    target.close()
    final = folder / item.payload_name
    assert sha256(final) == item.payload_sha256 and not partial.exists() and not r.already_present
    assert final.stat().st_ino == inode  # the same file, continued rather than rewritten


def test_partial_with_bad_prefix_is_restarted(tmp_path: Path, sftp_server: SftpServer) -> None:
    data = os.urandom(2 * 1024 * 1024)
    item = make_item(tmp_path, data)
    folder = vault_folder_as_user(sftp_server, item)
    partial = folder / (item.payload_name + ".partial")
    stage(sftp_server, partial, b"\xff" + data[1: 3 * 1024 * 1024])  # first byte wrong, longer than the file
    target = sftp_target(sftp_server)
    target.deliver(item)
    target.close()
    assert sha256(folder / item.payload_name) == item.payload_sha256 and not partial.exists()


def test_hole_in_partial_is_rewritten(tmp_path: Path, sftp_server: SftpServer) -> None:
    # Parallel channels can leave a hole: data after a never-written range. The verified prefix
    # stops at the hole and everything after it is written again.
    data = os.urandom(4 * 1024 * 1024)
    item = make_item(tmp_path, data)
    folder = vault_folder_as_user(sftp_server, item)
    partial = folder / (item.payload_name + ".partial")
    hole = b"\0" * (1024 * 1024)
    stage(sftp_server, partial, data[: 1024 * 1024] + hole + data[2 * 1024 * 1024: 3 * 1024 * 1024])
    target = sftp_target(sftp_server)
    target.deliver(item)
    target.close()
    assert sha256(folder / item.payload_name) == item.payload_sha256


def test_wrong_host_key_is_refused(tmp_path: Path, sftp_server: SftpServer) -> None:
    from tests.upload.lab.sshd import keygen

    other = keygen(tmp_path / "other_host_key")
    target = sftp_target(sftp_server, host_line=f"[127.0.0.1]:{sftp_server.port} {other}")
    with pytest.raises(VaultError) as err:
        target.deliver(make_item(tmp_path, b"secret footage"))
    assert err.value.alert is VaultAlert.HOST_KEY and err.value.permanent
    assert not any(sftp_server.vault.iterdir())


def test_permission_denied(tmp_path: Path, sftp_server: SftpServer) -> None:
    sftp_server.vault.chmod(0o555)
    target = sftp_target(sftp_server)
    with pytest.raises(VaultError) as err:
        target.deliver(make_item(tmp_path, b"x" * 1000))
    target.close()
    assert err.value.alert is VaultAlert.PERMISSION and err.value.permanent


def test_bulk_path_survives_rekeying(tmp_path: Path, sftp_server: SftpServer, monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    # The bulk sender shares paramiko's nonce and sequence number; key exchanges in the middle of
    # it (every 1 MiB here instead of 512 MiB) must not corrupt a byte.
    from upload.aead import AeadPacketizer

    monkeypatch.setattr(AeadPacketizer, "REKEY_BYTES", 1024 * 1024)
    caplog.set_level(logging.DEBUG, logger="paramiko.transport")
    target = sftp_target(sftp_server, confirm="readback", streams=2)
    item = make_item(tmp_path, os.urandom(12 * 1024 * 1024))
    r = target.deliver(item)
    conn = target._idle[0]
    assert conn.transport.packetizer.bulk_ready()  # type: ignore[attr-defined]
    target.close()
    assert r.sha256 == item.payload_sha256
    assert sha256(vault_dir(sftp_server, item) / item.payload_name) == item.payload_sha256
    assert caplog.text.count("Switch to new keys") >= 5  # the first is the initial key exchange


def test_without_gcm_the_stock_send_path_is_used(tmp_path: Path) -> None:
    from tests.upload.lab.sshd import make_server, remove_server

    server = make_server(extra_config="Ciphers aes256-ctr\n")
    server.start()
    try:
        target = sftp_target(server, confirm="readback")
        item = make_item(tmp_path, os.urandom(3 * 1024 * 1024 + 5))
        target.deliver(item)
        conn = target._idle[0]
        assert not conn.transport.packetizer.bulk_ready()  # type: ignore[attr-defined]
        target.close()
        assert sha256(vault_dir(server, item) / item.payload_name) == item.payload_sha256
    finally:
        remove_server(server)
