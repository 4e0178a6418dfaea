"""Where cameras come from: the device-source interface and the events a source posts.

The core depends only on this; the udev source, the simulated dock and test sources implement it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceArrived:
    slot_id: int
    adapter: str
    locator: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceLeft:
    slot_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSynced:
    """The source has reported every device that was present when it started."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceFault:
    """Something is in the slot but cannot be used (no adapter matches it, its storage never
    appeared). A ``DeviceLeft`` follows when it is taken out."""

    slot_id: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnmappedDevice:
    """A camera on a USB port that no slot lists: reported to staff, never used."""

    port: str
    description: str


DeviceEvent = DeviceArrived | DeviceLeft | SourceSynced | DeviceFault | UnmappedDevice


class DeviceSource(abc.ABC):
    @abc.abstractmethod
    def start(self, post: Callable[[DeviceEvent], None]) -> None:
        """Begin watching; ``post`` is thread-safe and must be the only way events leave."""

    @abc.abstractmethod
    def stop(self) -> None: ...
