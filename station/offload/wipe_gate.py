"""The single wipe gate: the only code in bodydock that may call an adapter's ``wipe``.

A camera is wiped only when every recording it lists has a durable, verified copy (policy
``wipe_after``: in the local store, or confirmed by the vault). The gate re-lists the camera
itself instead of trusting earlier listings, wipes recording by recording with the journal
updated before each step, then lists again to prove the wipe, and writes a report (BIO 7.10.02
asks for a verified wipe with a report).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass

from device_adapters.api import AdapterError, CameraAdapter, CameraInfo, RecordingInfo
from station.crashpoints import crash_point
from station.offload.ids import recording_id
from station.storage.audit import SYSTEM, AuditLog, iter_entries
from station.storage.journal import CameraState, Journal, LocalState, RecStatus, VaultStatus
from station.storage.recording_row import RecordingRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wiped:
    removed: int
    free_bytes_after: int | None


@dataclass(frozen=True)
class NotSafeYet:
    """Some recordings are known but not yet safe by policy (e.g. waiting for the vault)."""

    reason: str


@dataclass(frozen=True)
class UnknownFootage:
    """The camera holds recordings the journal has never seen: offload them first."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class WipeFault:
    reason: str


WipeResult = Wiped | NotSafeYet | UnknownFootage | WipeFault


def copy_is_safe(row: RecordingRow, wipe_after: str) -> tuple[bool, str]:
    if row.vault_status == VaultStatus.CONFIRMED.value:
        # The vault holds a verified copy (only verified recordings are ever queued); the local
        # copy may already be freed.
        return True, ""
    if row.status != RecStatus.VERIFIED.value:
        return False, f"{row.source_key}: not verified ({row.status})"
    if wipe_after == "vault_confirmed":
        return False, f"{row.source_key}: waiting for vault confirmation"
    if row.local_state != LocalState.PRESENT.value:
        return False, f"{row.source_key}: no local copy and no vault confirmation"
    # One stat, not is_file() then stat(): the outbox may delete a confirmed copy in between
    # (the crash campaign saw that fault a slot); the next try reads the row as vault-confirmed.
    try:
        st = os.stat(row.store_path) if row.store_path else None
    except FileNotFoundError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        return False, f"{row.source_key}: stored copy is missing"
    if st.st_size != row.stored_size:
        return False, f"{row.source_key}: stored copy has the wrong size"
    return True, ""


def wipe_camera(
    *,
    journal: Journal,
    audit: AuditLog,
    adapter: CameraAdapter,
    camera: CameraInfo,
    slot_id: int,
    wipe_after: str,
) -> WipeResult:
    listing = list(adapter.list_recordings())
    plan: list[tuple[RecordingInfo, RecordingRow]] = []
    unknown: list[str] = []
    for rec in listing:
        row = journal.recording(recording_id(camera.serial, rec))
        if row is None:
            unknown.append(rec.key)
            continue
        plan.append((rec, row))
    # Rows still 'wiping' whose recording the camera no longer lists were removed before a
    # restart, and no report has named them yet: this report does.
    planned = {row.id for _, row in plan}
    left = [row for row in journal.recordings_for_camera(camera.serial)
            if row.camera_state == CameraState.WIPING.value and row.id not in planned]
    earlier = [row.id for row in left]
    # Since the rows were first seen: their updated_at moves on with every later change (the
    # outbox confirming a delivery), which may come after the report that named them.
    if left and _already_reported(audit, camera.serial, earlier, since=min(row.discovered_at for row in left)):
        _mark_wiped(journal, earlier)
        earlier = []
    if unknown:
        return UnknownFootage(tuple(unknown))
    findings = list(adapter.findings())
    if findings:
        # Entries the adapter refused (hostile names, links, broken chains) are unresolved footage
        # as far as anyone knows: nothing is wiped until staff have looked at the camera.
        audit.append(
            who=SYSTEM, what="camera.wipe", why="the camera holds entries the adapter refused",
            device=camera.serial, result="refused",
            details={"slot": slot_id, "findings": [{"path": f.path, "problem": f.problem} for f in findings[:50]],
                     "findings_total": len(findings)},
        )
        f = findings[0]
        return WipeFault(f"not wiped: {len(findings)} unresolved entr{'y' if len(findings) == 1 else 'ies'} "
                         f"on the camera (e.g. {f.path}: {f.problem})")
    for _rec, row in plan:
        safe, why = copy_is_safe(row, wipe_after)
        if not safe:
            if row.status == RecStatus.FAILED.value:
                return WipeFault(why)
            return NotSafeYet(why)

    # Each row stays 'wiping' from just before its wipe until a report names it, so a restart
    # anywhere in between still reports it (BIO 7.10.02: the report names everything removed).
    removed: list[str] = list(earlier)
    method = "none"
    free_after: int | None = None
    for rec, row in plan:
        journal.update_recording(row.id, camera_state=CameraState.WIPING.value)
        try:
            outcome = adapter.wipe([rec])  # the one and only wipe call site
        except AdapterError as exc:
            audit.append(
                who=SYSTEM, what="camera.wipe", why="all recordings safe", device=camera.serial,
                result="failed", details={"slot": slot_id, "error": str(exc), "removed": removed},
            )
            _mark_wiped(journal, removed)
            return WipeFault(f"wipe failed: {exc}")
        method, free_after = outcome.method, outcome.free_bytes_after
        removed.append(row.id)
        crash_point("wipe.recording")

    after = list(adapter.list_recordings())
    wiped_keys = {rec.key for rec, _ in plan}
    still_there = sorted(r.key for r in after if r.key in wiped_keys)
    verified = not still_there
    audit.append(
        who=SYSTEM,
        what="camera.wipe",
        why=f"every recording has a verified copy (wipe_after={wipe_after})",
        device=camera.serial,
        result="verified" if verified else "failed",
        details={
            "slot": slot_id,
            "recordings_before": len(listing) + len(earlier),
            "recordings_after": len(after),
            "removed": removed,
            "removed_before_restart": earlier,
            "still_present": still_there,
            "free_bytes_after": free_after,
            "method": method,
        },
    )
    crash_point("wipe.reported")
    gone = set(removed) - {row.id for rec, row in plan if rec.key in still_there}
    _mark_wiped(journal, [rid for rid in removed if rid in gone])
    if not verified:
        return WipeFault(f"wipe did not remove {len(still_there)} recording(s)")
    if after:
        # New footage appeared (cannot happen while docked, but never assume): offload it.
        return UnknownFootage(tuple(r.key for r in after))
    return Wiped(removed=len(removed), free_bytes_after=free_after)


def _mark_wiped(journal: Journal, ids: list[str]) -> None:
    for rid in ids:
        journal.update_recording(rid, camera_state=CameraState.WIPED.value)


def _already_reported(audit: AuditLog, serial: str, ids: list[str], *, since: str) -> bool:
    """Did a report since these rows were discovered name them before the station died (between
    the report and the journal)? Only asked after such a restart, so reading the log back is rare.
    """
    want = set(ids)
    reported: set[str] = set()
    for _n, entry in iter_entries(audit.path):
        if entry.get("what") == "camera.wipe" and entry.get("device") == serial and str(entry.get("ts")) >= since:
            reported.update(entry.get("details", {}).get("removed", []))
    return want <= reported
