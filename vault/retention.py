"""Retention: how long each recording is kept, and the sweep that deletes what expired.

Deadlines by tag: uncategorised as long as the dock's manifest says (``retention_days``, the
dock's configured retention) or else the vault's default (28 days); learning as the consent
record says (``retention_days``) or else the vault's learning default; evidence until its case
is closed (plus ``evidence_after_close_days``). Counted from the start of the recording. A legal
hold (``holds``) keeps a recording whatever its deadline.

The sweep works in batches, each journaled: mark the batch ``deleting`` (committed), remove the
files, append one deletion entry per recording to the vault audit log (one fsync per batch),
then mark them ``deleted`` and clear the personal metadata. A rerun after SIGKILL finds the batch
still ``deleting``, removes what is left, logs only what the log does not already hold, and
finishes it: nothing is deleted or logged twice.
"""

from __future__ import annotations

import posixpath
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from station.crashpoints import crash_point
from station.timeutil import iso, parse_iso, utcnow
from vault.catalog import AUDIT, Catalog
from vault.config import Retention
from vault.store import HeldInStore, VaultStore, as_store

BATCH = 2000


def deadline(cat: Catalog, policy: Retention, fields: dict[str, Any]) -> tuple[int | None, str | None]:
    """(retention days, retention deadline) for a recording's catalog fields; (None, None) while
    an evidence case is open."""
    start_text = fields.get("started_at") or fields.get("offloaded_at") or iso(utcnow())
    start = parse_iso(str(start_text))
    tag = fields.get("tag")
    if tag == "evidence":
        row = cat.one("SELECT closed_at FROM cases WHERE case_number=?", (fields.get("case_number"),))
        if row is None:
            return None, None
        return None, iso(parse_iso(row["closed_at"]) + timedelta(days=policy.evidence_after_close_days))
    days: int
    consent = fields.get("consent")
    if tag == "learning" and isinstance(consent, dict) and consent.get("given"):
        asked = consent.get("retention_days")
        days = asked if isinstance(asked, int) and asked > 0 else policy.learning_days
    else:
        # Uncategorised, or learning without consent (it is then kept no longer than anything else).
        dock = fields.get("manifest_retention_days")
        days = dock if isinstance(dock, int) and dock > 0 else policy.uncategorised_days
    return days, iso(start + timedelta(days=days))


@dataclass(slots=True, kw_only=True)
class SweepReport:
    deleted: list[dict[str, Any]] = field(default_factory=list)
    kept_on_hold: list[dict[str, Any]] = field(default_factory=list)
    exports_removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "kept_on_hold": self.kept_on_hold, "exports_removed": self.exports_removed}


def _delete_batch_files(store: VaultStore, rows: list[sqlite3.Row]) -> list[sqlite3.Row]:
    """Delete each recording's files; returns the rows the store itself holds (S3 legal hold),
    which keep their files. The bypass of the dock's GOVERNANCE floor is used here, by this job."""
    dirs: set[str] = set()
    held = []
    for r in rows:
        try:
            # The manifest first only where the payload is gone too: check the hold on the payload.
            store.delete(r["payload_path"], bypass_retention=True)
            store.delete(r["manifest_path"], bypass_retention=True)
        except HeldInStore:
            held.append(r)
            continue
        dirs.add(posixpath.dirname(r["payload_path"]))
        crash_point("sweep.file_deleted")
    store.sync(dirs)
    return held


