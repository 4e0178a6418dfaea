"""The CameraAdapter for generic USB mass-storage cameras.

A plain card has no protocol: no clock, wearer or battery to talk to, so those calls raise
NotSupported and the descriptor does not claim them. The serial is the USB serial number when the
camera has a real one, else the file system's serial number (set when the card was formatted).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast
from zoneinfo import ZoneInfo

from device_adapters.api import (
    AdapterError,
    AdapterFactory,
    Battery,
    CameraAdapter,
    CameraGone,
    CameraInfo,
    Finding,
    NotSupported,
    RecordingInfo,
    Wearer,
    WipeOutcome,
)
from device_adapters.mass_storage import DESCRIPTOR
from device_adapters.mass_storage.fs import FsError
from device_adapters.mass_storage.scan import DEFAULT_EXTENSIONS, DEFAULT_ROOTS, Limits
from device_adapters.mass_storage.storage import (
    DirectoryStorage,
    Opener,
    Storage,
    Stored,
    VolumeStorage,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)
_SYS_BLOCK = "/sys/class/block"


class MassStorageAdapter(CameraAdapter):
    descriptor = DESCRIPTOR

    def __init__(self, locator: str, storage: Storage, *, camera_tz: tzinfo, scrub: bool = False) -> None:
        self.locator = locator
        self.storage = storage
        self.camera_tz = camera_tz
        self.scrub = scrub
        self._identity = _identity(locator)
        self._findings: tuple[Finding, ...] | None = None

    # --- CameraAdapter ----------------------------------------------------------------------

    def identify(self) -> CameraInfo:
        with self._io("identify"):
            usb = usb_attributes(self.locator)
            volume = self.storage.volume_id()
        serial = usb.get("serial", "").strip()
        if len(serial) < 6 or len(set(serial)) < 3:
            # Cheap cameras report none, or the same placeholder on every unit.
            serial = f"VOL-{volume}"
        model = " ".join(x for x in (usb.get("manufacturer", ""), usb.get("product", "")) if x) or "USB mass storage"
        return CameraInfo(
            serial=serial,
            model=model.strip(),
            firmware=usb.get("bcdDevice", ""),
            vendor=usb.get("manufacturer", ""),
        )

    def list_recordings(self) -> Sequence[RecordingInfo]:
        with self._io("listing recordings"):
            contents = self.storage.contents()
        self._findings = contents.findings
        for f in contents.findings:
            log.warning("%s: refused %s: %s", self.locator, f.path, f.problem)
        return tuple(self._info(s) for s in contents.recordings)

    def findings(self) -> Sequence[Finding]:
        if self._findings is None:
            self.list_recordings()
        return self._findings or ()

    def open_recording(self, recording: RecordingInfo) -> BinaryIO:
        with self._io(f"opening {recording.key}"):
            inner = self.storage.open(recording.key, recording.size)
        return cast(BinaryIO, _Checked(self, inner, recording.key))

    def wipe(self, recordings: Sequence[RecordingInfo]) -> WipeOutcome:
        with self._io("wipe"):
            before = self.storage.contents()
            if before.findings:
                f = before.findings[0]
                raise AdapterError(
                    f"refusing to wipe: {len(before.findings)} unresolved entr"
                    f"{'y' if len(before.findings) == 1 else 'ies'} on the camera (e.g. {f.path}: {f.problem})"
                )
            listed = {s.key: s for s in before.recordings}
            present: list[str] = []
            absent: list[str] = []
            for rec in {r.key: r for r in recordings}.values():
                now = listed.get(rec.key)
                if now is None:
                    absent.append(rec.key)  # e.g. a retry after a partial wipe
                elif now.size != rec.size:
                    raise AdapterError(f"refusing to wipe {rec.key}: size changed since listing")
                else:
                    present.append(rec.key)
            self.storage.remove(present, scrub=self.scrub)
            after = self.storage.contents()
            still = sorted(set(present) & {s.key for s in after.recordings})
            if still:
                raise AdapterError(f"wipe did not take effect: {', '.join(still)} still listed")
            if after.findings:
                # Re-read and accounted again: the card must be clean and hold nothing unaccounted for.
                self._findings = after.findings
                f = after.findings[0]
                raise AdapterError(f"after the wipe the card does not account for itself ({f.path}: {f.problem})")
            free = self.storage.free_bytes()
        method = f"{before.fs_type}: entries deleted, clusters freed{', data overwritten' if self.scrub else ''}"
        return WipeOutcome(
            removed=tuple(present + absent),
            method=method + "; verified by re-reading the card",
            free_bytes_after=free,
            notes=tuple(f"already absent: {k}" for k in absent),
        )

    def set_clock(self, now: datetime) -> None:
        raise NotSupported("a plain mass-storage camera has no clock the dock can set")

    def set_wearer(self, wearer: Wearer | None) -> None:
        raise NotSupported("a plain mass-storage camera has no wearer setting")

    def battery(self) -> Battery:
        raise NotSupported("a plain mass-storage camera does not report its battery")

    def close(self) -> None:
        self.storage.close()

    # --- internals --------------------------------------------------------------------------

    def _info(self, s: Stored) -> RecordingInfo:
        started = s.started_at
        if started is not None and started.tzinfo is None:
            # FAT times are the camera's local time.
            started = started.replace(tzinfo=self.camera_tz).astimezone(UTC)
        ext = s.key.rsplit(".", 1)[-1].lower() if "." in s.key.rsplit("/", 1)[-1] else "bin"
        return RecordingInfo(key=s.key, size=s.size, started_at=started, extension=ext)

    def _present(self) -> bool:
        now = _identity(self.locator)
        return now is not None and now == self._identity

    def check_present(self) -> None:
        if not self._present():
            raise CameraGone(f"{self.locator} is gone")

    @contextlib.contextmanager
    def _io(self, what: str) -> Iterator[None]:
        self.check_present()
        try:
            yield
        except CameraGone:
            raise
        except (AdapterError, OSError) as exc:
            if not self._present():
                raise CameraGone(f"{self.locator} vanished during {what}") from exc
            if isinstance(exc, FsError):
                raise AdapterError(f"{what}: the camera's file system is unreadable: {exc}") from exc
            if isinstance(exc, AdapterError):
                raise
            raise AdapterError(f"{what} failed: {exc}") from exc


class _Checked(io.RawIOBase):
    """A recording stream that notices the camera leaving (an open fd of a vanished image file
    would otherwise keep reading happily)."""

    def __init__(self, adapter: MassStorageAdapter, inner: BinaryIO, key: str) -> None:
        super().__init__()
        self._adapter, self._inner, self._key = adapter, inner, key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        with self._adapter._io(f"reading {self._key}"):
            view = memoryview(buffer).cast("B")
            data = self._inner.read(len(view))
            view[: len(data)] = data
            return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


def _identity(path: str) -> tuple[int, int, int] | None:
    """What the locator names now; None once it is gone. A block node can outlive its device:
    a detached loop device or a card reader without its card stays in /dev with size 0."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISBLK(st.st_mode) and _block_sectors(st.st_rdev) == 0:
        return None
    return st.st_dev, st.st_ino, st.st_rdev


