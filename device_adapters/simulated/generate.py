"""Creating simulated cameras with real, short H.264/AAC recordings (needs ffmpeg on PATH).

Encoding is the slow part, so one base clip per (seconds, size, bitrate) is rendered once into a
cache; each recording is then a stream-copy remux of it with unique metadata, which makes its
bytes (and SHA-256) unique at a fraction of the cost.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from device_adapters.api import Wearer
from device_adapters.simulated.camera import (
    RECORDING_DIR,
    CameraState,
    Faults,
    read_state,
    recording_path,
    scan_recordings,
    sha256_file,
    update_state,
    utc_now,
    write_state,
)

CACHE_ENV = "BODYDOCK_SIM_CACHE"
# Bump when the base-clip ffmpeg recipe changes, so stale cached clips are not reused.
_RECIPE_VERSION = 1
_RECORDING_SPACING = timedelta(minutes=10)
_SERIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PAD_BLOCK = 1 << 20
_REC_NAME = re.compile(r"REC_(\d{4,})\.MP4", re.IGNORECASE)


class FfmpegError(RuntimeError):
    """ffmpeg failed; the message carries ffmpeg's last stderr line."""


@dataclass(frozen=True)
class SimulatedCameraSpec:
    path: Path  # the camera folder
    serial: str
    keys: tuple[str, ...]  # recording keys, oldest first
    hashes: Mapping[str, str]  # key -> SHA-256 of the bytes on disk
    started_at: tuple[datetime, ...]  # per key, as the camera lists it


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "bodydock" / "sim"


def make_camera(
    root: Path,
    serial: str,
    *,
    recordings: int = 3,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    video_kbps: int = 400,
    model: str = "SimCam BWC-1",
    firmware: str = "1.4.2",
    vendor: str = "Simulated",
    battery_percent: int = 60,
    battery_health_percent: int = 95,
    charge_rate_pps: float = 5.0,
    clock_offset_s: float = 0.0,
    wearer: Wearer | None = None,
    faults: Faults | Mapping[str, object] | None = None,
    cache_dir: Path | None = None,
) -> SimulatedCameraSpec:
    """Create the camera folder ``root/serial`` with ``recordings`` real MP4 recordings.

    Recordings start 10 minutes apart, the last one 10 minutes ago. Faults are written to
    camera.json; ``corrupt`` ones are applied to the media here, and the camera's hashes are
    those of the (possibly corrupted) bytes on disk.
    """
    if not _SERIAL_RE.fullmatch(serial):
        raise ValueError(f"serial must be a plain file name: {serial!r}")
    if recordings < 0:
        raise ValueError("recordings must be >= 0")
    parsed_faults = faults if isinstance(faults, Faults) else Faults.from_json(dict(faults or {}))
    camera_dir = root / serial
    camera_dir.mkdir(parents=True)
    try:
        rec_dir = camera_dir / RECORDING_DIR
        rec_dir.mkdir(parents=True)
        base = _base_clip(seconds, width, height, video_kbps, cache_dir) if recordings else None
        now = utc_now().replace(microsecond=0)
        keys: list[str] = []
        starts: list[datetime] = []
        for n in range(1, recordings + 1):
            assert base is not None
            key = f"{RECORDING_DIR}/REC_{n:04d}.MP4"
            start = now - _RECORDING_SPACING * (recordings + 1 - n)
            _remux_unique(base, camera_dir / key, comment=f"{serial}/{n}/{uuid.uuid4()}", created=start)
            _set_mtime(camera_dir / key, start)
            keys.append(key)
            starts.append(start)
        unknown = (set(parsed_faults.corrupt) | set(parsed_faults.wrong_hash)) - set(keys)
        if unknown:
            raise ValueError(f"faults name recordings this camera does not have: {sorted(unknown)}")
        for key in parsed_faults.corrupt:
            corrupt_media(camera_dir / key)
        hashes = expected_hashes(camera_dir)
        # camera.json last: a folder without it is not a camera yet.
        write_state(
            camera_dir,
            CameraState(
                serial=serial,
                model=model,
                firmware=firmware,
                vendor=vendor,
                battery_percent=battery_percent,
                battery_health_percent=battery_health_percent,
                charge_rate_pps=charge_rate_pps,
                clock_offset_s=clock_offset_s,
                wearer=wearer,
                faults=parsed_faults,
                hashes=hashes,
            ),
        )
    except BaseException:
        shutil.rmtree(camera_dir, ignore_errors=True)
        raise
    return SimulatedCameraSpec(
        path=camera_dir, serial=serial, keys=tuple(keys), hashes=hashes, started_at=tuple(starts)
    )