def _finish_batch(cat: Catalog, store: VaultStore, batch: int, now: str, report: SweepReport) -> None:
    rows = cat.all("SELECT id, station, tag, payload_path, manifest_path, retention_until, sha256, payload_sha256 "
                   "FROM recordings WHERE batch=? AND state='deleting' ORDER BY id", (batch,))
    if not rows:
        return
    held = _delete_batch_files(store, rows)
    if held:
        # Held in the store but not in the catalog (placed there by hand): kept, and said so.
        ids = {r["id"] for r in held}
        with cat.tx() as db:
            db.executemany("UPDATE recordings SET state='catalogued', batch=NULL WHERE id=?", [(i,) for i in ids])
        report.kept_on_hold += [{"id": r["id"], "station": r["station"], "tag": r["tag"],
                                 "retention_until": r["retention_until"], "case_number": None,
                                 "reason": "legal hold in the bucket"} for r in held]
        rows = [r for r in rows if r["id"] not in ids]
        if not rows:
            return
    crash_point("sweep.files_gone")
    log = cat.log(AUDIT)
    # Only this batch can have been logged without being finished: look for it at the tail.
    logged = {str(e["details"].get("recording")) for e in log.tail(len(rows))
              if e.get("what") == "recording.deleted" and e["details"].get("batch") == batch}
    entries = [{"who": "system", "what": "recording.deleted", "why": "retention period ended",
                "result": "deleted",
                "details": {"recording": r["id"], "station": r["station"], "tag": r["tag"], "batch": batch,
                            "retention_until": r["retention_until"], "sha256": r["sha256"],
                            "payload_sha256": r["payload_sha256"]}}
               for r in rows if r["id"] not in logged]
    log.append_many(entries)
    crash_point("sweep.logged")
    with cat.tx() as db:
        db.execute("UPDATE recordings SET state='deleted', deleted_at=?, delete_reason='retention period ended', "
                   "deleted_by='system', batch=NULL, wearer_id=NULL, probe_json=NULL, consent_json=NULL "
                   "WHERE batch=? AND state='deleting'", (now, batch))
    report.deleted += [{"id": r["id"], "station": r["station"], "tag": r["tag"],
                        "retention_until": r["retention_until"], "reason": "retention period ended"} for r in rows]


def sweep(cat: Catalog, inbox: Path | VaultStore, *, now: str | None = None, batch_size: int = BATCH) -> SweepReport:
    """Delete every catalogued recording past its deadline that no active hold keeps."""
    report = SweepReport()
    store = as_store(inbox)
    now = now or iso(utcnow())
    for row in cat.all("SELECT DISTINCT batch FROM recordings WHERE state='deleting' ORDER BY batch"):
        _finish_batch(cat, store, int(row["batch"]), now, report)  # an interrupted sweep first
    cat.flush_logs()
    while True:
        # Recordings the store itself held in this run are not tried again by it.
        skip = {h["id"] for h in report.kept_on_hold}
        with cat.tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM recordings WHERE state='catalogued' AND retention_until <= ? "
                "AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.recording_id=recordings.id AND h.released_at IS NULL) "
                "ORDER BY retention_until LIMIT ?", (now, batch_size + len(skip))) if r[0] not in skip][:batch_size]
            if not ids:
                break
            batch = cat.next_counter(db, "sweep_batch")
            db.executemany("UPDATE recordings SET state='deleting', batch=? WHERE id=?", [(batch, i) for i in ids])
        crash_point("sweep.batch_marked")
        _finish_batch(cat, store, batch, now, report)
    report.kept_on_hold += [dict(r) for r in cat.all(
        "SELECT r.id, r.station, r.tag, r.retention_until, h.case_number, h.reason FROM recordings r "
        "JOIN holds h ON h.recording_id=r.id AND h.released_at IS NULL "
        "WHERE r.state='catalogued' AND r.retention_until <= ? ORDER BY r.id", (now,))]
    report.exports_removed = expire_exports(cat, now)
    return report


def expire_exports(cat: Catalog, now: str) -> list[str]:
    """Transfer packages are kept on the vault host for ``export_days``; then they go."""
    import shutil

    removed = []
    for row in cat.all("SELECT id, path FROM exports WHERE state='present' AND expires_at <= ?", (now,)):
        shutil.rmtree(row["path"], ignore_errors=True)
        with cat.tx() as db:
            db.execute("UPDATE exports SET state='expired' WHERE id=?", (row["id"],))
            Catalog.queue_log(db, AUDIT, f"export.expired:{row['id']}", who="system", what="export.removed",
                              why="export period ended", details={"export": row["id"]})
        removed.append(str(row["id"]))
    cat.flush_logs()
    return removed


def recompute_case(cat: Catalog, policy: Retention, case_number: str) -> int:
    """After a case closes: give its evidence recordings their deadline. Returns how many."""
    rows = cat.all("SELECT id, started_at, offloaded_at, tag, case_number FROM recordings "
                   "WHERE case_number=? AND state='catalogued'", (case_number,))
    with cat.tx() as db:
        for r in rows:
            _, until = deadline(cat, policy, dict(r))
            db.execute("UPDATE recordings SET retention_until=? WHERE id=?", (until, r["id"]))
    return len(rows)
