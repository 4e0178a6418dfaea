"""The CameraAdapter for simulated cameras (folders described in ``camera.py``).

Misbehaviour comes from the ``faults`` in camera.json, read when an operation starts (a stream
keeps the faults it was opened with). Bytes read and the throttle's token bucket are shared by
all adapters and streams of one camera in this process for one docking, because a real camera's
USB link is shared the same way; "one docking" is identified by camera.json's ``docked_at``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from device_adapters.api import (
    AdapterError,
    AdapterFactory,
    Battery,
    CameraAdapter,
    CameraGone,
    CameraInfo,
    RecordingInfo,
    RecordingSetting,
    Wearer,
    WipeOutcome,
)
from device_adapters.simulated import DESCRIPTOR
from device_adapters.simulated.camera import (
    DEFAULT_SETTINGS,
    STATE_FILE,
    CameraState,
    Faults,
    docked,
    fsync_dir,
    mark_undocked,
    read_state,
    recording_path,
    scan_recordings,
    settle_battery,
    slot_entry,
    update_state,
    utc_now,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

WIPE_METHOD = "unlink+dirsync"
_Change = Callable[[CameraState], CameraState]
# Throttle burst: small, so even short reads see the configured rate rather than a free burst.
_BURST_S = 0.05


class SimulatedAdapter(CameraAdapter):
    """A simulated camera folder, optionally docked through ``dock_entry`` (a ``slot-<id>`` link).

    With a dock entry the adapter treats the camera as gone once that link no longer points at
    the camera, and a yank removes the link so the station's device source sees the camera leave.
    """

    descriptor = DESCRIPTOR

    def __init__(self, camera_dir: Path | str, dock_entry: Path | None = None) -> None:
        self._dir = Path(camera_dir)
        self._root = self._dir.resolve()
        self._dock_entry = dock_entry

    @property
    def camera_dir(self) -> Path:
        return self._dir

    @property
    def dock_entry(self) -> Path | None:
        return self._dock_entry

    # --- CameraAdapter ----------------------------------------------------------------------

    def identify(self) -> CameraInfo:
        with self._io("identify"):
            state = self._state()
            if state.faults.hang_s > 0:
                time.sleep(state.faults.hang_s)  # simulated unresponsive firmware
                state = self._state()
            return CameraInfo(
                serial=state.serial,
                model=state.model,
                firmware=state.firmware,
                vendor=state.vendor,
                wearer_id=None if state.wearer is None else state.wearer.officer_id,
                clock_offset_s=state.clock_offset_s,
            )

    def list_recordings(self) -> Sequence[RecordingInfo]:
        with self._io("listing recordings"):
            state = self._state()
            return tuple(
                RecordingInfo(
                    key=f.key,
                    size=f.size,
                    started_at=f.mtime,
                    device_sha256=_reported_hash(state, f.key),
                    extension="mp4",
                )
                for f in scan_recordings(self._dir)
            )

    def open_recording(self, recording: RecordingInfo) -> BinaryIO:
        with self._io(f"opening {recording.key}"):
            state = self._state()
            path = recording_path(self._dir, recording.key)
            try:
                # O_NOFOLLOW: a recording swapped for a symlink must not leak another file.
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError as exc:
                raise AdapterError(f"recording {recording.key} is no longer on the camera") from exc
            file = io.FileIO(fd, "rb", closefd=True)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise AdapterError(f"recording {recording.key} is not a regular file")
                if st.st_size != recording.size:
                    raise AdapterError(
                        f"recording {recording.key} changed size since listing "
                        f"({recording.size} -> {st.st_size} bytes)"
                    )
            except BaseException:
                file.close()
                raise
            docking = _docking(self._root, state.docked_at)
            stream = _RecordingStream(self, file, recording, docking, state.faults)
            # RawIOBase provides everything a BinaryIO reader uses (read, readinto, close, with).
            return cast(BinaryIO, stream)

    def wipe(self, recordings: Sequence[RecordingInfo]) -> WipeOutcome:
        with self._io("wipe"):
            faults = self._state().faults
            present: list[tuple[str, Path]] = []
            absent: list[str] = []
            # Validate everything first so a bad request removes nothing.
            for rec in {r.key: r for r in recordings}.values():
                path = recording_path(self._dir, rec.key)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    absent.append(rec.key)  # e.g. a retry after a partial wipe
                    continue
                if not stat.S_ISREG(st.st_mode):
                    raise AdapterError(f"refusing to wipe {rec.key}: not a regular file")
                if st.st_size != rec.size:
                    # The station's copy may not be of these bytes; never delete what it lacks.
                    raise AdapterError(f"refusing to wipe {rec.key}: size changed since listing")
                present.append((rec.key, path))
            if faults.wipe_fails:
                raise AdapterError("simulated wipe failure: nothing was removed")
            if faults.wipe_partial:
                present = present[:1]
            removed: list[str] = []
            for key, path in present:
                path.unlink(missing_ok=True)
                removed.append(key)
            for directory in {path.parent for _, path in present}:
                fsync_dir(directory)
            gone = set(removed) | set(absent)
            update_state(
                self._dir,
                lambda s: replace(s, hashes={k: v for k, v in s.hashes.items() if k not in gone}),
            )
            if faults.wipe_partial:
                raise AdapterError(f"simulated partial wipe: removed {removed or 'nothing'}, then failed")
            return WipeOutcome(
                removed=tuple(removed + absent),
                method=WIPE_METHOD,
                free_bytes_after=shutil.disk_usage(self._dir).free,
                notes=tuple(f"already absent: {key}" for key in absent),
            )

    def set_clock(self, now: datetime) -> None:
        # Naive times are taken as UTC, the station's convention.
        at = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self._update("set_clock", lambda s: replace(s, clock_offset_s=0.0, clock_set_at=at))

    def set_wearer(self, wearer: Wearer | None) -> None:
        self._update("set_wearer", lambda s: replace(s, wearer=wearer))

    def read_settings(self) -> Mapping[str, str]:
        with self._io("read_settings"):
            return dict(self._state().settings)

    def push_settings(self, settings: Mapping[str, str]) -> None:
        for key, value in settings.items():
            _check_setting(key, value)
        self._update("push_settings", lambda s: replace(s, settings={**s.settings, **settings}))

    def locate(self, on: bool) -> None:
        self._update("locate", lambda s: replace(s, locating=on))

    def battery(self) -> Battery:
        # Charge is computed from elapsed time and persisted, so every reader sees the same value.
        state = self._update("battery", lambda s: settle_battery(s, utc_now()))
        return Battery(
            percent=state.battery_percent,
            charging=state.docked_at is not None,
            health_percent=state.battery_health_percent,
        )

    # --- internals --------------------------------------------------------------------------

    def check_present(self) -> None:
        """Raise CameraGone if the camera left its slot or its folder vanished."""
        if self._dock_entry is not None and not _points_at(self._dock_entry, self._root):
            raise CameraGone(f"camera {self._dir} is no longer docked")
        if not (self._dir / STATE_FILE).is_file():
            raise CameraGone(f"camera {self._dir} is gone")

    def yank(self) -> None:
        """Simulate pulling the camera out mid-transfer: empty its slot and mark it undocked."""
        entry = self._dock_entry
        if entry is not None and _points_at(entry, self._root):
            entry.unlink(missing_ok=True)
            fsync_dir(entry.parent)
        now = utc_now()

        def consume(s: CameraState) -> CameraState:
            # The fault fires once: after re-docking the camera reads fine unless it is set again.
            fired = replace(
                s,
                faults=replace(s.faults, yank_after_bytes=None),
                yanked=True,
                yanked_docked_at=s.docked_at,
            )
            return mark_undocked(fired, now)

        with contextlib.suppress(FileNotFoundError):
            update_state(self._dir, consume)

    def _state(self) -> CameraState:
        self.check_present()
        return read_state(self._dir)

    def _update(self, what: str, change: _Change) -> CameraState:
        with self._io(what):
            self.check_present()
            return update_state(self._dir, change)

    @contextlib.contextmanager
    def _io(self, what: str) -> Iterator[None]:
        """Map OS errors to the adapter API: a vanished camera is CameraGone, the rest AdapterError."""
        try:
            yield
        except AdapterError:
            raise
        except OSError as exc:
            if not (self._dir / STATE_FILE).is_file():
                raise CameraGone(f"camera {self._dir} is gone") from exc
            raise AdapterError(f"{what} failed: {exc}") from exc


class SimulatedAdapterFactory(AdapterFactory):
    """Binds a SimulatedAdapter to a camera folder; with ``dock_dir`` it also finds the slot link.

    The locator may be the camera folder or the ``slot-<id>`` link itself.
    """

    def __init__(self, dock_dir: Path | None = None) -> None:
        self._dock_dir = dock_dir

    def __call__(self, locator: str) -> SimulatedAdapter:
        path = Path(locator)
        entry: Path | None = None
        if self._dock_dir is not None:
            dock_dir = self._dock_dir.resolve()
            if path.is_symlink() and path.parent.resolve() == dock_dir:
                entry = path
            else:
                for slot_id, target in docked(dock_dir).items():
                    if target.resolve() == path.resolve():
                        entry = slot_entry(dock_dir, slot_id)
                        break
        return SimulatedAdapter(path.resolve(), dock_entry=entry)


# --- streaming --------------------------------------------------------------------------------


class _RecordingStream(io.RawIOBase):
    """Reads exactly the listed bytes of one recording, with throttling and yanks applied."""

    def __init__(
        self,
        adapter: SimulatedAdapter,
        file: io.FileIO,
        recording: RecordingInfo,
        docking: _Docking,
        faults: Faults,
    ) -> None:
        super().__init__()
        self._adapter = adapter
        self._file = file
        self._key = recording.key
        self._size = recording.size
        self._pos = 0
        self._docking = docking
        self._faults = faults

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        if size is None or size < 0:
            return self.readall()
        # Never allocate more than is left, whatever the caller asks for.
        buf = bytearray(min(size, max(self._size - self._pos, 0)))
        n = self.readinto(buf)
        del buf[n:]
        return bytes(buf)

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed recording stream")
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        self._adapter.check_present()
        allowed, first_to_fail = self._docking.admit(want, self._faults.yank_after_bytes)
        if allowed == 0:
            if first_to_fail:
                self._adapter.yank()
            raise CameraGone(f"camera yanked while reading {self._key}")
        if self._faults.read_rate_mbps is not None:
            time.sleep(self._docking.throttle(allowed, self._faults.read_rate_mbps * 1e6))
        n = self._file.readinto(view[:allowed]) or 0
        self._docking.refund(allowed - n)
        if n == 0:
            raise AdapterError(f"recording {self._key} shrank while being read")
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


@dataclass
class _Docking:
    """Shared read state of one camera for one docking (mutable, guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    bytes_read: int = 0
    gone: bool = False
    tokens: float = 0.0
    refilled_at: float = field(default_factory=time.monotonic)

    def admit(self, want: int, yank_after: int | None) -> tuple[int, bool]:
        """Reserve up to ``want`` bytes; (0, first_to_fail) once the yank budget is used up."""
        with self.lock:
            if self.gone:
                return 0, False
            allowed = want if yank_after is None else min(want, yank_after - self.bytes_read)
            if allowed <= 0:
                self.gone = True
                return 0, True
            self.bytes_read += allowed
            return allowed, False

    def refund(self, unused: int) -> None:
        if unused:
            with self.lock:
                self.bytes_read -= unused

    def throttle(self, n: int, rate_bps: float) -> float:
        """Token bucket: take ``n`` tokens and return how long to sleep until they exist."""
        with self.lock:
            now = time.monotonic()
            burst = rate_bps * _BURST_S
            self.tokens = min(burst, self.tokens + (now - self.refilled_at) * rate_bps)
            self.refilled_at = now
            self.tokens -= n  # may go negative: later readers then wait for this debt too
            return max(0.0, -self.tokens / rate_bps)


_dockings: dict[tuple[Path, datetime | None], _Docking] = {}
_dockings_lock = threading.Lock()


def _docking(root: Path, docked_at: datetime | None) -> _Docking:
    with _dockings_lock:
        return _dockings.setdefault((root, docked_at), _Docking())


def _check_setting(key: str, value: str) -> None:
    """Refuse what a real camera would refuse: unknown names and values it cannot hold."""
    if key not in DEFAULT_SETTINGS:
        raise AdapterError(f"the camera has no setting {key!r}")
    if key == RecordingSetting.PREBUFFER_S:
        if not value.isdigit() or int(value) > 600:
            raise AdapterError(f"{key} must be 0..600 seconds, not {value!r}")
    elif value not in ("true", "false"):
        raise AdapterError(f"{key} must be 'true' or 'false', not {value!r}")


def _reported_hash(state: CameraState, key: str) -> str | None:
    real = state.hashes.get(key)
    if key in state.faults.wrong_hash:
        # A well-formed but wrong digest, as buggy firmware would report.
        return hashlib.sha256(f"wrong:{key}:{real}".encode()).hexdigest()
    return real


def _points_at(entry: Path, root: Path) -> bool:
    try:
        target = Path(os.readlink(entry))
    except OSError:
        return False
    if not target.is_absolute():
        target = entry.parent / target
    return target.resolve() == root
