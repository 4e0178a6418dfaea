"""Staff and admin view-models: staff sign-in, checks worst first, acknowledging alerts; the
admin screen only for admins, with a roster sync."""

from __future__ import annotations

from tests.ui.fakes import ADMIN_SESSION, STAFF_SESSION, FakeService
from tests.ui.viewmodels._identify import identify
from ui.client.model import Alert, Refusal
from ui.client.staffmodel import AdminInfo, Check, HealthInfo, RosterInfo
from ui.i18n import Translator
from ui.viewmodels.admin import AdminViewModel
from ui.viewmodels.look import Tone
from ui.viewmodels.staff import StaffViewModel, Step

HEALTH = HealthInfo("critical", (
    Check("store", "Store disk", "ok", "62 GiB free"),
    Check("vault", "Vault contact", "critical", "no contact for 3 h", "check the network"),
    Check("clock", "Clock synchronisation", "unknown", "no time service"),
    Check("new_check", "A new check", "warn", "something"),
), (Alert(4, "vault_offline", "critical", "vault unreachable"), Alert(5, "storage_low", "warn", "80 %",
                                                                      acknowledged=True)))


def signed_in(session=STAFF_SESSION) -> tuple[StaffViewModel, FakeService]:  # type: ignore[no-untyped-def]
    svc = FakeService()
    vm = StaffViewModel(svc, Translator("nl"))
    vm.start()
    identify(vm.keypad, "900001", "9999")
    assert svc.pending("login").args[1] == "staff"
    svc.answer("login", session)
    svc.answer("health", HEALTH)
    return vm, svc


def test_checks_worst_first_translated_by_name() -> None:
    vm, _ = signed_in()
    s = vm.state
    assert s.step is Step.OVERVIEW and s.overall == "Storing" and s.overall_tone is Tone.FAULT
    assert [(c.title, c.status) for c in s.checks] == [
        ("Contact met de kluis", "Storing"), ("A new check", "Let op"), ("Klok", "Onbekend"), ("Opslag dock", "OK")]
    assert s.checks[0].detail == "no contact for 3 h check the network"
    assert [(a.alert_id, a.acknowledged) for a in s.alerts] == [(4, False), (5, True)]
    assert s.alerts[0].text == "Kluis onbereikbaar: opnamen blijven veilig in het dock"
    assert s.staff_name == "J. Visser" and not s.is_admin


def test_acknowledge_then_refresh() -> None:
    vm, svc = signed_in()
    vm.acknowledge(4)
    assert svc.pending("ack").args == ("tok-s", 4)
    svc.answer("ack", True)
    assert svc.calls[-1].name == "health"


def test_officer_is_refused() -> None:
    svc = FakeService()
    vm = StaffViewModel(svc, Translator("nl"))
    vm.start()
    identify(vm.keypad, "1002", "1234")
    svc.answer("login", Refusal("not_allowed"))
    assert vm.state.step is Step.REFUSED and vm.state.message.startswith("Dit mag u hier niet doen")


def test_admin_only_for_admins_and_roster_sync() -> None:
    svc = FakeService()
    vm = AdminViewModel(svc, Translator("nl"))
    vm.start(STAFF_SESSION)
    assert not vm.state.allowed and not svc.calls
    vm.start(ADMIN_SESSION)
    info = AdminInfo("0.1.0", (("station.id", "demo-dock"), ("policies.verify", "both"), ("new.key", "x")),
                     RosterInfo("file roster.yaml", 5, "ab"))
    svc.answer("admin", info)
    s = vm.state
    assert s.version == "Versie 0.1.0" and s.rows == (("Dock", "demo-dock"), ("Controle van kopieën", "both"),
                                                      ("new.key", "x"))
    assert s.roster == "5 medewerkers, uit file roster.yaml"
    vm.sync_roster()
    assert vm.state.message == "Personeelslijst bijwerken…"
    svc.answer("roster_sync", AdminInfo("0.1.0", (), RosterInfo("file", 1, "cd"), message="synchronised"))
    assert vm.state.message == "Personeelslijst bijgewerkt." and vm.state.roster == "1 medewerker, uit file"
    vm.sync_roster()
    svc.answer("roster_sync", Refusal("roster_unavailable"))
    assert vm.state.message == "De personeelslijst kon niet worden bijgewerkt."


def test_check_details_in_the_kiosk_language_and_tapped_open() -> None:
    from ui.client.staffmodel import CheckText

    clock = Check("clock", "Clock synchronisation", "unknown", "Clock synchronisation state unknown: timedatectl: x.",
                  "Make sure chrony runs.", code="clock.unknown", text=(
                      ("en", CheckText("Clock synchronisation", "Clock synchronisation state unknown: timedatectl: x.",
                                       "Make sure chrony runs.")),
                      ("nl", CheckText("Klok", "Onbekend of de klok gelijkloopt: timedatectl: x.",
                                       "Zorg dat chrony draait."))))
    health = HealthInfo("warn", (clock,), (Alert(6, "clock", "warn", "Clock: ...", key="health:clock"),))
    svc = FakeService()
    vm = StaffViewModel(svc, Translator("nl"))
    vm.start()
    identify(vm.keypad, "900001", "9999")
    svc.answer("login", STAFF_SESSION)
    svc.answer("health", health)
    row = vm.state.checks[0]
    assert row.detail == "Onbekend of de klok gelijkloopt: timedatectl: x. Zorg dat chrony draait."
    assert not row.expanded
    # A health alert says what its check says, in the same language.
    assert vm.state.alerts[0].detail == row.detail
    vm.toggle("clock")
    assert vm.state.checks[0].expanded
    vm.toggle("alert-6")
    assert vm.state.alerts[0].expanded
    vm.set_translator(Translator("en"))
    assert vm.state.checks[0].detail.startswith("Clock synchronisation state unknown")
    vm.toggle("clock")
    assert not vm.state.checks[0].expanded
