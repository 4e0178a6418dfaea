"""A real OpenSSH sshd on 127.0.0.1 (a free port) with a chrooted internal-sftp user, per test."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.outbox.target import DeliveryItem
from tests.upload.lab.sshd import SSHD, VAULT_ROOT, SftpServer, make_server, remove_server
from upload.hostkey import PinnedHostKey
from upload.sftp_target import SftpOptions, SftpTarget
from upload.ssh import SshSettings

needs_root_sshd = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(SSHD).exists() or shutil.which("ssh-keygen") is None,
    reason="needs root and OpenSSH's sshd",
)


@pytest.fixture
def sftp_server() -> Iterator[SftpServer]:
    if os.geteuid() != 0 or not Path(SSHD).exists():
        pytest.skip("needs root and OpenSSH's sshd")
    server = make_server()
    server.start()
    try:
        yield server
    finally:
        remove_server(server)


# The connect timeout covers key exchange and authentication, which take seconds on a machine busy with other
# work; 5 s made tests fail under two CPU hogs while the vault was fine.
def ssh_settings(server: SftpServer, *, host_line: str | None = None, host: str | None = None,
                 port: int | None = None, io_timeout_s: float = 10.0, connect_timeout_s: float = 20.0) -> SshSettings:
    host = host or server.host
    port = port or server.port
    line = host_line or f"[{host}]:{port} {server.host_key_pub}"
    return SshSettings(host=host, port=port, user=server.user, private_key=server.client_key,
                       host_key=PinnedHostKey.parse(line, host, port), connect_timeout_s=connect_timeout_s,
                       io_timeout_s=io_timeout_s, keepalive_s=2.0)


def sftp_target(server: SftpServer, *, confirm: str = "size", streams: int = 2, **kw: object) -> SftpTarget:
    return SftpTarget(ssh_settings(server, **kw),  # type: ignore[arg-type]
                      SftpOptions(root=VAULT_ROOT, confirm=confirm, streams=streams))  # type: ignore[arg-type]


def make_item(folder: Path, data: bytes, rid: str = "CAM1-20261123T080000-abc",
              station: str = "dock-1") -> DeliveryItem:
    folder.mkdir(parents=True, exist_ok=True)
    payload = folder / f"{rid}.mp4.age"
    payload.write_bytes(data)
    manifest = folder / f"{rid}.manifest.json"
    manifest.write_bytes(b'{"manifest":{"recording":"%s"}}\n' % rid.encode())
    return DeliveryItem(recording_id=rid, station_id=station, started_at=datetime(2026, 11, 23, 8, tzinfo=UTC),
                        payload_path=payload, payload_name=payload.name,
                        payload_sha256=hashlib.sha256(data).hexdigest(),
                        payload_size=len(data), manifest_path=manifest, manifest_name=manifest.name)


def vault_dir(server: SftpServer, item: DeliveryItem) -> Path:
    return server.vault / item.station_id / "2026/11/23"


def vault_folder_as_user(server: SftpServer, item: DeliveryItem) -> Path:
    """Create the item's vault folder as the vault user would have (for staging partials)."""
    folder = vault_dir(server, item)
    folder.mkdir(parents=True, exist_ok=True)
    p = folder
    while p != server.vault:
        os.chown(p, 65534, 65534)
        p = p.parent
    return folder


def stage(server: SftpServer, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chown(path, 65534, 65534)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
