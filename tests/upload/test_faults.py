"""Faults between the station's outbox and a real sshd. In every case nothing is lost, nothing
is duplicated, no .partial is taken for complete, and the upload finishes once the fault clears."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.outbox.deliverer import Deliverer, DeliveryPolicy
from tests.conftest import ROOT, wait_for
from tests.station.outbox_helpers import Outbox, make_outbox
from tests.upload.conftest import sftp_target, ssh_settings
from tests.upload.lab import netns
from tests.upload.lab.smallfs import small_ext4
from tests.upload.lab.sshd import SftpServer, free_port, keygen, make_server, remove_server
from upload.sftp_target import SftpOptions, SftpTarget

MiB = 1024 * 1024
FAST_RETRY = DeliveryPolicy(parallel=2, retry_initial_s=0.2, retry_max_s=1.0)


@pytest.fixture
def ob(tmp_path: Path) -> Iterator[Outbox]:
    o = make_outbox(tmp_path)
    yield o
    o.close()


def queue(ob: Outbox, n: int, size: int) -> dict[str, str]:
    """Queue ``n`` recordings; return id -> SHA-256 of what the vault must end up holding."""
    out = {}
    for i in range(n):
        data = os.urandom(size + i)
        ob.queue(f"REC{i:02d}", data, age_s=100 - i)
        out[f"REC{i:02d}"] = hashlib.sha256(data).hexdigest()
    return out


def all_confirmed(ob: Outbox, truth: dict[str, str]) -> bool:
    return all(ob.status(r) == ("confirmed", "deleted") for r in truth)


def assert_vault_exactly(server: SftpServer, ob: Outbox, truth: dict[str, str]) -> None:
    """Each recording once, complete and correct, with its manifest; nothing else but audit files."""
    files = [p for p in server.vault.rglob("*") if p.is_file() and "/audit/" not in str(p)]
    assert not [p for p in files if p.name.endswith(".partial")], "a .partial was left behind"
    payloads = sorted(p.name for p in files if p.name.endswith(".mp4.age"))
    assert payloads == sorted(f"{r}.mp4.age" for r in truth), "missing or duplicated recordings"
    for p in files:
        if p.name.endswith(".mp4.age"):
            rid = p.name.removesuffix(".mp4.age")
            assert hashlib.sha256(p.read_bytes()).hexdigest() == truth[rid], f"{rid} differs in the vault"
            assert p.with_name(f"{rid}.manifest.json").read_bytes() == b'{"recording": "%s"}\n' % rid.encode()
    for rid in truth:
        row = ob.journal.recording(rid)
        assert row is not None and row.vault_status == "confirmed" and row.local_state == "deleted"


def partial_size(server: SftpServer) -> int:
    return max((p.stat().st_size for p in server.vault.rglob("*.partial")), default=0)


def run(ob: Outbox, target: SftpTarget, policy: DeliveryPolicy = FAST_RETRY) -> Deliverer:
    d = ob.deliverer(target, policy)
    d.start()
    return d


def test_sshd_killed_mid_upload_and_restarted(ob: Outbox, sftp_server: SftpServer,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="upload.sftp_target")
    truth = queue(ob, 3, 12 * MiB)
    policy = DeliveryPolicy(parallel=2, retry_initial_s=0.2, retry_max_s=1.0, bandwidth_bytes_per_s=12 * MiB)
    target = sftp_target(sftp_server)
    d = run(ob, target, policy)
    try:
        wait_for(lambda: partial_size(sftp_server) > 3 * MiB, 30, what="upload under way")
        sftp_server.kill()
        assert not all_confirmed(ob, truth)
        time.sleep(1.5)  # down long enough for a few failed reconnects
        assert partial_size(sftp_server) > 0  # what was sent stays, to be resumed
        sftp_server.start()
        wait_for(lambda: all_confirmed(ob, truth), 60, what="upload after sshd restart")
    finally:
        d.stop()
        target.close()
    assert_vault_exactly(sftp_server, ob, truth)
    assert "resuming" in caplog.text  # continued from the verified prefix, not sent again


def test_station_loses_connection_state_on_restart_and_resumes(ob: Outbox, sftp_server: SftpServer) -> None:
    # The outbox is stopped mid-upload (as a station restart would) and a new one takes over.
    truth = queue(ob, 1, 16 * MiB)
    policy = DeliveryPolicy(parallel=1, bandwidth_bytes_per_s=8 * MiB)
    target = sftp_target(sftp_server)
    d = run(ob, target, policy)
    wait_for(lambda: partial_size(sftp_server) > 4 * MiB, 30)
    d.stop()
    target.close()
    assert ob.status("REC00") == ("uploading", "present")
    target = sftp_target(sftp_server)
    d = run(ob, target)
    wait_for(lambda: all_confirmed(ob, truth), 60)
    d.stop()
    target.close()
    assert_vault_exactly(sftp_server, ob, truth)


@pytest.fixture
def lossy_server() -> Iterator[tuple[SftpServer, netns.NetNs, int]]:
    """sshd inside a namespace of our own; the client reaches it through a forwarder on
    127.0.0.1 that connects from inside the namespace. Loss is applied to the namespace's lo."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    ns = netns.create("bdl")
    server = make_server(netns=ns.name, host="127.0.0.1", port=2222)
    port = free_port()
    forwarder = subprocess.Popen(
        [sys.executable, "-m", "tests.upload.lab.delayproxy", "--listen", f"127.0.0.1:{port}",
         "--to", "127.0.0.1:2222", "--to-netns", ns.name, "--delay-ms", "0"],
        cwd=ROOT, stdout=subprocess.PIPE,
    )
    try:
        assert forwarder.stdout is not None and forwarder.stdout.readline().strip() == b"listening"
        server.start()
        yield server, ns, port
    finally:
        forwarder.kill()
        forwarder.wait()
        remove_server(server)
        ns.delete()


