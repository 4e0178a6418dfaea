"""Offload: stream every recording off a camera into a durable, verified, encrypted copy.

One read pass per recording in fixed-size chunks (memory does not grow with file size) feeds
the plaintext SHA-256, a media probe and the age encryptor, whose output feeds the ciphertext
SHA-256 and ``<id>.<ext>.age.partial``; then fsync, rename, fsync of the directory. Then
verification by policy (re-read the source and/or the camera's own hash) plus a read-back of the
stored ciphertext. Each step is journaled before it is taken, so a crash resumes at the recording that
was in flight and a ``.partial`` never counts as a copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_adapters.api import CameraAdapter, CameraInfo, Capability, RecordingInfo
from station.crashpoints import crash_point
from station.crypto.agecrypt import AgeEncryptor
from station.crypto.signed import sign_manifest
from station.offload.directio import DirectWriter
from station.offload.ids import recording_id
from station.offload.pressure import CameraLag, OffloadPressure
from station.offload.probe import ProbeResult, StreamProbe
from station.offload.tagging import manifest_retention_fields, manifest_tag_fields
from station.storage.audit import SYSTEM, AuditLog
from station.storage.journal import Journal, LocalState, RecStatus, VaultStatus
from station.storage.recording_row import RecordingRow
from station.storage.store import Store, fsync_dir, write_durably
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


READ_AHEAD_CHUNKS = 3


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
    recipients: tuple[str, ...] = ()
    probe_media: bool = True
    store_readback: bool = False
    direct_io: bool = True
    # policies.retention_days: written into each manifest as what the vault must apply (None: not written).
    retention_days: int | None = None
    # Chunks read ahead of the encryptor: how long the camera keeps streaming while this offload's
    # thread waits for the CPU (depth x chunk_size / the camera's rate).
    read_ahead: int = READ_AHEAD_CHUNKS
    # Called after each recording is verified (the benchmark empties the store with it).
    on_verified: Callable[[str], None] | None = None
    # Called between chunks; returning True aborts (camera left, station stopping).
    cancelled: Callable[[], bool] = lambda: False
    # Told when this offload falls behind its camera, so the outbox steps aside (pressure.py).
    pressure: OffloadPressure | None = None


class HashMismatch(Exception):
    pass


class Cancelled(Exception):
    pass


def _read_chunk(src: BinaryIO, buf: bytearray) -> int:
    readinto = getattr(src, "readinto", None)
    if readinto is not None:
        return int(readinto(buf) or 0)
    data = src.read(len(buf))
    buf[: len(data)] = data
    return len(data)


def _stream(src: BinaryIO, buf: bytearray, sinks: list[Callable[[memoryview], object]], job: OffloadJob | None) -> int:
    """Read the source into one reused buffer (no per-chunk allocation) and feed every sink."""
    total = 0
    view = memoryview(buf)
    while n := _read_chunk(src, buf):
        if job is not None and job.cancelled():
            raise Cancelled()
        for sink in sinks:
            sink(view[:n])
        total += n
    return total


_END = object()
# How often a reader still waiting for a free buffer tells its camera's lag (pressure.py).
LAG_STEP_S = 0.02


def _wait_for_buffer(free: queue.Queue[bytearray], lag: CameraLag | None) -> bytearray:
    """The next free read-ahead buffer; the wait is told to ``lag`` as it goes, so a long stall
    counts as falling behind before it ends."""
    if lag is None:
        return free.get()
    t0 = time.monotonic()
    while True:
        try:
            buf: bytearray | None = free.get(timeout=LAG_STEP_S)
        except queue.Empty:
            buf = None
        now = time.monotonic()
        lag.waited(now - t0)
        t0 = now
        if buf is not None:
            return buf


def _stream_pipelined(
    src: BinaryIO,
    job: OffloadJob,
    reader_sinks: list[Callable[[memoryview], object]],
    sinks: list[Callable[[memoryview], object]],
) -> int:
    """Read ahead on a reader thread while this thread processes the previous chunk.

    Like kernel read-ahead on a real USB camera, this keeps the link busy during encryption,
    and it puts the plaintext hash on the second core (hashlib releases the GIL). Memory is
    fixed: ``job.read_ahead`` chunk buffers, recycled.
    """
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(max(1, job.read_ahead)):
        free.put(bytearray(job.chunk_size))
    full: queue.Queue[tuple[bytearray, int] | BaseException | object] = queue.Queue()
    stop = threading.Event()
    lag = job.pressure.camera_lag() if job.pressure is not None else None

    def reader() -> None:
        try:
            while not stop.is_set():
                try:
                    buf = free.get_nowait()
                except queue.Empty:
                    # Every buffer holds a chunk not yet encrypted and stored: the camera waits.
                    buf = _wait_for_buffer(free, lag)
                if stop.is_set():
                    break
                n = _read_chunk(src, buf)
                if not n:
                    break
                view = memoryview(buf)[:n]
                for sink in reader_sinks:
                    sink(view)
                full.put((buf, n))
        except BaseException as exc:  # handed to the consumer, which raises it
            full.put(exc)
            return
        full.put(_END)

    thread = threading.Thread(target=reader, name=f"offload-read-{job.slot_id}", daemon=True)
    thread.start()
    total = 0
    try:
        while True:
            item = full.get()
            if item is _END:
                return total
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, tuple)
            buf, n = item
            if job.cancelled():
                raise Cancelled()
            view = memoryview(buf)[:n]
            for sink in sinks:
                sink(view)
            del view
            free.put(buf)
            total += n
            job.progress.add(n)
            crash_point("offload.chunk")
    finally:
        stop.set()
        free.put(bytearray(0))  # wake a reader waiting for a buffer
        thread.join()


def _hash_source(job: OffloadJob, rec: RecordingInfo) -> str:
    h = hashlib.sha256()
    with job.adapter.open_recording(rec) as src:
        _stream(src, bytearray(job.chunk_size), [h.update], None)
    return h.hexdigest()


def _hash_file_from_disk(path: Path, chunk: int) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb", buffering=0) as fh:
        # Drop cached pages first, so this reads what the disk holds, not what we wrote.
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        buf = bytearray(chunk)
        while n := fh.readinto(buf):
            h.update(memoryview(buf)[:n])
            size += n
    return h.hexdigest(), size


@dataclass(frozen=True)
class CopyResult:
    plain_sha256: str
    plain_size: int
    cipher_sha256: str
    cipher_size: int
    path: Path
    probe: ProbeResult


def _copy(job: OffloadJob, rec: RecordingInfo, rec_id: str) -> CopyResult:
    """One read pass feeds the plaintext hash, the probe and the age encryptor; the encryptor
    feeds the ciphertext hash and the ``.partial`` file, which is then made durable."""
    final = job.store.payload_path(rec_id, f"{rec.extension}.age")
    partial = final.with_name(final.name + ".partial")
    plain, cipher = hashlib.sha256(), hashlib.sha256()
    out = DirectWriter(partial, direct=job.direct_io)
    probe = StreamProbe() if job.probe_media else None
    try:

        def sink(buf: memoryview) -> None:
            cipher.update(buf)
            out.write(buf)

        enc = AgeEncryptor(job.recipients, sink)
        reader_sinks: list[Callable[[memoryview], object]] = [plain.update]
        if probe is not None:
            reader_sinks.append(probe.feed)
        with job.adapter.open_recording(rec) as src:
            written = _stream_pipelined(src, job, reader_sinks, [enc.update])
        enc.finish()
        out.close(fsync=True)
    except BaseException:
        out.abort()
        if probe is not None:
            probe.abort()
        partial.unlink(missing_ok=True)
        raise
    result = probe.finish() if probe is not None else ProbeResult(media_ok=True, reason="not probed")
    if written != rec.size:
        partial.unlink(missing_ok=True)
        raise HashMismatch(f"read {written} bytes but the camera listed {rec.size}")
    os.replace(partial, final)
    fsync_dir(final.parent)
    return CopyResult(plain.hexdigest(), written, cipher.hexdigest(), out.size, final, result)


def _verify(job: OffloadJob, rec: RecordingInfo, copy: CopyResult) -> list[str]:
    """Return the checks that passed; raise HashMismatch on the first that fails."""
    checks: list[str] = []
    sha = copy.plain_sha256
    has_device_hash = Capability.HASH in job.adapter.descriptor.capabilities and rec.device_sha256
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
    size = copy.path.stat().st_size
    if size != copy.cipher_size:
        raise HashMismatch(f"stored copy has {size} bytes, {copy.cipher_size} were written")
    if job.store_readback:
        # The dock cannot decrypt its own copy; it checks that the disk holds the ciphertext it wrote.
        stored, size = _hash_file_from_disk(copy.path, job.chunk_size)
        if stored != copy.cipher_sha256:
            raise HashMismatch(f"stored ciphertext hashes to {stored} ({size} bytes), wrote {copy.cipher_sha256}")
        checks.append("store-readback")
    return checks


def _manifest(
    job: OffloadJob, rec: RecordingInfo, row: RecordingRow, copy: CopyResult, checks: list[str]
) -> tuple[bytes, int]:
    """The signed manifest and the tag revision it carries."""
    now = iso(utcnow())
    # Read now, not at discovery: the wearer may have tagged it while it was being copied.
    tag = manifest_tag_fields(job.journal.shift.tag_row(row.id))
    started = row.started_at
    end = None
    if rec.started_at and copy.probe.duration_s is not None:
        end = iso(rec.started_at + timedelta(seconds=copy.probe.duration_s))
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
        "started_at": started,
        "ended_at": end,
        "size": copy.plain_size,
        "sha256": copy.plain_sha256,
        "payload": {
            "encoding": "age-v1",
            "file": copy.path.name,
            "recipients": list(job.recipients),
            "size": copy.cipher_size,
            "sha256": copy.cipher_sha256,
        },
        "probe": copy.probe.to_json(),
        "media_ok": copy.probe.media_ok,
        **tag,
        **(manifest_retention_fields(tag, job.retention_days) if job.retention_days is not None else {}),
        "verification": checks,
        "custody": [
            {"event": "discovered", "at": row.discovered_at, "by": job.station_id},
            {"event": "offloaded", "at": now, "by": job.station_id, "slot": job.slot_id},
        ],
    }
    return sign_manifest(body, job.signing_key), int(tag["tag_revision"])


def _offload_one(job: OffloadJob, rec: RecordingInfo, row: RecordingRow) -> None:
    j = job.journal
    last_error = ""
    start = job.progress.bytes_done
    for attempt in (1, 2):
        job.progress.bytes_done = start
        j.update_recording(row.id, status=RecStatus.COPYING.value, bytes_done=0, error=None)
        crash_point("offload.copying")
        stored: Path | None = None
        try:
            copy = _copy(job, rec, row.id)
            stored = copy.path
            j.update_recording(
                row.id, status=RecStatus.STORED.value, sha256=copy.plain_sha256,
                stored_sha256=copy.cipher_sha256, stored_size=copy.cipher_size, bytes_done=copy.plain_size,
                store_path=str(copy.path), local_state=LocalState.PRESENT.value,
            )
            crash_point("offload.stored")
            checks = _verify(job, rec, copy)
        except HashMismatch as exc:
            last_error = str(exc)
            log.warning("slot %s: %s: attempt %d: %s", job.slot_id, row.id, attempt, exc)
            continue
        except BaseException as exc:
            if stored is not None:
                # The camera left (or the station is stopping) after this copy was stored but
                # before it was verified: an unverified copy is no copy. Journaled first, then
                # the file goes; it is copied again when the camera returns.
                j.update_recording(row.id, status=RecStatus.PENDING.value, local_state=LocalState.NONE.value,
                                   store_path=None, error=f"interrupted before verification: {exc}")
                stored.unlink(missing_ok=True)
            raise
        document, tag_revision = _manifest(job, rec, row, copy, checks)
        write_durably(job.store.manifest_path(row.id), document)
        # Kept in the journal too: a tag changed later re-issues it after the local copy is gone.
        j.shift.record_manifest(row.id, tag_revision, document)
        j.update_recording(row.id, status=RecStatus.VERIFIED.value, vault_status=VaultStatus.QUEUED.value)
        crash_point("offload.verified")
        job.audit.append(
            who=SYSTEM, what="recording.offloaded", why="camera docked",
            device=job.camera.serial, result="verified" if copy.probe.media_ok else "verified-media-damaged",
            details={"recording": row.id, "slot": job.slot_id, "size": copy.plain_size,
                     "sha256": copy.plain_sha256, "checks": checks, "media_ok": copy.probe.media_ok,
                     "media_problem": copy.probe.reason if not copy.probe.media_ok else None},
        )
        if job.on_verified is not None:
            job.on_verified(row.id)
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
    rows = [(rec, _settle_confirmed(job, row)) for rec, row in rows]
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
    if row.vault_status == VaultStatus.CONFIRMED.value:
        # The vault holds a verified copy: copying again would race the outbox freeing the store
        # and could send the vault a second, different ciphertext.
        return True
    if row.status != RecStatus.VERIFIED.value:
        return False
    if row.local_state == LocalState.PRESENT.value:
        return row.store_path is not None and Path(row.store_path).exists()
    return row.vault_status == VaultStatus.CONFIRMED.value


def _settle_confirmed(job: OffloadJob, row: RecordingRow) -> RecordingRow:
    """Mend a confirmed recording that a re-copy raced with the outbox before this was fixed.

    Such a row says ``stored`` although the vault confirmed a verified copy; left alone, it keeps
    its camera from ever being wiped. The vault's receipt is the truth about what it holds.
    """
    if row.vault_status != VaultStatus.CONFIRMED.value or row.status == RecStatus.VERIFIED.value:
        return row
    receipt = job.journal.vault_receipt(row.id)
    if receipt is None:
        return row
    present = bool(row.store_path) and Path(str(row.store_path)).exists()
    job.journal.update_recording(
        row.id, status=RecStatus.VERIFIED.value, stored_sha256=str(receipt["sha256"]), stored_size=int(receipt["size"]),
        local_state=LocalState.PRESENT.value if present else LocalState.DELETED.value, error=None,
    )
    log.warning("slot %s: %s was confirmed by the vault but journaled %r; restored from the vault's receipt",
                job.slot_id, row.id, row.status)
    job.audit.append(who=SYSTEM, what="recording.repaired", why="the vault confirmed it; a later copy was interrupted",
                     device=job.camera.serial, result="verified",
                     details={"recording": row.id, "was": row.status, "vault_sha256": receipt["sha256"]})
    fixed = job.journal.recording(row.id)
    assert fixed is not None
    return fixed
