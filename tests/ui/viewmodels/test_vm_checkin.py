"""Check-in view-model: choose the camera, identify, list, tag (evidence with case number,
learning with consent, nothing), finish and wait until the copies are safe."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from tests.ui.fakes import SESSION, FakeService, detail
from tests.ui.viewmodels._identify import identify
from ui.client.model import Consent, DomainNotice, OpenCheckin, Recording, Refusal
from ui.i18n import Translator
from ui.viewmodels.checkin import CheckinViewModel, Step
from ui.viewmodels.look import Icon

NOW = datetime(2026, 3, 2, 18, 30, tzinfo=UTC)
START = datetime(2026, 3, 2, 13, 5, tzinfo=UTC)
R1 = Recording("r1", START, 192.0, 45_200_000, safe=True)
R2 = Recording("r2", START.replace(minute=40), None, 1_500_000)


def ready_vm() -> tuple[CheckinViewModel, FakeService]:
    svc = FakeService()
    vm = CheckinViewModel(svc, Translator("nl"), now=lambda: NOW)
    vm.set_open((OpenCheckin(7, 3, "3", "CAM-A"),))
    vm.start()
    identify(vm.keypad, "100234", "1234")
    login = svc.pending("login")
    assert login.args[1:] == ("checkin", 7)
    svc.answer("login", SESSION)
    svc.answer("checkin", detail(R1, R2))
    return vm, svc


def test_identify_first_when_several_and_explain_when_none() -> None:
    svc = FakeService()
    vm = CheckinViewModel(svc, Translator("nl"))
    vm.start()
    assert vm.state.step is Step.CHOOSE and vm.state.message.startswith("Zet uw camera in een vrij vak")
    vm.set_open((OpenCheckin(8, 4, "4", "CAM-B"), OpenCheckin(7, 3, "3", "CAM-A")))
    # Several cameras docked: who are you first; the list of everyone's cameras is never shown.
    assert vm.state.step is Step.IDENTIFY and not vm.state.choices
    assert "CAM-A" not in vm.state.message and "CAM-B" not in vm.state.message
    identify(vm.keypad, "100234", "1234")
    assert svc.pending("login").args[1:] == ("checkin", None)
    svc.answer("login", replace(SESSION, checkin_id=8))  # the dock found the wearer's camera
    assert svc.pending("checkin").args == (8, "tok-1")
    # A wearer with no camera here is told so.
    vm.start()
    identify(vm.keypad, "100511", "5678")
    svc.answer("login", SESSION)
    assert vm.state.step is Step.REFUSED and "niet aan u uitgegeven" in vm.state.message
    vm.choose(8)  # the kiosk was told which camera (a check-in just opened)
    assert vm.state.step is Step.IDENTIFY and vm.state.message == "Camera in vak 4"


def test_list_shows_time_length_size_in_station_time() -> None:
    vm, _ = ready_vm()
    s = vm.state
    assert s.step is Step.LIST
    assert s.message == "2 opnamen op deze camera. Tik op een opname om die te labelen."
    r1, r2 = s.rows
    assert r1.summary == "Begin 14:05 · duur 3:12 · 45,2 MB"  # 13:05 UTC is 14:05 in Amsterdam
    assert (r1.copied, r1.copied_icon) == ("Veilig gekopieerd", Icon.CHECK)
    assert r2.summary == "Begin 14:40 · duur – · 1,5 MB" and r2.copied == "Wordt gekopieerd"
    assert r1.tag == "Geen label"


def test_tag_evidence_learning_and_nothing() -> None:
    vm, svc = ready_vm()
    vm.edit("r1")
    assert vm.state.step is Step.TAG and vm.state.title == "Opname 1 labelen"
    vm.type_case("9")  # not at the case number yet: ignored
    vm.pick_tag("evidence")
    assert vm.state.step is Step.CASE and not vm.state.can_next and vm.state.case_number == ""
    vm.keypad.press("5")  # the identify pad is done with
    for k in "pl1300-2026-42!":
        vm.type_case(k)
    assert vm.state.case_number == "PL1300-2026-42" and vm.state.can_next
    vm.save_case()
    call = svc.pending("tag")
    assert call.args[:3] == (7, "tok-1", "r1")
    assert call.args[3].body() == {"tag": "evidence", "case_number": "PL1300-2026-42"}
    tagged = Recording("r1", START, 192.0, 45_200_000, tag="evidence", case_number="PL1300-2026-42", safe=True)
    svc.answer("tag", detail(tagged, R2))
    assert vm.state.step is Step.LIST and vm.state.rows[0].tag == "Bewijs · zaak PL1300-2026-42"

    vm.edit("r2")
    vm.pick_tag("learning")
    assert vm.state.message == "Heeft de gefilmde persoon toestemming gegeven voor gebruik als leermateriaal?"
    vm.consent(True)
    assert vm.state.step is Step.CONSENT_HOW
    vm.back()
    vm.consent(True)
    vm.consent_how("written")
    assert svc.pending("tag").args[3].body() == {"tag": "learning", "consent": {"given": True, "method": "written"}}
    learned = Recording("r2", START, None, 1, tag="learning", consent=Consent(True, "written"))
    svc.answer("tag", detail(tagged, learned))
    assert vm.state.rows[1].tag == "Leren · toestemming gegeven"

    vm.edit("r2")
    vm.pick_tag("learning")
    vm.consent(False)
    assert svc.pending("tag").args[3].body() == {"tag": "learning", "consent": {"given": False,
                                                                               "method": "not_asked"}}
    svc.answer("tag", detail(tagged, learned))
    vm.edit("r1")
    vm.pick_tag("uncategorised")
    assert svc.pending("tag").args[3].body() == {"tag": "uncategorised"}


def test_finish_waits_until_safe() -> None:
    vm, svc = ready_vm()
    vm.finish()
    assert vm.state.step is Step.WAIT
    svc.answer("finish", detail(R1, R2, editable=False))
    assert vm.state.message == "De opnamen worden veilig gekopieerd: 1 van 2. Een moment geduld."
    n = len(svc.calls)
    vm.tick(100.0)
    assert svc.calls[-1].name == "checkin" and len(svc.calls) == n + 1
    vm.tick(100.5)  # still in flight: no second request
    assert len(svc.calls) == n + 1
    safe2 = Recording("r2", START, 3.0, 1_500_000, safe=True)
    svc.answer("checkin", detail(R1, safe2, safe_to_leave=True, editable=False))
    assert vm.state.step is Step.DONE and vm.state.message == "Alle opnamen zijn veilig gekopieerd. U kunt gaan."


def test_refusals_and_stale_results() -> None:
    svc = FakeService()
    vm = CheckinViewModel(svc, Translator("nl"))
    vm.set_open((OpenCheckin(7, 3, "3", "CAM-A"),))
    vm.start()
    identify(vm.keypad, "1000", "1234")
    svc.answer("login", Refusal("not_your_camera"))
    assert vm.state.step is Step.REFUSED
    assert vm.state.message == "Deze camera is niet aan u uitgegeven. Vraag het een beheerder."
    vm.retry()
    assert vm.state.step is Step.IDENTIFY
    identify(vm.keypad, "1000", "1234")
    vm.start()  # left before the answer: the late session is given back
    svc.answer("login", SESSION)
    assert svc.logged_out == ["tok-1"] and vm.session is None


def test_badge_session_notice() -> None:
    svc = FakeService()
    vm = CheckinViewModel(svc, Translator("nl"))
    vm.set_open((OpenCheckin(7, 3, "3", "CAM-A"),))
    vm.start()
    assert not vm.notice(DomainNotice("session", purpose="staff", session=SESSION))
    assert vm.notice(DomainNotice("session", purpose="checkin", checkin_id=7, session=SESSION))
    assert svc.pending("checkin").args == (7, "tok-1")
