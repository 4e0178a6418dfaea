"""camera.py: camera.json model, locking, battery arithmetic, the simulated dock."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _simulated_helpers import camera_json

from device_adapters.simulated.camera import (
    CameraFolderError,
    CameraState,
    Faults,
    dock,
    docked,
    read_state,
    set_faults,
    settle_battery,
    undock,
    update_state,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_dock_undock_docked(camera: Path, dock_dir: Path, tmp_path: Path) -> None:
    assert docked(dock_dir) == {}
    dock(dock_dir, 2, camera, now=T0)
    assert docked(dock_dir) == {2: camera.resolve()}
    assert (dock_dir / "slot-2").resolve() == camera.resolve()
    assert read_state(camera).docked_at == T0
    assert not [p for p in dock_dir.iterdir() if p.name.startswith(".")]  # no temp links left

    other = tmp_path / "other"
    other.mkdir()
    (other / "camera.json").write_text(json.dumps({"serial": "X", "model": "m", "firmware": "f"}))
    with pytest.raises(FileExistsError, match="occupied"):
        dock(dock_dir, 2, other)
    with pytest.raises(FileExistsError, match="already docked"):
        dock(dock_dir, 3, camera)
    dock(dock_dir, 3, other)
    assert set(docked(dock_dir)) == {2, 3}

    undock(dock_dir, 2, now=T0 + timedelta(seconds=1))
    assert docked(dock_dir) == {3: other.resolve()}
    assert read_state(camera).docked_at is None
    undock(dock_dir, 2)  # empty slot: nothing to do
    with pytest.raises(FileNotFoundError):
        dock(dock_dir, 4, tmp_path / "nothing")


def test_redock_starts_a_new_docking(camera: Path, dock_dir: Path) -> None:
    dock(dock_dir, 1, camera, now=T0)
    undock(dock_dir, 1, now=T0 + timedelta(seconds=2))
    dock(dock_dir, 1, camera, now=T0 + timedelta(seconds=10))
    assert read_state(camera).docked_at == T0 + timedelta(seconds=10)


def test_settle_battery() -> None:
    state = CameraState("S", "m", "f", battery_percent=50, charge_rate_pps=2.5, docked_at=T0)
    assert settle_battery(state, T0) == state
    s1 = settle_battery(state, T0 + timedelta(seconds=1.9))  # 4.75 % -> 4 whole, 0.75 kept
    assert s1.battery_percent == 54 and s1.charged_at == T0 + timedelta(seconds=1.6)
    s2 = settle_battery(s1, T0 + timedelta(seconds=2.0))  # 0.4 s since the mark -> 1 %
    assert s2.battery_percent == 55
    assert settle_battery(s2, T0 + timedelta(hours=1)).battery_percent == 100
    undocked = replace(state, docked_at=None)
    assert settle_battery(undocked, T0 + timedelta(hours=1)) == undocked


def test_camera_json_round_trip_keeps_unknown_keys(camera: Path) -> None:
    data = camera_json(camera)
    data["future_field"] = {"x": 1}
    (camera / "camera.json").write_text(json.dumps(data))
    update_state(camera, lambda s: replace(s, battery_percent=7))
    after = camera_json(camera)
    assert after["future_field"] == {"x": 1} and after["battery_percent"] == 7


def test_hand_written_camera_json_gets_defaults(tmp_path: Path) -> None:
    (tmp_path / "camera.json").write_text(json.dumps({"serial": "S", "model": "m", "firmware": "f"}))
    state = read_state(tmp_path)
    assert state.battery_percent == 100 and state.charge_rate_pps == 5.0 and state.faults == Faults()


def test_invalid_camera_json(tmp_path: Path) -> None:
    (tmp_path / "camera.json").write_text("{not json")
    with pytest.raises(CameraFolderError):
        read_state(tmp_path)
    (tmp_path / "camera.json").write_text(json.dumps({"serial": 5, "model": "m", "firmware": "f"}))
    with pytest.raises(CameraFolderError, match="serial"):
        read_state(tmp_path)


def test_faults_round_trip(camera: Path) -> None:
    faults = {
        "corrupt": ["DCIM/100BODY/REC_0001.MP4"],
        "yank_after_bytes": 10,
        "read_rate_mbps": 2.5,
        "wrong_hash": ["DCIM/100BODY/REC_0002.MP4"],
        "wipe_fails": True,
        "wipe_partial": True,
        "hang_s": 1.5,
    }
    set_faults(camera, faults)
    assert camera_json(camera)["faults"] == faults
    assert Faults.from_json(faults).to_json() == faults
    with pytest.raises(CameraFolderError):
        set_faults(camera, {"read_rate_mbps": 0})


_INCREMENT_SCRIPT = """
import sys
from dataclasses import replace
from pathlib import Path
from device_adapters.simulated.camera import update_state

for _ in range(int(sys.argv[2])):
    update_state(Path(sys.argv[1]), lambda s: replace(s, battery_health_percent=s.battery_health_percent + 1))
"""


def test_concurrent_updates_from_processes_and_threads_lose_nothing(camera: Path) -> None:
    update_state(camera, lambda s: replace(s, battery_health_percent=0))
    per_worker = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", _INCREMENT_SCRIPT, str(camera), str(per_worker)])
        for _ in range(2)
    ]

    def bump() -> None:
        for _ in range(per_worker):
            update_state(camera, lambda s: replace(s, battery_health_percent=s.battery_health_percent + 1))

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert read_state(camera).battery_health_percent == 4 * per_worker
    assert not [p.name for p in camera.iterdir() if p.name.endswith(".tmp")]
