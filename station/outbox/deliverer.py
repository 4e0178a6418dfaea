"""The outbox: deliver verified recordings to the vault, then (and only then) free the store.

State lives in the journal (``vault_status``; what the vault holds in ``vault_receipts``), so a
reboot resumes the queue. Targets are idempotent, so retrying after a crash never duplicates
footage in the vault.

``parallel`` workers take the next item in priority order (signed audit-log segments, then
recordings tagged evidence, learning, the rest; oldest first). A shared token bucket caps the
bandwidth of all transfers together, and transfers only run inside the configured time windows:
when a window closes, running transfers stop at the next request and resume later from what
the vault already holds. Failures back off exponentially with jitter, per item, and for the
whole vault when the failure says the vault itself is the problem (unreachable, host key,
permissions, full); those raise an alert that clears on the next success.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.core.alerts import Alerts, Severity
from station.crashpoints import crash_point
from station.outbox.audit_segments import AuditSegmenter
from station.outbox.target import DeliveryItem, Pacer, TransferPaused, VaultAlert, VaultError, VaultReceipt, VaultTarget
from station.outbox.timewindows import Schedule
from station.storage.audit import SYSTEM, AuditLog
from station.storage.journal import AuditSegmentRow, Journal, LocalState, VaultStatus
from station.storage.recording_row import RecordingRow
from station.storage.store import Store
from station.timeutil import parse_iso, utcnow

log = logging.getLogger(__name__)
# While offloads are behind (``yield_to``), a transfer waits up to this long before each request.
YIELD_MAX_S = 1.0
YIELD_STEP_S = 0.02
# Under a bandwidth cap, a transfer asks the pacer at least every this many seconds' worth of bytes.
CAPPED_BATCH_S = 0.02


@dataclass(frozen=True)
class DeliveryPolicy:
    parallel: int = 2
    bandwidth_bytes_per_s: float | None = None  # all transfers together; None = no cap
    schedule: Schedule = field(default_factory=lambda: Schedule((), UTC))
    retry_initial_s: float = 1.0
    retry_max_s: float = 300.0
    # Consecutive vault-wide transport failures before "vault unreachable" is raised (a single
    # dropped connection is routine and retried silently).
    unreachable_alert_after: int = 3
    audit_segment_s: float = 900.0


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: docks must not retry in lockstep after an outage."""
    delay = min(maximum, initial * float(2 ** min(max(failures - 1, 0), 30)))
    return delay * random.uniform(0.5, 1.0)


class TokenBucket:
    """A shared byte budget refilled at ``rate`` per second; callers may go into debt and wait."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate * 0.25, 256 * 1024)
        self._tokens = self.burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def reserve(self, nbytes: int) -> float:
        """Take ``nbytes``; return how long the caller must wait before sending them."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= nbytes
            return max(0.0, -self._tokens / self.rate)


class _OutboxPacer(Pacer):
    def __init__(self, outbox: Deliverer) -> None:
        self.outbox = outbox
        if outbox._bucket is not None:
            self.batch_bytes = max(1, int(outbox._bucket.rate * CAPPED_BATCH_S))

    def pace(self, nbytes: int) -> None:
        ob = self.outbox
        if ob._stop.is_set():
            raise TransferPaused("station stopping")
        if not ob.policy.schedule.open_at(utcnow()):
            raise TransferPaused("outside the upload time window")
        if ob._yield_to is not None:
            # The cameras first: while an offload is behind, wait between requests (never for long
            # at a time, so a transfer keeps moving however busy the dock is).
            deadline = time.monotonic() + YIELD_MAX_S
            while ob._yield_to() and time.monotonic() < deadline:
                if ob._stop.wait(YIELD_STEP_S):
                    raise TransferPaused("station stopping")
        if ob._bucket is not None:
            wait = ob._bucket.reserve(nbytes)
            if wait > 0 and ob._stop.wait(wait):
                raise TransferPaused("station stopping")


@dataclass(frozen=True)
class _Job:
    key: str
    item: DeliveryItem
    row: RecordingRow | None = None
    segment: AuditSegmentRow | None = None


