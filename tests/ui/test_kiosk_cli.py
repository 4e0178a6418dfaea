"""`bodydock run` serves the kiosk's routes on its local API socket, and `bodydock kiosk` starts the
touchscreen against it (its own process; the daemon never imports the UI)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera
from tests.conftest import ROOT, wait_for, write_station_config
from tests.station.shift_helpers import OFFICER_A, add_shift_config, fake_timedatectl, write_roster


def test_daemon_serves_the_kiosk_and_bodydock_kiosk_runs(tmp_path: Path, start_daemon, xdisplay: str,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    env = write_station_config(tmp_path, slots=1, min_battery=50)
    add_shift_config(env, write_roster(tmp_path / "roster.yaml"))
    monkeypatch.setenv("PATH", f"{fake_timedatectl(tmp_path / 'bin', synced=True)}:{os.environ['PATH']}")
    make_camera(env.cameras, "CAM-A", recordings=0, battery_percent=90, charge_rate_pps=0)
    simcam.dock(env.dock, 1, env.cameras / "CAM-A")
    start_daemon(env.config_path)
    sock = env.state / "api.sock"
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://kiosk", timeout=30)

    def ready() -> bool:
        try:
            return bool(client.get("/api/kiosk/snapshot").json()["slots"][0]["state"] == "ready")
        except (httpx.HTTPError, KeyError, ValueError):
            return False

    try:
        wait_for(ready, 60, what="the daemon's kiosk API")
        got = client.post("/api/kiosk/checkout", json={"personnel_number": OFFICER_A["personnel_number"],
                                                       "pin": OFFICER_A["pin"]})
        assert got.status_code == 200 and got.json()["slot_id"] == 1
    finally:
        client.close()
    kiosk = subprocess.Popen([sys.executable, "-m", "bodydock.cli", "kiosk", "--config", str(env.config_path),
                              "--window", "800x480"], cwd=ROOT, env={**os.environ, "DISPLAY": xdisplay},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(4)  # it starts and keeps running (not a timing assertion: it must simply not exit)
        assert kiosk.poll() is None, kiosk.communicate()[0][-3000:]
    finally:
        kiosk.terminate()
        out = kiosk.communicate(timeout=20)[0]
    assert "Traceback" not in out, out[-3000:]


def test_cli_help_lists_the_kiosk() -> None:
    r = subprocess.run([sys.executable, "-m", "bodydock.cli", "kiosk", "--help"], cwd=ROOT, capture_output=True,
                       text=True, check=True)
    assert "--socket" in r.stdout and "--window" in r.stdout
    r = subprocess.run([sys.executable, "-m", "bodydock.cli", "demo", "--help"], cwd=ROOT, capture_output=True,
                       text=True, check=True)
    assert "--kiosk" in r.stdout
