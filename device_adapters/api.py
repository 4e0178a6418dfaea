"""Adapter API v1: what the station core needs from a camera, and nothing more.

The core never touches a camera's storage or protocol directly. An adapter is bound to one
physical camera in one slot; every method may block (USB is slow) and the core calls them from
worker threads with its own timeouts, so adapters need no threading of their own.

Errors: raise :class:`CameraGone` when the device disappeared (yanked), :class:`AdapterError`
for anything else the adapter understands. Any other exception is treated as an adapter bug and
faults the slot; it never takes the station down.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

API_VERSION = 1


class AdapterError(Exception):
    """The adapter failed in a way it understands; the message is shown to staff."""


class CameraGone(AdapterError):
    """The camera vanished (undocked or yanked) during an operation."""


class Capability(enum.StrEnum):
    HASH = "hash"  # the camera reports its own SHA-256 per recording
    WIPE = "wipe"
    SET_CLOCK = "set_clock"
    SET_WEARER = "set_wearer"
    BATTERY = "battery"
    PUSH_SETTINGS = "push_settings"
    FIRMWARE = "firmware"


@dataclass(frozen=True)
class CameraInfo:
    serial: str
    model: str
    firmware: str
    vendor: str = ""
    wearer_id: str | None = None
    # Camera clock minus station clock, in seconds, measured when identified.
    clock_offset_s: float = 0.0


@dataclass(frozen=True)
class RecordingInfo:
    """One recording as the camera lists it.

    ``key`` is the adapter's own stable handle (e.g. a path on the camera's storage); it must
    identify the same bytes across re-docking so an interrupted offload resumes, not repeats.
    """

    key: str
    size: int
    started_at: datetime | None = None
    device_sha256: str | None = None
    extension: str = "mp4"


@dataclass(frozen=True)
class Battery:
    percent: int
    charging: bool
    health_percent: int | None = None


@dataclass(frozen=True)
class Wearer:
    officer_id: str
    name: str


@dataclass(frozen=True)
class AdapterManifest:
    """Static, import-safe description of an adapter (no hardware access on import)."""

    name: str
    vendor: str
    api_version: int
    capabilities: frozenset[Capability]
    # (vendor_id, product_id) pairs; empty when matching by udev properties only.
    usb_ids: tuple[tuple[int, int], ...] = ()
    udev_properties: tuple[tuple[str, str], ...] = ()
    # "module:attribute" of the CameraAdapter factory, imported only when the adapter is used.
    factory: str = ""
    description: str = ""


@dataclass(frozen=True)
class WipeOutcome:
    removed: tuple[str, ...]
    method: str
    free_bytes_after: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class CameraAdapter(abc.ABC):
    """One docked camera, as seen through its adapter."""

    manifest: AdapterManifest

    @abc.abstractmethod
    def identify(self) -> CameraInfo: ...

    @abc.abstractmethod
    def list_recordings(self) -> Sequence[RecordingInfo]: ...

    @abc.abstractmethod
    def open_recording(self, recording: RecordingInfo) -> BinaryIO:
        """A binary stream for sequential reads; callers read in ~1 MiB chunks and close it."""

    @abc.abstractmethod
    def wipe(self, recordings: Sequence[RecordingInfo]) -> WipeOutcome:
        """Remove exactly these recordings. Called only by the station's wipe gate."""

    @abc.abstractmethod
    def set_clock(self, now: datetime) -> None: ...

    @abc.abstractmethod
    def set_wearer(self, wearer: Wearer | None) -> None: ...

    @abc.abstractmethod
    def battery(self) -> Battery: ...

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing open
        """Release any handle; called when the camera leaves the slot."""


# An adapter factory binds an adapter to one docked device. ``locator`` is what the device
# source found (a sysfs path, a block device, or for the simulator a camera folder).
class AdapterFactory(abc.ABC):
    @abc.abstractmethod
    def __call__(self, locator: str) -> CameraAdapter: ...
