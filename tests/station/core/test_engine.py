"""The station engine in-process, against the simulated dock: faults and their safe outcomes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import expected_hashes, make_camera
from station.core.engine import SlotView, Station
from tests.conftest import StationEnv, decrypt_sha256, start_station, wait_for, wait_progressing, write_station_config


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


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
    st = start_station(env, running)
    simcam.dock(env.dock, 1, a)
    simcam.dock(env.dock, 2, b)
    wait_for(lambda: [v.state for v in st.views()] == ["ready", "ready"], 60, what="both ready")
    wait_for(lambda: st.deliverer.backlog()[0] == 0 and len(vault_hashes(env)) == 5, 60, what="vault")
    assert vault_hashes(env) == sorted(truth)
    assert not simcam.scan_recordings(a) and not simcam.scan_recordings(b)
    # The stock age CLI decrypts every file with the vault identity to the manifest's SHA-256.
    from station.crypto.signed import open_manifest

    manifests = sorted(env.vault.rglob("*.manifest.json"))
    assert len(manifests) == 5
    for mf in manifests:
        body = open_manifest(mf.read_bytes())
        payload = mf.with_name(body["payload"]["file"])
        assert sha(payload) == body["payload"]["sha256"]
        assert decrypt_sha256(payload, env.identity) == body["sha256"]
        assert body["payload"]["recipients"] == [env.recipient]


def test_wrong_device_hash_faults_slot_and_keeps_footage(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1, verify="device-hash")
    c = cam(env, "CAM-H")
    keys = sorted(expected_hashes(c))
    simcam.set_faults(c, {"wrong_hash": [keys[1]]})
    st = start_station(env, running)
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
    st = start_station(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: not simcam.docked(env.dock), 30, what="the camera to be yanked")
    wait_for(lambda: view(st).state == "empty", 30, what="slot to empty")
    assert len(simcam.scan_recordings(c)) == 4
    simcam.dock(env.dock, 1, c)  # yank faults fire once per docking
    wait_progressing(lambda: view(st).state == "ready",
                     lambda: (view(st).state, view(st).bytes_done, view(st).recordings_done, view(st).battery),
                     60, what="ready after re-dock")
    wait_for(lambda: len(vault_hashes(env)) == 4 and st.deliverer.backlog()[0] == 0, 60)
    assert vault_hashes(env) == sorted(truth.values())
    rows = st.journal.recordings_for_camera("CAM-Y")
    assert len(rows) == 4  # the same four recordings, not eight


def test_store_below_reserve_holds_offload_and_wipes_nothing(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1, reserve_mb=10_000_000)  # more than any disk here
    c = cam(env, "CAM-F")
    st = start_station(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).notice == "dock storage full", 30, what="storage-full notice")
    assert view(st).state == "offloading"
    assert len(simcam.scan_recordings(c)) == 3
    assert not list(env.store.glob("*.age"))


def test_failed_wipe_faults_slot(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-W")
    simcam.set_faults(c, {"wipe_fails": True})
    st = start_station(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).state == "fault", 60)
    assert "wipe failed" in (view(st).fault_reason or "")


def test_restart_rebuilds_slots_from_journal(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-R")
    st = start_station(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).state == "ready", 60)
    st.stop()
    running.clear()
    st2 = start_station(env, running)
    wait_for(lambda: view(st2).state == "ready" and view(st2).camera_serial == "CAM-R", 30)
    # Undocked while the station was down: the slot empties at start-up.
    st2.stop()
    running.clear()
    simcam.undock(env.dock, 1)
    st3 = start_station(env, running)
    wait_for(lambda: view(st3).state == "empty", 30)


def test_corrupt_and_empty_media_are_offloaded_byte_exact_and_flagged(tmp_path: Path, running: list[Station]) -> None:
    import json

    from device_adapters.simulated.generate import corrupt_recording
    from station.crypto.signed import open_manifest

    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-C")
    keys = sorted(expected_hashes(c))
    corrupt_recording(c, keys[0])
    empty = c / "DCIM" / "100BODY" / "REC_0099.MP4"
    empty.write_bytes(b"")
    simcam.record_hash(c, "DCIM/100BODY/REC_0099.MP4", hashlib.sha256(b"").hexdigest())
    truth = expected_hashes(c)
    st = start_station(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).state == "ready", 60, what="ready")
    wait_for(lambda: st.deliverer.backlog()[0] == 0 and len(vault_hashes(env)) == 4, 60)
    assert vault_hashes(env) == sorted(truth.values())  # byte-exact, nothing repaired or dropped
    flags = {}
    for mf in env.vault.rglob("*.manifest.json"):
        body = open_manifest(mf.read_bytes())
        flags[body["source_name"]] = (body["media_ok"], body["probe"]["reason"])
    assert flags[keys[0]][0] is False and flags[keys[0]][1]
    assert flags["DCIM/100BODY/REC_0099.MP4"] == (False, "empty file")
    assert flags[keys[1]] == (True, None)
    audit = [json.loads(x) for x in (env.state / "audit.log").read_text().splitlines()]
    assert any(e["result"] == "verified-media-damaged" for e in audit)


MEMORY_SCRIPT = r"""
import resource, sys, threading
from pathlib import Path
from device_adapters.simulated.adapter import SimulatedAdapter
from station.storage.audit import AuditLog
from station.storage.journal import Journal
from station.crypto.keys import load_signing_key
from station.offload.pipeline import OffloadJob, OffloadOk, Progress, offload_camera
from station.storage.store import Store
root, recipient = Path(sys.argv[1]), sys.argv[2]
adapter = SimulatedAdapter(root / "cameras" / "CAM-M")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
job = OffloadJob(journal=Journal(root / "j.sqlite"), audit=AuditLog(root / "a.log"), store=Store(root / "store", 0),
                 signing_key=load_signing_key(root / "keys" / "signing.key"), station_id="t", slot_id=1,
                 adapter=adapter, camera=adapter.identify(), verify_policy="both", chunk_size=1 << 20,
                 progress=Progress(), recipients=(recipient,))
