"""A running station for the kiosk tests: the daemon's parts in process (station, shift, local
API with the kiosk routes) on a test config with a roster, and simulated cameras."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bodydock.daemon_inproc import InProcessDaemon, start_daemon
from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera
from station.core.clocksync import ClockSync
from station.core.engine import SlotView
from tests.conftest import StationEnv, wait_for, write_station_config
from tests.station.shift_helpers import SYNCED, write_roster

ADMIN = {"personnel_number": "900002", "name": "K. Admin", "roles": ["staff", "admin"], "pin": "4321"}


@dataclass
class KioskDock:
    env: StationEnv
    daemon: InProcessDaemon

    @property
    def socket(self) -> Path:
        return self.daemon.cfg.api_socket

    def view(self, sid: int) -> SlotView:
        return next(v for v in self.daemon.station.views() if v.id == sid)

    def wait_state(self, sid: int, state: str, timeout: float = 60) -> None:
        wait_for(lambda: self.view(sid).state == state, timeout, what=f"slot {sid} {state}")

    def camera(self, serial: str, *, recordings: int = 2, battery: int = 95, **kw: object) -> Path:
        make_camera(self.env.cameras, serial, recordings=recordings, seconds=1, battery_percent=battery,
                    charge_rate_pps=0, **kw)  # type: ignore[arg-type]
        return self.env.cameras / serial

    def dock(self, sid: int, camera: Path) -> None:
        simcam.dock(self.env.dock, sid, camera)

    def undock(self, sid: int) -> None:
        simcam.undock(self.env.dock, sid)

    def stop(self) -> None:
        self.daemon.stop()


def start_kiosk_dock(root: Path, *, slots: int = 2, clock: ClockSync = SYNCED) -> KioskDock:
    from tests.station.shift_helpers import PEOPLE

    env = write_station_config(root, slots=slots, min_battery=50)
    roster = write_roster(root / "roster.yaml", (*PEOPLE, ADMIN))
    text = env.config_path.read_text()
    env.config_path.write_text(text + f"roster: {{source: file, file: {roster}}}\n")
    return KioskDock(env, start_daemon(env.load(), clock=clock))
