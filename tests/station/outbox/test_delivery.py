"""The outbox with fake and local targets: order, parallelism, cap, windows, backoff, alerts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.crypto.signed import open_manifest
from station.outbox.deliverer import DeliveryPolicy, TokenBucket, backoff_delay
from station.outbox.target import DeliveryItem, Pacer, TransferPaused, VaultAlert, VaultError, VaultReceipt, VaultTarget
from station.outbox.timewindows import Schedule, TimeWindow
from tests.conftest import wait_for
from tests.station.outbox_helpers import Outbox, make_outbox, random_bytes
from upload.local import LocalDirTarget


class FakeTarget(VaultTarget):
    def __init__(self, delay: float = 0.0, fail: list[VaultError] | None = None) -> None:
        self.delay, self.fail = delay, list(fail or [])
        self.calls: list[str] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.description = "fake"

    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        with self._lock:
            self.calls.append(item.recording_id)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            failure = self.fail.pop(0) if self.fail else None
        try:
            time.sleep(self.delay)
            if failure is not None:
                raise failure
            return VaultReceipt(payload_path=f"/v/{item.payload_name}", manifest_path=f"/v/{item.manifest_name}",
                                sha256=item.payload_sha256,
                                size=item.payload_size, already_present=False)
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def ob(tmp_path: Path) -> Iterator[Outbox]:
    o = make_outbox(tmp_path)
    yield o
    o.close()


def confirmed(ob: Outbox, *ids: str) -> bool:
    return all(ob.status(i) == ("confirmed", "deleted") for i in ids)


def test_evidence_first_then_learning_then_oldest(ob: Outbox) -> None:
    ob.queue("old-uncat", b"a" * 10, age_s=300)
    ob.queue("learn", b"b" * 10, tag="learning", age_s=200)
    ob.queue("evidence-new", b"c" * 10, tag="evidence", age_s=0)
    ob.queue("evidence-old", b"d" * 10, tag="evidence", age_s=100)
    target = FakeTarget()
    d = ob.deliverer(target, DeliveryPolicy(parallel=1))
    d.start()
    wait_for(lambda: len(target.calls) == 4, 10)
    d.stop()
    assert target.calls == ["evidence-old", "evidence-new", "learn", "old-uncat"]


def test_parallel_transfers_and_local_copy_freed_after_confirmation(ob: Outbox) -> None:
    ids = [f"r{i}" for i in range(6)]
    rows = [ob.queue(i, random_bytes(1000)) for i in ids]
    target = FakeTarget(delay=0.3)
    d = ob.deliverer(target, DeliveryPolicy(parallel=3))
    d.start()
    wait_for(lambda: confirmed(ob, *ids), 10)
    d.stop()
    assert target.max_active == 3 and sorted(target.calls) == ids
    assert not any(Path(r.store_path or "").exists() for r in rows)
    receipt = ob.journal.vault_receipt("r0")
    assert receipt is not None and receipt["payload_path"] == "/v/r0.mp4.age" and receipt["size"] == 1000


def test_bandwidth_cap_holds_for_all_transfers_together(ob: Outbox, tmp_path: Path) -> None:
    for i in range(4):
        ob.queue(f"r{i}", random_bytes(1024 * 1024))
    d = ob.deliverer(LocalDirTarget(tmp_path / "vault"),
                     DeliveryPolicy(parallel=4, bandwidth_bytes_per_s=2 * 1024 * 1024))
    t0 = time.monotonic()
    d.start()
    wait_for(lambda: confirmed(ob, "r0", "r1", "r2", "r3"), 20)
    elapsed = time.monotonic() - t0
    d.stop()
    # 4 MiB at 2 MiB/s, less the bucket's initial burst of 0.5 MiB: the cap is a floor on the time
    # (a busy machine may only make it longer).
    assert elapsed > 1.5


def test_token_bucket_rate() -> None:
    b = TokenBucket(rate=1000.0, burst=100.0)
    assert b.reserve(100) == 0.0
    assert b.reserve(500) == pytest.approx(0.5, abs=0.01)


class Switch:
    """A schedule the test opens and closes."""

    def __init__(self, open_: bool) -> None:
        self.is_open = open_

    def open_at(self, when: datetime) -> bool:
        return self.is_open

    def seconds_until_open(self, when: datetime) -> float:
        return 0.0 if self.is_open else 0.2


class PausingTarget(FakeTarget):
    """Sends in steps through the pacer, like the real targets do."""

    def __init__(self, first_steps: int = 20) -> None:
        super().__init__()
        self.paused = 0
        self.started = 0
        self.first_steps = first_steps  # the first transfer's length in steps (later ones: 20)

    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        self.started += 1
        try:
            for _ in range(self.first_steps if self.started == 1 else 20):
                assert pacer is not None
                pacer.pace(1000)
                time.sleep(0.02)
        except TransferPaused:
            self.paused += 1
            raise
        return super().deliver(item, pacer)


def test_time_window_holds_uploads_and_pauses_a_running_one(ob: Outbox) -> None:
    ob.queue("r1", b"x" * 100)
    window = Switch(open_=False)
    # The first transfer lasts until the window closes on it (minutes at most), however busy the machine.
    target = PausingTarget(first_steps=10_000)
    d = ob.deliverer(target, DeliveryPolicy(parallel=1, schedule=window))  # type: ignore[arg-type]
    d.start()
    time.sleep(0.6)
    assert target.started == 0 and ob.status("r1")[0] == "queued"
    window.is_open = True
    wait_for(lambda: target.started == 1, 20)
    window.is_open = False  # closes mid-transfer
    wait_for(lambda: target.paused == 1, 5)
    assert ob.status("r1")[0] == "uploading" and ob.status("r1")[1] == "present"
    window.is_open = True
    wait_for(lambda: confirmed(ob, "r1"), 10)
    d.stop()


def test_vault_wide_failure_backs_off_alerts_and_clears(ob: Outbox) -> None:
    ob.queue("r1", b"x" * 100)
    failures = [VaultError("wrong host key", permanent=True, alert=VaultAlert.HOST_KEY)] * 3
    target = FakeTarget(fail=failures)
    d = ob.deliverer(target, DeliveryPolicy(parallel=2, retry_initial_s=0.2, retry_max_s=0.4))
    d.start()
    wait_for(lambda: "vault-host-key" in ob.open_alerts(), 5)
    assert ob.status("r1") == ("uploading", "present")  # local copy kept while the vault refuses
    wait_for(lambda: confirmed(ob, "r1"), 10)
    d.stop()
    assert len(target.calls) == 4 and "vault-host-key" not in ob.open_alerts()
    assert d.last_error is None and d.last_success is not None


def test_unreachable_is_alerted_only_when_it_persists(ob: Outbox) -> None:
    ob.queue("r1", b"x" * 100)
    down = [VaultError("connection refused", alert=VaultAlert.UNREACHABLE)]
    target = FakeTarget(fail=down * 2)
    d = ob.deliverer(target, DeliveryPolicy(parallel=1, retry_initial_s=0.05, retry_max_s=0.1))
    d.start()
    wait_for(lambda: confirmed(ob, "r1"), 10)
    d.stop()
    raised = [a for a in ob.journal.open_alerts()]
    assert raised == []
    ob.queue("r2", b"y" * 100)
    target.fail = down * 4
    d = ob.deliverer(target, DeliveryPolicy(parallel=1, retry_initial_s=0.05, retry_max_s=0.1))
    d.start()
    wait_for(lambda: "vault-unreachable" in ob.open_alerts(), 10)
    wait_for(lambda: confirmed(ob, "r2") and "vault-unreachable" not in ob.open_alerts(), 10)
    d.stop()


def test_backoff_grows_with_jitter() -> None:
    delays = [backoff_delay(n, 1.0, 60.0) for n in range(1, 10)]
    assert 0.5 <= delays[0] <= 1.0 and 2.0 <= delays[2] <= 4.0 and 30 <= delays[8] <= 60
    assert len({backoff_delay(3, 1.0, 60.0) for _ in range(20)}) > 1


def test_schedule_windows_cross_midnight() -> None:
    tz = UTC
    s = Schedule.parse(["22:00-06:00", "12:00-13:30"], tz)
    at = lambda h, m: datetime(2026, 11, 23, h, m, tzinfo=tz)  # noqa: E731
    assert s.open_at(at(23, 0)) and s.open_at(at(5, 59)) and s.open_at(at(12, 0))
    assert not s.open_at(at(6, 0)) and not s.open_at(at(13, 30)) and not s.open_at(at(7, 15))
    assert s.seconds_until_open(at(7, 0)) == 5 * 3600
    assert Schedule.parse([], tz).open_at(at(7, 0))
    assert TimeWindow.parse("00:00-24:00").contains(0) and TimeWindow.parse("00:00-24:00").contains(1439)
    for bad in ("25:00-01:00", "10:00-10:00", "7:00-8:00", "10:60-11:00"):
        with pytest.raises(ValueError):
            TimeWindow.parse(bad)


def test_audit_log_goes_to_the_vault_in_signed_chained_segments(ob: Outbox, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    for i in range(5):
        ob.audit.append(who="staff:1", what="test.event", why=f"entry {i}")
    d = ob.deliverer(LocalDirTarget(vault))
    assert d.segmenter is not None
    first = d.segmenter.cut()
    ob.audit.append(who="staff:1", what="test.event", why="after the first cut")
    second = d.segmenter.cut()
    assert first is not None and second is not None and second.first_seq == first.last_seq + 1
    d.start()
    wait_for(lambda: not ob.journal.audit_segments(pending_only=True), 10)
    d.stop()
    files = sorted(vault.rglob("audit-*"))
    assert [p.parent.relative_to(vault).parts[:2] for p in files] == [("dock-1", "audit")] * 4
    manifests = [open_manifest(p.read_bytes(), ob.key.public_key()) for p in files if p.name.endswith(".json")]
    assert [m["first_seq"] for m in manifests] == [first.first_seq, second.first_seq]
    assert manifests[1]["first_prev"] == manifests[1]["expected_prev"] == manifests[0]["last_hash"]
    log_lines = (ob.root / "state/audit.log").read_bytes().splitlines(keepends=True)
    segment_bytes = b"".join(p.read_bytes() for p in files if p.suffix == ".jsonl")
    assert segment_bytes == b"".join(log_lines[: second.last_seq])
    assert not list((ob.root / "state/audit-segments").iterdir())  # sent, so freed locally
