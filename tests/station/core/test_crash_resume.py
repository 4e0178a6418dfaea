"""SIGKILL the station daemon at every journaled step of a camera's life, restart it, and check
that nothing is lost, nothing is wiped before a durable copy exists, and the work completes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import expected_hashes, make_camera
from tests.conftest import ROOT, StationEnv, decrypt_sha256, journal_query, wait_for, write_station_config

# Crash point -> the step of a docked camera's life it interrupts.
CRASH_POINTS = {
    "offload.copying": "journaled 'copying', nothing read yet",
    "offload.chunk@3": "mid-offload, inside the first recording",
    "offload.stored@2": "second copy durable, not yet verified",
    "offload.verified@3": "after offload, before wipe",
    "wipe.recording@1": "mid-wipe (one of three removed)",
    "wipe.recording@3": "after wipe, before the slot moved on",
    "deliver.partial@2": "mid-delivery to the vault",
    "deliver.confirmed@1": "vault confirmed, local copy not yet freed",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copies(env: StationEnv) -> dict[str, list[Path]]:
    """Every complete copy of footage outside the camera, by SHA-256 (.partial never counts)."""
    out: dict[str, list[Path]] = {}
    for base in (env.store, env.vault):
        for p in base.rglob("*.age") if base.exists() else []:
            out.setdefault(decrypt_sha256(p, env.identity), []).append(p)
    return out


def assert_nothing_lost(env: StationEnv, cam: Path, truth: dict[str, str]) -> None:
    on_camera = {r.key: sha256(cam / r.key) for r in simcam.scan_recordings(cam)}
    safe = copies(env)
    for key, digest in truth.items():
        assert on_camera.get(key) == digest or digest in safe, f"{key} is neither on the camera nor copied"


def done(env: StationEnv, n: int) -> bool:
    rows = journal_query(env.state, "SELECT state FROM slots WHERE id=1")
    recs = journal_query(
        env.state,
        "SELECT count(*) FROM recordings WHERE vault_status='confirmed' AND local_state='deleted'",
    )
    return bool(rows and rows[0][0] == "ready" and recs and recs[0][0] == n)


@pytest.mark.parametrize("point", list(CRASH_POINTS), ids=list(CRASH_POINTS))
def test_sigkill_at_each_step_then_resume(tmp_path: Path, start_daemon, point: str) -> None:  # type: ignore[no-untyped-def]
    env = write_station_config(tmp_path, slots=1)
    make_camera(env.cameras, "BWC-9001", recordings=3, seconds=3, width=640, height=480,
                video_kbps=1500, battery_percent=40)
    cam = env.cameras / "BWC-9001"
    truth = expected_hashes(cam)
    assert all(size > 3 * 64 * 1024 for size in (p.stat().st_size for p in cam.rglob("*.MP4")))
    simcam.dock(env.dock, 1, cam)

    first = start_daemon(env.config_path, crash_at=point)
    rc = first.wait_dead(120)
    assert rc == -9, f"the daemon did not die at {point} (rc={rc}); log:\n{first.log.read_text()[-3000:]}"
    assert_nothing_lost(env, cam, truth)

    second = start_daemon(env.config_path, log_name="daemon2.log")
    wait_for(lambda: done(env, len(truth)), timeout=120, what=f"completion after crash at {point}")
    second.stop()

    # Every recording is in the vault exactly once with its original hash; the camera is empty.
    vault_files = sorted(env.vault.rglob("*.age"))
    assert sorted(decrypt_sha256(p, env.identity) for p in vault_files) == sorted(truth.values())
    assert not simcam.scan_recordings(cam)
    assert not list(env.vault.rglob("*.partial")) and not list(env.store.glob("*.age"))
    assert len(list(env.vault.rglob("*.manifest.json"))) == len(truth)
    # The journal never moved the slot to wiping before every recording was verified.
    transitions = journal_query(env.state, "SELECT to_state FROM transitions WHERE slot_id=1 ORDER BY seq")
    states = [t[0] for t in transitions]
    assert states.index("wiping") > states.index("verified")
    audit = subprocess.run([sys.executable, "-m", "bodydock.cli", "audit", "verify", "--config",
                            str(env.config_path)], cwd=ROOT, capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr
