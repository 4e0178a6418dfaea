"""The kiosk, by touch, against a running station: check-out and check-in end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localapi.kiosk_dock import KioskDock, start_kiosk_dock
from tests.station.shift_helpers import OFFICER_A
from tests.ui.conftest import run_scenario


@pytest.fixture
def kdock(tmp_path: Path) -> Iterator[KioskDock]:
    d = start_kiosk_dock(tmp_path)
    yield d
    d.stop()


def test_checkout_by_touch(kdock: KioskDock, xdisplay: str) -> None:
    kdock.dock(1, kdock.camera("CAM-A", recordings=1))
    kdock.wait_state(1, "ready")
    run = run_scenario(xdisplay, kdock.socket, "checkout_by_pin", number=OFFICER_A["personnel_number"],
                       pin=OFFICER_A["pin"])
    assert run.returncode == 0, run.output
    assert run.last("message") == "Neem de camera uit vak 1"
    # The station's state: the camera is assigned to the officer, waiting in slot 1.
    assert kdock.view(1).state == "assigned"
    live = kdock.daemon.station.journal.shift.live_assignment("CAM-A")
    assert live is not None and live.wearer_id == OFFICER_A["personnel_number"] and live.method == "pin"
    assert "A.d.V." in run.last("home_texts")
    assert not any(OFFICER_A["name"] in t for t in run.last("home_texts"))  # initials only on the grid


def test_checkin_and_tagging_by_touch(kdock: KioskDock, xdisplay: str) -> None:
    from device_adapters.simulated.generate import record

    cam = kdock.camera("CAM-B", recordings=0)
    kdock.dock(1, cam)
    kdock.wait_state(1, "ready")
    shift = kdock.daemon.runtime.shift
    shift.checkout_by_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    kdock.undock(1)
    kdock.wait_state(1, "checked_out")
    record(cam, seconds=1)
    record(cam, seconds=1)
    kdock.dock(2, cam)
    run = run_scenario(xdisplay, kdock.socket, "checkin_and_tag", number=OFFICER_A["personnel_number"],
                       pin=OFFICER_A["pin"], case="PL1300-2026-42")
    assert run.returncode == 0, run.output
    # The list showed times, lengths and sizes only (no imagery exists on a kiosk to show).
    assert run.last("done") is True
    # The station's state: both recordings tagged by the wearer, the check-in closed, copies verified.
    journal = kdock.daemon.station.journal
    checkin = journal.shift.latest_checkin("CAM-B")
    assert checkin is not None and checkin.closed_at is not None and checkin.closed_by == OFFICER_A["personnel_number"]
    tags = [tag for _rec, tag in journal.shift.checkin_recordings(checkin.id)]
    assert [(t.tag, t.case_number, t.consent_given, t.consent_method) for t in tags] == [
        ("evidence", "PL1300-2026-42", None, None), ("learning", None, 1, "verbal")]
    assert all(t.tagged_by == OFFICER_A["personnel_number"] for t in tags)
    assert all(rec.status == "verified" for rec, _tag in journal.shift.checkin_recordings(checkin.id))


@pytest.mark.parametrize("window", ["800x480", "1280x800"])
def test_touch_targets_language_lockdown_and_idle(kdock: KioskDock, xdisplay: str, window: str) -> None:
    from device_adapters.simulated.generate import record
    from tests.localapi.kiosk_dock import ADMIN

    kdock.dock(2, kdock.camera("CAM-R", recordings=0))
    cam = kdock.camera("CAM-B", recordings=0)
    kdock.dock(1, cam)
    kdock.wait_state(1, "ready")
    kdock.wait_state(2, "ready")
    kdock.daemon.runtime.shift.checkout_by_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    kdock.undock(1)
    kdock.wait_state(1, "checked_out")
    record(cam, seconds=1)
    kdock.dock(1, cam)
    run = run_scenario(xdisplay, kdock.socket, "layout_and_lockdown", window=window, idle_timeout=4,
                       number=OFFICER_A["personnel_number"], pin=OFFICER_A["pin"],
                       staff=ADMIN["personnel_number"], staff_pin=ADMIN["pin"])
    assert run.returncode == 0, run.output
    checked = run.last("checked")
    assert all(n > 0 for n in checked.values()) and len(checked) == 8


def test_killing_the_kiosk_never_interrupts_an_offload(kdock: KioskDock, xdisplay: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT, wait_for

    cam = kdock.camera("CAM-S", recordings=3, faults={"read_rate_mbps": 0.1})
    # The kiosk starts first: on a busy machine its start-up can outlast a short offload, and the kill must land
    # while the copy is going on.
    proc = subprocess.Popen([sys.executable, "-m", "kiosk_lab.driver", "--socket", str(kdock.socket),
                             "--scenario", "tests.ui.kiosk_scenarios:stay"], cwd=ROOT,
                            env={**os.environ, "DISPLAY": xdisplay}, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert '"home": true' in proc.stdout.readline()
        kdock.dock(1, cam)
        kdock.wait_state(1, "offloading")
        assert '"watching": true' in proc.stdout.readline()  # the kiosk shows the copy going on
        assert kdock.view(1).state == "offloading"
        proc.send_signal(signal.SIGKILL)  # the kiosk crashes mid-offload
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    t0 = time.monotonic()
    wait_for(lambda: kdock.view(1).state == "ready", 120, what="offload, wipe and charge go on without the kiosk")
    assert time.monotonic() - t0 >= 0  # (no timing asserted)
    journal = kdock.daemon.station.journal
    assert [r.status for r in journal.recordings_for_camera("CAM-S")] == ["verified"] * 3
