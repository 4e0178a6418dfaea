"""Offload: stream every recording off a camera into a durable, verified copy in the store.

One pass per recording in fixed-size chunks (memory does not grow with file size): SHA-256 of
the source while writing ``<id>.<ext>.partial``, fsync, rename, fsync of the directory. Then
verification by policy (re-read the source and/or the camera's own hash) plus a read-back of the
stored copy. Each step is journaled before it is taken, so a crash resumes at the recording that
was in flight and a ``.partial`` never counts as a copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_adapters.api import CameraAdapter, CameraInfo, Capability, RecordingInfo
from station.audit import SYSTEM, AuditLog
from station.crashpoints import crash_point
from station.ids import recording_id
from station.journal import Journal, LocalState, RecordingRow, RecStatus, VaultStatus
from station.manifest import sign_manifest
from station.store import Store, fsync_dir, write_durably
from station.timeutil import iso, utcnow

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Live, in-memory progress of one slot's offload (the journal holds the durable truth)."""

    recordings_total: int = 0
    recordings_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    current: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n


@dataclass(frozen=True)
class OffloadOk:
    recordings: int
    bytes: int


@dataclass(frozen=True)
class StoreFull:
    needed: int
    free: int


@dataclass(frozen=True)
class OffloadFault:
    reason: str


OffloadResult = OffloadOk | StoreFull | OffloadFault


@dataclass(frozen=True)
class OffloadJob:
    journal: Journal
    audit: AuditLog
    store: Store
    signing_key: Ed25519PrivateKey
    station_id: str
    slot_id: int
    adapter: CameraAdapter
    camera: CameraInfo
    verify_policy: str
    chunk_size: int
    progress: Progress
    # Called between chunks; returning True aborts (camera left, station stopping).
    cancelled: Callable[[], bool] = lambda: False


class HashMismatch(Exception):
    pass


class Cancelled(Exception):
    pass


def _stream(src: BinaryIO, chunk: int, sinks: list[Callable[[bytes], object]], job: OffloadJob | None) -> int:
    total = 0
    while True:
        if job is not None and job.cancelled():
            raise Cancelled()
        buf = src.read(chunk)
        if not buf:
            return total
        for sink in sinks:
            sink(buf)
        total += len(buf)
        if job is not None:
            job.progress.add(len(buf))
            crash_point("offload.chunk")


def _hash_source(job: OffloadJob, rec: RecordingInfo) -> str:
    h = hashlib.sha256()
    with job.adapter.open_recording(rec) as src:
        _stream(src, job.chunk_size, [h.update], None)
    return h.hexdigest()


def _hash_file(path: Path, chunk: int) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while buf := fh.read(chunk):
            h.update(buf)
            size += len(buf)
    return h.hexdigest(), size


def _copy(job: OffloadJob, rec: RecordingInfo, rec_id: str) -> tuple[str, Path, int]:
    """One read pass: hash the source while writing the partial file; then make it durable."""
    final = job.store.payload_path(rec_id, rec.extension)
    partial = final.with_name(final.name + ".partial")
    h = hashlib.sha256()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        with os.fdopen(fd, "wb", buffering=0, closefd=False) as out, job.adapter.open_recording(rec) as src:
            written = _stream(src, job.chunk_size, [h.update, out.write], job)
        os.fsync(fd)
    finally:
        os.close(fd)
    if written != rec.size:
        partial.unlink(missing_ok=True)
        raise HashMismatch(f"read {written} bytes but the camera listed {rec.size}")
    os.replace(partial, final)
    fsync_dir(final.parent)
    return h.hexdigest(), final, written


def _verify(job: OffloadJob, rec: RecordingInfo, sha: str, final: Path) -> list[str]:
    """Return the checks that passed; raise HashMismatch on the first that fails."""
    checks: list[str] = []
    has_device_hash = Capability.HASH in job.adapter.manifest.capabilities and rec.device_sha256
    policy = job.verify_policy
    if policy in ("device-hash", "both") and has_device_hash:
        if rec.device_sha256 != sha:
            raise HashMismatch(f"camera reports {rec.device_sha256} but the copy hashes to {sha}")
        checks.append("device-hash")
    if policy in ("reread", "both") or not checks:
        again = _hash_source(job, rec)
        if again != sha:
            raise HashMismatch(f"second read of the source hashes to {again}, first read {sha}")
        checks.append("reread")
    stored, size = _hash_file(final, job.chunk_size)
    if stored != sha or size != rec.size:
        raise HashMismatch(f"stored copy hashes to {stored} ({size} bytes), source {sha}")
    checks.append("store-readback")
    return checks


