"""``bodydock demo --kiosk``: the kiosk on a simulated dock with everything going on at once.

An in-process daemon (station, shift, local API) on a throw-away config with a roster, simulated
cameras whose slow reads keep offloads running while the kiosk is watched, and the kiosk in its
own process (``python -m ui``: the station never imports the UI). Also used for the kiosk's
screenshots and frame benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bodydock.daemon_inproc import InProcessDaemon, start_daemon
from config.loader import load_config
from device_adapters.api import Wearer
from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera, record
from station.core.alerts import Severity
from station.core.clocksync import FixedClockSync
from station.crypto.keys import generate_age_identity, generate_signing_key
from station.shift.pins import MIN_LOG2_N, hash_pin

# Demo people (PINs are printed by the demo; nothing here is a real credential).
PEOPLE = (
    {"personnel_number": "100234", "name": "Anna de Vries", "roles": ["officer"], "pin": "1234"},
    {"personnel_number": "100511", "name": "Mohamed Bakker", "roles": ["officer"], "pin": "5678"},
    {"personnel_number": "100777", "name": "Sanne El Amrani", "roles": ["officer"], "pin": "2468"},
    {"personnel_number": "100888", "name": "Joost Visser", "roles": ["officer"], "pin": "1357"},
    {"personnel_number": "900001", "name": "Karin Jansen", "roles": ["staff", "admin"], "pin": "9999"},
)
CONFIG = """\
station: {{id: demo-dock, name: "Stadswinkel Centrum"}}
state_dir: state
slots:
{slots}
dock: {{source: simulated, simulated_path: dock}}
store: {{path: store, reserve_mb: 16}}
vault:
  target: local
  local: {{path: vault}}
  recipients: ["{recipient}"]
