"""Staff on the command line against a running daemon: the CLI talks to the daemon's control
socket for check-out and check-in, never to the journal behind its back."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera, record
from tests.conftest import ROOT, wait_for, write_station_config
from tests.station.shift_helpers import OFFICER_A, OFFICER_C, STAFF, add_shift_config, fake_timedatectl, write_roster


def bodydock(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bodydock.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=timeout, env=os.environ.copy())


def slots(cfg: Path) -> list[dict[str, object]]:
    r = bodydock("slots", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout))


def test_checkout_and_checkin_from_the_cli(tmp_path: Path, start_daemon, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    env = write_station_config(tmp_path, slots=1, min_battery=50)
    add_shift_config(env, write_roster(tmp_path / "roster.yaml"))
    monkeypatch.setenv("PATH", f"{fake_timedatectl(tmp_path / 'bin', synced=True)}:{os.environ['PATH']}")
    make_camera(env.cameras, "CAM-A", recordings=0, battery_percent=90, charge_rate_pps=0)
    cam = env.cameras / "CAM-A"
    simcam.dock(env.dock, 1, cam)
    cfg = str(env.config_path)
    daemon = start_daemon(env.config_path)
    wait_for(lambda: (env.state / "control.sock").exists() and slots(env.config_path)[0]["state"] == "ready", 60,
             what="ready through the daemon")
    sock = env.state / "control.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o660

    bad = bodydock("checkout", "--config", cfg, "--personnel-number", OFFICER_A["personnel_number"], "--pin-stdin",
                   stdin="0000\n")
    assert bad.returncode == 1 and "wrong personnel number or PIN" in bad.stderr
    got = bodydock("checkout", "--config", cfg, "--personnel-number", OFFICER_A["personnel_number"], "--pin-stdin",
                   "--json", stdin=f"{OFFICER_A['pin']}\n")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["camera_serial"] == "CAM-A" and slots(env.config_path)[0]["state"] == "assigned"
    assert simcam.read_state(cam).wearer.officer_id == OFFICER_A["personnel_number"]  # type: ignore[union-attr]

    simcam.undock(env.dock, 1)
    wait_for(lambda: slots(env.config_path)[0]["state"] == "checked_out", 30, what="checked out")
    record(cam, seconds=1.0)
    simcam.dock(env.dock, 1, cam)
    wait_for(lambda: slots(env.config_path)[0]["state"] == "ready", 60, what="offloaded, wiped, ready")

    shown = bodydock("checkin", "show", "--config", cfg, "--slot", "1", "--json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["wearer_id"] == OFFICER_A["personnel_number"] and view["is_open"]
    assert len(view["recordings"]) == 1 and view["recordings"][0]["duration_s"] > 0
    tag = ["checkin", "tag", "--config", cfg, "--slot", "1", "--recording", "1", "--pin-stdin"]
    other = bodydock(*tag, "--tag", "evidence", "--case-number", "X-1", "--as", OFFICER_C["personnel_number"],
                     stdin=f"{OFFICER_C['pin']}\n")
    assert other.returncode == 1 and "only the wearer" in other.stderr
    ok = bodydock(*tag, "--tag", "evidence", "--case-number", "2026-HH-7", "--as", OFFICER_A["personnel_number"],
                  stdin=f"{OFFICER_A['pin']}\n")
    assert ok.returncode == 0, ok.stderr
    done = bodydock("checkin", "finish", "--config", cfg, "--slot", "1", "--as", OFFICER_A["personnel_number"],
                    "--pin-stdin", stdin=f"{OFFICER_A['pin']}\n")
    assert done.returncode == 0, done.stderr
    text = bodydock("checkin", "show", "--config", cfg, "--slot", "1").stdout
    assert "evidence 2026-HH-7" in text and "closed" in text
    staff = bodydock(*tag, "--tag", "uncategorised", "--as", STAFF["personnel_number"], "--reason", "wrong case",
                     stdin=f"{STAFF['pin']}\n")
    assert staff.returncode == 0, staff.stderr

    daemon.stop()
    assert not sock.exists()
    offline = bodydock("slots", "--config", cfg)
    assert offline.returncode == 0 and "not running" in offline.stderr and "ready" in offline.stdout
    refused = bodydock("checkout", "--config", cfg, "--badge", "04A1B2C3")
    assert refused.returncode == 3 and "not running" in refused.stderr
    audit = (env.state / "audit.log").read_text()
    assert "control socket (uid" in audit and f'"{OFFICER_A["pin"]}"' not in audit


def test_roster_tools(tmp_path: Path) -> None:
    from station.crypto.keys import generate_signing_key, parse_public_key_text
    from station.shift.pins import verify_pin
    from station.shift.roster import verify_roster

    h = bodydock("roster", "hash-pin", "--pin-stdin", stdin="48151\n")
    assert h.returncode == 0 and verify_pin("48151", h.stdout.strip())
    assert bodydock("roster", "hash-pin", "--pin-stdin", stdin="12ab\n").returncode == 1
    roster = write_roster(tmp_path / "roster.yaml")
    assert "4 officers" in bodydock("roster", "check", str(roster)).stdout
    key = tmp_path / "roster.key"
    public = generate_signing_key(key)
    signed = bodydock("roster", "sign", "--key", str(key), str(roster))
    assert signed.returncode == 0, signed.stderr
    verify_roster(roster.read_bytes(), (tmp_path / "roster.yaml.sig").read_bytes(), parse_public_key_text(public),
                  "test")
