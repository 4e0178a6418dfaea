"""The kiosk, by touch, against a running station: check-out and check-in end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.health.kiosk_dock import KioskDock, start_kiosk_dock
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
    live = kdock.daemon.station.journal.live_assignment("CAM-A")
    assert live is not None and live.wearer_id == OFFICER_A["personnel_number"] and live.method == "pin"
    assert "A.d.V." in run.last("home_texts")
    assert not any(OFFICER_A["name"] in t for t in run.last("home_texts"))  # initials only on the grid
