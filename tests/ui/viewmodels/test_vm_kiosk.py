"""The kiosk view-model: navigation, idle timeout back home (and back to Dutch), notices, and
telling the daemon what a badge at the reader means."""

from __future__ import annotations

from tests.ui.fakes import STAFF_SESSION, FakeService
from ui.client.model import DomainNotice, OpenCheckin, Snapshot, StationInfo
from ui.viewmodels.kiosk import KioskViewModel, Screen


def test_idle_timeout_returns_home_in_dutch_and_ends_sessions() -> None:
    svc = FakeService()
    vm = KioskViewModel(svc, idle_timeout_s=60)
    shown: list[Screen] = []
    vm.on_screen.append(shown.append)
    vm.tick(0.0)
    vm.go(Screen.STAFF)
    vm.staff.session = STAFF_SESSION
    vm.toggle_language()
    assert vm.t.language == "en"
    vm.touched(10.0)
    vm.tick(69.0)
    assert vm.screen is Screen.STAFF
    vm.tick(70.0)
    assert vm.screen is Screen.HOME and shown[-1] is Screen.HOME
    assert vm.t.language == "nl" and svc.logged_out == ["tok-s"]
    vm.tick(500.0)  # home stays home
    assert vm.screen is Screen.HOME


def test_badge_purpose_follows_the_screen() -> None:
    svc = FakeService()
    vm = KioskViewModel(svc)
    vm.on_connected(True)
    assert svc.badge[-1] == ("checkout", None)
    vm.on_snapshot(Snapshot(StationInfo(), (), (), (OpenCheckin(7, 3, "3", "CAM-A"),)))
    vm.go(Screen.CHECKIN)
    assert svc.badge[-1] == ("checkin", 7)
    vm.go(Screen.STAFF)
    assert svc.badge[-1] == ("staff", None)
    vm.go(Screen.HOME)
    assert svc.badge[-1] == ("checkout", None)
    vm.on_connected(False)
    vm.on_connected(True)  # the daemon may have restarted: it is told again
    assert svc.badge[-2:] == [("checkout", None), ("checkout", None)]


def test_notices_route_to_screens() -> None:
    svc = FakeService()
    vm = KioskViewModel(svc)
    vm.on_notice(DomainNotice("checkin_opened", checkin_id=9, slot_id=2))
    assert vm.screen is Screen.CHECKIN and vm.checkin.checkin_id == 9
    vm.go(Screen.HOME)
    vm.on_notice(DomainNotice("checkout_done", slot_id=5, slot_label="5"))
    assert vm.screen is Screen.CHECKOUT and vm.checkout.state.message == "Neem de camera uit vak 5"
    # A badge session nobody waits for any more is handed back.
    vm.on_notice(DomainNotice("session", purpose="staff", session=STAFF_SESSION))
    assert svc.logged_out == ["tok-s"]
    # A camera docked while someone is checking out does not pull the screen away.
    vm.on_notice(DomainNotice("checkin_opened", checkin_id=10, slot_id=3))
    assert vm.screen is Screen.CHECKOUT
