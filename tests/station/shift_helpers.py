"""Shared pieces for the shift tests: a roster with real scrypt PIN hashes, an in-process station
with the shift service, and an event recorder."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bodydock.assembly import build_station
from station.core.clocksync import ClockSync, FixedClockSync
from station.core.engine import SlotView, Station
from station.core.events import DomainEvent
from station.shift import ShiftService, ShiftSettings
from station.shift.pins import MIN_LOG2_N, hash_pin
from station.shift.roster import FileRosterSource, RosterKeeper
from tests.conftest import StationEnv, wait_for

# A container in CI runs no NTP client, so no real provider can say "synchronised" here: the
# check-out tests use this test double; tests/station/core/test_clocksync.py runs the real providers.
SYNCED = FixedClockSync(True, "test double: no NTP client in the test container")

OFFICER_A = {"personnel_number": "100234", "name": "A. de Vries", "roles": ["officer"], "badge_uid": "04:A1:B2:C3",
             "pin": "1234"}
OFFICER_B = {"personnel_number": "100511", "name": "M. Bakker", "roles": ["officer"], "badge_uid": "04D4E5F6",
             "pin": "5678", "camera": "CAM-A"}
OFFICER_C = {"personnel_number": "100777", "name": "S. El Amrani", "roles": ["officer"], "pin": "2468"}
STAFF = {"personnel_number": "900001", "name": "J. Visser", "roles": ["staff"], "pin": "9999"}
PEOPLE = (OFFICER_A, OFFICER_B, OFFICER_C, STAFF)


@cache
def pin_hash(pin: str) -> str:
    # The cheapest cost the roster accepts: still scrypt, but fast enough for many tests.
    return hash_pin(pin, log2_n=MIN_LOG2_N)


def write_roster(path: Path, people: tuple[dict[str, Any], ...] = PEOPLE) -> Path:
    officers = []
    for p in people:
        entry = {k: v for k, v in p.items() if k != "pin"}
        if "pin" in p:
            entry["pin_hash"] = pin_hash(p["pin"])
        officers.append(entry)
    path.write_text(yaml.safe_dump({"officers": officers}, sort_keys=False))
    return path


@dataclass
class Recorder:
    """Collects domain events (delivered on the bus's thread)."""

    events: list[DomainEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, ev: DomainEvent) -> None:
        with self._lock:
            self.events.append(ev)

    def of(self, kind: type) -> list[Any]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def wait(self, kind: type, pred: Callable[[Any], bool] = lambda e: True, timeout: float = 30) -> Any:
        wait_for(lambda: any(pred(e) for e in self.of(kind)), timeout, what=kind.__name__)
        return next(e for e in self.of(kind) if pred(e))


@dataclass
class Dock:
    station: Station
    shift: ShiftService
    recorder: Recorder
    roster: RosterKeeper

    def view(self, sid: int) -> SlotView:
        return next(v for v in self.station.views() if v.id == sid)

    def wait_state(self, sid: int, state: str, timeout: float = 60) -> None:
        wait_for(lambda: self.view(sid).state == state, timeout, what=f"slot {sid} {state}")

    def stop(self) -> None:
        self.shift.stop()
        self.roster.stop()
        self.station.stop()


def start_dock(env: StationEnv, roster_file: Path, *, clock: ClockSync = SYNCED, **settings: Any) -> Dock:
    cfg = env.load()
    station = build_station(cfg, clock=clock)
    keeper = RosterKeeper(FileRosterSource(roster_file), refresh_s=0.5)
    keeper.start()
    base = {"min_battery_percent": cfg.policies.min_battery_percent,
            "recording_policy": {"prebuffer_s": "60", "prebuffer_audio": "false", "warning_tone": "true",
                                 "warning_led": "true"},
            "housekeeping_s": 0.5}
    shift = ShiftService(station, keeper.current, ShiftSettings(**{**base, **settings}))
    recorder = Recorder()
    station.events.subscribe(recorder)
    shift.start()
    station.start()
    return Dock(station, shift, recorder, keeper)


def audit_entries(env: StationEnv) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (env.state / "audit.log").read_text().splitlines()]


def running_docks() -> Iterator[list[Dock]]:
    docks: list[Dock] = []
    yield docks
    for d in docks:
        d.stop()


def add_shift_config(env: StationEnv, roster_file: Path, checkout: str = "") -> None:
    """Append roster and checkout sections to a test station's config."""
    text = env.config_path.read_text()
    text += f"roster: {{source: file, file: {roster_file}}}\n"
    text += "checkout:\n  clock_sync: timedatectl\n" + "".join(f"  {line}\n" for line in checkout.splitlines())
    env.config_path.write_text(text)


def fake_timedatectl(bin_dir: Path, synced: bool) -> Path:
    """A `timedatectl` test double on PATH: the test container has no systemd, so the real one
    cannot answer; the provider still runs it as a real subprocess and parses its output."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "timedatectl"
    value = "yes" if synced else "no"
    exe.write_text(f"#!/bin/sh\nprintf 'NTP=yes\\nNTPSynchronized={value}\\n'\n")
    exe.chmod(0o755)
    return bin_dir