class Deliverer:
    def __init__(
        self,
        *,
        journal: Journal,
        audit: AuditLog,
        store: Store,
        target: VaultTarget,
        station_id: str,
        policy: DeliveryPolicy | None = None,
        alerts: Alerts | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        yield_to: Callable[[], bool] | None = None,
    ) -> None:
        self.journal, self.audit, self.store, self.target = journal, audit, store, target
        # True while offloads are behind their cameras (station/offload/pressure.py): uploads wait.
        self._yield_to = yield_to
        self.station_id = station_id
        self.policy = policy or DeliveryPolicy()
        self.alerts = alerts or Alerts(journal, audit)
        self.segmenter = None if signing_key is None else AuditSegmenter(
            journal=journal, audit=audit, signing_key=signing_key, station_id=station_id,
            folder=audit.path.parent / "audit-segments", interval_s=self.policy.audit_segment_s,
        )
        bw = self.policy.bandwidth_bytes_per_s
        self._bucket = TokenBucket(bw) if bw else None
        self._pacer = _OutboxPacer(self)
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._busy: set[str] = set()
        self._item_failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._vault_failures = 0
        self._vault_resume_at = 0.0
        self._alerts_dirty = True  # alerts from before a restart are cleared by the first success
        self.last_error: str | None = None
        self.last_success: float | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self.segmenter is not None:
            self.segmenter.tidy()
        self._tidy_freed()
        for n in range(max(1, self.policy.parallel)):
            t = threading.Thread(target=self._worker, args=(n,), name=f"deliverer-{n}", daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self.kick()
        deadline = time.monotonic() + 30
        for t in self._threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))

    def kick(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not self._stop.is_set():
            with self._wake:
                self._wake.wait(seconds)

    # --- the loop ------------------------------------------------------------------------
    def _worker(self, n: int) -> None:
        while not self._stop.is_set():
            try:
                if n == 0:
                    self._housekeeping()
                blocked = self._blocked_for()
                if blocked > 0:
                    self._sleep(min(blocked, 5.0))
                    continue
                job = self._claim()
                if job is None:
                    self._sleep(1.0)
                    continue
                try:
                    self._run(job)
                finally:
                    with self._lock:
                        self._busy.discard(job.key)
            except Exception:
                log.exception("delivery worker error")
                self._stop.wait(5)

    def _housekeeping(self) -> None:
        self._free_confirmed()
        if self.segmenter is not None and self.segmenter.due():
            self.segmenter.cut()

    def _blocked_for(self) -> float:
        """Seconds until uploads may run: vault-wide backoff, or the next time window."""
        wait = self._vault_resume_at - time.monotonic()
        return max(wait, self.policy.schedule.seconds_until_open(utcnow()))

    def _claim(self) -> _Job | None:
        now = time.monotonic()
        with self._lock:
            for job in self._candidates():
                if job.key in self._busy or self._not_before.get(job.key, 0.0) > now:
                    continue
                self._busy.add(job.key)
                return job
        return None

    def _candidates(self) -> list[_Job]:
        jobs: list[_Job] = []
        if self.segmenter is not None:
            for seg in self.journal.audit_segments(pending_only=True):
                jobs.append(_Job(f"audit:{seg.first_seq}", self.segmenter.item(seg), segment=seg))
        for row in self.journal.outbox():
            if row.store_path is None or row.stored_sha256 is None or row.stored_size is None:
                continue
            jobs.append(_Job(f"rec:{row.id}", self._item(row), row=row))
        return jobs

    def _item(self, row: RecordingRow) -> DeliveryItem:
        assert row.store_path is not None and row.stored_sha256 is not None and row.stored_size is not None
        payload = Path(row.store_path)
        manifest = self.store.manifest_path(row.id)
        # Back in the outbox after the vault confirmed it (a re-issued manifest): what the vault
        # confirmed is the payload, whatever the store holds now.
        receipt = self.journal.vault_receipt(row.id)
        return DeliveryItem(
            recording_id=row.id,
            station_id=self.station_id,
            started_at=parse_iso(row.started_at) if row.started_at else parse_iso(row.discovered_at),
            payload_path=payload,
            payload_name=Path(str(receipt["payload_path"])).name if receipt else payload.name,
            payload_sha256=str(receipt["sha256"]) if receipt else row.stored_sha256,
            payload_size=int(receipt["size"]) if receipt else row.stored_size,
            manifest_path=manifest,
            manifest_name=manifest.name,
            payload_confirmed=receipt is not None,
        )

    def _run(self, job: _Job) -> None:
        row = job.row
        if row is not None:
            self.journal.update_recording(
                row.id, vault_status=VaultStatus.UPLOADING.value, vault_attempts=row.vault_attempts + 1
            )
        try:
            receipt = self.target.deliver(job.item, self._pacer)
            if receipt.sha256 != job.item.payload_sha256 or receipt.size != job.item.payload_size:
                raise VaultError(f"{job.item.recording_id}: vault holds {receipt.sha256}/{receipt.size},"
                                 f" expected {job.item.payload_sha256}/{job.item.payload_size}")
        except TransferPaused as exc:
            log.info("%s: upload paused (%s)", job.item.recording_id, exc)
            return
        except VaultError as exc:
            self._failed(job, exc)
            return
        except Exception as exc:
            log.exception("%s: delivery failed", job.item.recording_id)
            self._failed(job, VaultError(f"{type(exc).__name__}: {exc}"))
            return
        self._succeeded(job, receipt)

    # --- outcomes ------------------------------------------------------------------------
    def _failed(self, job: _Job, exc: VaultError) -> None:
        p = self.policy
        now = time.monotonic()
        with self._lock:
            n = self._item_failures[job.key] = self._item_failures.get(job.key, 0) + 1
            self._not_before[job.key] = now + backoff_delay(n, p.retry_initial_s, p.retry_max_s)
            if exc.alert is not None:
                self._vault_failures += 1
                delay = backoff_delay(self._vault_failures, p.retry_initial_s, p.retry_max_s)
                self._vault_resume_at = max(self._vault_resume_at, now + delay)
            vault_failures = self._vault_failures
        self.last_error = str(exc)
        log.warning("vault delivery of %s failed (%s)", job.item.recording_id, exc)
        if exc.alert is not None:
            self._alerts_dirty = True
            if exc.alert is not VaultAlert.UNREACHABLE:
                self.alerts.raise_(exc.alert.value, Severity.CRITICAL, str(exc))
            elif vault_failures >= p.unreachable_alert_after:
                self.alerts.raise_(exc.alert.value, Severity.WARN, str(exc))

    def _succeeded(self, job: _Job, receipt: VaultReceipt) -> None:
        with self._lock:
            self._item_failures.pop(job.key, None)
            self._not_before.pop(job.key, None)
            self._vault_failures = 0
            self._vault_resume_at = 0.0
        self.last_success = time.time()
        self.last_error = None
        if self._alerts_dirty:
            self._alerts_dirty = False
            for key in VaultAlert:
                self.alerts.clear(key.value, "vault delivery succeeded")
        result = "already-present" if receipt.already_present else "confirmed"
        if job.segment is not None:
            assert self.segmenter is not None
            self.segmenter.confirmed(job.segment, receipt.payload_path)
            self.audit.append(who=SYSTEM, what="audit.segment_delivered", why="vault confirmed",
                              device=self.station_id, result=result,
                              details={"first_seq": job.segment.first_seq, "last_seq": job.segment.last_seq,
                                       "vault_path": receipt.payload_path, "sha256": receipt.sha256})
            return
        row = job.row
        assert row is not None
        self.journal.confirm_in_vault(
            row.id, target=self.target.description, payload_path=receipt.payload_path,
            manifest_path=receipt.manifest_path, sha256=receipt.sha256, size=receipt.size,
            already_present=receipt.already_present,
        )
        crash_point("deliver.confirmed")
        self.audit.append(
            who=SYSTEM, what="recording.delivered", why="vault confirmed", device=row.camera_serial,
            result=result, details={"recording": row.id, "vault_path": receipt.payload_path, "sha256": receipt.sha256},
        )
        self._free_local(row)
        self.kick()

    def _free_confirmed(self) -> None:
        for row in self.journal.recordings_to_delete_locally():
            self._free_local(row)

    def _free_local(self, row: RecordingRow) -> None:
        # Only ever after the vault confirmed, and journaled before the files go: a crash between
        # the two leaves files that ``_tidy_freed`` removes, never a "present" copy that is gone
        # (which an offload would copy again while this removes it).
        self.journal.update_recording(row.id, local_state=LocalState.DELETED.value)
        self.store.remove(*self._local_files(row))

    def _local_files(self, row: RecordingRow) -> list[Path]:
        paths = [self.store.manifest_path(row.id)]
        if row.store_path:
            paths.insert(0, Path(row.store_path))
        return paths

    def _tidy_freed(self) -> None:
        """Remove what a crash left of local copies the journal already freed."""
        for row in self.journal.recordings():
            if row.local_state != LocalState.DELETED.value or row.vault_status != VaultStatus.CONFIRMED.value:
                continue
            left = [p for p in self._local_files(row) if p.exists()]
            if left:
                log.info("%s: removing %d local file(s) freed before a restart", row.id, len(left))
                self.store.remove(*left)

    # --- status --------------------------------------------------------------------------
    def backlog(self) -> tuple[int, int, float | None]:
        """(count, bytes, age in seconds of the oldest) of recordings not yet in the vault."""
        rows = self.journal.outbox()
        if not rows:
            return 0, 0, None
        oldest = min(parse_iso(r.discovered_at) for r in rows)
        return len(rows), sum(r.stored_size or 0 for r in rows), (utcnow() - oldest).total_seconds()
