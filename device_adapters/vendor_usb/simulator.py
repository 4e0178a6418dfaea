"""Conformance-kit simulator for the vendor-protocol adapter: a SimCamera on a SimBackend, plus
the card image its storage shows once unlocked, plus the sysfs directory that locates it."""

from __future__ import annotations

from pathlib import Path

from device_adapters.api import CameraAdapter
from device_adapters.conformance.harness import CameraSpec, SimulatedCamera, Simulator
from device_adapters.mass_storage.images import MIB, make_image
from device_adapters.mass_storage.simulator import CardCamera
from device_adapters.vendor_usb.adapter import StorageFinder, VendorUsbAdapterFactory
from device_adapters.vendor_usb.simdevice import SimBackend, SimCamera

PASSWORD = "271828"


class ProtocolCamera(SimulatedCamera):
    def __init__(self, workdir: Path, spec: CameraSpec, variant: str) -> None:
        self.sim = SimCamera(serial=spec.serial, password=PASSWORD, battery=spec.battery_percent)
        self.backend = SimBackend(self.sim)
        self.sys_dir = workdir / "sys" / "1-1.4"
        self.sys_dir.mkdir(parents=True)
        (self.sys_dir / "busnum").write_text(f"{self.sim.bus}\n")
        (self.sys_dir / "devnum").write_text(f"{self.sim.address}\n")
        image = workdir / f"{spec.serial}.{variant}.img"
        total = sum(len(r.data) for r in spec.recordings)
        when = min((r.started_at for r in spec.recordings), default=None)
        make_image(variant, image, {r.path: r.data for r in spec.recordings}, size=max(48 * MIB, 2 * total), when=when)
        self.card = CardCamera(image, spec)
        sim = self.sim
        card_path = str(image)

        def finder(_locator: str) -> StorageFinder:
            return lambda: card_path if sim.msc and not sim.gone else None

        self.factory = VendorUsbAdapterFactory(
            password=PASSWORD, station_timezone="Europe/Amsterdam", backend=self.backend, find_storage=finder,
            storage_opener=self.card.opener, storage_timeout_s=2,
        )

    @property
    def serial(self) -> str:
        return self.sim.serial

    def adapter(self) -> CameraAdapter:
        self.sim.plug()  # every docking is a new insertion: locked again
        return self.factory(str(self.sys_dir))

    def stored(self) -> dict[str, bytes]:
        return self.card.stored()

    def unplug(self) -> None:
        self.sim.unplug()
        self.card.unplug()
        (self.sys_dir / "busnum").unlink()

    def hang(self) -> None:
        self.sim.hung = True
        self.card.hang()

    def close(self) -> None:
        self.sim.release()
        self.card.close()


class VendorUsbSimulator(Simulator):
    variants = ("exfat",)

    def create(self, workdir: Path, spec: CameraSpec, variant: str) -> SimulatedCamera:
        return ProtocolCamera(workdir, spec, variant)