def _manifest(job: OffloadJob, rec: RecordingInfo, row: RecordingRow, sha: str, checks: list[str]) -> bytes:
    now = iso(utcnow())
    body = {
        "recording_id": row.id,
        "station": job.station_id,
        "slot": job.slot_id,
        "camera": {
            "serial": job.camera.serial,
            "model": job.camera.model,
            "firmware": job.camera.firmware,
            "vendor": job.camera.vendor,
            "clock_offset_s": job.camera.clock_offset_s,
        },
        "wearer_id": job.camera.wearer_id,
        "source_name": rec.key,
        "started_at": row.started_at,
        "size": rec.size,
        "sha256": sha,
        "payload": {"encoding": "plain", "sha256": sha, "size": rec.size},
        "verification": checks,
        "custody": [
            {"event": "discovered", "at": row.discovered_at},
            {"event": "offloaded", "at": now, "by": job.station_id},
        ],
    }
    return sign_manifest(body, job.signing_key)


def _offload_one(job: OffloadJob, rec: RecordingInfo, row: RecordingRow) -> None:
    j = job.journal
    last_error = ""
    start = job.progress.bytes_done
    for attempt in (1, 2):
        job.progress.bytes_done = start
        j.update_recording(row.id, status=RecStatus.COPYING.value, bytes_done=0, error=None)
        crash_point("offload.copying")
        try:
            sha, final, size = _copy(job, rec, row.id)
            j.update_recording(
                row.id, status=RecStatus.STORED.value, sha256=sha, stored_sha256=sha, stored_size=size,
                bytes_done=size, store_path=str(final), local_state=LocalState.PRESENT.value,
            )
            crash_point("offload.stored")
            checks = _verify(job, rec, sha, final)
        except HashMismatch as exc:
            last_error = str(exc)
            log.warning("slot %s: %s: attempt %d: %s", job.slot_id, row.id, attempt, exc)
            continue
        manifest_path = job.store.manifest_path(row.id)
        write_durably(manifest_path, _manifest(job, rec, row, sha, checks))
        j.update_recording(row.id, status=RecStatus.VERIFIED.value, vault_status=VaultStatus.QUEUED.value)
        crash_point("offload.verified")
        job.audit.append(
            who=SYSTEM, what="recording.offloaded", why="camera docked",
            device=job.camera.serial, result="verified",
            details={"recording": row.id, "slot": job.slot_id, "size": size, "sha256": sha, "checks": checks},
        )
        return
    j.update_recording(row.id, status=RecStatus.FAILED.value, error=last_error)
    raise HashMismatch(last_error)


def offload_camera(job: OffloadJob) -> OffloadResult:
    recordings = list(job.adapter.list_recordings())
    serial = job.camera.serial
    rows: list[tuple[RecordingInfo, RecordingRow]] = []
    for rec in recordings:
        rid = recording_id(serial, rec)
        row = job.journal.discover_recording(
            rid, camera_serial=serial, source_key=rec.key, size=rec.size, started_at=rec.started_at,
            device_sha256=rec.device_sha256, wearer_id=job.camera.wearer_id, slot_id=job.slot_id,
        )
        rows.append((rec, row))
    todo = [(rec, row) for rec, row in rows if not _already_safe(row)]
    p = job.progress
    p.recordings_total = len(rows)
    p.recordings_done = len(rows) - len(todo)
    p.bytes_total = sum(rec.size for rec, _ in todo)
    p.bytes_done = 0
    for rec, row in todo:
        if not job.store.has_room_for(rec.size):
            return StoreFull(needed=rec.size, free=job.store.free_bytes())
        p.current = row.id
        before = p.bytes_done
        try:
            _offload_one(job, rec, row)
        except HashMismatch as exc:
            return OffloadFault(f"recording {rec.key}: copy does not verify: {exc}")
        # Re-reads during verification do not count as progress.
        p.bytes_done = before + rec.size
        p.recordings_done += 1
    p.current = None
    return OffloadOk(recordings=len(rows), bytes=p.bytes_total)


def _already_safe(row: RecordingRow) -> bool:
    if row.status != RecStatus.VERIFIED.value:
        return False
    if row.local_state == LocalState.PRESENT.value:
        return row.store_path is not None and Path(row.store_path).exists()
    return row.vault_status == VaultStatus.CONFIRMED.value
