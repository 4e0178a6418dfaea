"""The station's edges: where devices come from and where footage goes.

The core depends only on these small interfaces; udev, the simulator, the local vault folder and
SFTP are replaceable implementations that live outside the core.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class DeviceArrived:
    slot_id: int
    adapter: str
    locator: str


@dataclass(frozen=True)
class DeviceLeft:
    slot_id: int


@dataclass(frozen=True)
class SourceSynced:
    """The source has reported every device that was present when it started."""


@dataclass(frozen=True)
class DeviceFault:
    """Something is in the slot but cannot be used (no adapter matches it, its storage never
    appeared). A ``DeviceLeft`` follows when it is taken out."""

    slot_id: int
    reason: str


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class DeliveryItem:
    recording_id: str
    station_id: str
    started_at: datetime
    payload_path: Path
    payload_name: str  # file name in the vault, e.g. "<id>.mp4"
    payload_sha256: str  # of the bytes as stored (what the vault must hold)
    payload_size: int
    manifest_path: Path
    manifest_name: str


@dataclass(frozen=True)
class VaultReceipt:
    payload_path: str
    manifest_path: str
    sha256: str
    size: int
    already_present: bool


class VaultError(Exception):
    """Delivery failed; ``permanent`` errors need staff (wrong host key, permissions)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class VaultTarget(abc.ABC):
    description: str = ""

    @abc.abstractmethod
    def deliver(self, item: DeliveryItem) -> VaultReceipt:
        """Idempotent: a recording already complete in the vault is recognised, not sent again."""

    def close(self) -> None:  # noqa: B027 - optional
        pass
