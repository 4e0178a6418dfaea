"""What an adapter's simulator gives the conformance kit: cameras with known contents.

A simulator stands in for the hardware (a card image, a simulated USB device, a folder), so the
kit can check the adapter against ground truth: what is really on the camera, before and after.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from device_adapters.api import CameraAdapter


@dataclass(frozen=True)
class SimRecording:
    path: str  # where the camera keeps it, e.g. "DCIM/100BODY/VID_0001.MP4"
    data: bytes  # unique per recording: the kit matches listings to recordings by content
    started_at: datetime  # timezone-aware


@dataclass(frozen=True)
class CameraSpec:
    serial: str
    recordings: tuple[SimRecording, ...]
    battery_percent: int = 77


class SimulatedCamera(abc.ABC):
    """One simulated camera, docked."""

    @property
    @abc.abstractmethod
    def serial(self) -> str:
        """The serial its adapter must report (a simulator may derive it, e.g. from a volume id)."""

    @abc.abstractmethod
    def adapter(self) -> CameraAdapter:
        """A new adapter bound to this camera, as the station's factory would make it on docking."""

    @abc.abstractmethod
    def stored(self) -> dict[str, bytes]:
        """Ground truth, read around the adapter: the recordings on the camera now, by path."""

    @abc.abstractmethod
    def unplug(self) -> None:
        """The camera leaves: later adapter calls must raise CameraGone."""

    @abc.abstractmethod
    def hang(self) -> None:
        """The camera stops answering: the next adapter call that talks to it blocks until close()."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release everything (including calls blocked by hang())."""


class Simulator(abc.ABC):
    """Makes simulated cameras for one adapter. Instantiated without arguments."""

    # Variants of the hardware the kit runs every test against (e.g. card file systems).
    variants: Sequence[str] = ("default",)

    @abc.abstractmethod
    def create(self, workdir: Path, spec: CameraSpec, variant: str) -> SimulatedCamera: ...
