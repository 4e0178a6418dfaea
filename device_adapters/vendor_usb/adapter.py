"""The CameraAdapter for the generic Ambarella-based camera: protocol for identity and settings,
its own storage (reached once unlocked) for recordings.

The storage is locked on every insertion: the adapter sends the dock's password and ``MSC ON``,
then waits for the card's block device to appear below the camera's USB device, and from there
reads it exactly like the generic mass-storage adapter does (same hostile-content rules).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from device_adapters.api import (
    AdapterError,
    AdapterFactory,
    Battery,
    CameraAdapter,
    CameraGone,
    CameraInfo,
    Finding,
    RecordingInfo,
    Wearer,
    WipeOutcome,
)
from device_adapters.mass_storage.adapter import MassStorageAdapter
from device_adapters.mass_storage.scan import DEFAULT_EXTENSIONS, DEFAULT_ROOTS, Limits
from device_adapters.mass_storage.storage import Opener, VolumeStorage
from device_adapters.vendor_usb import DESCRIPTOR
from device_adapters.vendor_usb.protocol import Link, ProtocolError, Session, check_text

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
StorageFinder = Callable[[], str | None]


def ascii_name(name: str) -> str:
    """The camera shows names in an ASCII font: 'Özdemir' becomes 'Ozdemir'."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    plain = " ".join(plain.split())
    return check_text(plain[:32], "wearer name", max_len=32)


def sysfs_storage(sys_dir: str) -> StorageFinder:
    """Finds the block node of the camera's card below its USB device in sysfs."""

    def find() -> str | None:
        base = Path(sys_dir)
        disks = sorted(p for p in base.glob("*/host*/target*/*/block/*") if p.is_dir())
        for disk in disks:
            parts = sorted(p for p in disk.iterdir() if (p / "partition").is_file())
            node = Path("/dev") / (parts[0].name if parts else disk.name)
            with contextlib.suppress(OSError):
                if stat.S_ISBLK(os.stat(node).st_mode):
                    return str(node)
        return None

    return find


class VendorUsbAdapter(CameraAdapter):
    descriptor = DESCRIPTOR

    def __init__(
        self,
        locator: str,
        *,
        open_link: Callable[[], Link],
        password: str,
        zone: ZoneInfo,
        find_storage: StorageFinder,
        storage_timeout_s: float = 15.0,
        command_timeout_ms: int = 2000,
        limits: Limits | None = None,
        roots: Sequence[str] = DEFAULT_ROOTS,
        extensions: Sequence[str] = DEFAULT_EXTENSIONS,
        storage_opener: Opener | None = None,
    ) -> None:
        self.locator = locator
        self._open_link = open_link
        self._password = password
        self.zone = zone
        self._find_storage = find_storage
        self._storage_timeout_s = storage_timeout_s
        self._timeout_ms = command_timeout_ms
        self._limits = limits or Limits()
        self._roots, self._extensions = tuple(roots), tuple(extensions)
        self._storage_opener = storage_opener
        self._session: Session | None = None
        self._storage: MassStorageAdapter | None = None
        self._lock = threading.Lock()  # one command at a time on the pipe

    # --- protocol -------------------------------------------------------------------------------

    def _cmd(self, line: str) -> dict[str, str]:
        with self._lock:
            if self._session is None:
                session = Session(self._open_link(), timeout_ms=self._timeout_ms)
                try:
                    session.command("HELLO")
                    try:
                        # The storage is locked again on every insertion; this unlocks it for this one.
                        session.command(f"PWD {self._password}")
                    except ProtocolError as exc:
                        raise AdapterError(f"camera refused the dock's password ({exc})") from exc
                except BaseException:
                    session.link.close()
                    raise
                self._session = session
            return self._session.command(line)

    def _get(self, what: str) -> str:
        key = what.split()[-1]
        values = self._cmd(f"GET {what}")
        if key not in values:
            raise ProtocolError(f"camera's answer to GET {what} lacks {key}")
        return values[key]

    # --- CameraAdapter ----------------------------------------------------------------------

    def identify(self) -> CameraInfo:
        serial = self._get("SN")
        if not serial or not set(serial) <= _ID_CHARS:
            raise ProtocolError(f"camera reports an unusable serial number {serial!r}")
        model, firmware = self._get("MODEL"), self._get("FW")
        clock = self._cmd("GET TIME")
        officer = self._get("ID")
        return CameraInfo(
            serial=serial,
            model=model,
            firmware=firmware,
            vendor="Ambarella-based",
            wearer_id=officer or None,
            clock_offset_s=_offset(clock.get("TIME", ""), clock.get("TZ", "")),
        )

    def battery(self) -> Battery:
        values = self._cmd("GET BAT")
        try:
            percent = int(values["BAT"])
            charging = values.get("CHG", "0") == "1"
        except (KeyError, ValueError) as exc:
            raise ProtocolError(f"camera's battery answer is malformed: {values}") from exc
        if not 0 <= percent <= 100:
            raise ProtocolError(f"camera reports {percent}% battery")
        return Battery(percent=percent, charging=charging)

    def set_clock(self, now: datetime) -> None:
        at = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(self.zone)
        offset = at.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        self._cmd(f"SET TZ {sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")
        self._cmd(f"SET TIME {at:%Y-%m-%d %H:%M:%S}")

    def set_wearer(self, wearer: Wearer | None) -> None:
        if wearer is None:
            self._cmd("SET ID")
            self._cmd("SET NAME")
            return
        if not wearer.officer_id or not set(wearer.officer_id) <= _ID_CHARS or len(wearer.officer_id) > 20:
            raise AdapterError(f"officer id {wearer.officer_id!r} cannot be stored on this camera")
        self._cmd(f"SET ID {wearer.officer_id}")
        self._cmd(f"SET NAME {ascii_name(wearer.name)}")

    def read_settings(self) -> Mapping[str, str]:
        return self._cmd("GET CFG")

    def push_settings(self, settings: Mapping[str, str]) -> None:
        for key, value in settings.items():
            check_text(key, "setting name", max_len=32)
            check_text(value, "setting value", max_len=64)
            if "=" in key or " " in key:
                raise AdapterError(f"setting name {key!r} is not valid")
            self._cmd(f"SET CFG {key}={value}")

    # --- recordings: the unlocked card ------------------------------------------------------------

    def storage(self) -> MassStorageAdapter:
        if self._storage is not None:
            return self._storage
        self._cmd("MSC ON")
        deadline = time.monotonic() + self._storage_timeout_s
        node = self._find_storage()
        while node is None:
            if time.monotonic() > deadline:
                raise AdapterError(f"camera unlocked its storage but no disk appeared in {self._storage_timeout_s:g} s")
            time.sleep(0.05)
            node = self._find_storage()
        kwargs: dict[str, Any] = {} if self._storage_opener is None else {"opener": self._storage_opener}
        volume = VolumeStorage(node, self._roots, self._extensions, self._limits, **kwargs)
        self._storage = MassStorageAdapter(node, volume, camera_tz=self.zone)
        return self._storage

    def list_recordings(self) -> Sequence[RecordingInfo]:
        return self.storage().list_recordings()

    def findings(self) -> Sequence[Finding]:
        return self.storage().findings()

    def open_recording(self, recording: RecordingInfo) -> BinaryIO:
        return self.storage().open_recording(recording)

    def wipe(self, recordings: Sequence[RecordingInfo]) -> WipeOutcome:
        return self.storage().wipe(recordings)

    def close(self) -> None:
        with self._lock:
            if self._storage is not None:
                self._storage.close()
            if self._session is not None:
                with contextlib.suppress(AdapterError):
                    self._session.link.close()
            self._session = None


