"""The daemon's parts in this process, wired like ``bodydock run``: station, shift (roster,
control socket, badge reader) and the local API with the kiosk's routes. For the kiosk demo,
its benchmark and screenshots, and tests that drive the kiosk against a running station."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bodydock.assembly import build_station
from bodydock.shift_runtime import ShiftRuntime, build_shift
from config.model import StationConfig
from station.core.clocksync import ClockSync
from station.core.engine import Station


@dataclass
class InProcessDaemon:
    cfg: StationConfig
    station: Station
    runtime: ShiftRuntime
    health: Any  # localapi.service.HealthService (the web stack is imported lazily, like the CLI does)
    kiosk: Any  # localapi.kiosk.routes.KioskMount

    def stop(self) -> None:
        self.kiosk.close()
        self.health.stop()
        self.runtime.stop()
        self.station.stop()


def start_daemon(cfg: StationConfig, *, clock: ClockSync | None = None) -> InProcessDaemon:
    from localapi.kiosk.routes import kiosk_mount
    from localapi.service import start_health

    station = build_station(cfg, clock=clock)
    runtime = build_shift(cfg, station)
    runtime.start()  # subscribed before the core starts: no docking is missed
    station.start()
    runtime.serve()
    kiosk = kiosk_mount(cfg, runtime)
    health = start_health(cfg, station, local_routes=kiosk)
    return InProcessDaemon(cfg, station, runtime, health, kiosk)
