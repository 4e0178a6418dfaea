"""Read-only aggregate queries on the journal, over a connection of their own.

The station's Journal serialises its writers behind one lock; health only reads, so it opens
the database read-only (WAL lets readers run beside the writer) and never holds that lock.
No query groups by wearer: the dock keeps no per-wearer statistics.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from station.storage.journal import AlertRow
from station.storage.paths import AUDIT_ANCHOR
from station.timeutil import iso, parse_iso

UNIDENTIFIED = "unidentified"  # a fault before the camera was identified: no adapter on record


@dataclass(frozen=True)
class AdapterStats:
    adapter: str
    docked: int  # cameras identified in the window
    faults: int  # slot faults in the window

    @property
    def rate(self) -> float:
        return self.faults / max(self.docked, self.faults, 1)


@dataclass(frozen=True)
class Totals:
    """Lifetime counters (they survive restarts because they come from the journal)."""

    offload_recordings: int
    offload_bytes: int
    upload_recordings: int
    upload_bytes: int
    faults_by_adapter: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SlotRecord:
    id: int
    state: str
    camera_serial: str | None
    fault_reason: str | None
    since: datetime | None


@dataclass(frozen=True)
class BacklogRecord:
    recordings: int
    bytes: int
    oldest_discovered: datetime | None


class JournalReader:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            yield db
        finally:
            db.close()

    def adapter_stats(self, since: datetime) -> list[AdapterStats]:
        at = iso(since)
        with self._db() as db:
            faults = dict(db.execute(
                "SELECT COALESCE(c.adapter, ?), COUNT(*) FROM transitions t"
                " LEFT JOIN cameras c ON c.serial = t.camera_serial"
                " WHERE t.to_state = 'fault' AND t.at >= ? GROUP BY 1", (UNIDENTIFIED, at),
            ).fetchall())
            docked = dict(db.execute(
                "SELECT COALESCE(c.adapter, ?), COUNT(*) FROM transitions t"
                " LEFT JOIN cameras c ON c.serial = t.camera_serial"
                " WHERE t.event = 'identify' AND t.at >= ? GROUP BY 1", (UNIDENTIFIED, at),
            ).fetchall())
        names = sorted(set(faults) | set(docked))
        return [AdapterStats(n, int(docked.get(n, 0)), int(faults.get(n, 0))) for n in names]

    def totals(self) -> Totals:
        with self._db() as db:
            off = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM recordings WHERE status IN ('stored', 'verified')"
            ).fetchone()
            up = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(stored_size), 0) FROM recordings WHERE vault_status = 'confirmed'"
            ).fetchone()
            faults = db.execute(
                "SELECT COALESCE(c.adapter, ?), COUNT(*) FROM transitions t"
                " LEFT JOIN cameras c ON c.serial = t.camera_serial WHERE t.to_state = 'fault' GROUP BY 1 ORDER BY 1",
                (UNIDENTIFIED,),
            ).fetchall()
        return Totals(int(off[0]), int(off[1]), int(up[0]), int(up[1]), tuple((str(a), int(n)) for a, n in faults))

    def slots(self) -> list[SlotRecord]:
        with self._db() as db:
            rows = db.execute("SELECT id, state, camera_serial, fault_reason, since FROM slots ORDER BY id").fetchall()
        return [SlotRecord(r[0], r[1], r[2], r[3], parse_iso(r[4]) if r[4] else None) for r in rows]

    def anchor(self) -> tuple[int, str] | None:
        """The audit log head anchored in the journal (as station.storage.paths.read_anchor reads it)."""
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (AUDIT_ANCHOR,)).fetchone()
        if not row or not row[0]:
            return None
        seq, _, digest = str(row[0]).partition(":")
        return int(seq), digest

    def integrity_ok(self) -> bool:
        """SQLite's quick_check, on this read-only connection so the station's writers never wait."""
        with self._db() as db:
            row = db.execute("PRAGMA quick_check").fetchone()
        return bool(row and row[0] == "ok")

    def open_alerts(self) -> list[AlertRow]:
        with self._db() as db:
            rows = db.execute(
                "SELECT id, key, severity, message, raised_at, last_seen, acked_by, acked_at, cleared_at"
                " FROM alerts WHERE cleared_at IS NULL ORDER BY id"
            ).fetchall()
        return [AlertRow(*r) for r in rows]

    def backlog(self) -> BacklogRecord:
        with self._db() as db:
            n, size, oldest = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(stored_size), 0), MIN(discovered_at) FROM recordings"
                " WHERE vault_status IN ('queued', 'uploading')"
            ).fetchone()
        return BacklogRecord(int(n), int(size), parse_iso(oldest) if oldest else None)
