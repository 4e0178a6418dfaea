"""The catalog: metadata of every recording the vault holds (never the footage itself).

SQLite in WAL mode with ``synchronous=FULL``: a committed step survives a power cut, and every
multi-step operation (intake, quarantine, retention sweep, withdrawal) journals its state here
before it touches a file, so a rerun after SIGKILL finishes it instead of repeating it.

Log entries that belong to a catalog change are written to ``pending_log`` in the same
transaction and then appended to their log (:meth:`Catalog.flush_logs`); an entry whose append
survived but whose pending row did not is recognised by its ``event`` id in the log's tail, so
every change is logged exactly once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault.accesslog import ChainLog

SCHEMA = """
CREATE TABLE IF NOT EXISTS stations (
    id TEXT PRIMARY KEY, public_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    added_at TEXT NOT NULL, added_by TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    station TEXT NOT NULL, slot INTEGER, camera_serial TEXT, camera_model TEXT,
    wearer_id TEXT, started_at TEXT, ended_at TEXT, duration_s REAL,
    tag TEXT NOT NULL, tag_revision INTEGER NOT NULL DEFAULT 0, case_number TEXT, consent_json TEXT,
    probe_json TEXT, media_ok INTEGER,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    payload_sha256 TEXT NOT NULL, payload_size INTEGER NOT NULL,
    payload_path TEXT NOT NULL, manifest_path TEXT NOT NULL, manifest_sha256 TEXT NOT NULL,
    offloaded_at TEXT, retention_days INTEGER, retention_until TEXT,
    state TEXT NOT NULL, ingested_at TEXT NOT NULL,
    batch INTEGER, deleted_at TEXT, delete_reason TEXT, deleted_by TEXT);
CREATE INDEX IF NOT EXISTS rec_started ON recordings(started_at);
CREATE INDEX IF NOT EXISTS rec_station ON recordings(station, started_at);
CREATE INDEX IF NOT EXISTS rec_wearer ON recordings(wearer_id, started_at);
CREATE INDEX IF NOT EXISTS rec_tag ON recordings(tag, started_at);
CREATE INDEX IF NOT EXISTS rec_case ON recordings(case_number);
CREATE INDEX IF NOT EXISTS rec_expiry ON recordings(state, retention_until);
CREATE INDEX IF NOT EXISTS rec_batch ON recordings(batch) WHERE batch IS NOT NULL;
CREATE TABLE IF NOT EXISTS manifests (
    recording_id TEXT NOT NULL, sha256 TEXT NOT NULL, tag_revision INTEGER NOT NULL,
    document BLOB NOT NULL, accepted_at TEXT NOT NULL, PRIMARY KEY (recording_id, sha256));
CREATE TABLE IF NOT EXISTS seen (
    path TEXT NOT NULL, sha256 TEXT NOT NULL, outcome TEXT NOT NULL, at TEXT NOT NULL,
    size INTEGER, mtime_ns INTEGER, ino INTEGER, PRIMARY KEY (path, sha256));
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY, station TEXT, recording_id TEXT, manifest_path TEXT NOT NULL,
    files_json TEXT NOT NULL, folder TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL,
    state TEXT NOT NULL, restore_manifest BLOB);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    message TEXT NOT NULL, acked_at TEXT);
CREATE TABLE IF NOT EXISTS segments (
    station TEXT NOT NULL, sha256 TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    first_prev TEXT NOT NULL, last_hash TEXT NOT NULL, first_ts TEXT NOT NULL, last_ts TEXT NOT NULL,
    file TEXT NOT NULL, manifest_path TEXT NOT NULL, accepted_at TEXT NOT NULL,
    PRIMARY KEY (station, sha256));
CREATE TABLE IF NOT EXISTS audit_offloads (
    station TEXT NOT NULL, recording_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL,
    segment_sha256 TEXT NOT NULL, PRIMARY KEY (station, recording_id, seq));
CREATE TABLE IF NOT EXISTS holds (
    id INTEGER PRIMARY KEY, recording_id TEXT NOT NULL, case_number TEXT NOT NULL, reason TEXT NOT NULL,
    placed_by TEXT NOT NULL, placed_at TEXT NOT NULL,
    released_by TEXT, released_at TEXT, release_reason TEXT);