def test_packet_loss_and_outage_inside_a_namespace(ob: Outbox, lossy_server: tuple[SftpServer, netns.NetNs, int],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    server, ns, port = lossy_server
    truth = queue(ob, 2, 6 * MiB)
    ns.set_loss(5)  # every 20th packet (on average) dropped, both directions
    line = f"[127.0.0.1]:{port} {server.host_key_pub}"
    target = SftpTarget(ssh_settings(server, port=port, host_line=line, io_timeout_s=3.0),
                        SftpOptions(root="/vault", confirm="readback"))
    d = run(ob, target)
    try:
        wait_for(lambda: partial_size(server) > 1 * MiB, 60, what="upload under lossy link")
        ns.set_loss(100)  # the link goes down completely
        time.sleep(4)  # past the I/O timeout: the connection is given up and retried
        assert not all_confirmed(ob, truth)
        ns.set_loss(5)
        wait_for(lambda: all_confirmed(ob, truth), 120, what="upload after the outage")
    finally:
        ns.set_loss(0)
        d.stop()
        target.close()
    assert_vault_exactly(server, ob, truth)
    assert "unreachable" in caplog.text  # the outage was noticed and the connection replaced


def test_latency_through_a_delaying_proxy(ob: Outbox, sftp_server: SftpServer) -> None:
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tests.upload.lab.delayproxy", "--listen", f"127.0.0.1:{port}",
         "--to", f"127.0.0.1:{sftp_server.port}", "--delay-ms", "40"],
        cwd=ROOT, stdout=subprocess.PIPE,
    )
    try:
        assert proxy.stdout is not None and proxy.stdout.readline().strip() == b"listening"
        truth = queue(ob, 2, 4 * MiB)
        line = f"[127.0.0.1]:{port} {sftp_server.host_key_pub}"
        target = SftpTarget(ssh_settings(sftp_server, port=port, host_line=line),
                            SftpOptions(root="/vault", confirm="readback", streams=2))
        t0 = time.monotonic()
        d = run(ob, target)
        wait_for(lambda: all_confirmed(ob, truth), 60)
        d.stop()
        target.close()
        assert time.monotonic() - t0 > 0.5  # the round trips really were slow
    finally:
        proxy.kill()
        proxy.wait()
    assert_vault_exactly(sftp_server, ob, truth)


def test_vault_disk_full_then_space_freed(ob: Outbox, sftp_server: SftpServer) -> None:
    with small_ext4(sftp_server.vault, sftp_server.base / "vault.img", 32, (65534, 65534)) as fs:
        other = fs.fill("other-data.bin", 20 * MiB)
        truth = queue(ob, 3, 5 * MiB)  # 15 MiB into the ~10 MiB left
        target = sftp_target(sftp_server)
        d = run(ob, target)
        try:
            wait_for(lambda: "vault-full" in ob.open_alerts(), 60, what="vault full alert")
            assert not all_confirmed(ob, truth)
            # Whatever did not fit is still in the store; nothing partial was taken for complete.
            for rid in truth:
                status, local = ob.status(rid)
                assert local == "present" or status == "confirmed"
            for p in sftp_server.vault.rglob("*.mp4.age"):
                assert hashlib.sha256(p.read_bytes()).hexdigest() in truth.values()
            other.unlink()  # the operator makes room
            wait_for(lambda: all_confirmed(ob, truth), 60, what="upload after space was freed")
            wait_for(lambda: "vault-full" not in ob.open_alerts(), 5)
        finally:
            d.stop()
            target.close()
        assert_vault_exactly(sftp_server, ob, truth)


def test_permission_denied_then_fixed(ob: Outbox, sftp_server: SftpServer) -> None:
    truth = queue(ob, 2, 1 * MiB)
    sftp_server.vault.chmod(0o555)
    target = sftp_target(sftp_server)
    d = run(ob, target)
    try:
        wait_for(lambda: "vault-permission" in ob.open_alerts(), 20)
        assert all(ob.status(r)[1] == "present" for r in truth)
        sftp_server.vault.chmod(0o755)
        wait_for(lambda: all_confirmed(ob, truth), 30)
    finally:
        d.stop()
        target.close()
    assert_vault_exactly(sftp_server, ob, truth)
    assert "vault-permission" not in ob.open_alerts()


def test_changed_host_key_is_refused_until_the_real_server_returns(ob: Outbox, sftp_server: SftpServer) -> None:
    truth = queue(ob, 1, 1 * MiB)
    pinned = sftp_server.known_hosts_line()  # what the config holds
    key = sftp_server.base / "host_ed25519"
    saved = key.read_bytes()
    key.unlink()
    key.with_name("host_ed25519.pub").unlink()
    keygen(key)  # the server now presents another key: an impostor, as far as we know
    sftp_server.restart()
    target = sftp_target(sftp_server, host_line=pinned)
    d = run(ob, target)
    try:
        wait_for(lambda: "vault-host-key" in ob.open_alerts(), 20)
        assert not any(sftp_server.vault.iterdir()), "something was sent to an unverified server"
        alert = next(a for a in ob.journal.open_alerts() if a.key == "vault-host-key")
        assert alert.severity == "critical" and "not the pinned" in alert.message
        key.write_bytes(saved)  # the real server is back
        sftp_server.restart()
        wait_for(lambda: all_confirmed(ob, truth), 30)
    finally:
        d.stop()
        target.close()
    assert_vault_exactly(sftp_server, ob, truth)
    assert "vault-host-key" not in ob.open_alerts()
