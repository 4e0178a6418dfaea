"""Journal tables for the shift flows: assignments, check-ins, tags, manifest revisions, PIN
lockouts and the cached roster. Held by :class:`station.storage.journal.Journal` as ``journal.shift`` (same
connection, same lock, same durability); the schema is additive, so an older journal simply gains these tables.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from station.storage.recording_row import RecordingRow
from station.timeutil import iso, utcnow

SHIFT_SCHEMA = """
CREATE TABLE IF NOT EXISTS roster_cache (
  id INTEGER PRIMARY KEY CHECK (id = 1), source TEXT NOT NULL, sha256 TEXT NOT NULL, content BLOB NOT NULL,
  signature BLOB, fetched_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pin_lockouts (
  personnel_number TEXT PRIMARY KEY, failures INTEGER NOT NULL, first_failure_at TEXT NOT NULL, locked_until TEXT
);
CREATE TABLE IF NOT EXISTS assignments (
  id INTEGER PRIMARY KEY AUTOINCREMENT, camera_serial TEXT NOT NULL, slot_id INTEGER NOT NULL,
  wearer_id TEXT NOT NULL, wearer_name TEXT NOT NULL, assigned_by TEXT NOT NULL, method TEXT NOT NULL,
  state TEXT NOT NULL, assigned_at TEXT NOT NULL, checked_out_at TEXT, ended_at TEXT, end_reason TEXT
);
CREATE INDEX IF NOT EXISTS assignments_camera ON assignments(camera_serial, id);
CREATE TABLE IF NOT EXISTS checkins (
  id INTEGER PRIMARY KEY AUTOINCREMENT, camera_serial TEXT NOT NULL, slot_id INTEGER NOT NULL,
  wearer_id TEXT, opened_at TEXT NOT NULL, closed_at TEXT, closed_by TEXT, close_reason TEXT
);
CREATE INDEX IF NOT EXISTS checkins_camera ON checkins(camera_serial, id);
CREATE TABLE IF NOT EXISTS recording_tags (
  recording_id TEXT PRIMARY KEY REFERENCES recordings(id), checkin_id INTEGER REFERENCES checkins(id),
  tag TEXT NOT NULL DEFAULT 'uncategorised', case_number TEXT, consent_given INTEGER, consent_method TEXT,
  consent_note TEXT, tagged_by TEXT, tagged_at TEXT,
  revision INTEGER NOT NULL DEFAULT 0, issued_revision INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS recording_tags_checkin ON recording_tags(checkin_id);
CREATE TABLE IF NOT EXISTS manifests (
  recording_id TEXT NOT NULL, revision INTEGER NOT NULL, tag_revision INTEGER NOT NULL,
  document BLOB NOT NULL, issued_at TEXT NOT NULL, PRIMARY KEY (recording_id, revision)
);
"""


class AssignmentState:
    ASSIGNED = "assigned"  # configured for the wearer, still in the slot
    CHECKED_OUT = "checked_out"  # taken out of the slot
    RETURNED = "returned"  # docked again
    CANCELLED = "cancelled"  # never taken (timeout, fault, staff)


@dataclass(frozen=True)
class AssignmentRow:
    id: int
    camera_serial: str
    slot_id: int
    wearer_id: str
    wearer_name: str
    assigned_by: str
    method: str
    state: str
    assigned_at: str
    checked_out_at: str | None
    ended_at: str | None
    end_reason: str | None


@dataclass(frozen=True)
class CheckinRow:
    id: int
    camera_serial: str
    slot_id: int
    wearer_id: str | None
    opened_at: str
    closed_at: str | None
    closed_by: str | None
    close_reason: str | None


@dataclass(frozen=True)
class TagRow:
    recording_id: str
    checkin_id: int | None
    tag: str
    case_number: str | None
    consent_given: int | None
    consent_method: str | None
    consent_note: str | None
    tagged_by: str | None
    tagged_at: str | None
    revision: int
    issued_revision: int


@dataclass(frozen=True)
class PinRecord:
    personnel_number: str
    failures: int
    first_failure_at: str
    locked_until: str | None


@dataclass(frozen=True)
class ManifestRow:
    recording_id: str
    revision: int
    tag_revision: int
    document: bytes
    issued_at: str


_ASSIGN_COLS = "id, camera_serial, slot_id, wearer_id, wearer_name, assigned_by, method, state, assigned_at," \
               " checked_out_at, ended_at, end_reason"
_CHECKIN_COLS = "id, camera_serial, slot_id, wearer_id, opened_at, closed_at, closed_by, close_reason"
_TAG_COLS = "recording_id, checkin_id, tag, case_number, consent_given, consent_method, consent_note," \
            " tagged_by, tagged_at, revision, issued_revision"


class ShiftJournal:
    """The shift tables, over the Journal's connection, lock and transaction helper."""

    def __init__(
        self,
        *,
        conn: sqlite3.Connection,
        lock: threading.RLock,
        tx: Callable[[], AbstractContextManager[sqlite3.Connection]],
        recording: Callable[[str], RecordingRow | None],
        select_recordings: Callable[[str, tuple[Any, ...]], list[RecordingRow]],
    ) -> None:
        self._db, self._lock, self._tx = conn, lock, tx
        self.recording, self._select_recordings = recording, select_recordings

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # --- roster cache ---------------------------------------------------------------------------
    def save_roster_cache(self, source: str, sha256: str, content: bytes, signature: bytes | None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO roster_cache(id, source, sha256, content, signature, fetched_at)"
                       " VALUES (1, ?, ?, ?, ?, ?)", (source, sha256, content, signature, iso(utcnow())))

    def roster_cache(self) -> tuple[str, bytes, bytes | None] | None:
        rows = self._rows("SELECT source, content, signature FROM roster_cache WHERE id=1")
        return None if not rows else (str(rows[0][0]), bytes(rows[0][1]), None if rows[0][2] is None
                                      else bytes(rows[0][2]))

    # --- PIN lockouts ---------------------------------------------------------------------------
    def pin_record(self, personnel_number: str) -> PinRecord | None:
        rows = self._rows("SELECT personnel_number, failures, first_failure_at, locked_until FROM pin_lockouts"
                          " WHERE personnel_number=?", (personnel_number,))
        return PinRecord(*rows[0]) if rows else None

    def save_pin_record(self, rec: PinRecord | None, personnel_number: str) -> None:
        with self._tx() as db:
            if rec is None:
                db.execute("DELETE FROM pin_lockouts WHERE personnel_number=?", (personnel_number,))
            else:
                db.execute("INSERT OR REPLACE INTO pin_lockouts(personnel_number, failures, first_failure_at,"
                           " locked_until) VALUES (?, ?, ?, ?)",
                           (rec.personnel_number, rec.failures, rec.first_failure_at, rec.locked_until))

    # --- assignments ----------------------------------------------------------------------------
    def add_assignment(self, *, camera_serial: str, slot_id: int, wearer_id: str, wearer_name: str,
                       assigned_by: str, method: str) -> int:
        with self._tx() as db:
            # A camera has at most one live assignment: a new one ends any left over.
            db.execute("UPDATE assignments SET state=?, ended_at=?, end_reason=? WHERE camera_serial=?"
                       " AND state IN (?, ?)", (AssignmentState.CANCELLED, iso(utcnow()), "superseded",
                                               camera_serial, AssignmentState.ASSIGNED,
                                               AssignmentState.CHECKED_OUT))
            cur = db.execute(
                "INSERT INTO assignments(camera_serial, slot_id, wearer_id, wearer_name, assigned_by, method,"
                " state, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (camera_serial, slot_id, wearer_id, wearer_name, assigned_by, method,
                 AssignmentState.ASSIGNED, iso(utcnow())),
            )
            return int(cur.lastrowid or 0)

    def live_assignment(self, camera_serial: str) -> AssignmentRow | None:
        rows = self._rows(f"SELECT {_ASSIGN_COLS} FROM assignments WHERE camera_serial=? AND state IN (?, ?)"
                          " ORDER BY id DESC LIMIT 1",
                          (camera_serial, AssignmentState.ASSIGNED, AssignmentState.CHECKED_OUT))
        return AssignmentRow(*rows[0]) if rows else None

    def live_assignment_for_wearer(self, wearer_id: str) -> AssignmentRow | None:
        rows = self._rows(f"SELECT {_ASSIGN_COLS} FROM assignments WHERE wearer_id=? AND state IN (?, ?)"
                          " ORDER BY id DESC LIMIT 1",
                          (wearer_id, AssignmentState.ASSIGNED, AssignmentState.CHECKED_OUT))
        return AssignmentRow(*rows[0]) if rows else None

    def end_assignment(self, assignment_id: int, state: str, reason: str) -> None:
        now = iso(utcnow())
        with self._tx() as db:
            if state == AssignmentState.CHECKED_OUT:
                db.execute("UPDATE assignments SET state=?, checked_out_at=? WHERE id=?", (state, now, assignment_id))
            else:
                db.execute("UPDATE assignments SET state=?, ended_at=?, end_reason=? WHERE id=?",
                           (state, now, reason, assignment_id))

    def assignments(self, camera_serial: str | None = None) -> list[AssignmentRow]:
        where, args = ("WHERE camera_serial=? ", (camera_serial,)) if camera_serial else ("", ())
        return [AssignmentRow(*r) for r in self._rows(f"SELECT {_ASSIGN_COLS} FROM assignments {where}ORDER BY id",
                                                      args)]

    def recordings_left_on_camera(self, camera_serial: str) -> int:
        """Recordings the journal knows on this camera that were never seen wiped."""
        rows = self._rows("SELECT count(*) FROM recordings WHERE camera_serial=? AND camera_state != 'wiped'",
                          (camera_serial,))
        return int(rows[0][0])

    # --- check-ins ------------------------------------------------------------------------------
    def open_checkin(self, camera_serial: str, slot_id: int, wearer_id: str | None) -> CheckinRow:
        """The camera's open check-in, or a new one (a re-dock of the same wearer's camera continues it)."""
        with self._tx() as db:
            row = db.execute(f"SELECT {_CHECKIN_COLS} FROM checkins WHERE camera_serial=? AND closed_at IS NULL"
                             " ORDER BY id DESC LIMIT 1", (camera_serial,)).fetchone()
            if row is not None and row[3] == wearer_id:
                db.execute("UPDATE checkins SET slot_id=? WHERE id=?", (slot_id, row[0]))
                return CheckinRow(int(row[0]), str(row[1]), slot_id, row[3], str(row[4]), None, None, None)
            if row is not None:
                db.execute("UPDATE checkins SET closed_at=?, closed_by=?, close_reason=? WHERE id=?",
                           (iso(utcnow()), "system", "docked by another wearer", row[0]))
            now = iso(utcnow())
            cur = db.execute("INSERT INTO checkins(camera_serial, slot_id, wearer_id, opened_at) VALUES (?, ?, ?, ?)",
                             (camera_serial, slot_id, wearer_id, now))
            return CheckinRow(int(cur.lastrowid or 0), camera_serial, slot_id, wearer_id, now, None, None, None)

    def checkin(self, checkin_id: int) -> CheckinRow | None:
        rows = self._rows(f"SELECT {_CHECKIN_COLS} FROM checkins WHERE id=?", (checkin_id,))
        return CheckinRow(*rows[0]) if rows else None

    def open_checkins(self) -> list[CheckinRow]:
        return [CheckinRow(*r) for r in self._rows(f"SELECT {_CHECKIN_COLS} FROM checkins WHERE closed_at IS NULL"
                                                    " ORDER BY id")]

    def latest_checkin(self, camera_serial: str) -> CheckinRow | None:
        rows = self._rows(f"SELECT {_CHECKIN_COLS} FROM checkins WHERE camera_serial=? ORDER BY id DESC LIMIT 1",
                          (camera_serial,))
        return CheckinRow(*rows[0]) if rows else None

    def close_checkin(self, checkin_id: int, by: str, reason: str) -> bool:
        with self._tx() as db:
            cur = db.execute("UPDATE checkins SET closed_at=?, closed_by=?, close_reason=? WHERE id=?"
                             " AND closed_at IS NULL", (iso(utcnow()), by, reason, checkin_id))
            return cur.rowcount > 0

    def link_checkin_recordings(self, checkin: CheckinRow) -> None:
        """Attach the camera's recordings of this wearer that no check-in holds yet."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO recording_tags(recording_id) SELECT id FROM recordings"
                " WHERE camera_serial=? AND wearer_id IS ?", (checkin.camera_serial, checkin.wearer_id))
            db.execute(
                "UPDATE recording_tags SET checkin_id=? WHERE checkin_id IS NULL AND recording_id IN"
                " (SELECT id FROM recordings WHERE camera_serial=? AND wearer_id IS ?)",
                (checkin.id, checkin.camera_serial, checkin.wearer_id))

    def checkin_recordings(self, checkin_id: int) -> list[tuple[RecordingRow, TagRow]]:
        ids = [str(r[0]) for r in self._rows("SELECT recording_id FROM recording_tags WHERE checkin_id=?",
                                              (checkin_id,))]
        out = []
        for rec_id in ids:
            row, tag = self.recording(rec_id), self.tag_row(rec_id)
            if row is not None and tag is not None:
                out.append((row, tag))
        out.sort(key=lambda rt: (rt[0].started_at or "", rt[0].id))
        return out

    # --- tags -----------------------------------------------------------------------------------
    def tag_row(self, recording_id: str) -> TagRow | None:
        rows = self._rows(f"SELECT {_TAG_COLS} FROM recording_tags WHERE recording_id=?", (recording_id,))
        return TagRow(*rows[0]) if rows else None

    def set_tag(self, recording_id: str, *, tag: str, case_number: str | None, consent_given: bool | None,
                consent_method: str | None, consent_note: str | None, by: str) -> TagRow:
        """Record a tag (new revision) and mirror it in recordings.tag (the outbox orders by it)."""
        now = iso(utcnow())
        consent = None if consent_given is None else int(consent_given)
        with self._tx() as db:
            cur = db.execute("UPDATE recordings SET tag=?, updated_at=? WHERE id=?", (tag, now, recording_id))
            if cur.rowcount != 1:
                raise KeyError(recording_id)
            db.execute("INSERT OR IGNORE INTO recording_tags(recording_id) VALUES (?)", (recording_id,))
            db.execute(
                "UPDATE recording_tags SET tag=?, case_number=?, consent_given=?, consent_method=?, consent_note=?,"
                " tagged_by=?, tagged_at=?, revision=revision+1 WHERE recording_id=?",
                (tag, case_number, consent, consent_method, consent_note, by, now, recording_id))
            row = db.execute(f"SELECT {_TAG_COLS} FROM recording_tags WHERE recording_id=?",
                             (recording_id,)).fetchone()
        return TagRow(*row)

    # --- manifest revisions -----------------------------------------------------------------------
    def record_manifest(self, recording_id: str, tag_revision: int, document: bytes, *,
                        requeue: bool = False) -> int:
        """Keep a signed manifest revision; returns its number (1 for the offload's).

        ``requeue``: in the same transaction, a recording the vault already confirmed goes back
        to the outbox, which then sends the new manifest (the payload is already there).
        """
        with self._tx() as db:
            if requeue:
                db.execute("UPDATE recordings SET vault_status='queued', updated_at=? WHERE id=?"
                           " AND vault_status='confirmed'", (iso(utcnow()), recording_id))
            (latest,) = db.execute("SELECT coalesce(max(revision), 0) FROM manifests WHERE recording_id=?",
                                   (recording_id,)).fetchone()
            revision = int(latest) + 1
            db.execute("INSERT INTO manifests(recording_id, revision, tag_revision, document, issued_at)"
                       " VALUES (?, ?, ?, ?, ?)", (recording_id, revision, tag_revision, document, iso(utcnow())))
            db.execute("INSERT OR IGNORE INTO recording_tags(recording_id) VALUES (?)", (recording_id,))
            db.execute("UPDATE recording_tags SET issued_revision=max(issued_revision, ?) WHERE recording_id=?",
                       (tag_revision, recording_id))
            return revision

    def latest_manifest(self, recording_id: str) -> ManifestRow | None:
        rows = self._rows("SELECT recording_id, revision, tag_revision, document, issued_at FROM manifests"
                          " WHERE recording_id=? ORDER BY revision DESC LIMIT 1", (recording_id,))
        if not rows:
            return None
        r = rows[0]
        return ManifestRow(str(r[0]), int(r[1]), int(r[2]), bytes(r[3]), str(r[4]))

    def manifests_behind_tags(self) -> list[str]:
        """Verified recordings whose latest manifest predates their tag."""
        return [str(r[0]) for r in self._rows(
            "SELECT t.recording_id FROM recording_tags t JOIN recordings r ON r.id = t.recording_id"
            " WHERE t.revision > t.issued_revision AND r.status = 'verified' ORDER BY t.recording_id")]

    def queued_recording_ids(self) -> list[str]:
        return [str(r[0]) for r in self._rows(
            "SELECT id FROM recordings WHERE status = 'verified' AND vault_status = 'queued'")]

    def with_outbox_held(self) -> AbstractContextManager[None]:
        """Hold the journal lock: the outbox cannot claim (mark uploading) or confirm meanwhile."""
        return _Held(self._lock)


class _Held(AbstractContextManager[None]):
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

