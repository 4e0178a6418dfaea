"""The outbox: deliver verified recordings to the vault, then (and only then) free the store.

State lives in the journal (``vault_status``), so a reboot resumes the queue. Targets are
idempotent, so retrying after a crash never duplicates footage in the vault.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from pathlib import Path

from station.audit import SYSTEM, AuditLog
from station.crashpoints import crash_point
from station.journal import Journal, LocalState, RecordingRow, VaultStatus
from station.ports import DeliveryItem, VaultError, VaultTarget
from station.store import Store
from station.timeutil import parse_iso, utcnow

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(
        self,
        *,
        journal: Journal,
        audit: AuditLog,
        store: Store,
        target: VaultTarget,
        station_id: str,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 300.0,
    ) -> None:
        self.journal, self.audit, self.store, self.target = journal, audit, store, target
        self.station_id = station_id
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff_base, self._backoff_max = backoff_base_s, backoff_max_s
        self._failures = 0
        self.last_error: str | None = None
        self.last_success: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="deliverer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread:
            self._thread.join(timeout=30)

    def kick(self) -> None:
        self._kick.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._free_confirmed()
                rows = self.journal.recordings_to_deliver()
                for row in rows:
                    if self._stop.is_set():
                        return
                    self._deliver(row)
                self._failures = 0
            except VaultError as exc:
                self._failures += 1
                self.last_error = str(exc)
                delay = min(self._backoff_max, self._backoff_base * 2 ** min(self._failures, 16))
                delay *= random.uniform(0.5, 1.0)  # jitter: docks must not retry in lockstep
                log.warning("vault delivery failed (%s); retrying in %.1fs", exc, delay)
                self._kick.wait(delay)
                self._kick.clear()
                continue
            except Exception:
                log.exception("delivery loop error")
                self._stop.wait(5)
                continue
            self._kick.wait(1.0)
            self._kick.clear()

    def _deliver(self, row: RecordingRow) -> None:
        if row.store_path is None or row.stored_sha256 is None or row.stored_size is None:
            raise VaultError(f"{row.id}: journal has no stored copy", permanent=True)
        self.journal.update_recording(
            row.id, vault_status=VaultStatus.UPLOADING.value, vault_attempts=row.vault_attempts + 1
        )
        payload = Path(row.store_path)
        item = DeliveryItem(
            recording_id=row.id,
            station_id=self.station_id,
            started_at=parse_iso(row.started_at) if row.started_at else parse_iso(row.discovered_at),
            payload_path=payload,
            payload_name=payload.name,
            payload_sha256=row.stored_sha256,
            payload_size=row.stored_size,
            manifest_path=self.store.manifest_path(row.id),
            manifest_name=self.store.manifest_path(row.id).name,
        )
        receipt = self.target.deliver(item)
        if receipt.sha256 != row.stored_sha256 or receipt.size != row.stored_size:
            raise VaultError(f"{row.id}: vault holds {receipt.sha256}/{receipt.size}, expected {row.stored_sha256}")
        self.journal.update_recording(
            row.id, vault_status=VaultStatus.CONFIRMED.value, vault_path=receipt.payload_path
        )
        self.last_success = time.time()
        self.last_error = None
        crash_point("deliver.confirmed")
        self.audit.append(
            who=SYSTEM, what="recording.delivered", why="vault confirmed", device=row.camera_serial,
            result="already-present" if receipt.already_present else "confirmed",
            details={"recording": row.id, "vault_path": receipt.payload_path, "sha256": receipt.sha256},
        )
        self._free_local(row)

    def _free_confirmed(self) -> None:
        for row in self.journal.recordings_to_delete_locally():
            self._free_local(row)

    def _free_local(self, row: RecordingRow) -> None:
        paths = [self.store.manifest_path(row.id)]
        if row.store_path:
            paths.insert(0, Path(row.store_path))
        self.store.remove(*paths)
        self.journal.update_recording(row.id, local_state=LocalState.DELETED.value)

    def backlog(self) -> tuple[int, int, float | None]:
        """(count, bytes, age in seconds of the oldest) of recordings not yet in the vault."""
        rows = self.journal.recordings_to_deliver()
        if not rows:
            return 0, 0, None
        oldest = min(parse_iso(r.discovered_at) for r in rows)
        return len(rows), sum(r.stored_size or 0 for r in rows), (utcnow() - oldest).total_seconds()
