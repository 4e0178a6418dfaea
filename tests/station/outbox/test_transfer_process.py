"""Vault transfers in a child process: the same interface, the daemon's pacer, its logs and its crashes."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.outbox.target import DeliveryItem, Pacer, TransferPaused, VaultAlert, VaultError, VaultTarget
from station.outbox.transfer_child import TRANSFER_NICE
from station.outbox.transfer_process import PACE_BYTES, TransferProcess
from tests.conftest import wait_for
from tests.station.outbox import transfer_targets

ROOT = Path(__file__).resolve().parents[3]


def make_item(tmp: Path, size: int, rid: str = "rec-1") -> DeliveryItem:
    payload, manifest = tmp / f"{rid}.mp4.age", tmp / f"{rid}.manifest.json"
    data = os.urandom(size)
    payload.write_bytes(data)
    manifest.write_text('{"v": 1}')
    return DeliveryItem(recording_id=rid, station_id="st-1", started_at=datetime(2026, 12, 2, 9, tzinfo=UTC),
                        payload_path=payload, payload_name=payload.name,
                        payload_sha256=hashlib.sha256(data).hexdigest(), payload_size=size,
                        manifest_path=manifest, manifest_name=manifest.name)


class BrokenPacer(Pacer):
    def pace(self, nbytes: int) -> None:
        raise RuntimeError("a bug in the outbox")


class CountingPacer(Pacer):
    def __init__(self, stop_after: int | None = None, batch_bytes: int | None = None) -> None:
        self.calls: list[int] = []
        self.stop_after = stop_after
        self.batch_bytes = batch_bytes

    def pace(self, nbytes: int) -> None:
        self.calls.append(nbytes)
        if self.stop_after is not None and len(self.calls) > self.stop_after:
            raise TransferPaused("outside the upload time window")


@pytest.fixture
def closing() -> Iterator[list[VaultTarget]]:
    targets: list[VaultTarget] = []
    yield targets
    for t in targets:
        t.close()


def test_delivers_through_another_process_and_asks_the_pacer_for_every_byte(
        tmp_path: Path, closing: list[VaultTarget]) -> None:
    vault = tmp_path / "vault"
    target = TransferProcess(functools.partial(transfer_targets.local, vault))
    closing.append(target)
    assert target.pid is not None and target.pid != os.getpid()
    assert target.description == f"local folder {vault}"
    # The cameras first: the transfers run at a lower priority than the daemon's offloads.
    nice = int(Path(f"/proc/{target.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    assert nice == min(19, os.getpriority(os.PRIO_PROCESS, 0) + TRANSFER_NICE)
    item = make_item(tmp_path, 5 * PACE_BYTES + 123)
    pacer = CountingPacer()
    receipt = target.deliver(item, pacer)
    assert (receipt.sha256, receipt.size, receipt.already_present) == (item.payload_sha256, item.payload_size, False)
    assert hashlib.sha256(Path(receipt.payload_path).read_bytes()).hexdigest() == item.payload_sha256
    # Batched, but every byte counted (the bandwidth cap), and asked before the first was sent.
    assert sum(pacer.calls) == item.payload_size
    assert 1 < len(pacer.calls) < item.payload_size // (1024 * 1024)
    again = target.deliver(item, CountingPacer())
    assert again.already_present


def test_under_a_bandwidth_cap_the_child_asks_before_every_chunk(tmp_path: Path, closing: list[VaultTarget]) -> None:
    target = TransferProcess(functools.partial(transfer_targets.local, tmp_path / "vault"))
    closing.append(target)
    item = make_item(tmp_path, 3 * 1024 * 1024 + 5)
    pacer = CountingPacer(batch_bytes=64 * 1024)  # smaller than the local target's 1 MiB chunk
    target.deliver(item, pacer)
    assert pacer.calls == [1024 * 1024] * 3 + [5]


def test_the_pacer_stops_the_transfer_before_its_first_byte(tmp_path: Path, closing: list[VaultTarget]) -> None:
    vault = tmp_path / "vault"
    target = TransferProcess(functools.partial(transfer_targets.local, vault))
    closing.append(target)
    item = make_item(tmp_path, 3 * PACE_BYTES)
    with pytest.raises(TransferPaused, match="time window"):
        target.deliver(item, CountingPacer(stop_after=0))
    assert not list(vault.rglob(item.payload_name)), "nothing under the final name"
    receipt = target.deliver(item, CountingPacer())  # the window opens again: it resumes
    assert receipt.sha256 == item.payload_sha256


def test_a_stop_answered_mid_transfer_ends_it_at_the_next_batch(tmp_path: Path, closing: list[VaultTarget]) -> None:
    # One ask is in flight while the next batch goes out: a stop that arrives late still stops
    # the transfer at the following ask, and the daemon is asked nothing after saying stop.
    vault = tmp_path / "vault"
    target = TransferProcess(functools.partial(transfer_targets.local, vault))
    closing.append(target)
    item = make_item(tmp_path, 6 * PACE_BYTES)
    pacer = CountingPacer(stop_after=1)
    with pytest.raises(TransferPaused, match="time window"):
        target.deliver(item, pacer)
    assert len(pacer.calls) == 2, pacer.calls
    assert not list(vault.rglob(item.payload_name)), "nothing under the final name"
    assert target.deliver(item, CountingPacer()).sha256 == item.payload_sha256  # and it resumes


def test_a_vault_error_keeps_what_it_says_and_its_log_reaches_the_daemon(
        tmp_path: Path, closing: list[VaultTarget], caplog: pytest.LogCaptureFixture) -> None:
    target = TransferProcess(transfer_targets.refusing)
    closing.append(target)
    caplog.set_level(logging.INFO)
    with pytest.raises(VaultError) as err:
        target.deliver(make_item(tmp_path, 10))
    assert (str(err.value), err.value.permanent, err.value.alert) == (
        "the vault refused the key", True, VaultAlert.AUTH)
    record = next(r for r in caplog.records if r.name == "tests.transfer_targets")
    assert record.getMessage() == "refusing rec-1" and record.levelno == logging.WARNING
    assert record.process == target.pid


def test_a_target_that_cannot_be_built_is_said_at_start_up_and_at_every_delivery(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = TransferProcess(transfer_targets.unbuildable)
    try:
        assert target.pid is None  # the start-up tried and said why
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("did not start: FileNotFoundError: /etc/bodydock/vault.key" in m for m in said), said
        for _ in range(2):  # tried again each time: the file may have been put right meanwhile
            with pytest.raises(VaultError, match=r"did not start: FileNotFoundError: /etc/bodydock/vault\.key"):
                target.deliver(make_item(tmp_path, 10))
    finally:
        target.close()


def test_a_child_that_dies_mid_transfer_fails_that_delivery_and_is_replaced(
        tmp_path: Path, closing: list[VaultTarget]) -> None:
    marker = tmp_path / "started"
    target = TransferProcess(functools.partial(transfer_targets.stalling, marker))
    closing.append(target)
    first = target.pid
    assert first is not None
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target.deliver(make_item(tmp_path, 10), CountingPacer())
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    wait_for(marker.exists, what="the transfer to start")
    os.kill(first, signal.SIGKILL)
    t.join(60)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], VaultError)
    assert "transfer process is gone" in str(errors[0]) and "-9" in str(errors[0])
    # The next delivery starts a new child.
    marker.unlink()
    t = threading.Thread(target=run)
    t.start()
    wait_for(marker.exists, what="the transfer to start in a new process")
    assert target.pid not in (None, first)
    target.close()  # stops the stalled transfer with its process
    t.join(60)
    assert not t.is_alive() and len(errors) == 2


def _script(body: str, tmp: Path, crash_at: str | None = None) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import functools, sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from station.outbox.transfer_process import TransferProcess
        from tests.station.outbox import transfer_targets
        from tests.station.outbox.test_transfer_process import make_item
        tmp = Path({str(tmp)!r})
    """) + textwrap.dedent(body)
    env = {k: v for k, v in os.environ.items() if k != "BODYDOCK_CRASH_AT"}
    if crash_at is not None:
        env["BODYDOCK_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=tmp, env=env)


def test_the_child_ends_when_the_daemon_is_killed(tmp_path: Path) -> None:
    proc = _script("""
        target = TransferProcess(functools.partial(transfer_targets.stalling, tmp / "started"))
        print(target.pid, flush=True)
        target.deliver(make_item(tmp, 10))
    """, tmp_path)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    wait_for((tmp_path / "started").exists, what="the transfer to start")
    proc.kill()
    proc.wait()

    def gone() -> bool:
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except FileNotFoundError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie until init reaps it

    wait_for(gone, what="the orphaned transfer process to end")


@pytest.mark.parametrize("crash_at", [None, "deliver.partial"])
def test_a_crash_point_in_the_child_kills_the_daemon_too(tmp_path: Path, crash_at: str | None) -> None:
    proc = _script("""
        target = TransferProcess(functools.partial(transfer_targets.local, tmp / "vault"))
        target.deliver(make_item(tmp, 1000))
        print("delivered", flush=True)
        target.close()
    """, tmp_path, crash_at)
    out, _ = proc.communicate(timeout=300)
    if crash_at is None:
        assert (proc.returncode, out.strip()) == (0, "delivered")
    else:
        assert proc.returncode == -signal.SIGKILL and "delivered" not in out


def test_a_failing_pacer_ends_the_transfer_and_a_closed_target_sends_nothing(
        tmp_path: Path, closing: list[VaultTarget]) -> None:
    vault = tmp_path / "vault"
    target = TransferProcess(functools.partial(transfer_targets.local, vault))
    closing.append(target)
    item = make_item(tmp_path, 3 * PACE_BYTES)
    with pytest.raises(VaultError, match="pacer failed: RuntimeError: a bug in the outbox"):
        target.deliver(item, BrokenPacer())
    assert target.deliver(item, CountingPacer()).sha256 == item.payload_sha256  # the child is still serving
    target.close()
    with pytest.raises(TransferPaused, match="stopping"):
        target.deliver(make_item(tmp_path, 10, "rec-2"), CountingPacer())
