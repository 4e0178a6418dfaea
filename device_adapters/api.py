"""Adapter API v1: what the station core needs from a camera, and nothing more.

The core never touches a camera's storage or protocol directly. An adapter is bound to one
physical camera in one slot; every method may block (USB is slow) and the core calls them from
worker threads with its own timeouts, so adapters need no threading of their own. Calls on one
adapter may come from different threads, one after another; a call that outlives its timeout is
abandoned and the adapter is never called again (the slot faults).

Errors: raise :class:`CameraGone` when the device disappeared (yanked), :class:`AdapterError`
for anything else the adapter understands, :class:`NotSupported` for an optional operation the
camera lacks. Any other exception is treated as an adapter bug and faults the slot; it never
takes the station down.

Additions since the first cut of v1 are backward compatible: new descriptor fields have defaults
and new methods (``findings``, ``read_settings``, ``push_settings``, ``update_firmware``,
``locate``) have default implementations, so an adapter written against the first cut still loads.
"""

from __future__ import annotations

import abc
import enum
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

API_VERSION = 1


class AdapterError(Exception):
    """The adapter failed in a way it understands; the message is shown to staff."""


class CameraGone(AdapterError):
    """The camera vanished (undocked or yanked) during an operation."""


class NotSupported(AdapterError):
    """The camera (or this adapter) does not offer the operation; see the descriptor's capabilities."""


class Capability(enum.StrEnum):
    HASH = "hash"  # the camera reports its own SHA-256 per recording
    WIPE = "wipe"
    SET_CLOCK = "set_clock"
    SET_WEARER = "set_wearer"
    BATTERY = "battery"
    PUSH_SETTINGS = "push_settings"
    FIRMWARE = "firmware"
    SETTINGS = "settings"  # the camera's settings can be read (read_settings)
    LOCATE = "locate"  # the camera can flash/beep to show which one to take (locate)


class LocatorKind(enum.StrEnum):
    """What the device source hands the adapter factory as ``locator`` (labgrid's "resource")."""

    BLOCK = "block"  # a block device node holding the camera's file system, e.g. /dev/sdb1
    USB = "usb"  # the sysfs directory of the camera's USB device, e.g. /sys/devices/.../1-1.3
    PATH = "path"  # a folder (the simulated dock); never offered by the udev source


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


class RecordingSetting(enum.StrEnum):
    """Vendor-neutral setting names the station pushes at check-out (``push_settings``).

    Values are text: seconds as a decimal integer, switches as ``"true"``/``"false"``. An adapter
    maps them to its camera's own settings; one its camera lacks is an AdapterError, as for any
    unknown key.
    """

    PREBUFFER_S = "prebuffer_s"  # pre-record buffer length in seconds (0 = off)
    PREBUFFER_AUDIO = "prebuffer_audio"  # keep audio in the pre-record buffer
    WARNING_TONE = "warning_tone"  # audible tone when recording starts
    WARNING_LED = "warning_led"  # visible LED while recording


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
class Finding:
    """Something on the camera the adapter refused to treat as a recording (e.g. ``../`` names,
    symlinks, absurd sizes). Reported to staff; a camera with findings is never wiped."""

    path: str  # as printable text; undecodable bytes are escaped
    problem: str


@dataclass(frozen=True)
class AdapterDescriptor:
    """Static, import-safe description of an adapter (no hardware access on import).

    Matching (what a device IS, kept apart from how to talk to it): a USB device matches when its
    (vendor, product) is in ``usb_ids`` (if any are given) and every ``udev_properties`` entry
    matches the device's udev property of that name (values are shell-style globs, e.g.
    ``("ID_USB_INTERFACES", "*:0806??:*")``). A descriptor with neither never matches a USB device.
    The most specific match wins: ``usb_ids`` beat property-only matchers, more properties beat
    fewer.
    """

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
    # What the factory's ``locator`` is; decides when the udev source considers a slot ready.
    locator: LocatorKind = LocatorKind.PATH
    # "module:attribute" of the conformance-kit simulator (a ``device_adapters.conformance``
    # ``Simulator``); imported only by ``pytest --bodydock-adapter NAME``.
    simulator: str = ""
    # Files on the camera that are known not to be footage (firmware, settings, logs), as
    # case-insensitive glob patterns of camera paths ("MISC/**", "**/*.LOG"; "*" stays within one
    # folder, "**" spans folders). An adapter that accounts for the whole card before a wipe
    # treats a matching file as declared: never offloaded, never wiped, not a finding. Every
    # other file that is not a recording is a finding and blocks the wipe.
    non_footage: tuple[str, ...] = ()


def camera_path_matches(pattern: str, path: str) -> bool:
    """Whether a camera path ("MISC/FW.BIN") matches a ``non_footage`` pattern, case-insensitively.

    ``*``, ``?`` and ``[...]`` match within one folder name; a ``**`` step matches any number of
    folders (including none). Iterative, so a deep path costs time linear in its depth."""
    pat = [p.casefold() for p in pattern.strip("/").split("/")]
    states = _after_globstars(pat, {0})
    for seg in path.strip("/").split("/"):
        folded = seg.casefold()
        step: set[int] = set()
        for i in states:
            if i < len(pat):
                if pat[i] == "**":
                    step.add(i)
                elif fnmatch.fnmatchcase(folded, pat[i]):
                    step.add(i + 1)
        states = _after_globstars(pat, step)
        if not states:
            return False
    return len(pat) in states


def _after_globstars(pat: list[str], states: set[int]) -> set[int]:
    out, todo = set(states), list(states)
    while todo:
        i = todo.pop()
        if i < len(pat) and pat[i] == "**" and i + 1 not in out:
            out.add(i + 1)
            todo.append(i + 1)
    return out


def is_non_footage(descriptor: AdapterDescriptor, path: str) -> bool:
    """Whether the descriptor declares the camera file at ``path`` not to be footage."""
    return any(camera_path_matches(p, path) for p in descriptor.non_footage)


@dataclass(frozen=True)
class WipeOutcome:
    removed: tuple[str, ...]
    method: str
    free_bytes_after: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class CameraAdapter(abc.ABC):
    """One docked camera, as seen through its adapter."""

    descriptor: AdapterDescriptor

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

    def findings(self) -> Sequence[Finding]:
        """Entries the last ``list_recordings`` refused (hostile or unreadable). Non-empty blocks the wipe."""
        return ()

    def read_settings(self) -> Mapping[str, str]:
        """The camera's settings as text key/value pairs (capability ``settings``)."""
        raise NotSupported(f"{self.descriptor.name}: reading settings is not supported")

    def push_settings(self, settings: Mapping[str, str]) -> None:
        """Change the given settings; keys the camera does not know are an AdapterError (``push_settings``)."""
        raise NotSupported(f"{self.descriptor.name}: changing settings is not supported")

    def update_firmware(self, image: BinaryIO) -> None:
        """Install a firmware image (capability ``firmware``)."""
        raise NotSupported(f"{self.descriptor.name}: firmware updates are not supported")

    def locate(self, on: bool) -> None:
        """Start (``on``) or stop flashing/beeping so the officer takes the right camera (``locate``)."""
        raise NotSupported(f"{self.descriptor.name}: locating the camera is not supported")

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing open
        """Release any handle; called when the camera leaves the slot."""


# An adapter factory binds an adapter to one docked device. ``locator`` is what the device
# source found (a sysfs path, a block device, or for the simulator a camera folder).
class AdapterFactory(abc.ABC):
    @abc.abstractmethod
    def __call__(self, locator: str) -> CameraAdapter: ...