keys: {{signing_key: keys/signing.key}}
policies: {{verify: both, min_battery_percent: 60, chunk_kib: {chunk_kib}}}
roster: {{source: file, file: roster.yaml}}
"""
SYNCED = FixedClockSync(True, "demo: clock check skipped")


@dataclass
class DemoDock:
    root: Path
    daemon: InProcessDaemon

    @property
    def socket(self) -> Path:
        return self.daemon.cfg.api_socket

    @property
    def dock_dir(self) -> Path:
        return self.root / "dock"

    def camera(self, serial: str, **kw: Any) -> Path:
        make_camera(self.root / "cameras", serial, **kw)
        return self.root / "cameras" / serial

    def state(self, sid: int) -> str:
        return next(v.state for v in self.daemon.station.views() if v.id == sid)

    def stop(self) -> None:
        self.daemon.stop()


def write_demo_config(root: Path, slots: int, chunk_kib: int = 1024) -> Path:
    (root / "keys").mkdir(mode=0o700, parents=True, exist_ok=True)
    generate_signing_key(root / "keys" / "signing.key")
    recipient = generate_age_identity(root / "vault-identity.txt")
    people = [{**{k: v for k, v in p.items() if k != "pin"}, "pin_hash": hash_pin(str(p["pin"]), log2_n=MIN_LOG2_N)}
              for p in PEOPLE]
    (root / "roster.yaml").write_text(yaml.safe_dump({"officers": people}, sort_keys=False))
    slot_yaml = "\n".join(f"  - id: {i}\n    usb_ports: [\"1-1.{i}\"]" for i in range(1, slots + 1))
    path = root / "station.yaml"
    path.write_text(CONFIG.format(slots=slot_yaml, recipient=recipient, chunk_kib=chunk_kib))
    return path


@contextlib.contextmanager
def demo_dock(root: Path, slots: int = 8, chunk_kib: int = 1024) -> Iterator[DemoDock]:
    cfg = load_config(write_demo_config(root, slots, chunk_kib))
    daemon = start_daemon(cfg, clock=SYNCED)
    try:
        yield DemoDock(root, daemon)
    finally:
        daemon.stop()


def wait(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo dock did not reach the expected state")
        time.sleep(0.1)


def busy_dock(d: DemoDock, *, slow_mbps: float = 0.004) -> None:
    """Eight slots in eight situations: ready, copying, charging, waiting to be taken, taken, a fault,
    and a camera just brought back (a check-in by Joost Visser, 100888)."""
    shift = d.daemon.runtime.shift

    def checkout(person: Mapping[str, object]) -> int:
        return shift.checkout_by_pin(str(person["personnel_number"]), str(person["pin"])).slot_id

    def dock(sid: int, cam: Path, state: str = "ready") -> None:
        simcam.dock(d.dock_dir, sid, cam)
        wait(lambda: d.state(sid) == state, 90)

    # Taken at the start of the shift: slot 7 (Mohamed Bakker), slot 2 (Joost Visser).
    dock(7, d.camera("BWC-0107", recordings=0, battery_percent=88, charge_rate_pps=0))
    assert checkout(PEOPLE[1]) == 7
    simcam.undock(d.dock_dir, 7)
    returning = d.camera("BWC-0102", recordings=0, battery_percent=84, charge_rate_pps=0)
    dock(2, returning)
    assert checkout(PEOPLE[3]) == 2
    simcam.undock(d.dock_dir, 2)
    # Released to Sanne El Amrani, not taken yet; and one camera ready for the next officer.
    dock(6, d.camera("BWC-0106", recordings=0, battery_percent=91, charge_rate_pps=0))
    assert checkout(PEOPLE[2]) == 6
    dock(1, d.camera("BWC-0101", recordings=0, battery_percent=96, charge_rate_pps=0))
    # Charging: copied and wiped, not yet at the minimum battery.
    dock(5, d.camera("BWC-0105", recordings=1, seconds=1, battery_percent=31, charge_rate_pps=0.05), "charging")
    # A fault: the camera refuses to be wiped (its footage is safe; staff must look at it).
    dock(8, d.camera("BWC-0108", recordings=1, seconds=1, battery_percent=70, charge_rate_pps=0,
                     faults={"wipe_fails": True}), "fault")
    # Copying, slowly: cameras full of recordings, read at a bad-day USB rate.
    wearer = Wearer(str(PEOPLE[0]["personnel_number"]), str(PEOPLE[0]["name"]))
    for sid, serial in ((3, "BWC-0103"), (4, "BWC-0104")):
        cam = d.camera(serial, recordings=3, seconds=2, battery_percent=45, charge_rate_pps=0.2, wearer=wearer,
                       faults={"read_rate_mbps": slow_mbps})
        dock(sid, cam, "offloading")
    # Joost Visser's camera comes back with three new recordings: a check-in at slot 2.
    for _ in range(3):
        record(returning, seconds=2)
    simcam.set_faults(returning, {"read_rate_mbps": slow_mbps * 4})
    dock(2, returning, "offloading")
    d.daemon.station.alerts.raise_("vault-unreachable", Severity.WARN,
                                   "vault unreachable for 2 h 10 min: connection refused")


class Stop(Exception):
    """SIGTERM or SIGINT to the demo: everything it started is stopped on the way out."""


def _stop(signum: int, _frame: object) -> None:
    # Once: a second Ctrl+C must not interrupt the stopping itself.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


def main(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bodydock-kiosk-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    # A bare X server has no window buttons to close: Ctrl+C (SIGINT) or SIGTERM stops the kiosk,
    # the simulated dock and its daemon, wherever the demo is (setting up or running).
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    kiosk: subprocess.Popen[bytes] | None = None
    print(f"bodydock demo --kiosk: a busy simulated dock in {work}; press Ctrl+C here (or send SIGTERM to "
          f"process {os.getpid()}) to stop the kiosk and the dock.", flush=True)
    try:
        with demo_dock(work) as dock:
            busy_dock(dock)
            print("Sign in on the kiosk with (personnel number / PIN):")
            for p in PEOPLE:
                print(f"  {p['personnel_number']} / {p['pin']}  {p['name']} ({', '.join(p['roles'])})")
            print("Joost Visser's camera is back in slot 2: check it in and label the recordings.", flush=True)
            cmd = [sys.executable, "-m", "ui", "--socket", str(dock.socket), "--window", args.window,
                   "--allow-exit"]
            # Its own process group: a Ctrl+C in the terminal reaches the demo, which stops the kiosk itself.
            kiosk = subprocess.Popen(cmd, start_new_session=True)
            try:
                return kiosk.wait()
            finally:
                _end(kiosk)
    except Stop as why:
        print(f"bodydock demo --kiosk: stopped ({why}); kiosk and dock are stopped.", flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _end(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
