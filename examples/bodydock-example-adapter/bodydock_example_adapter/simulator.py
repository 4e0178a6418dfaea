"""Makes ACME BC-1 cameras for the conformance kit (``pytest --bodydock-adapter acme_folder``)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from bodydock_example_adapter.adapter import AcmeAdapter
from device_adapters.api import CameraAdapter
from device_adapters.conformance.harness import CameraSpec, SimulatedCamera, Simulator


class _HangingAdapter(AcmeAdapter):
    """After hang(): every call blocks, as a wedged camera's would."""

    hung_flag: Path

    def _info(self) -> dict[str, str]:
        while self.hung_flag.exists():
            time.sleep(0.05)
        return super()._info()


class AcmeCamera(SimulatedCamera):
    def __init__(self, root: Path, serial: str) -> None:
        self.root, self._serial = root, serial
        self.flag = root.parent / f"{serial}.hung"

    @property
    def serial(self) -> str:
        return self._serial

    def adapter(self) -> CameraAdapter:
        a = _HangingAdapter(self.root)
        a.hung_flag = self.flag
        return a

    def stored(self) -> dict[str, bytes]:
        dcim = self.root / "DCIM"
        return {f"DCIM/{p.name}": p.read_bytes() for p in sorted(dcim.iterdir())} if dcim.is_dir() else {}

    def unplug(self) -> None:
        shutil.rmtree(self.root)

    def hang(self) -> None:
        self.flag.touch()

    def close(self) -> None:
        self.flag.unlink(missing_ok=True)


class AcmeSimulator(Simulator):
    def create(self, workdir: Path, spec: CameraSpec, variant: str) -> SimulatedCamera:
        root = workdir / spec.serial
        (root / "ACME").mkdir(parents=True)
        (root / "DCIM").mkdir()
        (root / "ACME" / "INFO.TXT").write_text(
            f"serial={spec.serial}\nmodel=BC-1\nfirmware=1.0\nbattery={spec.battery_percent}\ncharging=1\n")
        sums = []
        for rec in spec.recordings:
            name = rec.path.rsplit("/", 1)[-1]  # the BC-1 keeps everything flat in DCIM/
            path = root / "DCIM" / name
            path.write_bytes(rec.data)
            os.utime(path, (rec.started_at.timestamp(), rec.started_at.timestamp()))
            sums.append(f"{hashlib.sha256(rec.data).hexdigest()}  DCIM/{name}")
        (root / "ACME" / "SHA256SUMS").write_text("\n".join(sums) + "\n")
        return AcmeCamera(root, spec.serial)