def record(
    camera_dir: Path,
    *,
    seconds: float = 2.0,
    started_at: datetime | None = None,
    width: int = 320,
    height: int = 240,
    video_kbps: int = 400,
    cache_dir: Path | None = None,
) -> str:
    """The camera films: add one new real recording (the next REC_NNNN.MP4) and return its key.

    A camera records only while worn, so a docked camera refuses. The start time (the file's
    mtime, as the camera lists it) defaults to now minus the length; the camera reports the new
    recording's hash like the others.
    """
    state = read_state(camera_dir)
    if state.docked_at is not None:
        raise ValueError(f"{camera_dir.name} is docked; undock it before recording")
    existing = [int(m[1]) for f in scan_recordings(camera_dir) if (m := _REC_NAME.fullmatch(f.path.name))]
    n = max(existing, default=0) + 1
    key = f"{RECORDING_DIR}/REC_{n:04d}.MP4"
    start = (started_at or utc_now() - timedelta(seconds=seconds)).replace(microsecond=0)
    path = camera_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    base = _base_clip(seconds, width, height, video_kbps, cache_dir)
    _remux_unique(base, path, comment=f"{state.serial}/{n}/{uuid.uuid4()}", created=start)
    _set_mtime(path, start)
    digest = sha256_file(path)
    update_state(camera_dir, lambda s: replace(s, hashes={**s.hashes, key: digest}))
    return key


def corrupt_recording(camera_dir: Path, key: str) -> str:
    """Break an existing recording's media, record it as a corrupt fault, return its new hash.

    The camera keeps reporting the hash of what is on disk: corrupt media is still offloadable
    byte for byte, it just does not play.
    """
    path = recording_path(camera_dir, key)
    corrupt_media(path)
    digest = sha256_file(path)

    def change(s: CameraState) -> CameraState:
        corrupt = s.faults.corrupt if key in s.faults.corrupt else (*s.faults.corrupt, key)
        return replace(s, hashes={**s.hashes, key: digest}, faults=replace(s.faults, corrupt=corrupt))

    update_state(camera_dir, change)
    return digest


def corrupt_media(path: Path) -> None:
    """Truncate an MP4 to 60 % and damage its moov and mdat so players and ffprobe reject it.

    Truncation alone is not enough: with +faststart the moov comes first and survives. The file's
    mtime (the recording's start time) is kept.
    """
    st = path.stat()
    keep = int(st.st_size * 0.6)
    with open(path, "r+b") as f:
        boxes = _top_level_boxes(f, st.st_size)
        f.truncate(keep)
        moov = next((b for b in boxes if b[0] == b"moov"), None)
        if moov is not None and moov[1] + 8 <= keep:
            f.seek(moov[1] + 4)
            f.write(b"\x00\xde\xad\x00")  # the box type: the index is no longer found
        else:
            f.seek(0)
            f.write(b"\x00" * min(16, keep))
        mdat = next((b for b in boxes if b[0] == b"mdat"), None)
        if mdat is not None and mdat[1] + mdat[2] + 64 <= keep:
            f.seek(mdat[1] + mdat[2] + 16)
            f.write(b"\xff" * 32)  # garbage inside the first samples
        f.flush()
        os.fsync(f.fileno())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def make_large_recording(path: Path, size_bytes: int, *, cache_dir: Path | None = None) -> str:
    """Write a ``size_bytes`` recording quickly (for benchmarks); returns its SHA-256.

    A real MP4 clip followed by one top-level ``free`` box filling the rest, so the file is still a
    valid MP4. Written in 1 MiB blocks (bounded memory). Use ``camera.record_hash`` to make a
    camera report the hash, and ``os.utime`` to set its start time.
    """
    header = _base_clip(2.0, 320, 240, 400, cache_dir).read_bytes()  # ~100 KB
    pad = size_bytes - len(header)
    if pad < 16:
        raise ValueError(f"size_bytes must be at least {len(header) + 16}")
    box = struct.pack(">I4s", pad, b"free") if pad < 1 << 32 else struct.pack(">I4sQ", 1, b"free", pad)
    # Random padding, so compressing or deduplicating filesystems cannot flatter a benchmark.
    block = memoryview(os.urandom(_PAD_BLOCK))
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            for part in (header, box):
                f.write(part)
                digest.update(part)
            remaining = pad - len(box)
            while remaining > 0:
                chunk = block[: min(remaining, _PAD_BLOCK)]
                f.write(chunk)
                digest.update(chunk)
                remaining -= len(chunk)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def expected_hashes(camera_dir: Path) -> dict[str, str]:
    """Ground truth: key -> streaming SHA-256 of every recording on disk."""
    return {f.key: sha256_file(f.path) for f in scan_recordings(camera_dir)}


