"""The station engine in-process, against the simulated dock: faults and their safe outcomes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import expected_hashes, make_camera
from station.app import build_station
from station.engine import SlotView, Station
from tests.conftest import StationEnv, decrypt_sha256, wait_for, write_station_config


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def running() -> Iterator[list[Station]]:
    stations: list[Station] = []
    yield stations
    for s in stations:
        s.stop()


def start(env: StationEnv, running: list[Station]) -> Station:
    st = build_station(env.load())
    st.start()
    running.append(st)
    return st


def view(st: Station, sid: int = 1) -> SlotView:
    return next(v for v in st.views() if v.id == sid)


def cam(env: StationEnv, serial: str, **kw: object) -> Path:
    make_camera(env.cameras, serial, recordings=kw.pop("recordings", 3), seconds=2,  # type: ignore[arg-type]
                battery_percent=90, **kw)  # type: ignore[arg-type]
    return env.cameras / serial


def vault_hashes(env: StationEnv) -> list[str]:
    return sorted(decrypt_sha256(p, env.identity) for p in env.vault.rglob("*.age"))


def test_two_slots_offload_wipe_and_deliver(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=2)
    a, b = cam(env, "CAM-A"), cam(env, "CAM-B", recordings=2)
    truth = list(expected_hashes(a).values()) + list(expected_hashes(b).values())
    st = start(env, running)
    simcam.dock(env.dock, 1, a)
    simcam.dock(env.dock, 2, b)
    wait_for(lambda: [v.state for v in st.views()] == ["ready", "ready"], 60, what="both ready")
    wait_for(lambda: st.deliverer.backlog()[0] == 0 and len(vault_hashes(env)) == 5, 60, what="vault")
    assert vault_hashes(env) == sorted(truth)
    assert not simcam.scan_recordings(a) and not simcam.scan_recordings(b)


def test_wrong_device_hash_faults_slot_and_keeps_footage(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1, verify="device-hash")
    c = cam(env, "CAM-H")
    keys = sorted(expected_hashes(c))
    simcam.set_faults(c, {"wrong_hash": [keys[1]]})
    st = start(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).state == "fault", 60, what="fault")
    assert "does not verify" in (view(st).fault_reason or "")
    assert len(simcam.scan_recordings(c)) == 3  # nothing wiped
    wait_for(lambda: st.deliverer.backlog()[0] == 0, 30)
    # The good recordings still travel to the vault; the bad one is kept on the camera.
    assert len(vault_hashes(env)) == 1


def test_yank_mid_offload_then_redock_resumes_without_duplicates(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-Y", recordings=4)
    truth = expected_hashes(c)
    sizes = sorted(p.stat().st_size for p in c.rglob("*.MP4"))
    simcam.set_faults(c, {"yank_after_bytes": sizes[0] * 2 + 1000})
    st = start(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: not simcam.docked(env.dock), 30, what="the camera to be yanked")
    wait_for(lambda: view(st).state == "empty", 30, what="slot to empty")
    assert len(simcam.scan_recordings(c)) == 4
    simcam.dock(env.dock, 1, c)  # yank faults fire once per docking
    wait_for(lambda: view(st).state == "ready", 60, what="ready after re-dock")
    wait_for(lambda: len(vault_hashes(env)) == 4 and st.deliverer.backlog()[0] == 0, 60)
    assert vault_hashes(env) == sorted(truth.values())
    rows = st.journal.recordings_for_camera("CAM-Y")
    assert len(rows) == 4  # the same four recordings, not eight


def test_store_below_reserve_holds_offload_and_wipes_nothing(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1, reserve_mb=10_000_000)  # more than any disk here
    c = cam(env, "CAM-F")
    st = start(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).notice == "dock storage full", 30, what="storage-full notice")
    assert view(st).state == "offloading"
    assert len(simcam.scan_recordings(c)) == 3
    assert not list(env.store.glob("*.age"))


def test_failed_wipe_faults_slot(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-W")
    simcam.set_faults(c, {"wipe_fails": True})
    st = start(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).state == "fault", 60)
    assert "wipe failed" in (view(st).fault_reason or "")


def test_restart_rebuilds_slots_from_journal(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-R")
    st = start(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).state == "ready", 60)
    st.stop()
    running.clear()
    st2 = start(env, running)
    wait_for(lambda: view(st2).state == "ready" and view(st2).camera_serial == "CAM-R", 30)
    # Undocked while the station was down: the slot empties at start-up.
    st2.stop()
    running.clear()
    simcam.undock(env.dock, 1)
    st3 = start(env, running)
    wait_for(lambda: view(st3).state == "empty", 30)