result = offload_camera(job)
assert isinstance(result, OffloadOk), result
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_memory_is_bounded_independent_of_recording_size(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from device_adapters.simulated.generate import make_large_recording
    from tests.conftest import ROOT

    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-M", recordings=1)
    big = c / "DCIM" / "100BODY" / "REC_0002.MP4"
    digest = make_large_recording(big, 600 * 1024 * 1024)
    simcam.record_hash(c, "DCIM/100BODY/REC_0002.MP4", digest)
    r = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path), env.recipient], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    growth_mb = int(r.stdout.strip().splitlines()[-1])
    assert growth_mb < 64, f"offloading a 600 MiB recording grew RSS by {growth_mb} MiB"
    stored = list(env.root.glob("store/*.age"))
    assert len(stored) == 2
    assert decrypt_sha256(max(stored, key=lambda p: p.stat().st_size), env.identity) == digest


def test_journal_files_are_not_world_readable(tmp_path: Path, running: list[Station]) -> None:
    import stat

    env = write_station_config(tmp_path, slots=1)
    start_station(env, running)
    for p in env.state.glob("journal.sqlite*"):
        assert stat.S_IMODE(p.stat().st_mode) & 0o007 == 0, p


def test_slot_fault_alert_clears_when_the_camera_leaves(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-X")
    simcam.set_faults(c, {"wipe_fails": True})
    st = start_station(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).state == "fault", 60)
    assert any(a.key == "slot-fault:1" for a in st.alerts.open())
    simcam.undock(env.dock, 1)
    wait_for(lambda: view(st).state == "empty", 30)
    assert not any(a.key == "slot-fault:1" for a in st.alerts.open())


def test_graceful_stop_mid_offload_is_not_a_fault_and_resumes(tmp_path: Path, running: list[Station]) -> None:
    env = write_station_config(tmp_path, slots=1)
    c = cam(env, "CAM-S")
    simcam.set_faults(c, {"read_rate_mbps": 0.2})  # slow enough to stop it mid-offload
    st = start_station(env, running)
    simcam.dock(env.dock, 1, c)
    wait_for(lambda: view(st).state == "offloading" and view(st).bytes_done > 0, 30, what="offload under way")
    st.stop()
    running.clear()
    simcam.set_faults(c, {})
    st2 = start_station(env, running)
    wait_for(lambda: view(st2).state == "ready", 60, what="ready after restart")
    assert not any(a.key.startswith("slot-fault") for a in st2.alerts.open())
    assert "fault" not in [t.to_state for t in st2.journal.transitions(1)]
