"""A journal, audit log and store with recordings queued for the vault, for outbox tests."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.core.alerts import Alerts
from station.outbox.deliverer import Deliverer, DeliveryPolicy
from station.outbox.target import VaultTarget
from station.storage.audit import AuditLog
from station.storage.journal import Journal, LocalState, RecStatus, VaultStatus
from station.storage.paths import open_audit
from station.storage.recording_row import RecordingRow
from station.storage.store import Store
from station.timeutil import iso


@dataclass
class Outbox:
    root: Path
    journal: Journal
    audit: AuditLog
    store: Store
    key: Ed25519PrivateKey

    def queue(self, rec_id: str, data: bytes, *, tag: str = "uncategorised", age_s: float = 0) -> RecordingRow:
        started = datetime(2026, 11, 23, 8, tzinfo=UTC) - timedelta(seconds=age_s)
        self.journal.discover_recording(
            rec_id, camera_serial="CAM-1", source_key=f"{rec_id}.MP4", size=len(data), started_at=started,
            device_sha256=None, wearer_id=None, slot_id=1,
        )
        payload = self.store.path / f"{rec_id}.mp4.age"
        payload.write_bytes(data)
        self.store.manifest_path(rec_id).write_bytes(b'{"recording": "%s"}\n' % rec_id.encode())
        digest = hashlib.sha256(data).hexdigest()
        self.journal.update_recording(
            rec_id, status=RecStatus.VERIFIED.value, vault_status=VaultStatus.QUEUED.value, store_path=str(payload),
            stored_sha256=digest, stored_size=len(data), sha256=digest, local_state=LocalState.PRESENT.value,
            tag=tag, discovered_at=iso(started),
        )
        row = self.journal.recording(rec_id)
        assert row is not None
        return row

    def deliverer(self, target: VaultTarget, policy: DeliveryPolicy | None = None, **kw: object) -> Deliverer:
        return Deliverer(journal=self.journal, audit=self.audit, store=self.store, target=target,
                         station_id="dock-1", policy=policy or DeliveryPolicy(retry_initial_s=0.05, retry_max_s=0.5),
                         alerts=Alerts(self.journal, self.audit), signing_key=self.key, **kw)  # type: ignore[arg-type]

    def status(self, rec_id: str) -> tuple[str, str]:
        row = self.journal.recording(rec_id)
        assert row is not None
        return row.vault_status, row.local_state

    def open_alerts(self) -> set[str]:
        return {a.key for a in self.journal.open_alerts()}

    def close(self) -> None:
        self.audit.close()
        self.journal.close()


def make_outbox(root: Path) -> Outbox:
    state = root / "state"
    journal = Journal(state / "journal.sqlite")
    audit = open_audit(journal, state / "audit.log")
    store = Store(root / "store", 0)
    return Outbox(root, journal, audit, store, Ed25519PrivateKey.generate())


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
