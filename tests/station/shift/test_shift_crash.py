"""A camera back from a shift, and the daemon SIGKILLed between offload and wipe, then again while
re-issuing a tagged manifest: journal replay never wipes early, and the tag reaches the vault."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from device_adapters.api import Wearer
from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import expected_hashes, make_camera
from station.crypto.signed import open_manifest
from tests.conftest import ROOT, decrypt_sha256, journal_query, wait_for, write_station_config
from tests.station.shift_helpers import OFFICER_A, add_shift_config, fake_timedatectl, write_roster


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bodydock.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=120, env=os.environ.copy())


def slot_state(state_dir: Path) -> str | None:
    rows = journal_query(state_dir, "SELECT state FROM slots WHERE id=1")
    return str(rows[0][0]) if rows else None


def test_crash_between_offload_and_wipe_never_wipes_early(tmp_path: Path, start_daemon,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    env = write_station_config(tmp_path, slots=1, min_battery=50)
    add_shift_config(env, write_roster(tmp_path / "roster.yaml"))
    monkeypatch.setenv("PATH", f"{fake_timedatectl(tmp_path / 'bin', synced=True)}:{os.environ['PATH']}")
    # Back from a shift: the camera carries its wearer and three recordings.
    wearer = Wearer(OFFICER_A["personnel_number"], OFFICER_A["name"])
    make_camera(env.cameras, "CAM-S", recordings=3, seconds=1, battery_percent=90, charge_rate_pps=0, wearer=wearer)
    cam = env.cameras / "CAM-S"
    truth = expected_hashes(cam)
    simcam.dock(env.dock, 1, cam)

    # 1. Killed after every recording is verified, before the slot moves on to the wipe.
    first = start_daemon(env.config_path, crash_at="offload.verified@3")
    assert first.wait_dead(120) == -9, first.log.read_text()[-3000:]
    assert expected_hashes(cam) == truth  # nothing wiped
    states = [r[0] for r in journal_query(env.state, "SELECT to_state FROM transitions WHERE slot_id=1 ORDER BY seq")]
    assert "wiping" not in states and states[-1] == "offloading"
    assert not journal_query(env.state, "SELECT 1 FROM recordings WHERE camera_state != 'present'")

    # 2. Replay: the journal says all three are verified; the gate re-checks, then wipes.
    second = start_daemon(env.config_path, crash_at="manifest.reissue@1", log_name="daemon2.log")
    wait_for(lambda: slot_state(env.state) == "ready", 60, what="ready after replay")
    assert not simcam.scan_recordings(cam)
    states = [r[0] for r in journal_query(env.state, "SELECT to_state FROM transitions WHERE slot_id=1 ORDER BY seq")]
    assert states.index("wiping") > states.index("verified")

    # The wearer's check-in survived the crash; tagging it makes the daemon re-issue the manifest,
    # and it is killed in the middle of that (new manifest written, journal not yet updated).
    show = cli("checkin", "show", "--config", str(env.config_path), "--slot", "1", "--json")
    assert show.returncode == 0, show.stderr
    cli("checkin", "tag", "--config", str(env.config_path), "--slot", "1", "--recording", "1", "--tag", "evidence",
        "--case-number", "2026-HH-0099", "--as", OFFICER_A["personnel_number"], "--pin-stdin",
        stdin=f"{OFFICER_A['pin']}\n")
    assert second.wait_dead(60) == -9, second.log.read_text()[-3000:]
    rows = journal_query(env.state, "SELECT revision, issued_revision FROM recording_tags WHERE tag='evidence'")
    assert rows == [(1, 0)]

    # 3. Replay again: the re-issue is redone and the vault ends with the tagged manifest.
    third = start_daemon(env.config_path, log_name="daemon3.log")

    def vault_tags() -> dict[str, object]:
        return {open_manifest(p.read_bytes())["source_name"]: open_manifest(p.read_bytes())["tag"]
                for p in env.vault.rglob("*.manifest.json")}

    wait_for(lambda: sorted(vault_tags().values()) == ["evidence", "uncategorised", "uncategorised"], 60,
             what="tagged manifest in the vault")
    third.stop()
    assert sorted(decrypt_sha256(p, env.identity) for p in env.vault.rglob("*.age")) == sorted(truth.values())
    evidence = next(open_manifest(p.read_bytes()) for p in env.vault.rglob("*.manifest.json")
                    if open_manifest(p.read_bytes())["tag"] == "evidence")
    assert evidence["tag_details"] == {"case_number": "2026-HH-0099"} and evidence["supersedes"]
    assert evidence["sha256"] in truth.values()  # the same footage, now tagged
    audit = cli("audit", "verify", "--config", str(env.config_path))
    assert audit.returncode == 0, audit.stdout + audit.stderr
