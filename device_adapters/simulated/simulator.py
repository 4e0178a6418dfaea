"""Conformance-kit simulator for the simulated adapter: a camera folder docked in a dock folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from device_adapters.api import CameraAdapter
from device_adapters.conformance.harness import CameraSpec, SimulatedCamera, Simulator
from device_adapters.simulated.adapter import SimulatedAdapterFactory
from device_adapters.simulated.camera import (
    CameraState,
    dock,
    record_hash,
    scan_recordings,
    set_faults,
    undock,
    write_state,
)

SLOT = 1


class FolderCamera(SimulatedCamera):
    def __init__(self, camera_dir: Path, dock_dir: Path, serial: str) -> None:
        self.camera_dir, self.dock_dir, self._serial = camera_dir, dock_dir, serial
        self._factory = SimulatedAdapterFactory(dock_dir)

    @property
    def serial(self) -> str:
        return self._serial

    def adapter(self) -> CameraAdapter:
        return self._factory(str(self.camera_dir))

    def stored(self) -> dict[str, bytes]:
        return {r.key: r.path.read_bytes() for r in scan_recordings(self.camera_dir)}

    def unplug(self) -> None:
        undock(self.dock_dir, SLOT)

    def hang(self) -> None:
        # identify() sleeps this long; a thread cannot be released early, so keep it short.
        set_faults(self.camera_dir, {"hang_s": 5.0})


class FolderSimulator(Simulator):
    def create(self, workdir: Path, spec: CameraSpec, variant: str) -> SimulatedCamera:
        cam = workdir / "cameras" / spec.serial
        cam.mkdir(parents=True)
        write_state(cam, CameraState(serial=spec.serial, model="SIM-1", firmware="1.0", vendor="bodydock",
                                     battery_percent=spec.battery_percent))
        for rec in spec.recordings:
            path = cam / rec.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rec.data)
            stamp = rec.started_at.timestamp()
            os.utime(path, (stamp, stamp))
            record_hash(cam, rec.path, hashlib.sha256(rec.data).hexdigest())
        dock_dir = workdir / "dock"
        dock(dock_dir, SLOT, cam)
        return FolderCamera(cam, dock_dir, spec.serial)