def _offset(local: str, tz: str) -> float:
    """Camera clock minus now, in seconds, from its local time and ±HH:MM zone."""
    try:
        sign = -1 if tz.startswith("-") else 1
        hours, minutes = tz.lstrip("+-").split(":")
        zone = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
        at = datetime.strptime(local, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    except ValueError as exc:
        raise ProtocolError(f"camera reports an unreadable clock {local!r} {tz!r}") from exc
    return round((at - datetime.now(UTC)).total_seconds(), 1)


def read_password(path: str) -> str:
    """The dock's camera password from a mode-0600 file (secrets are never inline in the config)."""
    p = Path(path)
    try:
        st = p.stat()
        text = p.read_text().strip()
    except OSError as exc:
        raise AdapterError(f"cannot read the camera password file {path}: {exc.strerror}") from exc
    if st.st_mode & 0o077:
        raise AdapterError(f"camera password file {path} is readable by others; chmod 600 it")
    return check_text(text, "camera password", max_len=32)


class VendorUsbAdapterFactory(AdapterFactory):
    """Options (``adapters.options.vendor_usb``): ``password_file`` (required), ``camera_timezone``
    (default: the station's), ``storage_timeout_s``, ``command_timeout_ms``. Tests and simulators
    may also pass ``backend`` (a pyusb backend) and ``find_storage``."""

    def __init__(
        self,
        password_file: str | None = None,
        camera_timezone: str | None = None,
        station_timezone: str = "UTC",
        storage_timeout_s: float = 15.0,
        command_timeout_ms: int = 2000,
        backend: Any = None,
        find_storage: Callable[[str], StorageFinder] | None = None,
        storage_opener: Opener | None = None,
        password: str | None = None,
    ) -> None:
        if password is None and password_file is None:
            raise AdapterError("vendor_usb needs adapters.options.vendor_usb.password_file")
        self._password = password if password is not None else read_password(str(password_file))
        self.zone = ZoneInfo(camera_timezone or station_timezone)
        self.storage_timeout_s = float(storage_timeout_s)
        self.command_timeout_ms = int(command_timeout_ms)
        self.backend = backend
        self.find_storage = find_storage or sysfs_storage
        self.storage_opener = storage_opener

    def __call__(self, locator: str) -> VendorUsbAdapter:
        from device_adapters.vendor_usb.usblink import UsbLink, bus_address

        backend = self.backend

        def open_link() -> Link:
            bus, address = bus_address(locator)
            return UsbLink(bus, address, backend=backend)

        if not Path(locator).is_dir():
            raise CameraGone(f"USB device {locator} is gone")
        return VendorUsbAdapter(
            locator,
            open_link=open_link,
            password=self._password,
            zone=self.zone,
            find_storage=self.find_storage(locator),
            storage_timeout_s=self.storage_timeout_s,
            command_timeout_ms=self.command_timeout_ms,
            storage_opener=self.storage_opener,
        )
