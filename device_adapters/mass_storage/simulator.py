"""Conformance-kit simulator for the mass-storage adapter: a card image per camera.

Unplugging removes the image (the adapter must notice, as it notices a vanished /dev/sdX1); a
hang makes every read of the image block, as a wedged USB disk does.
"""

from __future__ import annotations

import threading
from pathlib import Path

from device_adapters.api import CameraAdapter
from device_adapters.conformance.harness import CameraSpec, SimulatedCamera, Simulator
from device_adapters.mass_storage.adapter import MassStorageAdapterFactory
from device_adapters.mass_storage.fs import Device, open_volume
from device_adapters.mass_storage.images import MIB, make_image
from device_adapters.mass_storage.scan import DEFAULT_EXTENSIONS, DEFAULT_ROOTS, Limits, scan


class _HangingDevice(Device):
    """A device whose reads block while the simulated camera is hung."""

    def __init__(self, path: str, *, writable: bool = False, offset: int = 0, length: int | None = None,
                 released: threading.Event | None = None, hung: threading.Event | None = None) -> None:
        super().__init__(path, writable=writable, offset=offset, length=length)
        self._released = released or threading.Event()
        self._hung = hung or threading.Event()

    def window(self, offset: int, length: int) -> Device:
        return _HangingDevice(self.path, writable=self.writable, offset=self.offset + offset, length=length,
                              released=self._released, hung=self._hung)

    def pread(self, offset: int, size: int) -> bytes:
        if self._hung.is_set():
            self._released.wait()
        return super().pread(offset, size)


class CardCamera(SimulatedCamera):
    def __init__(self, image: Path, spec: CameraSpec) -> None:
        self.image = image
        self._hung = threading.Event()
        self._released = threading.Event()
        vol = open_volume(str(image))
        try:
            self._serial = f"VOL-{vol.volume_serial:08X}"
        finally:
            vol.device.close()

        self._factory = MassStorageAdapterFactory(station_timezone="UTC", opener=self.opener)

    def opener(self, path: str, *, writable: bool = False) -> Device:
        """Opens the image as a device that blocks while the camera is hung."""
        return _HangingDevice(path, writable=writable, released=self._released, hung=self._hung)

    @property
    def serial(self) -> str:
        return self._serial

    def adapter(self) -> CameraAdapter:
        return self._factory(str(self.image))

    def stored(self) -> dict[str, bytes]:
        vol = open_volume(str(self.image))
        try:
            found = scan(vol, DEFAULT_ROOTS, DEFAULT_EXTENSIONS, Limits()).recordings
            return {f.key: vol.read_runs(f.runs, 0, f.entry.size) for f in found}
        finally:
            vol.device.close()

    def unplug(self) -> None:
        self.image.rename(self.image.with_name(self.image.name + ".unplugged"))

    def hang(self) -> None:
        self._hung.set()

    def close(self) -> None:
        self._released.set()


class MassStorageSimulator(Simulator):
    variants = ("fat32", "exfat")

    def create(self, workdir: Path, spec: CameraSpec, variant: str) -> SimulatedCamera:
        image = workdir / f"{spec.serial}.{variant}.img"
        total = sum(len(r.data) for r in spec.recordings)
        when = min((r.started_at for r in spec.recordings), default=None)
        make_image(variant, image, {r.path: r.data for r in spec.recordings}, size=max(48 * MIB, 2 * total), when=when)
        return CardCamera(image, spec)