# --- ffmpeg -----------------------------------------------------------------------------------


def _base_clip(seconds: float, width: int, height: int, video_kbps: int, cache_dir: Path | None) -> Path:
    if seconds <= 0 or video_kbps <= 0:
        raise ValueError("seconds and video_kbps must be positive")
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError("width and height must be positive and even (H.264 4:2:0)")
    directory = cache_dir or default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"base-v{_RECIPE_VERSION}-{seconds:g}s-{width}x{height}-{video_kbps}k.mp4"
    clip = directory / name
    if clip.is_file() and clip.stat().st_size > 0:
        return clip
    # Render to a temp name and rename: parallel test workers may render the same clip.
    tmp = directory / f".{name}.{uuid.uuid4().hex}.tmp"
    try:
        # fmt: off
        _ffmpeg([
            "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000",
            "-t", f"{seconds:g}",
            "-c:v", "libx264", "-preset", "ultrafast", "-b:v", f"{video_kbps}k", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k",
            "-movflags", "+faststart", "-f", "mp4", str(tmp),
        ])
        # fmt: on
        os.replace(tmp, clip)
    finally:
        tmp.unlink(missing_ok=True)
    return clip


def _remux_unique(base: Path, out: Path, *, comment: str, created: datetime) -> None:
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        # fmt: off
        _ffmpeg([
            "-i", str(base), "-map", "0", "-c", "copy",
            # Fresh metadata only: the unique comment is what makes each recording's bytes unique.
            "-map_metadata", "-1",
            "-metadata", f"comment={comment}",
            "-metadata", f"creation_time={created.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}",
            "-movflags", "+faststart", "-f", "mp4", str(tmp),
        ])
        # fmt: on
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _ffmpeg(args: list[str]) -> None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise FfmpegError("ffmpeg not found on PATH (needed to generate simulated recordings)")
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        lines = [line for line in exc.stderr.decode(errors="replace").splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit status {exc.returncode}"
        raise FfmpegError(f"ffmpeg failed: {last}") from exc


# --- helpers ----------------------------------------------------------------------------------


def _set_mtime(path: Path, at: datetime) -> None:
    ts = at.timestamp()
    os.utime(path, (ts, ts))


def _top_level_boxes(f: BinaryIO, size: int) -> list[tuple[bytes, int, int, int]]:
    """(type, offset, header length, box size) of an MP4's top-level boxes, reading headers only."""
    boxes: list[tuple[bytes, int, int, int]] = []
    offset = 0
    while offset + 8 <= size:
        f.seek(offset)
        head = f.read(16)
        box_size, box_type = struct.unpack(">I4s", head[:8])
        header = 8
        if box_size == 1 and len(head) == 16:
            (box_size,) = struct.unpack(">Q", head[8:16])
            header = 16
        elif box_size == 0:  # extends to the end of the file
            box_size = size - offset
        if box_size < header:
            break  # not an MP4 box structure; stop rather than loop
        boxes.append((box_type, offset, header, box_size))
        offset += box_size
    return boxes
