"""Consent withdrawal: the filmed person says afterwards that a learning recording may not be used.

The recording is removed from the vault folder, from quarantine and from any transfer package
still on the vault host; the catalog keeps only what the receipt needs (id, station, time,
hashes, who withdrew it when, under which consent reference). The receipt can be handed to the
citizen. Journaled like the sweep: ``withdrawing`` is committed before any file goes, so a rerun
finishes an interrupted withdrawal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from station.crashpoints import crash_point
from station.timeutil import iso, utcnow
from vault.access import Refused, authorize_action, log_refusal
from vault.catalog import ACCESS, Catalog
from vault.config import VaultConfig
from vault.stores import open_store


def withdraw(cfg: VaultConfig, cat: Catalog, rec_id: str, *, consent_ref: str, user_name: str) -> dict[str, Any]:
    """Withdraw a learning recording; returns the receipt."""
    try:
        grant = authorize_action(cfg, user_name, "withdraw")
        rec = cat.recording(rec_id)
        pending = cat.one("SELECT state FROM withdrawals WHERE recording_id=?", (rec_id,))
        if pending is not None and pending["state"] == "done":
            raise Refused("this recording was already withdrawn", code="already_withdrawn")
        if pending is None:
            if rec is None or rec.state != "catalogued":
                raise Refused("no such recording in the vault", code="no_recording")
            if rec.tag != "learning":
                raise Refused("only learning footage is withdrawn by consent; this recording is " + rec.tag,
                              code="withdraw_not_learning", tag=rec.tag)
            if cat.active_holds(rec_id):
                raise Refused("the recording is under a legal hold; release the hold first", code="withdraw_held")
        if not consent_ref.strip():
            raise Refused("a consent reference is required", code="needs_consent_ref")
    except Refused as exc:
        log_refusal(cat, user_name, "withdraw.refused", str(exc), recording=rec_id, consent_ref=consent_ref)
        raise
    if pending is None:
        with cat.tx() as db:
            db.execute("INSERT INTO withdrawals(recording_id, consent_ref, by, at, state) "
                       "VALUES (?,?,?,?,'withdrawing')",
                       (rec_id, consent_ref, grant.user.name, iso(utcnow())))
            db.execute("UPDATE recordings SET state='withdrawing' WHERE id=?", (rec_id,))
    crash_point("withdraw.marked")
    return finish(cfg, cat, rec_id)


def finish(cfg: VaultConfig, cat: Catalog, rec_id: str) -> dict[str, Any]:
    w = cat.one("SELECT * FROM withdrawals WHERE recording_id=?", (rec_id,))
    row = cat.one("SELECT * FROM recordings WHERE id=?", (rec_id,))
    assert w is not None and row is not None
    removed: list[str] = []
    store = open_store(cfg)
    for rel in (row["payload_path"], row["manifest_path"]):
        # Every version (a bucket keeps the old ones); past the dock's GOVERNANCE floor, as the
        # sweep does. A legal hold is not passed: withdraw refuses held recordings before this.
        if store.delete(rel, bypass_retention=True):
            removed.append(f"vault:{rel}")
    for q in cat.all("SELECT folder FROM quarantine WHERE recording_id=?", (rec_id,)):
        folder = cfg.quarantine_dir / q["folder"]
        if folder.exists():
            shutil.rmtree(folder)
            removed.append(f"quarantine:{q['folder']}")
    for e in cat.all("SELECT id, path, recording_ids FROM exports WHERE state='present'"):
        if rec_id in json.loads(e["recording_ids"]):
            for p in Path(e["path"]).rglob(f"{rec_id}*"):
                p.unlink()
                removed.append(f"export:{e['id']}/{p.name}")
    crash_point("withdraw.files_gone")
    now = iso(utcnow())
    receipt = {
        "kind": "bodydock-consent-withdrawal-receipt",
        "vault": cfg.id,
        "organisation": cfg.name,
        "recording_id": rec_id,
        "station": row["station"],
        "recorded_at": row["started_at"],
        "sha256": row["sha256"],
        "payload_sha256": row["payload_sha256"],
        "manifest_sha256": row["manifest_sha256"],
        "consent_ref": w["consent_ref"],
        "withdrawn_by": w["by"],
        "requested_at": w["at"],
        "completed_at": now,
        "removed": removed,
    }
    with cat.tx() as db:
        db.execute("UPDATE recordings SET state='withdrawn', deleted_at=?, delete_reason=?, deleted_by=?, "
                   "wearer_id=NULL, probe_json=NULL, consent_json=NULL, camera_serial=NULL, camera_model=NULL "
                   "WHERE id=?", (now, f"consent withdrawn ({w['consent_ref']})", w["by"], rec_id))
        db.execute("UPDATE withdrawals SET state='done', receipt=? WHERE recording_id=?", (json.dumps(receipt), rec_id))
        db.execute("DELETE FROM manifests WHERE recording_id=?", (rec_id,))
        Catalog.queue_log(db, ACCESS, f"withdraw:{rec_id}", who=w["by"], what="recording.withdrawn",
                          why=f"consent withdrawn ({w['consent_ref']})", result="deleted",
                          details={"recording": rec_id, "consent_ref": w["consent_ref"], "removed": removed,
                                   "sha256": row["sha256"]})
    cat.flush_logs()
    return receipt


def recover(cfg: VaultConfig, cat: Catalog) -> None:
    for w in cat.all("SELECT recording_id FROM withdrawals WHERE state='withdrawing'"):
        finish(cfg, cat, w["recording_id"])


def receipt_text(receipt: dict[str, Any]) -> str:
    lines = [
        f"Bewijs van intrekking van toestemming / Receipt: consent withdrawn ({receipt['organisation']})",
        "",
        f"Recording:        {receipt['recording_id']} (station {receipt['station']}, "
        f"recorded {receipt['recorded_at']})",
        f"Consent reference: {receipt['consent_ref']}",
        f"Withdrawn by:     {receipt['withdrawn_by']} on {receipt['requested_at']}",
        f"Completed:        {receipt['completed_at']}",
        f"SHA-256 footage:  {receipt['sha256']}",
        f"SHA-256 encrypted: {receipt['payload_sha256']}",
        f"SHA-256 manifest: {receipt['manifest_sha256']}",
        "Removed:          " + (", ".join(receipt["removed"]) or "nothing was left to remove"),
    ]
    return "\n".join(lines) + "\n"