CREATE INDEX IF NOT EXISTS holds_active ON holds(recording_id) WHERE released_at IS NULL;
CREATE TABLE IF NOT EXISTS cases (
    case_number TEXT PRIMARY KEY, closed_at TEXT NOT NULL, closed_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exports (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, recording_ids TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, created_by TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS withdrawals (
    recording_id TEXT PRIMARY KEY, consent_ref TEXT NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL,
    state TEXT NOT NULL, receipt TEXT);
CREATE TABLE IF NOT EXISTS anchors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_log (
    id INTEGER PRIMARY KEY, log TEXT NOT NULL, event TEXT NOT NULL UNIQUE, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

ACCESS = "access"
AUDIT = "audit"


@dataclass(frozen=True, slots=True, kw_only=True)
class Recording:
    id: str
    station: str
    slot: int | None
    camera_serial: str | None
    camera_model: str | None
    wearer_id: str | None
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    tag: str
    tag_revision: int
    case_number: str | None
    consent: dict[str, Any] | None
    probe: dict[str, Any] | None
    media_ok: bool | None
    sha256: str
    size: int
    payload_sha256: str
    payload_size: int
    payload_path: str
    manifest_path: str
    manifest_sha256: str
    offloaded_at: str | None
    retention_days: int | None
    retention_until: str | None
    state: str
    ingested_at: str
    deleted_at: str | None
    delete_reason: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Recording:
        return cls(
            id=row["id"], station=row["station"], slot=row["slot"], camera_serial=row["camera_serial"],
            camera_model=row["camera_model"], wearer_id=row["wearer_id"], started_at=row["started_at"],
            ended_at=row["ended_at"], duration_s=row["duration_s"], tag=row["tag"], tag_revision=row["tag_revision"],
            case_number=row["case_number"],
            consent=json.loads(row["consent_json"]) if row["consent_json"] else None,
            probe=json.loads(row["probe_json"]) if row["probe_json"] else None,
            media_ok=None if row["media_ok"] is None else bool(row["media_ok"]),
            sha256=row["sha256"], size=row["size"], payload_sha256=row["payload_sha256"],
            payload_size=row["payload_size"], payload_path=row["payload_path"], manifest_path=row["manifest_path"],
            manifest_sha256=row["manifest_sha256"], offloaded_at=row["offloaded_at"],
            retention_days=row["retention_days"], retention_until=row["retention_until"], state=row["state"],
            ingested_at=row["ingested_at"], deleted_at=row["deleted_at"], delete_reason=row["delete_reason"],
        )


class Catalog:
    def __init__(self, path: Path, *, access_log: Path | None = None, audit_log: Path | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self.logs: dict[str, ChainLog] = {}
        if access_log is not None:
            self.logs[ACCESS] = ChainLog(access_log, lambda s, h: self._set_anchor(ACCESS, s, h))
        if audit_log is not None:
            self.logs[AUDIT] = ChainLog(audit_log, lambda s, h: self._set_anchor(AUDIT, s, h))

    def close(self) -> None:
        for log in self.logs.values():
            log.close()
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: other vault processes wait rather than interleave."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(self.db.execute(sql, args).fetchall())

    # --- anchors and logs ----------------------------------------------------------------
    def _set_anchor(self, name: str, seq: int, digest: str) -> None:
        with self._lock:
            self.db.execute("INSERT INTO anchors(name, seq, hash) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE "
                            "SET seq=excluded.seq, hash=excluded.hash", (name, seq, digest))

    def anchor(self, name: str) -> tuple[int, str] | None:
        row = self.one("SELECT seq, hash FROM anchors WHERE name=?", (name,))
        return None if row is None else (int(row["seq"]), str(row["hash"]))

    def log(self, name: str) -> ChainLog:
        return self.logs[name]

    @staticmethod
    def queue_log(db: sqlite3.Connection, log: str, event: str, *, who: str, what: str, why: str = "",
                  result: str = "ok", details: Mapping[str, Any] | None = None) -> None:
        """Inside a transaction: this entry is appended to ``log`` once the transaction commits."""
        entry = {"who": who, "what": what, "why": why, "result": result,
                 "details": {**dict(details or {}), "event": event}}
        db.execute("INSERT OR IGNORE INTO pending_log(log, event, entry) VALUES (?,?,?)",
                   (log, event, json.dumps(entry)))

    def flush_logs(self) -> None:
        with self._lock:
            for name, log in self.logs.items():
                while True:
                    rows = self.all("SELECT id, event, entry FROM pending_log WHERE log=? ORDER BY id LIMIT 5000",
                                    (name,))
                    if not rows:
                        break
                    # Appended before a crash but not yet removed here: those are at the log's tail.
                    done = {str(e.get("details", {}).get("event")) for e in log.tail(len(rows))}
                    log.append_many(json.loads(r["entry"]) for r in rows if r["event"] not in done)
                    self.db.execute("DELETE FROM pending_log WHERE log=? AND id<=?", (name, rows[-1]["id"]))

    # --- small helpers -------------------------------------------------------------------
    def recording(self, rec_id: str) -> Recording | None:
        row = self.one("SELECT * FROM recordings WHERE id=?", (rec_id,))
        return None if row is None else Recording.from_row(row)

    def active_holds(self, rec_id: str) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM holds WHERE recording_id=? AND released_at IS NULL ORDER BY id", (rec_id,))

    def alert(self, db: sqlite3.Connection, kind: str, subject: str, message: str, at: str) -> None:
        db.execute("INSERT INTO alerts(at, kind, subject, message) VALUES (?,?,?,?)", (at, kind, subject, message))

    def next_counter(self, db: sqlite3.Connection, name: str) -> int:
        db.execute("INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value=value+1",
                   (name,))
        row = db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return int(row[0])


def open_catalog(state_dir: Path) -> Catalog:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Catalog(state_dir / "catalog.sqlite", access_log=state_dir / "access.log",
                   audit_log=state_dir / "vault-audit.log")
