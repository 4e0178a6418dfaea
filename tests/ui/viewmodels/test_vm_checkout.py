"""Check-out view-model: number, PIN (only ever dots), the station's answer or refusal."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.ui.fakes import FakeService
from tests.ui.viewmodels._identify import identify, type_keys
from ui.client.model import CheckoutDone, DomainNotice, Refusal
from ui.i18n import Translator
from ui.viewmodels.checkout import CheckoutViewModel, Step
from ui.viewmodels.identify import Field

NOW = datetime(2026, 3, 2, 6, 55, tzinfo=UTC)


def vm_with() -> tuple[CheckoutViewModel, FakeService]:
    svc = FakeService()
    vm = CheckoutViewModel(svc, Translator("nl"), now=lambda: NOW)
    vm.start()
    return vm, svc


def test_number_then_pin_then_slot() -> None:
    vm, svc = vm_with()
    assert vm.state.identify is not None and vm.state.identify.prompt.startswith("Houd uw pas bij de lezer")
    vm.keypad.next()  # nothing typed: stays
    assert vm.state.identify.field is Field.NUMBER and not vm.state.identify.can_next
    type_keys(vm.keypad, "100234")
    vm.keypad.next()
    assert vm.state.identify.field is Field.PIN and vm.state.identify.prompt == "Typ uw pincode"
    type_keys(vm.keypad, "12")
    vm.keypad.next()  # too short: no request
    assert not svc.calls
    type_keys(vm.keypad, "34")
    assert vm.state.identify.shown == "●●●●"
    vm.keypad.next()
    assert vm.state.step is Step.WORKING and vm.state.message == "Uw camera wordt klaargezet…"
    cred = svc.pending("checkout").args[0]
    assert (cred.personnel_number, cred.pin) == ("100234", "1234")
    assert "1234" not in repr(cred) and "1234" not in repr(vm.flow.pin) and "1234" not in repr(vm.state)
    svc.answer("checkout", CheckoutDone(5, "5", "BWC-0005", True))
    assert vm.state.step is Step.DONE
    assert vm.state.message == "Neem de camera uit vak 5" and vm.state.slot_label == "5"


def test_backspace_from_empty_pin_goes_back_to_number() -> None:
    vm, _ = vm_with()
    type_keys(vm.keypad, "1002")
    vm.keypad.next()
    vm.keypad.backspace()
    assert vm.state.identify is not None and vm.state.identify.field is Field.NUMBER
    vm.keypad.backspace()
    assert vm.state.identify.shown == "100"
    vm.keypad.press("x")  # not a digit
    vm.keypad.clear()
    assert vm.state.identify.shown == ""


def test_refusals_are_translated_codes() -> None:
    vm, svc = vm_with()
    identify(vm.keypad, "100234", "0000")
    svc.answer("checkout", Refusal("locked_out", until=datetime(2026, 3, 2, 7, 10, tzinfo=UTC)))
    assert vm.state.step is Step.REFUSED
    assert vm.state.message == "Te vaak een verkeerde pincode. Probeer het na 08:10 opnieuw."  # Amsterdam time
    vm.start()
    identify(vm.keypad, "1", "1111")
    svc.answer("checkout", Refusal("clock_unsynchronised"))
    assert "klok van het dock is niet gelijk gezet" in vm.state.message
    vm.start()
    identify(vm.keypad, "1", "1111")
    svc.answer("checkout", Refusal("something_new"))
    assert vm.state.message == "Dat is niet gelukt. Probeer het opnieuw of vraag het een beheerder."


def test_abandoned_attempt_is_ignored_and_badge_notices_show() -> None:
    vm, svc = vm_with()
    identify(vm.keypad, "1", "1111")
    vm.start()  # back home and again, before the answer came
    svc.answer("checkout", CheckoutDone(2, "2", "X", False))
    assert vm.state.step is Step.IDENTIFY
    assert vm.notice(DomainNotice("checkout_started"))
    assert vm.state.step is Step.WORKING
    assert vm.notice(DomainNotice("checkout_done", slot_id=7, slot_label="7"))
    assert vm.state.message == "Neem de camera uit vak 7"
    assert vm.notice(DomainNotice("checkout_refused", code="no_camera"))
    assert vm.state.message.startswith("Er kan nu geen camera worden uitgegeven")
    assert not vm.notice(DomainNotice("checkin_opened", checkin_id=3))


def test_keys_count_only_while_identifying() -> None:
    vm, svc = vm_with()
    identify(vm.keypad, "1", "1111")
    assert vm.state.step is Step.WORKING
    renders: list[Step] = []
    vm.subscribe(lambda: renders.append(vm.state.step))
    type_keys(vm.keypad, "22")
    vm.keypad.next()
    assert not renders and vm.flow.number.text == "" and len(svc.calls) == 1
