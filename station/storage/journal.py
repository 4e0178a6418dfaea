"""The durable journal: SQLite in WAL mode with synchronous=FULL.

Every slot transition and every recording's progress is committed here *before* the station acts
on it, so that after a crash (SIGKILL, power loss) the station can rebuild each slot and resume
exactly where it stopped. One connection guarded by a lock: writes are small and rare compared
to the footage I/O, and a single writer keeps ordering obvious.
"""

from __future__ import annotations

import enum
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from station.core.states import Event, Slot, SlotState
from station.storage.recording_row import REC_COLUMNS, RecordingRow
from station.storage.shift_journal import SHIFT_SCHEMA, ShiftJournal
from station.timeutil import iso, parse_iso, utcnow

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS slots (
  id INTEGER PRIMARY KEY, state TEXT NOT NULL, camera_serial TEXT, fault_reason TEXT, since TEXT
);
CREATE TABLE IF NOT EXISTS transitions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, slot_id INTEGER NOT NULL,
  from_state TEXT NOT NULL, event TEXT NOT NULL, to_state TEXT NOT NULL,
  camera_serial TEXT, reason TEXT
);
CREATE TABLE IF NOT EXISTS cameras (
  serial TEXT PRIMARY KEY, model TEXT, firmware TEXT, vendor TEXT, adapter TEXT,
  wearer_id TEXT, last_slot INTEGER, last_seen TEXT
);
CREATE TABLE IF NOT EXISTS recordings (
  id TEXT PRIMARY KEY,
  camera_serial TEXT NOT NULL,
  source_key TEXT NOT NULL,
  size INTEGER NOT NULL,
  started_at TEXT,
  device_sha256 TEXT,
  wearer_id TEXT,
  slot_id INTEGER,
  status TEXT NOT NULL,
  bytes_done INTEGER NOT NULL DEFAULT 0,
  sha256 TEXT,
  stored_sha256 TEXT,
  stored_size INTEGER,
  store_path TEXT,
  error TEXT,
  vault_status TEXT NOT NULL DEFAULT 'none',
  vault_path TEXT,
  vault_attempts INTEGER NOT NULL DEFAULT 0,
  local_state TEXT NOT NULL DEFAULT 'none',
  camera_state TEXT NOT NULL DEFAULT 'present',
  tag TEXT NOT NULL DEFAULT 'uncategorised',
  discovered_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, severity TEXT NOT NULL, message TEXT NOT NULL,
  raised_at TEXT NOT NULL, last_seen TEXT NOT NULL, acked_by TEXT, acked_at TEXT, cleared_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open ON alerts(key) WHERE cleared_at IS NULL;
CREATE TABLE IF NOT EXISTS vault_receipts (
  recording_id TEXT PRIMARY KEY, target TEXT NOT NULL, payload_path TEXT NOT NULL, manifest_path TEXT NOT NULL,
  sha256 TEXT NOT NULL, size INTEGER NOT NULL, already_present INTEGER NOT NULL, confirmed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_segments (
  first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
  sha256 TEXT NOT NULL, size INTEGER NOT NULL, first_ts TEXT NOT NULL, end_offset INTEGER NOT NULL,
  created_at TEXT NOT NULL, vault_status TEXT NOT NULL DEFAULT 'queued', vault_path TEXT, confirmed_at TEXT
);
CREATE INDEX IF NOT EXISTS recordings_camera ON recordings(camera_serial);
CREATE INDEX IF NOT EXISTS recordings_vault ON recordings(vault_status);
"""


class RecStatus(enum.StrEnum):
    PENDING = "pending"  # listed on the camera, nothing copied yet
    COPYING = "copying"
    STORED = "stored"  # durable copy in the store (fsynced, renamed)
    VERIFIED = "verified"  # copy matches the source by the configured policy
    FAILED = "failed"


class VaultStatus(enum.StrEnum):
    NONE = "none"
    QUEUED = "queued"
    UPLOADING = "uploading"
    CONFIRMED = "confirmed"


class LocalState(enum.StrEnum):
    NONE = "none"
    PRESENT = "present"
    DELETED = "deleted"  # removed only after the vault confirmed


class CameraState(enum.StrEnum):
    PRESENT = "present"
    WIPING = "wiping"
    WIPED = "wiped"


@dataclass(frozen=True)
class CameraRow:
    serial: str
    model: str | None
    firmware: str | None
    vendor: str | None
    adapter: str | None
    wearer_id: str | None
    last_slot: int | None
    last_seen: str | None


@dataclass(frozen=True)
class TransitionRow:
    seq: int
    at: str
    slot_id: int
    from_state: str
    event: str
    to_state: str
    camera_serial: str | None
    reason: str | None


@dataclass(frozen=True)
class AlertRow:
    id: int
    key: str
    severity: str
    message: str
    raised_at: str
    last_seen: str
    acked_by: str | None
    acked_at: str | None
    cleared_at: str | None


@dataclass(frozen=True)
class AuditSegmentRow:
    first_seq: int
    last_seq: int
    name: str  # file name in the vault, e.g. audit-<station>-000001-000350.jsonl
    path: str  # the local segment file
    sha256: str
    size: int
    first_ts: str  # timestamp of the first entry: decides the vault's day folder
    end_offset: int  # byte offset in the audit log just past this segment's last line
    created_at: str
    vault_status: str
    vault_path: str | None
    confirmed_at: str | None


# Upload order by the recording's tag: evidence before footage kept for training, then the rest.
TAG_PRIORITY = ("evidence", "learning")
_PRIORITY_SQL = "CASE tag " + " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(TAG_PRIORITY)) + (
    f" ELSE {len(TAG_PRIORITY)} END"
)

_SEG_COLUMNS = tuple(f.name for f in fields(AuditSegmentRow))


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        # The journal names officers and cameras: not for other local users. SQLite gives the
        # -wal and -shm files the database file's mode, so creating it 0640 covers all three.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o640))
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we act on it; that is the whole point of this file.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._db.executescript(SHIFT_SCHEMA)  # check-out/check-in tables (station/storage/shift_journal.py)
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        # Check-out, check-in, tags and manifest revisions: the same connection, lock and durability.
        self.shift = ShiftJournal(conn=self._db, lock=self._lock, tx=self._tx, recording=self.recording,
                                  select_recordings=self._select_recordings)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def integrity_ok(self) -> bool:
        with self._lock:
            row = self._db.execute("PRAGMA quick_check").fetchone()
        return bool(row and row[0] == "ok")

    # --- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # --- slots ------------------------------------------------------------------------------
    def ensure_slots(self, slot_ids: Sequence[int]) -> None:
        with self._tx() as db:
            for sid in slot_ids:
                db.execute(
                    "INSERT OR IGNORE INTO slots(id, state, since) VALUES (?, ?, ?)",
                    (sid, SlotState.EMPTY.value, iso(utcnow())),
                )

    def load_slots(self) -> dict[int, Slot]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, state, camera_serial, fault_reason, since FROM slots ORDER BY id"
            ).fetchall()
        return {
            r[0]: Slot(
                id=r[0],
                state=SlotState(r[1]),
                camera_serial=r[2],
                fault_reason=r[3],
                since=parse_iso(r[4]) if r[4] else None,
            )
            for r in rows
        }

    def record_transition(self, old: Slot, new: Slot, event: Event) -> int:
        at = iso(new.since or utcnow())
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO transitions(at, slot_id, from_state, event, to_state, camera_serial, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at, new.id, old.state.value, event.value, new.state.value,
                 new.camera_serial or old.camera_serial, new.fault_reason),
            )
            db.execute(
                "UPDATE slots SET state=?, camera_serial=?, fault_reason=?, since=? WHERE id=?",
                (new.state.value, new.camera_serial, new.fault_reason, at, new.id),
            )
            return int(cur.lastrowid or 0)

    def transitions(self, slot_id: int | None = None) -> list[TransitionRow]:
        sql = "SELECT seq, at, slot_id, from_state, event, to_state, camera_serial, reason FROM transitions"
        args: tuple[Any, ...] = ()
        if slot_id is not None:
            sql += " WHERE slot_id=?"
            args = (slot_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [TransitionRow(*r) for r in rows]

    # --- cameras ----------------------------------------------------------------------------
    def upsert_camera(
        self, serial: str, *, model: str, firmware: str, vendor: str, adapter: str,
        wearer_id: str | None, slot_id: int,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO cameras(serial, model, firmware, vendor, adapter, wearer_id, last_slot, last_seen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(serial) DO UPDATE SET model=excluded.model,"
                " firmware=excluded.firmware, vendor=excluded.vendor, adapter=excluded.adapter,"
                " wearer_id=excluded.wearer_id, last_slot=excluded.last_slot, last_seen=excluded.last_seen",
                (serial, model, firmware, vendor, adapter, wearer_id, slot_id, iso(utcnow())),
            )

    def camera(self, serial: str) -> CameraRow | None:
        with self._lock:
            r = self._db.execute(
                "SELECT serial, model, firmware, vendor, adapter, wearer_id, last_slot, last_seen"
                " FROM cameras WHERE serial=?", (serial,),
            ).fetchone()
        return None if r is None else CameraRow(*r)

    def cameras(self) -> list[CameraRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT serial, model, firmware, vendor, adapter, wearer_id, last_slot, last_seen"
                " FROM cameras ORDER BY serial"
            ).fetchall()
        return [CameraRow(*r) for r in rows]

    # --- recordings -------------------------------------------------------------------------
    def discover_recording(
        self, rec_id: str, *, camera_serial: str, source_key: str, size: int,
        started_at: datetime | None, device_sha256: str | None, wearer_id: str | None, slot_id: int,
    ) -> RecordingRow:
        now = iso(utcnow())
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO recordings(id, camera_serial, source_key, size, started_at,"
                " device_sha256, wearer_id, slot_id, status, discovered_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec_id, camera_serial, source_key, size, iso(started_at) if started_at else None,
                 device_sha256, wearer_id, slot_id, RecStatus.PENDING.value, now, now),
            )
            # The same recording seen again (re-docked) is back on the camera.
            db.execute(
                "UPDATE recordings SET camera_state=?, slot_id=?, updated_at=? WHERE id=? AND camera_state=?",
                (CameraState.PRESENT.value, slot_id, now, rec_id, CameraState.WIPED.value),
            )
        row = self.recording(rec_id)
        assert row is not None
        return row

    def update_recording(self, rec_id: str, **values: Any) -> None:
        bad = set(values) - set(REC_COLUMNS)
        if bad:
            raise ValueError(f"unknown recording columns: {sorted(bad)}")
        values["updated_at"] = iso(utcnow())
        cols = ", ".join(f"{k}=?" for k in values)
        with self._tx() as db:
            cur = db.execute(f"UPDATE recordings SET {cols} WHERE id=?", (*values.values(), rec_id))
            if cur.rowcount != 1:
                raise KeyError(rec_id)

    def recording(self, rec_id: str) -> RecordingRow | None:
        rows = self._select_recordings("WHERE id=?", (rec_id,))
        return rows[0] if rows else None

    def recordings_for_camera(self, serial: str) -> list[RecordingRow]:
        return self._select_recordings("WHERE camera_serial=? ORDER BY started_at, id", (serial,))

    def recordings(self) -> list[RecordingRow]:
        return self._select_recordings("ORDER BY discovered_at, id", ())

    def recordings_to_deliver(self) -> list[RecordingRow]:
        return self._select_recordings(
            "WHERE vault_status IN (?, ?) ORDER BY discovered_at, id",
            (VaultStatus.QUEUED.value, VaultStatus.UPLOADING.value),
        )

    def outbox(self) -> list[RecordingRow]:
        """Recordings waiting for the vault, in upload order (tag priority, then oldest first)."""
        return self._select_recordings(
            f"WHERE vault_status IN (?, ?) ORDER BY {_PRIORITY_SQL}, discovered_at, id",
            (VaultStatus.QUEUED.value, VaultStatus.UPLOADING.value),
        )

    def confirm_in_vault(
        self, rec_id: str, *, target: str, payload_path: str, manifest_path: str, sha256: str, size: int,
        already_present: bool,
    ) -> None:
        """Record what the vault holds for this recording, in one transaction with its status."""
        now = iso(utcnow())
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO vault_receipts(recording_id, target, payload_path, manifest_path, sha256,"
                " size, already_present, confirmed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rec_id, target, payload_path, manifest_path, sha256, size, int(already_present), now),
            )
            cur = db.execute(
                "UPDATE recordings SET vault_status=?, vault_path=?, updated_at=? WHERE id=?",
                (VaultStatus.CONFIRMED.value, payload_path, now, rec_id),
            )
            if cur.rowcount != 1:
                raise KeyError(rec_id)

    def vault_receipt(self, rec_id: str) -> dict[str, Any] | None:
        with self._lock:
            cur = self._db.execute("SELECT * FROM vault_receipts WHERE recording_id=?", (rec_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        return None if row is None else dict(zip(names, row, strict=True))

    # --- audit segments -----------------------------------------------------------------------
    def add_audit_segment(self, seg: AuditSegmentRow) -> None:
        with self._tx() as db:
            db.execute(
                f"INSERT INTO audit_segments({', '.join(_SEG_COLUMNS)}) VALUES ({', '.join('?' * len(_SEG_COLUMNS))})",
                tuple(getattr(seg, c) for c in _SEG_COLUMNS),
            )

    def audit_segments(self, *, pending_only: bool = False) -> list[AuditSegmentRow]:
        where = "WHERE vault_status != 'confirmed' " if pending_only else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_SEG_COLUMNS)} FROM audit_segments {where}ORDER BY first_seq"
            ).fetchall()
        return [AuditSegmentRow(*r) for r in rows]

    def last_audit_segment(self) -> AuditSegmentRow | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(_SEG_COLUMNS)} FROM audit_segments ORDER BY first_seq DESC LIMIT 1"
            ).fetchone()
        return None if row is None else AuditSegmentRow(*row)

    def confirm_audit_segment(self, first_seq: int, vault_path: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE audit_segments SET vault_status=?, vault_path=?, confirmed_at=? WHERE first_seq=?",
                (VaultStatus.CONFIRMED.value, vault_path, iso(utcnow()), first_seq),
            )

    def recordings_to_delete_locally(self) -> list[RecordingRow]:
        return self._select_recordings(
            "WHERE vault_status=? AND local_state=?", (VaultStatus.CONFIRMED.value, LocalState.PRESENT.value)
        )

    def _select_recordings(self, where: str, args: tuple[Any, ...]) -> list[RecordingRow]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(REC_COLUMNS)} FROM recordings {where}", args).fetchall()
        return [RecordingRow(*r) for r in rows]

    # --- alerts -----------------------------------------------------------------------------
    def raise_alert(self, key: str, severity: str, message: str) -> bool:
        """Open an alert, or refresh the open one with this key; True when it is new."""
        now = iso(utcnow())
        with self._tx() as db:
            cur = db.execute(
                "UPDATE alerts SET severity=?, message=?, last_seen=? WHERE key=? AND cleared_at IS NULL",
                (severity, message, now, key),
            )
            if cur.rowcount:
                return False
            db.execute(
                "INSERT INTO alerts(key, severity, message, raised_at, last_seen) VALUES (?, ?, ?, ?, ?)",
                (key, severity, message, now, now),
            )
            return True

    def clear_alert(self, key: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE alerts SET cleared_at=? WHERE key=? AND cleared_at IS NULL", (iso(utcnow()), key)
            )
            return cur.rowcount > 0

    def ack_alert(self, alert_id: int, who: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE alerts SET acked_by=?, acked_at=? WHERE id=? AND cleared_at IS NULL AND acked_at IS NULL",
                (who, iso(utcnow()), alert_id),
            )
            return cur.rowcount > 0

    def open_alerts(self) -> list[AlertRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, key, severity, message, raised_at, last_seen, acked_by, acked_at, cleared_at"
                " FROM alerts WHERE cleared_at IS NULL ORDER BY id"
            ).fetchall()
        return [AlertRow(*r) for r in rows]