def _block_sectors(rdev: int) -> int | None:
    try:
        with open(f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}/size", encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None  # no sysfs (or not a kernel block device): presence is the node alone


def usb_attributes(dev_node: str) -> dict[str, str]:
    """USB descriptor strings of the device a block node belongs to (empty if not USB)."""
    sys_dir = Path(_SYS_BLOCK) / Path(dev_node).name
    try:
        d = sys_dir.resolve(strict=True)
    except OSError:
        return {}
    while d.parent != d and d.is_relative_to("/sys"):
        if (d / "idVendor").is_file():
            out = {}
            for attr in ("serial", "manufacturer", "product", "idVendor", "idProduct", "bcdDevice"):
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    out[attr] = (d / attr).read_text().strip()
            return out
        d = d.parent
    return {}


class MassStorageAdapterFactory(AdapterFactory):
    """Options (``adapters.options.mass_storage`` in the station config) are all optional."""

    def __init__(
        self,
        roots: Sequence[str] = DEFAULT_ROOTS,
        extensions: Sequence[str] = DEFAULT_EXTENSIONS,
        max_depth: int = Limits.max_depth,
        max_entries_per_dir: int = Limits.max_entries_per_dir,
        max_entries_total: int = Limits.max_entries_total,
        max_recordings: int = Limits.max_recordings,
        non_footage: Sequence[str] = (),
        scrub: bool = False,
        camera_timezone: str | None = None,
        station_timezone: str = "UTC",
        opener: Opener | None = None,
    ) -> None:
        for what, seq in (("roots", roots), ("extensions", extensions)):
            if isinstance(seq, str) or not all(isinstance(x, str) and x for x in seq):
                raise TypeError(f"mass_storage option {what} must be a list of names")
        self.roots, self.extensions = tuple(roots), tuple(e.lower().lstrip(".") for e in extensions)
        self.limits = Limits(
            max_depth=int(max_depth),
            max_entries_per_dir=int(max_entries_per_dir),
            max_entries_total=int(max_entries_total),
            max_recordings=int(max_recordings),
        )
        if isinstance(non_footage, str) or not all(isinstance(x, str) and x for x in non_footage):
            raise TypeError("mass_storage option non_footage must be a list of patterns")
        # The descriptor's generic list, plus what this station's cameras are known to write.
        self.non_footage = (*DESCRIPTOR.non_footage, *non_footage)
        self.scrub = bool(scrub)
        self.camera_tz = ZoneInfo(camera_timezone or station_timezone)
        self.opener = opener

    def __call__(self, locator: str) -> MassStorageAdapter:
        storage: Storage
        args = (locator, self.roots, self.extensions, self.limits)
        if os.path.isdir(locator):
            storage = DirectoryStorage(*args, non_footage=self.non_footage)
        elif self.opener is not None:
            storage = VolumeStorage(*args, opener=self.opener, non_footage=self.non_footage)
        else:
            storage = VolumeStorage(*args, non_footage=self.non_footage)
        return MassStorageAdapter(locator, storage, camera_tz=self.camera_tz, scrub=self.scrub)
