"""What a boa and a staff member read on the kiosk at 1280x800, in the real kiosk on Xvfb: the
battery shape follows the charge, "100%" stays on one line, a fault banner does not say
"Storing: Storing in vak 2", and staff read check details in Dutch, in full when tapped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from health import texts
from station.core.alerts import Severity
from tests.localapi.kiosk_dock import ADMIN, KioskDock, start_kiosk_dock
from tests.ui.conftest import run_scenario


@pytest.fixture
def kdock(tmp_path: Path) -> Iterator[KioskDock]:
    d = start_kiosk_dock(tmp_path)
    yield d
    d.stop()


def test_home_and_staff_faces_at_1280x800(kdock: KioskDock, xdisplay: str) -> None:
    kdock.dock(1, kdock.camera("CAM-FULL", recordings=0, battery=96))
    kdock.dock(2, kdock.camera("CAM-LOW", recordings=0, battery=37))  # below the minimum: keeps charging
    kdock.wait_state(1, "ready")
    kdock.wait_state(2, "charging")
    kdock.daemon.station.alerts.raise_("slot-fault:2", Severity.CRITICAL, "slot 2: wipe failed: simulated")
    run = run_scenario(xdisplay, kdock.socket, "faces", window="1280x800", number=ADMIN["personnel_number"],
                       pin=ADMIN["pin"])
    assert run.returncode == 0, run.output

    assert run.last("battery_kinds") == ["battery-4", "battery-2"]
    full, low = run.last("battery_filled")
    assert full > low, (full, low)  # told apart by shape, not only by the number beside it
    assert run.last("percent_one_line") and run.last("battery_one_line")
    banners = run.last("banners")
    assert any("vak 2" in b for b in banners), banners
    assert not any(b.startswith("Storing: Storing") for b in banners), banners

    check = run.last("check")
    c = next(c for c in kdock.daemon.health.monitor.report().checks if c.name == check)
    summary_nl, _action = c.text("nl")
    closed, opened = run.last("closed"), run.last("opened")
    assert closed and closed[0][1] is True  # one shortened line until tapped
    text, shortened, _ = opened[0]
    assert not shortened and summary_nl in text  # all of it, in Dutch
    assert c.status.value != "ok"
    assert texts.title(check, "en") + ":" not in text and c.summary not in text  # not the English
