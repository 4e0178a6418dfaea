"""The rules around a shift, in process: lockout, clock, battery, undocking without check-out,
release and check-in timeouts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from device_adapters.simulated import camera as simcam
from device_adapters.simulated.generate import make_camera
from station.core.clocksync import FixedClockSync
from station.core.events import AssignmentCancelled, CheckinClosed, LockedOut, UndockedWithoutCheckout
from station.shift import AuthFailed, CheckoutRefusedError, LockedOutError, LockoutPolicy
from station.shift.lockout import PinLockout
from station.storage.journal import Journal
from tests.conftest import wait_for, write_station_config
from tests.station.shift_helpers import OFFICER_A, OFFICER_C, Dock, running_docks, start_dock, write_roster

docks = pytest.fixture(running_docks)


def audit_entries_for(dock: Dock) -> list[dict[str, Any]]:
    return [json.loads(line) for line in dock.station.audit.path.read_text().splitlines()]


def one_camera(tmp_path: Path, docks: list[Dock], *, battery: int = 90, **settings: object) -> tuple[Dock, Path]:
    env = write_station_config(tmp_path, slots=1, min_battery=50)
    make_camera(env.cameras, "CAM-A", recordings=0, battery_percent=battery, charge_rate_pps=0)
    dock = start_dock(env, write_roster(tmp_path / "roster.yaml"), **settings)  # type: ignore[arg-type]
    docks.append(dock)
    simcam.dock(env.dock, 1, env.cameras / "CAM-A")
    return dock, env.cameras / "CAM-A"


def test_wrong_pin_lockout(tmp_path: Path, docks: list[Dock]) -> None:
    dock, _ = one_camera(tmp_path, docks, lockout=LockoutPolicy(attempts=3, minutes=10))
    shift, number = dock.shift, OFFICER_A["personnel_number"]
    for _ in range(2):
        with pytest.raises(AuthFailed) as info:
            shift.authenticate_pin(number, "864209")
        assert not isinstance(info.value, LockedOutError)
    with pytest.raises(LockedOutError):
        shift.authenticate_pin(number, "864209")
    # Locked: even the right PIN is refused, and the other officers are not affected.
    with pytest.raises(LockedOutError):
        shift.authenticate_pin(number, OFFICER_A["pin"])
    assert shift.authenticate_pin(OFFICER_C["personnel_number"], OFFICER_C["pin"]).name == OFFICER_C["name"]
    dock.recorder.wait(LockedOut, lambda e: e.personnel_number == number)
    # Unknown numbers are counted the same way (the lockout does not reveal who exists).
    for _ in range(3):
        with pytest.raises(AuthFailed):
            shift.authenticate_pin("999999", "1111")
    with pytest.raises(LockedOutError):
        shift.authenticate_pin("999999", "1111")
    log = audit_entries_for(dock)
    failed = [e for e in log if e["what"] == "auth.pin_failed" and e["who"] == number]
    assert [e["details"]["failures"] for e in failed] == [1, 2, 3] and failed[0]["why"] == "wrong PIN"
    assert any(e["what"] == "auth.locked_out" and e["who"] == number for e in log)
    assert any(e["what"] == "auth.refused" and e["result"] == "locked" for e in log)
    assert "864209" not in dock.station.audit.path.read_text()  # never the PIN typed
    # The lock is in the journal: a restart does not lift it.
    again = PinLockout(dock.station.journal, LockoutPolicy(attempts=3, minutes=10))
    assert again.locked_until(number) is not None


def test_lockout_is_time_based(tmp_path: Path) -> None:
    from datetime import timedelta

    from station.timeutil import utcnow

    journal = Journal(tmp_path / "j.sqlite")
    now = [utcnow()]
    lock = PinLockout(journal, LockoutPolicy(attempts=2, minutes=5), now=lambda: now[0])
    assert lock.failure("1").locked_until is None
    now[0] += timedelta(minutes=6)  # outside the window: counting starts again
    assert lock.failure("1").failures == 1
    assert lock.failure("1").locked_until is not None
    assert lock.locked_until("1") is not None
    now[0] += timedelta(minutes=5, seconds=1)  # the lock has run out
    assert lock.locked_until("1") is None
    assert lock.failure("1").failures == 1
    lock.success("1")
    assert journal.shift.pin_record("1") is None
    journal.close()


def test_unsynchronised_station_clock_refuses_release(tmp_path: Path, docks: list[Dock]) -> None:
    dock, cam = one_camera(tmp_path, docks, clock=FixedClockSync(False, "test double: NTPSynchronized=no"))
    dock.wait_state(1, "ready")
    with pytest.raises(CheckoutRefusedError, match="clock is not synchronised"):
        dock.shift.checkout_by_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    assert dock.view(1).state == "ready"
    state = simcam.read_state(cam)
    assert state.wearer is None and state.clock_set_at is None and not state.locating  # nothing was configured
    refused = [e for e in audit_entries_for(dock) if e["what"] == "camera.assign" and e["result"] == "refused"]
    assert refused and "NTPSynchronized=no" in str(refused[0]["why"])
    # Once the clock is synchronised the same camera goes out.
    dock.station.clock = FixedClockSync(True, "test double: synchronised now")
    assert dock.shift.checkout_by_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"]).camera_serial == "CAM-A"


def test_camera_below_minimum_battery_is_never_offered(tmp_path: Path, docks: list[Dock]) -> None:
    env = write_station_config(tmp_path, slots=3, min_battery=50)
    for serial, battery in (("CAM-HI", 95), ("CAM-MID", 70), ("CAM-LOW", 30)):
        make_camera(env.cameras, serial, recordings=0, battery_percent=battery, charge_rate_pps=0)
    dock = start_dock(env, write_roster(tmp_path / "roster.yaml"))
    docks.append(dock)
    for sid, serial in enumerate(("CAM-HI", "CAM-MID", "CAM-LOW"), start=1):
        simcam.dock(env.dock, sid, env.cameras / serial)
    dock.wait_state(1, "ready")
    dock.wait_state(2, "ready")
    wait_for(lambda: dock.view(3).battery == 30, 30, what="CAM-LOW's battery")
    assert dock.view(3).state == "charging"  # below the minimum it never becomes ready
    # A ready camera whose battery has since dropped (a failing cell) is not offered either.
    simcam.update_state(env.cameras / "CAM-HI", lambda s: replace(s, battery_percent=20))
    wait_for(lambda: dock.view(1).battery == 20, 30, what="CAM-HI's battery drop")
    got = dock.shift.checkout_by_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    assert got.camera_serial == "CAM-MID"
    with pytest.raises(CheckoutRefusedError, match="battery"):
        dock.shift.checkout_by_pin(OFFICER_C["personnel_number"], OFFICER_C["pin"])
    assert dock.view(1).state == "ready" and dock.view(3).state == "charging"


def test_undocking_a_camera_that_was_not_checked_out_alerts(tmp_path: Path, docks: list[Dock]) -> None:
    dock, _ = one_camera(tmp_path, docks)
    dock.wait_state(1, "ready")
    simcam.undock(dock.station.source.dock_dir, 1)  # type: ignore[attr-defined]
    dock.recorder.wait(UndockedWithoutCheckout, lambda e: e.camera_serial == "CAM-A")
    dock.wait_state(1, "empty")
    alerts = dock.station.alerts.open()
    assert [a.key for a in alerts] == ["undocked-unassigned:CAM-A"] and "without check-out" in alerts[0].message
    log = audit_entries_for(dock)
    assert any(e["what"] == "camera.undocked_unassigned" and e["device"] == "CAM-A" for e in log)
    assert any(e["what"] == "alert.raised" and e["device"] == "undocked-unassigned:CAM-A" for e in log)


def test_released_camera_not_taken_goes_back_to_ready(tmp_path: Path, docks: list[Dock]) -> None:
    dock, cam = one_camera(tmp_path, docks)
    dock.station.checkout.release_timeout_s = 0.5
    dock.wait_state(1, "ready")
    dock.shift.checkout_by_pin(OFFICER_A["personnel_number"], OFFICER_A["pin"])
    dock.recorder.wait(AssignmentCancelled, lambda e: e.camera_serial == "CAM-A")
    dock.wait_state(1, "ready")
    wait_for(lambda: simcam.read_state(cam).wearer is None and not simcam.read_state(cam).locating, 30,
             what="wearer cleared on the camera")
    assert dock.station.journal.shift.live_assignment("CAM-A") is None
    # Undocking it now is a removal without check-out, not a check-out.
    simcam.undock(dock.station.source.dock_dir, 1)  # type: ignore[attr-defined]
    dock.recorder.wait(UndockedWithoutCheckout)


def test_open_checkin_closes_after_its_timeout(tmp_path: Path, docks: list[Dock]) -> None:
    dock, _ = one_camera(tmp_path, docks, checkin_timeout_s=0.0)
    dock.recorder.wait(CheckinClosed, lambda e: e.by == "system")
    assert not dock.shift.open_checkins()
    assert any(e["what"] == "checkin.closed" and "left open" in str(e["why"]) for e in audit_entries_for(dock))

